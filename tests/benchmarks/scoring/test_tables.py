"""Hand-computed expectations for every table of `bench score`, on tiny cases
whose AP, bucket AP, PCK and confusion matrix are known by construction."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.scoring import score_files
from benchmarks.scoring.pck import part_of

from tests.helpers.scoring import (COCO17, dt, gt_ann, gt_file, image, pose, three_image_world,
                                   write_json)

R = 101  # recall thresholds 0:0.01:1
FAR = np.array([300.0, 0.0])
LEFT = [j for j, n in enumerate(COCO17) if n.startswith("left_")]


def _score(tmp_path, gt_dict, res, **kw):
    gp = write_json(tmp_path / "gt.json", gt_dict)
    rp = write_json(tmp_path / "res.json", res)
    return score_files(gp, rp, bootstrap=kw.pop("bootstrap", 0), **kw)


def test_table1_one_hit_one_false_alarm(tmp_path):
    # two people (area 5000, medium); a false alarm above one exact hit:
    # precision [0, 1/2] at recall [0, 1/2] -> 0.5 for the 51 thresholds <= 0.5
    a, b = pose(100, 150, 60), pose(200, 150, 60)
    gt = gt_file([image(1)], [gt_ann(1, 1, a, area=5000.0), gt_ann(2, 1, b, area=5000.0)])
    res = [dt(1, a + FAR, 0.9), dt(1, a, 0.8)]
    s = _score(tmp_path, gt, res)["ap_ar"]["stats"]
    ap = 51 * 0.5 / R
    for key in ("AP", "AP.5", "AP.75", "AP(M)"):
        assert s[key] == pytest.approx(ap, abs=1e-12)
    for key in ("AR", "AR.5", "AR.75", "AR(M)"):
        assert s[key] == pytest.approx(0.5, abs=1e-12)
    assert s["AP(L)"] is None and s["AR(L)"] is None      # no large person: n/a, not -1


def test_table2_buckets_and_overall_ap(tmp_path):
    gt, res = three_image_world()
    scores = _score(tmp_path, gt, res)
    # overall: npig 11; hits at ranks 2, 3, 4 after one false alarm -> precision 3/4 up to recall 3/11
    assert scores["ap_ar"]["stats"]["AP"] == pytest.approx(28 * 0.75 / R, abs=1e-12)
    t2 = scores["ap_by_people"]
    assert t2["source"] == "num_people" and t2["images_outside_buckets"] == 0
    by = {b["label"]: b for b in t2["buckets"]}
    assert list(by) == ["2", "3", "4", "5", ">=6"]
    assert by["2"]["stats"]["AP"] == pytest.approx(1.0)
    assert by["3"]["stats"]["AP"] == 0.0
    # >=6: precision 1/2 at recall 1/6 -> thresholds 0..0.16 (17 of them)
    assert by[">=6"]["stats"]["AP"] == pytest.approx(17 * 0.5 / R, abs=1e-12)
    for empty in ("4", "5"):
        assert by[empty]["images"] == 0 and by[empty]["stats"]["AP"] is None and by[empty]["ap_ci"] is None
    assert [by[k]["people"] for k in by] == [2, 3, 0, 0, 6]


def test_crowd_index_buckets_use_half_open_ranges(tmp_path):
    gt, res = three_image_world()       # crowdIndex 0.1, 0.2 (medium), 0.8 (hard)
    crowd = {b["label"]: b for b in _score(tmp_path, gt, res)["crowd_index"]["buckets"]}
    assert [crowd[k]["images"] for k in ("easy", "medium", "hard")] == [1, 1, 1]
    assert crowd["easy"]["stats"]["AP"] == pytest.approx(1.0)
    assert crowd["medium"]["stats"]["AP"] == 0.0
    assert crowd["hard"]["stats"]["AP"] == pytest.approx(17 * 0.5 / R, abs=1e-12)


def test_no_crowd_index_field_means_no_crowd_index_table(tmp_path):
    gt, res = three_image_world()
    for img in gt["images"]:
        del img["crowdIndex"]
    assert _score(tmp_path, gt, res)["crowd_index"] is None


def test_buckets_fall_back_to_annotation_counts_without_num_people(tmp_path):
    gt, res = three_image_world()
    for img in gt["images"]:
        del img["num_people"]
    t2 = _score(tmp_path, gt, res)["ap_by_people"]
    assert t2["source"] == "annotations"       # the iscrowd/ignore person does not count
    assert [b["images"] for b in t2["buckets"]] == [1, 1, 0, 0, 1]


def test_counting_confusion_matrix(tmp_path):
    gt, res = three_image_world()
    c = _score(tmp_path, gt, res, count_threshold=0.75)["counting"]
    # gt people 2, 3, 6 (the ignored one does not count); predicted >= 0.75: 2, 0, 1
    assert c["labels"] == ["0", "1", "2", "3", "4", "5", "6"]
    m = np.array(c["matrix"])
    expected = np.zeros((7, 7), dtype=int)
    expected[2, 2] = expected[3, 0] = expected[6, 1] = 1
    assert np.array_equal(m, expected)
    assert c["exact"] == pytest.approx(1 / 3) and c["under"] == pytest.approx(2 / 3) and c["over"] == 0
    assert c["mean_abs_error"] == pytest.approx((0 + 3 + 5) / 3)
    assert (c["gt_people"], c["predicted_people"]) == (11, 3)


def test_counting_and_pck_leave_out_people_without_labelled_keypoints(tmp_path):
    # three members, one with no labelled keypoint (pycocotools ignores it, training drops it):
    # two perfect predictions count exactly, and PCK has two people, not three
    a, b, c = pose(100, 150, 60), pose(200, 150, 60), pose(300, 150, 60)
    unlabelled = np.zeros(17, dtype=int)
    gt = gt_file([image(1, num_people=3)], [gt_ann(1, 1, a), gt_ann(2, 1, b), gt_ann(3, 1, c, vis=unlabelled)])
    s = _score(tmp_path, gt, [dt(1, a, 0.9), dt(1, b, 0.8)])
    assert s["counting"]["exact"] == 1.0 and s["counting"]["gt_people"] == 2
    assert s["pck"]["people"] == 2 and s["pck"]["mean"] == 1.0
    assert s["ap_ar"]["stats"]["AP"] == pytest.approx(1.0)


def test_counting_cap_lumps_large_counts(tmp_path):
    gt, res = three_image_world()
    c = _score(tmp_path, gt, res, count_cap=4)["counting"]
    assert c["labels"] == ["0", "1", "2", "3", "4+"]
    m = np.array(c["matrix"])
    assert m[4, 2] == 1 and m[2, 2] == 1 and m[3, 0] == 1 and m.sum() == 3


def test_pck_per_part_with_an_unmatched_person(tmp_path):
    p1, p2, p3 = pose(80, 150, 60), pose(200, 150, 60), pose(330, 150, 60)
    gt = gt_file([image(1)], [gt_ann(i + 1, 1, xy) for i, xy in enumerate((p1, p2, p3))])
    box_side = max(gt["annotations"][1]["bbox"][2:])
    wrong = p2.copy()
    wrong[LEFT] += [0.2 * box_side * 1.5, 0]     # left keypoints 1.5 thresholds away
    res = [dt(1, p1, 0.9), dt(1, wrong, 0.8), dt(1, p3 + [0, 500], 0.1)]   # last one below threshold
    p = _score(tmp_path, gt, res, count_threshold=0.5)["pck"]
    assert p["people"] == 3 and p["matched_people"] == 2
    # p3 unmatched: its 17 labelled keypoints are misses; p2 misses its 8 left keypoints
    assert p["parts"]["head"] == pytest.approx((5 + 3 + 0) / 15)
    for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle"):
        assert p["parts"][part] == pytest.approx(3 / 6)
    assert p["mean"] == pytest.approx((17 + 9) / 51)
    assert p["matched_only"]["parts"]["head"] == pytest.approx(8 / 10)
    assert p["matched_only"]["mean"] == pytest.approx(26 / 34)
    assert list(p["parts"]) == ["head", "shoulder", "elbow", "wrist", "hip", "knee", "ankle"]


def test_pck_matching_is_one_to_one(tmp_path):
    p1, p2 = pose(80, 150, 60), pose(300, 150, 60)
    gt = gt_file([image(1)], [gt_ann(1, 1, p1), gt_ann(2, 1, p2)])
    res = [dt(1, p1, 0.9), dt(1, p1 + [1.0, 0], 0.8)]   # both predictions on p1
    p = _score(tmp_path, gt, res)["pck"]
    assert p["matched_people"] == 2
    assert p["mean"] == pytest.approx(0.5)              # p2 got the leftover, far prediction


def test_pck_counts_only_labelled_keypoints(tmp_path):
    p1 = pose(100, 150, 60)
    vis = np.full(17, 2)
    vis[LEFT] = 0                                       # 9 labelled keypoints
    gt = gt_file([image(1)], [gt_ann(1, 1, p1, vis)])
    p = _score(tmp_path, gt, [dt(1, p1, 0.9)])["pck"]
    assert p["mean"] == 1.0 and sum(p["labelled_keypoints"].values()) == 9


def test_part_groups_by_name():
    assert [part_of(n) for n in ("nose", "left_ear", "head", "neck", "right_knee", "left_hip")] == [
        "head", "head", "head", "neck", "knee", "hip"]


def _jitter_world(tmp_path, shift=(5, -5)):
    base_imgs = [image(1, crop_box=[100, 50, 400, 300], num_people=2),
                 image(2, crop_box=[20, 30, 400, 300], num_people=2)]
    people = {1: [pose(100, 150, 60), pose(220, 150, 60)], 2: [pose(120, 140, 60), pose(260, 160, 60)]}
    anns, aid = [], 1
    jit_imgs, jit_anns = [], []
    for img in base_imgs:
        bx, by = img["crop_box"][:2]
        jx, jy = bx + shift[0], by + shift[1]
        jit_imgs.append(image(img["id"], crop_box=[jx, jy, 400, 300], base_crop_box=img["crop_box"], num_people=2))
        for xy in people[img["id"]]:
            anns.append(gt_ann(aid, img["id"], xy, area=5000.0))
            jit_anns.append(gt_ann(aid, img["id"], xy - [jx - bx, jy - by], area=5000.0))
            aid += 1
    base = write_json(tmp_path / "gt.json", gt_file(base_imgs, anns))
    jit = write_json(tmp_path / "gt_j.json", gt_file(jit_imgs, jit_anns))
    # the method is perfect in whatever crop it is shown
    def perfect(annotations):
        return [dt(a["image_id"], np.reshape(a["keypoints"], (-1, 3))[:, :2], 0.9) for a in annotations]

    res0 = write_json(tmp_path / "res.json", perfect(anns))
    resj = write_json(tmp_path / "res_j.json", perfect(jit_anns))
    return base, jit, res0, resj


def test_table3_maps_jittered_predictions_back(tmp_path):
    base, jit, res0, resj = _jitter_world(tmp_path)
    s = score_files(base, res0, jitter=[f"5={jit},{resj}"], bootstrap=0)
    levels = s["ap_under_jitter"]["levels"]
    assert [lv["level"] for lv in levels] == [0, 5]
    assert levels[0]["results"] == str(res0)
    assert levels[1]["stats"]["AP"] == pytest.approx(1.0)
    # scored as is (not mapped), the same predictions are 5 px off on every keypoint
    unmapped = score_files(base, resj, bootstrap=0)["ap_ar"]["stats"]["AP"]
    assert unmapped < 0.9


def test_table3_with_a_mapping_of_levels_and_a_negative_shift(tmp_path):
    base, jit, res0, resj = _jitter_world(tmp_path, shift=(-7, 3))
    s = score_files(base, res0, jitter={7: (jit, resj)}, bootstrap=0)
    assert s["ap_under_jitter"]["levels"][1]["stats"]["AP"] == pytest.approx(1.0)


def test_bootstrap_ci_is_seeded_and_brackets_a_perfect_method(tmp_path):
    gt, res = three_image_world()
    a = _score(tmp_path, gt, res, bootstrap=200, seed=7)
    b = _score(tmp_path, gt, res, bootstrap=200, seed=7)
    c = _score(tmp_path, gt, res, bootstrap=200, seed=8)
    assert a["ap_ar"]["ap_ci"] == b["ap_ar"]["ap_ci"]
    assert a["ap_ar"]["ap_ci"]["resamples"] == 200
    assert a["ap_ar"]["ap_ci"] != c["ap_ar"]["ap_ci"] or a["ap_by_people"] != c["ap_by_people"]
    two = {x["label"]: x for x in a["ap_by_people"]["buckets"]}["2"]
    assert two["ap_ci"]["low"] == two["ap_ci"]["high"] == pytest.approx(1.0)   # every resample is perfect
    lo, hi = a["ap_ar"]["ap_ci"]["low"], a["ap_ar"]["ap_ci"]["high"]
    assert 0.0 <= lo <= a["ap_ar"]["stats"]["AP"] <= hi <= 1.0


def test_bootstrap_zero_means_no_intervals(tmp_path):
    gt, res = three_image_world()
    s = _score(tmp_path, gt, res, bootstrap=0)
    assert s["ap_ar"]["ap_ci"] is None
    assert all(b["ap_ci"] is None for b in s["ap_by_people"]["buckets"])


def test_counting_matrix_spans_only_the_counts_seen(tmp_path):
    gt, _ = three_image_world()
    res = [dt(a["image_id"], np.reshape(a["keypoints"], (-1, 3))[:, :2], 0.9)
           for a in gt["annotations"] if not a["iscrowd"]]
    c = _score(tmp_path, gt, res)["counting"]
    assert c["labels"] == ["2", "3", "4", "5", "6"]
    assert np.array_equal(np.array(c["matrix"]), np.diag([1, 1, 0, 0, 1]))
    assert c["exact"] == 1.0 and c["mean_abs_error"] == 0.0
