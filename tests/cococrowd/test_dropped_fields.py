"""Image and annotation fields COCO-crowd does not copy (whole-body keypoint groups, other
extras) are dropped with one warning and counted in the manifest (issue 9, item 6)."""
import json

from click.testing import CliRunner

from cococrowd.cli import main as cococrowd

NAMES = ["nose", "left_eye", "right_eye"]


def _person(ann_id, bbox, extras):
    x, y, w, h = bbox
    return {"id": ann_id, "image_id": 1, "category_id": 1, "bbox": bbox, "area": w * h, "iscrowd": 0,
            "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]], "num_keypoints": 2,
            "keypoints": [x + 2, y + 2, 2, x + 4, y + 3, 2, 0, 0, 0], **extras}


def test_whole_body_groups_and_other_extras_are_dropped_warned_and_counted(tmp_path):
    whole_body = {"foot_kpts": [0.0] * 18, "face_kpts": [0.0] * 204, "face_box": [0, 0, 0, 0], "face_valid": False}
    data = {"images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80, "coco_url": "http://x/a.jpg",
                        "scene": "street"},
                       {"id": 2, "file_name": "b.jpg", "width": 100, "height": 80, "scene": "field"}],
            "annotations": [_person(1, [10, 10, 30, 40], whole_body), _person(2, [20, 12, 30, 40], whole_body),
                            _person(3, [70, 10, 10, 10], {"foot_kpts": [0.0] * 18})],   # a bystander
            "categories": [{"id": 1, "name": "person", "keypoints": NAMES, "skeleton": [[1, 2]]}]}
    data["annotations"][2]["image_id"] = 2   # alone in image 2: in no region
    path = tmp_path / "wholebody.json"
    path.write_text(json.dumps(data))
    out = tmp_path / "out"
    r = CliRunner().invoke(cococrowd, ["build", "--annotations", str(path), "--out", str(out), "--split", "wb",
                                       "--no-images", "--quiet"])
    assert r.exit_code == 0, r.output
    # only the one region's records count: its image (1) and its two people
    expected = {"annotations.face_box": 2, "annotations.face_kpts": 2, "annotations.face_valid": 2,
                "annotations.foot_kpts": 2, "images.scene": 1}
    manifest = json.loads((out / "manifest_wb.json").read_text())
    assert manifest["counts"]["dropped_fields"] == expected
    warning = [line for line in r.output.splitlines() if "does not copy" in line]
    assert len(warning) == 1 and "annotations.foot_kpts x2" in warning[0] and "images.scene x1" in warning[0]
    crowd = json.loads((out / "annotations" / "crowd_wb.json").read_text())
    assert len(crowd["images"]) == 1 and not any(k in a for a in crowd["annotations"] for k in whole_body)
    assert "coco_url" not in crowd["images"][0] and "scene" not in crowd["images"][0]


def test_plain_coco_fields_are_not_reported(tmp_path):
    data = {"images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80, "license": 1,
                        "flickr_url": "u", "coco_url": "v", "date_captured": "d"}],
            "annotations": [_person(1, [10, 10, 30, 40], {}), _person(2, [20, 12, 30, 40], {})],
            "categories": [{"id": 1, "name": "person", "keypoints": NAMES, "skeleton": [[1, 2]]}]}
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(data))
    r = CliRunner().invoke(cococrowd, ["build", "--annotations", str(path), "--out", str(tmp_path / "o"),
                                       "--split", "c", "--no-images", "--quiet"])
    assert r.exit_code == 0 and "does not copy" not in r.output, r.output
    assert json.loads((tmp_path / "o" / "manifest_c.json").read_text())["counts"]["dropped_fields"] == {}
