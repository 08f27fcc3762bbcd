"""Rendered reports: report.md with tables and existing PNGs, `bench report`
side by side, the paper's numbers copied exactly, and the CLI's error paths."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from benchmarks.cli import main
from benchmarks.scores_report import write_comparison
from benchmarks.evaluate import score_and_report
from benchmarks.scoring import paper

from tests.helpers.scoring import three_image_world, write_json

PAPER_TXT = Path(__file__).resolve().parents[2].parent / "shared" / "paper.txt"


def _world(tmp_path):
    gt, res = three_image_world()
    return write_json(tmp_path / "gt.json", gt), write_json(tmp_path / "res.json", res), gt, res


def _images_of(md: Path) -> list[Path]:
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md.read_text())
    assert links
    return [md.parent / link for link in links]


def _check_png(path: Path) -> None:
    assert path.is_file(), path
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 300 and im.size[1] > 200
        # not a blank canvas: plots draw in several colours
        assert len(np.unique(np.asarray(im.convert("L")))) > 20


def test_score_and_report_writes_scores_report_and_pngs(tmp_path):
    gp, rp, _, _ = _world(tmp_path)
    out = tmp_path / "run"
    scores = score_and_report(gp, rp, out, bootstrap=50, method="Tiny")
    assert json.loads((out / "scores.json").read_text()) == json.loads(json.dumps(scores))
    assert scores["inputs"]["gt"]["sha256"] == hashlib.sha256(gp.read_bytes()).hexdigest()
    assert scores["inputs"]["results"]["sha256"] == hashlib.sha256(rp.read_bytes()).hexdigest()
    md = (out / "report.md").read_text()
    for heading in ("## Table 1", "## Table 2", "## AP by CrowdPose crowd index", "## Table 3",
                    "## Figure 6", "## PCK@0.2"):
        assert heading in md
    assert "| Tiny | 0.208 |" in md                       # AP 21/101, hand-computed in test_scoring_tables
    assert "| Ours (paper) | 0.433 | 0.709 | 0.447 | 0.440 | 0.454 | 0.520 | 0.761 | 0.549 | 0.526 | 0.545 |" in md
    assert "| AE (paper) | 0.503 | 0.435 | 0.367 | 0.405 | 0.419 |" in md
    assert "| Ours (paper) | 0.433 | 0.426 | 0.412 | 0.392 |" in md
    assert "| 4 | n/a |" not in md and "n/a" in md       # empty buckets shown as n/a
    pngs = _images_of(out / "report.md")
    assert {p.name for p in pngs} == {"bucket_ap.png", "crowd_index_ap.png", "counting_1_tiny.png", "pck.png"}
    for p in pngs:
        _check_png(p)


def test_report_with_jitter_levels_has_a_jitter_plot(tmp_path):
    gp, rp, gt, res = _world(tmp_path)
    for img in gt["images"]:
        img["crop_box"] = [0, 0, img["width"], img["height"]]
    gp = write_json(tmp_path / "gt.json", gt)
    for img in gt["images"]:                    # a level-5 variant whose draw happened to be (0, 0)
        img["base_crop_box"] = img["crop_box"]
    jp = write_json(tmp_path / "gt_jitter5.json", gt)
    out = tmp_path / "run"
    score_and_report(gp, rp, out, jitter=[f"0={gp},{rp}", f"5={jp},{rp}"], bootstrap=20)
    md = (out / "report.md").read_text()
    assert "| res | 0.208" in md and "jitter_ap.png" in md
    for p in _images_of(out / "report.md"):
        _check_png(p)


def test_bench_report_puts_runs_side_by_side(tmp_path):
    gp, rp, gt, res = _world(tmp_path)
    score_and_report(gp, rp, tmp_path / "a", bootstrap=20, method="A")
    other = write_json(tmp_path / "res_b.json", res[1:])          # a second method: one hit fewer
    score_and_report(gp, other, tmp_path / "b", bootstrap=20, method="A")   # same name on purpose
    out = tmp_path / "reports" / "cmp.md"
    result = CliRunner().invoke(main, ["report", "--runs", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    md = out.read_text()
    assert "| A |" in md and "| A (b) |" in md              # duplicate names disambiguated by folder
    assert md.count("(paper) |") >= 5 + 2 + 1
    pngs = _images_of(out)
    assert all(p.parent == out.parent / "cmp_figures" for p in pngs)
    assert {p.name for p in pngs} >= {"counting_1_a.png", "counting_2_a-b.png", "bucket_ap.png", "pck.png"}
    for p in pngs:
        _check_png(p)


def test_bench_score_cli_and_bad_results_leave_no_output(tmp_path):
    gp, rp, _, res = _world(tmp_path)
    runner = CliRunner()
    ok = runner.invoke(main, ["score", "--gt", str(gp), "--results", str(rp), "--out", str(tmp_path / "ok"),
                              "--bootstrap", "30", "--name", "tiny"])
    assert ok.exit_code == 0, ok.output
    assert "tiny: AP 0.208" in ok.output and (tmp_path / "ok" / "report.md").is_file()
    res[0]["keypoints"] = res[0]["keypoints"][:48]
    bad = write_json(tmp_path / "bad.json", res)
    out = tmp_path / "bad_run"
    fail = runner.invoke(main, ["score", "--gt", str(gp), "--results", str(bad), "--out", str(out)])
    assert fail.exit_code == 2 and fail.output.startswith("error: ")
    assert "bad.json: [0].keypoints: has 48 values, expected 51 (3 x 17 keypoints)" in fail.output
    assert not (out / "scores.json").exists() and not (out / "report.md").exists()


def test_bench_report_errors(tmp_path):
    runner = CliRunner()
    empty = tmp_path / "empty"
    empty.mkdir()
    r = runner.invoke(main, ["report", "--runs", str(empty), "--out", str(tmp_path / "x.md")])
    assert r.exit_code == 2 and r.output.startswith("error: ") and "scores.json: not found" in r.output
    r = runner.invoke(main, ["report", "--out", str(tmp_path / "x.md")])
    assert r.exit_code == 2 and "at least one run folder" in r.output
    (empty / "scores.json").write_text(json.dumps({"format": "other"}))
    r = runner.invoke(main, ["report", "--runs", str(empty), "--out", str(tmp_path / "x.md")])
    assert r.exit_code == 2 and "not a `bench score` output" in r.output
    assert not (tmp_path / "x.md").exists()
    with pytest.raises(ValueError, match="at least one run folder"):
        write_comparison([], tmp_path / "y.md")


def test_paper_numbers_are_copied_exactly_from_the_paper():
    if not PAPER_TXT.is_file():
        pytest.skip("paper text absent")
    text = " ".join(PAPER_TXT.read_text().split())
    for name, vals in paper.TABLE1.items():
        assert " ".join(f"{v:.3f}" for v in vals) in text, name
    for name, vals in paper.TABLE2.items():
        assert " ".join(f"{v:.3f}" for v in vals) in text, name
    assert "AP " + " ".join(f"{v:.3f}" for v in paper.TABLE3["Ours"].values()) in text
    for name, vals in paper.TABLE4.items():
        assert " ".join("-" if v is None else f"{v:.1f}" for v in vals) in text, name


def test_report_header_states_each_runs_bootstrap_settings(tmp_path):
    gp, rp, _, _ = _world(tmp_path)
    score_and_report(gp, rp, tmp_path / "a", bootstrap=20, seed=0, method="A")
    score_and_report(gp, rp, tmp_path / "b", bootstrap=30, seed=4, method="B")
    score_and_report(gp, rp, tmp_path / "c", bootstrap=20, seed=0, method="C")
    score_and_report(gp, rp, tmp_path / "d", bootstrap=0, method="D")
    md = write_comparison([tmp_path / "a", tmp_path / "c"], tmp_path / "same.md").read_text()
    assert "percentile bootstrap over images (20 resamples, seed 0)" in md
    md = write_comparison([tmp_path / "a", tmp_path / "b", tmp_path / "d"], tmp_path / "differ.md").read_text()
    assert ("(settings differ: A: 20 resamples, seed 0; B: 30 resamples, seed 4; D: no intervals)") in md
    assert "(20 resamples, seed 0)" not in md


def test_table3_shows_the_paired_delta_to_level_0(tmp_path):
    gp, rp, gt, res = _world(tmp_path)
    for img in gt["images"]:
        img["crop_box"] = [0, 0, img["width"], img["height"]]
    gp = write_json(tmp_path / "gt.json", gt)
    for img in gt["images"]:                    # level-5 variant whose draw was (0, 0)
        img["base_crop_box"] = img["crop_box"]
    jp = write_json(tmp_path / "gt_jitter5.json", gt)
    worse = write_json(tmp_path / "res_j5.json", res[1:])      # one hit fewer at level 5
    scores = score_and_report(gp, rp, tmp_path / "run", jitter=[f"5={jp},{worse}"], bootstrap=40, method="M")
    zero, five = scores["ap_under_jitter"]["levels"]
    d, ci = five["delta_vs_0"], five["delta_ci"]
    assert d == pytest.approx(five["stats"]["AP"] - zero["stats"]["AP"]) and d < 0
    md = (tmp_path / "run" / "report.md").read_text()
    assert "| Method | Jitter | AP [95% CI] | Δ vs ±0 [95% CI] |" in md
    lo0, hi0 = zero["ap_ci"]["low"], zero["ap_ci"]["high"]
    assert f"| M | ±0 | {zero['stats']['AP']:.3f} [{lo0:.3f}, {hi0:.3f}] | reference |" in md
    assert f"| M | ±5 | {five['stats']['AP']:.3f} " in md
    assert f"| {d:+.3f} [{ci['low']:+.3f}, {ci['high']:+.3f}] |" in md
    assert "| Ours (paper) | 0.433 | 0.426 | 0.412 | 0.392 |" in md   # the paper's row, kept apart
    # bench report shows the same Table 3 for each run
    cmp = write_comparison([tmp_path / "run"], tmp_path / "cmp.md").read_text()
    assert f"| {d:+.3f} [{ci['low']:+.3f}, {ci['high']:+.3f}] |" in cmp
