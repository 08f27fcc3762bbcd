"""CrowdPose's crowd index: each rule case by hand, one value from build / crowd-index / the
training dataset reader, CrowdPose's published values, and bad input."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from cococrowd.cli import main as cococrowd
from cococrowd.crowdindex import bucket, crowd_index, crowd_indices, published

CATEGORY = {"id": 1, "name": "person", "supercategory": "person",
            "keypoints": [f"k{i}" for i in range(6)], "skeleton": []}


def _kps(*joints, k=6):
    """(x, y, v) joints, padded with unlabelled ones to K."""
    out = [c for j in joints for c in j]
    return out + [0] * (3 * k - len(out))


def _file(people, images=({"id": 1, "file_name": "a.jpg", "width": 100, "height": 100},)):
    anns = [dict({"id": n + 1, "image_id": 1, "category_id": 1, "iscrowd": 0}, **p) for n, p in enumerate(people)]
    return {"images": [dict(im) for im in images], "annotations": anns, "categories": [CATEGORY]}


def _index(data, rule="crowdpose"):
    return crowd_indices(data["images"], data["annotations"], 6, "hand.json", rule=rule)


def test_the_papers_formula_by_hand():
    # A: 2 labelled joints, box [0, 0, 10, 10]; B: 4 labelled joints, box [5, 0, 10, 10]
    kps = np.zeros((2, 4, 3))
    kps[0, :3] = [[1, 1, 2], [9, 9, 2], [0, 0, 0]]
    kps[1] = [[6, 1, 2], [8, 2, 2], [14, 5, 1], [20, 20, 2]]
    boxes = [[0, 0, 10, 10], [5, 0, 10, 10]]
    # inside A's box: B's (6,1) and (8,2) -> 2 / 2; inside B's box: A's (9,9) -> 1 / 4
    assert crowd_index(kps, boxes, rule="paper") == pytest.approx((2 / 2 + 1 / 4) / 2)
    # CrowdPose's rule: A (2 joints < 4) is no subject, but its (9,9) still counts in B's box -> 1 / 4
    assert crowd_index(kps, boxes) == pytest.approx(1 / 4)
    assert crowd_index(np.zeros((1, 4, 3)), [[0, 0, 1, 1]]) == 0.0
    with pytest.raises(ValueError, match="unknown crowd-index rule"):
        crowd_index(kps, boxes, rule="mine")


def test_each_rule_case_by_hand():
    four = [(1, 1, 2), (2, 2, 2), (3, 3, 1), (4, 4, 2)]          # 4 labelled joints, v = 1 counts
    a = {"bbox": [0, 0, 10, 10], "keypoints": _kps(*four), "num_keypoints": 4}
    # B: 4 joints, one exactly on A's border (10, 10) -> inside (borders inclusive), one far off
    b = {"bbox": [5, 5, 20, 20], "keypoints": _kps((10, 10, 2), (6, 6, 1), (20, 20, 2), (90, 90, 2)),
         "num_keypoints": 4}
    # A's box holds B's (10,10), (6,6) -> 2/4; B's box [5,25] holds none of A's -> 0/4
    assert _index(_file([a, b])) == [pytest.approx(1 / 4)]
    # a small person (3 joints) is no subject, yet its joints inside A's box count
    small = {"bbox": [0, 0, 3, 3], "keypoints": _kps((1, 2, 2), (2, 1, 2), (0, 0, 2)), "num_keypoints": 3}
    assert _index(_file([a, small])) == [pytest.approx(3 / 4)]           # A: 3/4; small: left out
    assert _index(_file([a, small]), rule="paper") == [pytest.approx((3 / 4 + 3 / 3) / 2)]
    # the file's own num_keypoints decides (CrowdPose's counts body joints only): 2 -> no subject
    assert _index(_file([a, dict(b, num_keypoints=2)])) == [pytest.approx(2 / 4)]
    # without the field, the labelled joints count: B has 4 -> a subject again
    assert _index(_file([a, {k: v for k, v in b.items() if k != "num_keypoints"}])) == [pytest.approx(1 / 4)]
    # iscrowd and ignored annotations are never averaged, but their joints are others' N_b
    for flag in ({"iscrowd": 1}, {"ignore": 1}):
        assert _index(_file([a, dict(b, **flag)])) == [pytest.approx(2 / 4)]
    # nobody averaged over: 0
    assert _index(_file([small])) == [0.0]
    assert _index(_file([])) == [0.0]


def test_rounding_and_buckets():
    # CrowdPose's two decimals, rounded as numpy rounds: the ties 0.175 and 0.225 of its val file
    assert [published(v) for v in (0.175, 0.225, 0.6749999999999999, 1 / 3)] == [0.18, 0.22, 0.68, 0.33]
    assert [bucket(v) for v in (0.0, 0.19, 0.2, 0.79, 0.8, 3.0)] == ["easy", "easy", "medium", "medium", "hard", "hard"]


def _build(tmp_path, args):
    r = CliRunner().invoke(cococrowd, ["build", *args, "--out", str(tmp_path / "cc"), "--no-images", "--quiet"])
    assert r.exit_code == 0, r.output
    name = next((tmp_path / "cc" / "annotations").glob("crowd_*.json"))
    return name, json.loads(name.read_text()), json.loads(next((tmp_path / "cc").glob("manifest_*.json")).read_text())


def _one_value_everywhere(tmp_path, crowd_path, crowd):
    """build's crowdIndex == `cococrowd crowd-index` on its file == the dataset reader's."""
    from benchmarks.data.crowdfile import load_crowd_file

    csv = tmp_path / "ci.csv"
    r = CliRunner().invoke(cococrowd, ["crowd-index", "--in", str(crowd_path), "--out", str(csv)])
    assert r.exit_code == 0, r.output
    assert f"{len(crowd['images']):,} agree within 0.01 (100.0%)" in r.output
    rows = [line.split(",") for line in csv.read_text().splitlines()[1:]]
    built = [im["crowdIndex"] for im in crowd["images"]]
    assert [float(row[2]) for row in rows] == built
    assert [float(row[5]) for row in rows] == built and all(float(row[6]) == 0 for row in rows)
    reader = load_crowd_file(crowd_path, need_sources=False)
    assert [im.crowd_index for im in reader.images] == built


def test_build_crowd_index_and_the_reader_agree_on_a_synthetic_world(tmp_path):
    r = CliRunner().invoke(cococrowd, ["synth", "--out", str(tmp_path / "w"), "--images", "60",
                                       "--annotations-only", "--quiet"])
    assert r.exit_code == 0, r.output
    path, crowd, manifest = _build(tmp_path, ["--coco-root", str(tmp_path / "w"), "--split", "train2014"])
    assert all(isinstance(im["crowdIndex"], float) for im in crowd["images"]) and crowd["images"]
    counts = manifest["counts"]
    assert counts["crowd_index_recomputed"] == len(crowd["images"])
    assert sum(counts["crowd_index_buckets"].values()) == len(crowd["images"])
    assert counts["crowd_index_buckets"]["hard"] == sum(im["crowdIndex"] >= 0.8 for im in crowd["images"])
    # bystanders reaching into the crop count as others: the file's ignored annotations are used
    assert any(a["ignore"] for a in crowd["annotations"])
    _one_value_everywhere(tmp_path, path, crowd)


def test_bench_scores_easy_medium_hard_on_coco_crowd(tmp_path):
    from benchmarks.scoring import score_files

    CliRunner().invoke(cococrowd, ["synth", "--out", str(tmp_path / "w"), "--images", "40", "--annotations-only",
                                   "--quiet"])
    path, crowd, _ = _build(tmp_path, ["--coco-root", str(tmp_path / "w"), "--split", "train2014"])
    res = [{"image_id": a["image_id"], "category_id": 1, "score": 1.0, "keypoints": a["keypoints"]}
           for a in crowd["annotations"] if not a["ignore"]]
    (tmp_path / "res.json").write_text(json.dumps(res))
    s = score_files(path, tmp_path / "res.json", bootstrap=0)
    labels = {b["label"]: b["images"] for b in s["crowd_index"]["buckets"]}
    assert labels == {lab: sum(bucket(im["crowdIndex"]) == lab for im in crowd["images"])
                      for lab in ("easy", "medium", "hard")}


def test_the_real_crowdpose_sample(real_data, tmp_path):
    sample = real_data / "crowdpose_sample" / "test_crowdpose.json"
    published_values = {im["id"]: im["crowdIndex"] for im in json.loads(sample.read_text())["images"]}
    csv = tmp_path / "cp.csv"
    r = CliRunner().invoke(cococrowd, ["crowd-index", "--in", str(sample), "--out", str(csv)])
    assert r.exit_code == 0, r.output
    assert "2 agree within 0.01 (100.0%)" in r.output
    rows = {int(row.split(",")[0]): row.split(",") for row in csv.read_text().splitlines()[1:]}
    assert {i: float(row[2]) for i, row in rows.items()} == published_values      # equal, not just close
    assert {i: float(row[5]) for i, row in rows.items()} == published_values
    # its regions: the same value from build, crowd-index and the dataset reader
    path, crowd, _ = _build(tmp_path, ["--annotations", str(sample), "--images", str(sample.parent), "--split", "cp"])
    _one_value_everywhere(tmp_path, path, crowd)


def test_write_gives_any_file_crowd_index(real_data, tmp_path):
    src = real_data / "coco_kp_sample" / "test_coco.json"
    copy = tmp_path / "with_ci.json"
    r = CliRunner().invoke(cococrowd, ["crowd-index", "--in", str(src), "--write", str(copy)])
    assert r.exit_code == 0, r.output
    assert "no crowdIndex of its own" in r.output
    before, after = json.loads(src.read_text()), json.loads(copy.read_text())
    assert all(isinstance(im["crowdIndex"], float) for im in after["images"])
    for im in after["images"]:
        del im["crowdIndex"]
    assert after == before                      # nothing else changes
    r = CliRunner().invoke(cococrowd, ["crowd-index", "--in", str(copy)])
    assert "4 agree within 0.01 (100.0%)" in r.output


@pytest.mark.parametrize("change, message", [
    (lambda d: d["annotations"][0].update(num_keypoints="4"), r"annotations\[0\]\.num_keypoints"),
    (lambda d: d["annotations"][0].update(num_keypoints=-1), r"annotations\[0\]\.num_keypoints"),
    (lambda d: d["annotations"][1].update(ignore=2), r"annotations\[1\]\.ignore"),
    (lambda d: d["annotations"][1].update(keypoints=[1, 2]), r"annotations\[1\]\.keypoints"),
    (lambda d: d["images"][0].update(crowdIndex="high"), r"images\[0\]\.crowdIndex"),
    (lambda d: d["images"][0].update(crowdIndex=float("nan")), r"images\[0\]\.crowdIndex"),
])
def test_bad_input_is_one_error_line_and_no_output(tmp_path, change, message):
    four = _kps((1, 1, 2), (2, 2, 2), (3, 3, 2), (4, 4, 2))
    data = _file([{"bbox": [0, 0, 10, 10], "keypoints": four, "num_keypoints": 4},
                  {"bbox": [0, 0, 5, 5], "keypoints": four, "num_keypoints": 4}])
    change(data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    out, copy = tmp_path / "o.csv", tmp_path / "c.json"
    out.write_text("earlier run\n")
    r = CliRunner().invoke(cococrowd, ["crowd-index", "--in", str(bad), "--out", str(out), "--write", str(copy)])
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "bad.json" in lines[0], r.output
    assert __import__("re").search(message, lines[0]), lines[0]
    assert out.read_text() == "earlier run\n" and not copy.exists()        # an earlier output stays whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "o.csv"]   # no temporaries left


def test_bad_paths_are_one_error_line(tmp_path, real_data):
    src = real_data / "coco_kp_sample" / "test_coco.json"
    for args, message in ((["--in", str(tmp_path / "none.json")], "not found"),
                          (["--in", str(src), "--out", str(src)], "would replace the input"),
                          (["--in", str(src), "--out", str(tmp_path / "x"), "--write", str(tmp_path / "x")],
                           "name the same file"),
                          (["--in", str(src), "--rule", "mine"], "Invalid value for '--rule'")):
        r = CliRunner().invoke(cococrowd, ["crowd-index", *args])
        assert r.exit_code == 2, (args, r.output)
        assert message in r.output, r.output
    (tmp_path / "d").mkdir()
    r = CliRunner().invoke(cococrowd, ["crowd-index", "--in", str(src), "--out", str(tmp_path / "d")])
    assert r.exit_code == 2 and "is a directory" in r.output and not any((tmp_path / "d").iterdir())
