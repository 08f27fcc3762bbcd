"""`bench analyze` from the command line: outputs pycocotools-consistent numbers, galleries that
render on synthetic crops and on real COCO images, clean one-line errors and no partial output."""
import copy
import json

import numpy as np
import pytest
from tests.helpers.synthcrowd import build_synthetic_crowd
from click.testing import CliRunner
from PIL import Image

from benchmarks.cli import main as bench


@pytest.fixture(scope="module")
def crowd(tmp_path_factory):
    return build_synthetic_crowd(tmp_path_factory.mktemp("analyze"), 16, 3)


def ground_truth_results(gt: dict, invert_every: int = 0) -> list[dict]:
    """Each person's own keypoints as a detection; every ``invert_every``-th person with its
    left and right wrists exchanged (COCO-17 indices 9 and 10)."""
    out = []
    people = [a for a in gt["annotations"] if not a["iscrowd"] and any(a["keypoints"][2::3])]
    for n, a in enumerate(people):
        kps = np.asarray(a["keypoints"], dtype=float).reshape(-1, 3)
        if invert_every and n % invert_every == 0 and kps[9, 2] > 0 and kps[10, 2] > 0:
            kps[[9, 10]] = kps[[10, 9]]
        out.append({"image_id": a["image_id"], "category_id": a["category_id"], "score": 1.0 - n * 1e-3,
                    "keypoints": kps.ravel().tolist()})
    return out


def run(args):
    return CliRunner().invoke(bench, ["analyze"] + args)


def test_analyze_synthetic_crowds_end_to_end(crowd, tmp_path):
    gt = json.loads(crowd.read_text())
    results = ground_truth_results(gt, invert_every=3)
    inverted = sum(1 for n, a in enumerate(a for a in gt["annotations"] if not a["iscrowd"] and any(a["keypoints"][2::3]))
                   if n % 3 == 0 and a["keypoints"][9 * 3 + 2] > 0 and a["keypoints"][10 * 3 + 2] > 0)
    res = tmp_path / "res.json"
    res.write_text(json.dumps(results))
    out = tmp_path / "out"
    r = run(["--gt", str(crowd), "--results", str(res), "--out", str(out), "--bootstrap", "50", "--gallery", "2"])
    assert r.exit_code == 0, r.output
    a = json.loads((out / "analysis.json").read_text())
    counts = a["overall"]["keypoint_errors"]["counts"]
    labelled = sum(sum(1 for v in p["keypoints"][2::3] if v > 0) for p in gt["annotations"]
                   if not p["iscrowd"] and any(p["keypoints"][2::3]))
    assert inverted > 0
    assert counts == {"good": labelled - 2 * inverted, "jitter": 0, "inversion": 2 * inverted, "swap": 0, "miss": 0}
    assert a["overall"]["background"]["false_positives"] == 0 and a["overall"]["background"]["false_negatives"] == 0
    impact = {c["step"]: c["AP"] for c in a["overall"]["ap_impact"]["cumulative"]}
    assert a["overall"]["ap_impact"]["baseline"] < impact["inversion"] == pytest.approx(1.0)
    md = (out / "analysis.md").read_text()
    assert "## AP impact" in md and "analysis_errors_people.png" in md
    sheets = sorted(out.glob("analysis_gallery_people_*.png"))
    assert sheets and all(Image.open(p).size[0] > 200 for p in sheets)
    assert "inversion" in r.output


def test_gallery_on_real_coco_images(real_data, tmp_path):
    sample = real_data / "coco_kp_sample"
    gt = json.loads((sample / "test_coco.json").read_text())
    results = ground_truth_results(gt, invert_every=2)
    res = tmp_path / "res.json"
    res.write_text(json.dumps(results))
    out = tmp_path / "out"
    r = run(["--gt", str(sample / "test_coco.json"), "--results", str(res), "--out", str(out), "--images",
             str(sample), "--bootstrap", "0"])
    assert r.exit_code == 0, r.output
    sheets = sorted(out.glob("analysis_gallery_people_*.png"))
    assert sheets
    img = np.asarray(Image.open(sheets[0]).convert("RGB"))
    assert img.std() > 20            # real pixels drawn, not the grey stand-in
    a = json.loads((out / "analysis.json").read_text())
    assert a["overall"]["keypoint_errors"]["counts"]["inversion"] > 0


