"""Results scored against the wrong ground truth get one `warning:` line each (issue 19, item 5):
results of one half of a split scored against the whole file, and results made on a COCO-crowd
file scored against a source file whose ids overlap."""
import json

import pytest
from click.testing import CliRunner
from tests.helpers.synthcrowd import build_synthetic_crowd

from benchmarks.cli import main as bench
from cococrowd.cli import main as cococrowd


def _results(crowd: dict) -> list[dict]:
    return [{"image_id": a["image_id"], "category_id": a["category_id"], "keypoints": a["keypoints"], "score": 0.9}
            for a in crowd["annotations"] if not a["ignore"] and not a["iscrowd"]]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("coverage")
    gt = build_synthetic_crowd(root, images=40, seed=1)
    r = CliRunner().invoke(cococrowd, ["split", "--in", str(gt)])
    assert r.exit_code == 0, r.output
    return root, gt


def _warnings(command, gt, res, out):
    r = CliRunner().invoke(bench, [command, "--gt", str(gt), "--results", str(res), "--out", str(out),
                                                   "--bootstrap", "0"])
    assert r.exit_code == 0, r.output + r.stderr
    return [line for line in r.stderr.splitlines() if line.startswith("warning:")]


@pytest.mark.parametrize("command", ["score", "analyze"])
def test_half_scored_against_the_whole_file(world, tmp_path, command):
    root, gt = world
    half = gt.with_name(gt.stem + "_test.json")
    data = json.loads(half.read_text())
    res = tmp_path / "res.json"
    res.write_text(json.dumps(_results(data)))
    assert _warnings(command, half, res, tmp_path / "a") == []
    whole = json.loads(gt.read_text())
    with_people = len({a["image_id"] for a in whole["annotations"] if not a["ignore"] and any(a["keypoints"][2::3])})
    covered = len({r["image_id"] for r in _results(data) if any(r["keypoints"][2::3])})
    lines = _warnings(command, gt, res, tmp_path / "b")
    assert len(lines) == 1, lines
    assert f"detections on {covered:,} of the {with_people:,} images with people in {gt}" in lines[0]


@pytest.mark.parametrize("command", ["score", "analyze"])
def test_crowd_results_scored_against_a_source_file(world, tmp_path, command):
    root, gt = world
    crowd = json.loads(gt.read_text())
    n = len(crowd["images"])
    source = json.loads((root / "world" / "annotations" / "person_keypoints_val2014.json").read_text())
    # ids 1..n overlap the crowd file's (as COCO's ids may), then one far id: a sparse source file
    new_ids = {im["id"]: i + 1 for i, im in enumerate(source["images"])}
    for im in source["images"]:
        im["id"] = new_ids[im["id"]]
    for a in source["annotations"]:
        a["image_id"] = new_ids[a["image_id"]]
    template = dict(source["images"][0])
    source["images"] += [dict(template, id=i, file_name=f"x{i}.jpg") for i in range(len(new_ids) + 1, n + 1)]
    source["images"].append(dict(template, id=10 ** 6, file_name="far.jpg"))
    src = tmp_path / "source.json"
    src.write_text(json.dumps(source))
    res = tmp_path / "res.json"
    res.write_text(json.dumps(_results(crowd)))
    lines = _warnings(command, src, res, tmp_path / "o")
    assert any("is no COCO-crowd file (no crowd_info)" in line for line in lines), lines
    assert _warnings(command, gt, res, tmp_path / "p") == []
