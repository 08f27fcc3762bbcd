"""Crowd index of a region (CrowdPose's definition), by hand and through `cococrowd build`."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from cococrowd.cli import main as cococrowd
from cococrowd.crowdindex import crowd_index


def test_crowd_index_by_hand():
    # A: 2 labelled joints, box [0, 0, 10, 10]; B: 4 labelled joints, box [5, 0, 10, 10]
    a = [[1, 1, 2], [9, 9, 2], [0, 0, 0]]
    b = [[6, 1, 2], [8, 2, 2], [14, 5, 1], [20, 20, 2]]
    kps = np.zeros((2, 4, 3))
    kps[0, :3] = a
    kps[1] = b
    boxes = [[0, 0, 10, 10], [5, 0, 10, 10]]
    # inside A's box: B's (6,1) and (8,2) -> 2 / 2; inside B's box: A's (9,9) -> 1 / 4
    assert crowd_index(kps, boxes) == pytest.approx((2 / 2 + 1 / 4) / 2)
    assert crowd_index(np.zeros((1, 4, 3)), [[0, 0, 1, 1]]) == 0.0


def test_build_recomputes_the_crowd_index_of_each_region(real_data, tmp_path):
    sample = real_data / "crowdpose_sample"
    r = CliRunner().invoke(cococrowd, ["build", "--annotations", str(sample / "test_crowdpose.json"), "--images",
                                       str(sample), "--out", str(tmp_path), "--split", "cp", "--quiet"])
    assert r.exit_code == 0, r.output
    crowd = json.loads((tmp_path / "annotations" / "crowd_cp.json").read_text())
    manifest = json.loads((tmp_path / "manifest_cp.json").read_text())
    assert manifest["counts"]["crowd_index_recomputed"] == len(crowd["images"]) > 0
    for im in crowd["images"]:
        members = [a for a in crowd["annotations"] if a["image_id"] == im["id"] and not a["ignore"]]
        ratios = []
        for m in members:            # brute force, straight from the JSON
            x, y, w, h = m["bbox"]
            own = sum(1 for v in m["keypoints"][2::3] if v > 0)
            inside = sum(1 for o in members if o is not m for px, py, v in zip(*[iter(o["keypoints"])] * 3)
                         if v > 0 and x <= px <= x + w and y <= py <= y + h)
            if own:
                ratios.append(inside / own)
        assert im["crowdIndex"] == pytest.approx(sum(ratios) / len(ratios), abs=1e-6)


def test_sources_without_crowd_index_get_none(tmp_path, real_data):
    sample = real_data / "coco_kp_sample"
    r = CliRunner().invoke(cococrowd, ["build", "--annotations", str(sample / "test_coco.json"), "--images",
                                       str(sample), "--out", str(tmp_path), "--split", "c", "--no-images", "--quiet"])
    assert r.exit_code == 0, r.output
    crowd = json.loads((tmp_path / "annotations" / "crowd_c.json").read_text())
    assert all("crowdIndex" not in im for im in crowd["images"])