def test_crowd_index_buckets_on_the_crowdpose_sample(real_data, tmp_path):
    sample = real_data / "crowdpose_sample"
    gt = json.loads((sample / "test_crowdpose.json").read_text())
    res = tmp_path / "res.json"
    res.write_text(json.dumps(ground_truth_results(gt)))
    out = tmp_path / "out"
    r = run(["--gt", str(sample / "test_crowdpose.json"), "--results", str(res), "--out", str(out),
             "--images", str(sample), "--bootstrap", "0"])
    assert r.exit_code == 0, r.output
    a = json.loads((out / "analysis.json").read_text())
    assert set(a["crowd_index_buckets"]) == {"easy", "medium", "hard"}
    assert len(a["settings"]["keypoints"]) == 14
    assert a["overall"]["keypoint_errors"]["counts"]["good"] == a["overall"]["keypoint_errors"]["keypoints"] > 0


@pytest.mark.parametrize("bad, message", [
    ({"image_id": 999}, "image_id"),
    ({"keypoints": [1.0, 2.0]}, "keypoints"),
    ({"score": "high"}, "score"),
])
def test_bad_results_are_one_line_and_leave_nothing(crowd, tmp_path, bad, message):
    results = ground_truth_results(json.loads(crowd.read_text()))
    broken = copy.deepcopy(results)
    broken[1].update(bad)
    res = tmp_path / "res.json"
    res.write_text(json.dumps(broken))
    out = tmp_path / "out"
    r = run(["--gt", str(crowd), "--results", str(res), "--out", str(out)])
    assert r.exit_code != 0
    assert "error:" in r.output and str(res) in r.output and message in r.output
    assert "Traceback" not in r.output
    assert not out.exists()


def test_missing_images_folder_is_refused(crowd, tmp_path):
    res = tmp_path / "res.json"
    res.write_text("[]")
    r = run(["--gt", str(crowd), "--results", str(res), "--out", str(tmp_path / "o"), "--images", str(tmp_path / "x")])
    assert r.exit_code != 0 and "no such folder" in r.output and not (tmp_path / "o").exists()


def test_bench_run_analyzes_and_bench_report_puts_methods_side_by_side(crowd, tmp_path):
    configs = __import__("pathlib").Path(__file__).resolve().parents[3] / "configs"
    oracle = tmp_path / "oracle"
    r = CliRunner().invoke(bench, ["run", "--method", "oracle", "--config", str(configs / "seqpose_cpu_smoke.toml"),
                                   "--gt", str(crowd), "--out", str(oracle), "--bootstrap", "0", "--gallery", "1",
                                   "--no-progress"])
    assert r.exit_code == 0, r.output
    a = json.loads((oracle / "analysis.json").read_text())
    ke = a["overall"]["keypoint_errors"]
    # the oracle's quantised keypoints are its own person's, bar the odd one where two people's meet
    assert ke["keypoints"] > 0 and ke["counts"]["swap"] + ke["counts"]["inversion"] <= 0.02 * ke["keypoints"]
    assert a["overall"]["ap_impact"]["baseline"] == json.loads((oracle / "scores.json").read_text())["ap_ar"]["stats"]["AP"]
    inverted = tmp_path / "inverted"
    res = tmp_path / "res.json"
    res.write_text(json.dumps(ground_truth_results(json.loads(crowd.read_text()), invert_every=2)))
    for command in (["score", "--name", "inverted"], ["analyze", "--name", "inverted", "--gallery", "0"]):
        r = CliRunner().invoke(bench, command + ["--gt", str(crowd), "--results", str(res), "--out", str(inverted),
                                                 "--bootstrap", "0"])
        assert r.exit_code == 0, r.output
    md = tmp_path / "cmp.md"
    r = CliRunner().invoke(bench, ["report", "--runs", str(oracle), str(inverted), "--out", str(md)])
    assert r.exit_code == 0, r.output
    text = md.read_text()
    assert "## Error types side by side" in text
    row = next(line for line in text.split("**inversion**")[1].splitlines() if line.startswith("| inverted"))
    assert row.split("|")[2].strip() not in ("0.0%", "n/a")


@pytest.mark.parametrize("name", [{"value": "nose"}, ["nose"], 3, ""])
def test_a_keypoint_name_that_is_not_a_string_is_one_line(crowd, tmp_path, name):
    """Found by the fuzz sweep: a keypoint name wrapped in an object was a TypeError traceback."""
    gt = json.loads(crowd.read_text())
    results = ground_truth_results(gt)
    gt["categories"][0]["keypoints"][0] = name
    bad, res = tmp_path / "gt.json", tmp_path / "res.json"
    bad.write_text(json.dumps(gt))
    res.write_text(json.dumps(results))
    for command in ("analyze", "score"):
        r = CliRunner().invoke(bench, [command, "--gt", str(bad), "--results", str(res), "--out", str(tmp_path / "o")])
        assert r.exit_code == 2 and r.output == f"error: {bad}: categories[0].keypoints[0]: must be a keypoint name, " \
                                                f"got {name!r}\n", r.output
        assert not (tmp_path / "o").exists()
