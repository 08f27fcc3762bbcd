"""Every bad input gives a clear error naming file and JSON path, and no output file."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from cococrowd.build import run_build
from cococrowd.cli import main
from cococrowd.cocofile import CocoFormatError
from tests.helpers.tinycoco import random_world, write_world


def setup_world(tmp_path, mutate=None, raw=None):
    data = random_world(seed=1, n_images=12)
    if mutate:
        mutate(data)
    path = write_world(tmp_path / "coco", data)
    if raw is not None:
        path.write_text(raw)
    return tmp_path / "coco", data


def no_outputs(out):
    return not out.exists() or not [p for p in out.rglob("*") if p.is_file()]


def first_person(data):
    return data["annotations"].index(sorted(data["annotations"], key=lambda a: a["id"])[0])


CASES = {
    "bbox width zero": (lambda d: d["annotations"][4]["bbox"].__setitem__(2, 0), "annotations[4].bbox: width must be > 0"),
    "bbox negative height": (lambda d: d["annotations"][2]["bbox"].__setitem__(3, -5), "annotations[2].bbox: height must be > 0"),
    "bbox NaN": (lambda d: d["annotations"][3]["bbox"].__setitem__(0, float("nan")), "annotations[3].bbox: x is NaN"),
    "bbox short": (lambda d: d["annotations"][1].__setitem__("bbox", [1, 2, 3]), "annotations[1].bbox: must be a list"),
    "keypoints length": (lambda d: d["annotations"][5].__setitem__("keypoints", [0] * 48), "annotations[5].keypoints: has 48 values, expected 3*K = 51"),
    "unknown image": (lambda d: d["annotations"][6].__setitem__("image_id", 123456), "annotations[6].image_id: refers to unknown image id 123456"),
    "duplicate annotation id": (lambda d: d["annotations"][7].__setitem__("id", d["annotations"][0]["id"]), "annotations[7].id: duplicate id"),
    "duplicate image id": (lambda d: d["images"][3].__setitem__("id", d["images"][0]["id"]), "images[3].id: duplicate id"),
    "missing bbox": (lambda d: d["annotations"][0].pop("bbox"), "annotations[0].bbox: missing key"),
    "missing images key": (lambda d: d.pop("images"), "images: missing key"),
    "no person category": (lambda d: d["categories"][0].__setitem__("name", "dog"), "categories: no 'person' category"),
    "no keypoint names": (lambda d: d["categories"][0].pop("keypoints"), "categories[0].keypoints"),
    "keypoint name not a string": (lambda d: d["categories"][0].__setitem__(   # a new list: the names are shared
        "keypoints", d["categories"][0]["keypoints"][:3] + [{"value": "x"}] + d["categories"][0]["keypoints"][4:]),
                                   "categories[0].keypoints[3]: must be a keypoint name, got {'value': 'x'}"),
    "image width": (lambda d: d["images"][2].__setitem__("width", 0), "images[2].width: must be a positive number"),
    "visibility flag": (lambda d: d["annotations"][0]["keypoints"].__setitem__(2, 7), "annotations[0].keypoints[2]: visibility flag"),
    "bbox string": (lambda d: d["annotations"][3]["bbox"].__setitem__(0, "1"), "annotations[3].bbox: x must be a number, got '1'"),
    "iscrowd string": (lambda d: d["annotations"][2].__setitem__("iscrowd", "0"), "annotations[2].iscrowd: must be 0 or 1, got '0'"),
    "negative area": (lambda d: d["annotations"][1].__setitem__("area", -1), "annotations[1].area: must be a number >= 0, got -1"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_annotation_file(tmp_path, case):
    mutate, message = CASES[case]
    root, _ = setup_world(tmp_path, mutate)
    out = tmp_path / "out"
    with pytest.raises(CocoFormatError) as err:
        run_build(split="train2014", coco_root=root, out=out, progress=False)
    assert "person_keypoints_train2014.json" in str(err.value)
    assert message in str(err.value)
    assert no_outputs(out)


def test_visibility_flag_of_a_kept_person_is_checked(tmp_path):
    """Keypoint values are checked where they are used: make sure a crowd member is hit."""
    def mutate(d):
        _two_person_image(d)
        d["annotations"][1]["keypoints"][5] = float("inf")
    root, _ = setup_world(tmp_path, mutate)
    with pytest.raises(CocoFormatError, match=r"annotations\[1\]\.keypoints\[5\]: must be a finite number"):
        run_build(split="train2014", coco_root=root, out=tmp_path / "out", no_images=True, progress=False)


@pytest.mark.parametrize("raw,message", [("{\"images\": [", "malformed JSON at line 1"), ("", "file is empty"),
                                         ("[1, 2]", "top level must be a JSON object")])
def test_malformed_json(tmp_path, raw, message):
    root, _ = setup_world(tmp_path, raw=raw)
    with pytest.raises(CocoFormatError, match=message):
        run_build(split="train2014", coco_root=root, out=tmp_path / "out", progress=False)
    assert no_outputs(tmp_path / "out")


def test_missing_and_corrupt_images(tmp_path):
    root, data = setup_world(tmp_path)
    out = tmp_path / "out"
    manifest = run_build(split="train2014", coco_root=root, out=tmp_path / "ref", no_images=True, progress=False)
    crowd = json.loads((tmp_path / "ref" / "annotations" / "crowd_train2014.json").read_text())
    victim = crowd["images"][0]["source_file_name"]
    (root / "train2014" / victim).unlink()
    with pytest.raises(FileNotFoundError, match=f"{victim}: source image not found"):
        run_build(split="train2014", coco_root=root, out=out, progress=False)
    assert no_outputs(out)
    # a user who would rather go on: skip, count in the manifest
    manifest = run_build(split="train2014", coco_root=root, out=out, skip_missing_images=True, progress=False)
    dropped = sum(1 for im in crowd["images"] if im["source_file_name"] == victim)
    assert manifest["skipped"]["regions_without_source_image"] == dropped
    assert manifest["counts"]["regions"] == len(crowd["images"]) - dropped
    # corrupt file: clear error, nothing new written
    other = crowd["images"][-1]["source_file_name"]
    assert other != victim
    (root / "train2014" / other).write_bytes(b"not an image")
    out2 = tmp_path / "out2"
    with pytest.raises(FileNotFoundError, match=f"{other}: cannot read image"):
        run_build(split="train2014", coco_root=root, out=out2, skip_missing_images=True, progress=False)
    assert no_outputs(out2)


def test_non_person_annotations_are_skipped_and_counted(tmp_path):
    def mutate(d):
        d["categories"].append({"id": 2, "name": "dog"})
        for a in d["annotations"][:3]:
            a["category_id"] = 2
    root, _ = setup_world(tmp_path, mutate)
    with pytest.warns(UserWarning, match="skipped 3 annotations of non-person categories"):
        manifest = run_build(split="train2014", coco_root=root, out=tmp_path / "out", no_images=True, progress=False)
    assert manifest["skipped"] == {"non_person_annotations": 3}


def test_cli_reports_errors_in_one_line(tmp_path):
    root, _ = setup_world(tmp_path, CASES["bbox NaN"][0])
    res = CliRunner().invoke(main, ["build", "--split", "train2014", "--coco-root", str(root),
                                    "--out", str(tmp_path / "out"), "--quiet"])
    assert res.exit_code == 2
    assert "annotations[3].bbox: x is NaN" in res.output
    res = CliRunner().invoke(main, ["build", "--split", "val2099", "--coco-root", str(root)])
    assert res.exit_code == 2 and "unknown split 'val2099'" in res.output
    res = CliRunner().invoke(main, ["build", "--split", "val2014", "--coco-root", str(root)])
    assert res.exit_code == 2 and "person_keypoints_val2014.json: not found" in res.output


def test_split_rejects_a_plain_coco_file(tmp_path):
    root, _ = setup_world(tmp_path)
    res = CliRunner().invoke(main, ["split", "--in", str(root / "annotations" / "person_keypoints_train2014.json")])
    assert res.exit_code == 2
    assert "images[0].source_image_id: missing key: not a COCO-crowd file" in res.output
    assert not list((root / "annotations").glob("*_val.json"))


def test_out_at_the_coco_root_is_refused_and_sources_survive(tmp_path):
    root, data = setup_world(tmp_path)
    before = sorted(p.name for p in (root / "train2014").iterdir())
    with pytest.raises(ValueError, match="would be the source image folder"):
        run_build(split="train2014", coco_root=root, out=root, progress=False)
    assert sorted(p.name for p in (root / "train2014").iterdir()) == before
    assert not (root / "annotations" / "crowd_train2014.json").exists()


def test_output_paths_are_checked_before_any_work(tmp_path):
    root, _ = setup_world(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "annotations").write_text("x")
    with pytest.raises(FileExistsError, match="annotations: is a file, but its annotations folder must be a folder"):
        run_build(split="train2014", coco_root=root, out=out, progress=False)
    assert [p.name for p in out.iterdir()] == ["annotations"]  # no crops were cut


def test_annotations_and_coco_root_together_are_refused(tmp_path):
    root, _ = setup_world(tmp_path)
    with pytest.raises(ValueError, match="not both"):
        run_build(annotations=root / "annotations" / "person_keypoints_train2014.json", images=root / "train2014",
                  coco_root=root, split="train2014", out=tmp_path / "out", progress=False)


def test_no_images_records_no_crops_folder_and_warns_about_stale_crops(tmp_path):
    root, _ = setup_world(tmp_path)
    out = tmp_path / "out"
    run_build(split="train2014", coco_root=root, out=out, progress=False)
    assert json.loads((out / "annotations" / "crowd_train2014.json").read_text())["crowd_info"]["image_dir"] == "../train2014"
    with pytest.warns(UserWarning, match="crops of an earlier build stay there"):
        run_build(split="train2014", coco_root=root, out=out, margin=5, no_images=True, progress=False)
    info = json.loads((out / "annotations" / "crowd_train2014.json").read_text())["crowd_info"]
    assert info["image_dir"] is None and info["margin"] == 5


def _two_person_image(d):
    """Keep one image with two overlapping people (a crowd group)."""
    d["images"] = d["images"][:1]
    d["annotations"] = [a for a in d["annotations"] if a["image_id"] == d["images"][0]["id"]][:2]
    d["annotations"][1]["bbox"] = list(d["annotations"][0]["bbox"])


@pytest.mark.parametrize("segm,message", [
    ([[1.0, 2.0, 3.0]], r"\[0\]: a polygon has an odd number of coordinates \(3\)"),
    ({"counts": "abc", "size": [1, 1]}, r"\.size: must be \[height, width\] of its image"),
])
def test_bad_segmentation_of_a_kept_person_names_its_path(tmp_path, segm, message):
    def mutate(d):
        _two_person_image(d)
        d["annotations"][1]["segmentation"] = segm
    root, _ = setup_world(tmp_path, mutate)
    with pytest.raises(CocoFormatError, match=r"person_keypoints_train2014\.json: annotations\[1\]\.segmentation" + message):
        run_build(split="train2014", coco_root=root, out=tmp_path / "out", no_images=True, progress=False)
    assert no_outputs(tmp_path / "out")


def test_cli_warnings_are_one_plain_line(tmp_path):
    def mutate(d):
        d["categories"].append({"id": 2, "name": "dog"})
        d["annotations"][0]["category_id"] = 2
    root, _ = setup_world(tmp_path, mutate)
    res = CliRunner().invoke(main, ["build", "--split", "train2014", "--coco-root", str(root),
                                    "--out", str(tmp_path / "out"), "--no-images", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "warning: " in res.output and "skipped 1 annotations of non-person categories" in res.output
    assert "UserWarning" not in res.output and "cocofile.py" not in res.output


def test_any_output_name_with_annotations(tmp_path):
    root, _ = setup_world(tmp_path)
    ann = root / "annotations" / "person_keypoints_train2014.json"
    run_build(annotations=ann, split="trainval", out=tmp_path / "o", no_images=True, progress=False)
    assert (tmp_path / "o" / "annotations" / "crowd_trainval.json").is_file()
    with pytest.raises(ValueError, match="--split '../x': it becomes part of a file name"):
        run_build(annotations=ann, split="../x", out=tmp_path / "o", no_images=True, progress=False)
