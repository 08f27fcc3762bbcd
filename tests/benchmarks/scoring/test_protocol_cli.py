"""--protocol on `bench score`, `bench run` and `bench report`: the official CrowdPose printout,
the report naming the protocol of every number, and one error line for a run of another protocol."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.cli import main as bench

from .reference.make_crowdpose_reference import REAL_SAMPLE, sample_results
from tests.helpers.scoring import pycoco, write_json

with gzip.open(Path(__file__).parent / "reference" / "crowdpose_reference.json.gz", "rt") as _f:
    REF = json.load(_f)["cases"]
CONFIGS = Path(__file__).resolve().parents[3] / "configs"


def _score(args):
    result = CliRunner().invoke(bench, ["score", "--bootstrap", "20"] + [str(a) for a in args])
    return result


def test_bench_score_crowdpose_prints_crowdposetools_lines(real_data, tmp_path):
    gp = real_data / REAL_SAMPLE
    rp = write_json(tmp_path / "res.json", sample_results(json.loads(gp.read_text())))
    result = _score(["--gt", gp, "--results", rp, "--out", tmp_path / "cp", "--protocol", "crowdpose"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = lines.index("crowdposetools summary (--protocol crowdpose):") + 1
    assert lines[start:start + 9] == REF["real_sample"]["printed"]
    assert "(protocol crowdpose)" in result.output
    s = json.loads((tmp_path / "cp" / "scores.json").read_text())
    assert s["protocol"] == "crowdpose" and s["settings"]["protocol"] == "crowdpose"
    md = (tmp_path / "cp" / "report.md").read_text()
    assert "## CrowdPose official numbers (`--protocol crowdpose`)" in md
    assert "\n".join(REF["real_sample"]["printed"]) in md
    assert "| res | crowdposetools (as printed) | 0.743 | 0.851 | 0.851 | 0.875 | 1.000 | 1.000 | -1.000 | 0.743 " \
           "| -1.000 |" in md
    assert "Scored by `bench score --protocol crowdpose`" in md


def test_crowdpose_ap_is_pycocotools_with_area_053_box(tmp_path):
    """Independent of crowdposetools: pycocotools on the file with area := 0.53 w h gives the same AP/AR."""
    from benchmarks.scoring import score_files

    case = REF["x11_coco17_keypoints"]          # 17 keypoints and a file area the protocol must not read
    gp = write_json(tmp_path / "gt.json", case["gt"])
    rp = write_json(tmp_path / "res.json", case["results"])
    gt053 = json.loads(json.dumps(case["gt"]))
    for a in gt053["annotations"]:
        a["area"] = a["bbox"][2] * a["bbox"][3] * 0.53
    ev = pycoco(write_json(tmp_path / "gt053.json", gt053), case["results"])
    s = score_files(gp, rp, bootstrap=0, protocol="crowdpose")
    ours = [s["ap_ar"]["stats"][k] for k in ("AP", "AP.5", "AP.75", "AP(M)", "AP(L)", "AR", "AR.5", "AR.75",
                                              "AR(M)", "AR(L)")]
    assert ours == [None if v == -1 else float(v) for v in ev.stats]


def test_no_crowd_index_says_buckets_need_it(tmp_path):
    case = REF["g01_all_buckets"]
    gt = json.loads(json.dumps(case["gt"]))
    for img in gt["images"]:
        img.pop("crowdIndex")
    gp = write_json(tmp_path / "plain.json", gt)
    rp = write_json(tmp_path / "res.json", case["results"])
    result = _score(["--gt", gp, "--results", rp, "--out", tmp_path / "o", "--protocol", "crowdpose"])
    assert result.exit_code == 0, result.output
    note = "AP easy/medium/hard need each image's crowdIndex; plain.json has none"
    assert note in result.output
    assert REF["g01_all_buckets"]["printed"][0] in result.output          # AP/AR still official
    md = (tmp_path / "o" / "report.md").read_text()
    assert f"res: {note}." in md and "| n/a | n/a | n/a |" in md


def test_bench_report_protocol_check_and_mixed_labels(tmp_path):
    case = REF["g03_boundaries_only"]
    gp = write_json(tmp_path / "gt.json", case["gt"])
    rp = write_json(tmp_path / "res.json", case["results"])
    assert _score(["--gt", gp, "--results", rp, "--out", tmp_path / "a", "--name", "M"]).exit_code == 0
    assert _score(["--gt", gp, "--results", rp, "--out", tmp_path / "b", "--name", "M",
                   "--protocol", "crowdpose"]).exit_code == 0
    out = tmp_path / "cmp.md"
    bad = CliRunner().invoke(bench, ["report", "--runs", str(tmp_path / "a"), str(tmp_path / "b"),
                                     "--out", str(out), "--protocol", "crowdpose"])
    assert bad.exit_code == 2
    assert bad.output.strip() == (f"error: {tmp_path / 'a' / 'scores.json'}: protocol: scored with 'coco', this "
                                  f"report is for 'crowdpose' (re-score: bench score --protocol crowdpose ... "
                                  f"--out {tmp_path / 'a'})")
    assert not out.exists() and not (tmp_path / "cmp_figures").exists()
    ok = CliRunner().invoke(bench, ["report", "--runs", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)])
    assert ok.exit_code == 0, ok.output
    md = out.read_text()
    assert "| M [coco] |" in md and "| M (b) [crowdpose] |" in md and "not comparable" in md
    only = CliRunner().invoke(bench, ["report", "--runs", str(tmp_path / "b"), "--out", str(tmp_path / "cp.md"),
                                      "--protocol", "crowdpose"])
    assert only.exit_code == 0 and "## CrowdPose official numbers" in (tmp_path / "cp.md").read_text()


@pytest.mark.parametrize("protocol", ["coco", "crowdpose"])
def test_bench_run_takes_every_scoring_option(tmp_path_factory, protocol):
    """`bench run` shares `bench score`'s scoring options; the oracle run is scored with them."""
    from cococrowd.cli import main as cococrowd

    root = tmp_path_factory.mktemp("run")
    for args in (["synth", "--out", str(root / "world"), "--split", "val2014", "--images", "8", "--seed", "3"],
                 ["build", "--coco-root", str(root / "world"), "--split", "val2014", "--out", str(root / "crowd")]):
        assert CliRunner().invoke(cococrowd, args + ["--quiet"]).exit_code == 0
    gt = root / "crowd" / "annotations" / "crowd_val2014.json"
    out = root / "out"
    result = CliRunner().invoke(bench, ["run", "--method", "oracle", "--config", str(CONFIGS / "seqpose_cpu_smoke.toml"),
                                        "--gt", str(gt), "--out", str(out), "--bootstrap", "0", "--no-progress",
                                        "--protocol", protocol, "--count-max", "3", "--pck-alpha", "0.1",
                                        "--jitter", f"0={gt},{out / 'results.json'}"])
    assert result.exit_code == 0, result.output
    s = json.loads((out / "scores.json").read_text())
    assert s["protocol"] == protocol and s["settings"]["count_cap"] == 3 and s["settings"]["pck_alpha"] == 0.1
    assert s["counting"]["labels"][-1] == "3+" and s["ap_under_jitter"]["levels"][0]["level"] == 0
    assert (s["crowdpose"] is not None) == (protocol == "crowdpose")
