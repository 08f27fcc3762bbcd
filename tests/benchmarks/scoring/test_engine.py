"""The vectorised engine against pycocotools itself: OKS values, Table 1 stats,
precision/recall arrays, per-subset re-accumulation and bootstrap multisets."""
from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.scoring.bootstrap import ResampledAP, draw_counts
from benchmarks.scoring.cocoeval_engine import MAX_DETS, evaluate, oks
from benchmarks.scoring.groundtruth import load_ground_truth
from benchmarks.scoring.results import load_results
from benchmarks.scoring.sigmas import COCO17_NAMES, resolve_sigmas

from tests.helpers.scoring import (CROWDPOSE14, dt, gt_ann, gt_file, image, pose, pycoco,
                                   pycoco_multiset, random_case, stats_as_pycoco, write_json)

REFERENCE_STATS = [0.5048844884488449, 0.7227722772277227, 0.6336633663366337, 0.46633663366336636,
                   0.7504950495049505, 0.5181818181818182, 0.7272727272727273, 0.6363636363636364,
                   0.4666666666666666, 0.75]  # ../shared/data/real/README.md


def _ours(tmp_path, gt_dict, res, names=None):
    gp = write_json(tmp_path / "gt.json", gt_dict)
    rp = write_json(tmp_path / "res.json", res)
    gt = load_ground_truth(gp)
    sig, _ = resolve_sigmas(gt.keypoint_names)
    return gp, gt, evaluate(gt, load_results(rp, gt), sig), sig


def _pycoco_arrays(ev):
    # pycocotools precision is (T, R, K, A, M); ours (A, T, R)
    return ev.eval["precision"][:, :, 0, :, 0].transpose(2, 0, 1), ev.eval["recall"][:, 0, :, 0].T


@pytest.mark.parametrize("seed", range(12))
def test_table1_identical_to_pycocotools(tmp_path, seed):
    gt_dict, res = random_case(seed, zero_id=seed == 3)
    gp, gt, table, _ = _ours(tmp_path, gt_dict, res)
    ev = pycoco(gp, res)
    precision, recall = table.accumulate()
    ref_p, ref_r = _pycoco_arrays(ev)
    assert np.array_equal(precision, ref_p)
    assert np.array_equal(recall, ref_r)
    assert stats_as_pycoco(table.stats()) == ev.stats.tolist()


@pytest.mark.parametrize("seed", range(4))
def test_oks_values_identical_to_pycocotools(tmp_path, seed):
    gt_dict, res = random_case(100 + seed)
    gp, gt, _, sig = _ours(tmp_path, gt_dict, res)
    ev = pycoco(gp, res)
    dets = load_results(tmp_path / "res.json", gt)
    checked = 0
    for pos, img_id in enumerate(gt.image_ids.tolist()):
        ref = ev.ious[img_id, 1]
        g = np.flatnonzero(gt.ann_image == pos)
        d = np.flatnonzero(dets.image == pos)
        d = d[np.argsort(-dets.score[d], kind="mergesort")][:MAX_DETS]
        if len(ref) == 0:
            assert len(g) == 0 or len(d) == 0
            continue
        gi, di = np.repeat(g, len(d)), np.tile(d, len(g))
        ours = oks(gt.keypoints[gi], gt.bbox[gi], gt.area[gi], dets.keypoints[di], sig).reshape(len(g), len(d)).T
        assert np.array_equal(ours, ref)
        checked += 1
    assert checked > 3


@pytest.mark.parametrize("seed", range(6))
def test_subsets_identical_to_fresh_pycocotools_runs(tmp_path, seed):
    gt_dict, res = random_case(200 + seed, n_images=16)
    gp, gt, table, _ = _ours(tmp_path, gt_dict, res)
    rng = np.random.default_rng(seed)
    for _ in range(3):
        pick = np.sort(rng.choice(gt.num_images, size=int(rng.integers(1, gt.num_images)), replace=False))
        ev = pycoco(gp, res, img_ids=gt.image_ids[pick].tolist())
        weights = np.zeros(gt.num_images, dtype=np.int64)
        weights[pick] = 1
        assert stats_as_pycoco(table.stats(weights)) == ev.stats.tolist()
        sub = table.subset(pick)
        assert stats_as_pycoco(sub.stats()) == ev.stats.tolist()
        assert np.array_equal(sub.accumulate()[0], _pycoco_arrays(ev)[0])


@pytest.mark.parametrize("seed", range(6))
def test_resampled_ap_equals_pycocotools_accumulate_over_the_multiset(tmp_path, seed):
    # seeds 0-2: scores with one decimal, so equal scores inside an image are common
    gt_dict, res = random_case(300 + seed, n_images=12)
    if seed < 3:
        for r in res:
            r["score"] = round(r["score"], 1)
    gp, gt, table, _ = _ours(tmp_path, gt_dict, res)
    ev = pycoco(gp, res)
    counts = draw_counts(np.random.default_rng(seed), gt.num_images, 8)
    fast = ResampledAP(table).aps(counts)
    for c, ap_fast in zip(counts, fast):
        seq = np.repeat(gt.image_ids, c).tolist()
        ref = pycoco_multiset(ev, seq)
        assert np.array_equal(table.accumulate(c)[0], _pycoco_arrays(ref)[0])
        assert (table.ap(c) if table.ap(c) is not None else -1) == ref.stats[0]
        assert (-1 if np.isnan(ap_fast) else ap_fast) == ref.stats[0]


def test_ties_inside_an_image_are_laid_out_copy_by_copy(tmp_path):
    # one image, two equal-score detections: one hits, one misses; drawn twice
    xy = pose(100, 120, 60)
    gt_dict = gt_file([image(1), image(2)], [gt_ann(1, 1, xy), gt_ann(2, 2, pose(200, 120, 60))])
    res = [dt(1, xy, 0.5), dt(1, xy + 300, 0.5), dt(2, pose(200, 120, 60), 0.9)]
    gp, gt, table, _ = _ours(tmp_path, gt_dict, res)
    engine = ResampledAP(table)
    assert engine.unit_mixed.sum() == 1
    ev = pycoco(gp, res)
    counts = np.array([[2, 1], [1, 2], [3, 0], [1, 1], [4, 2]])
    for c, ap in zip(counts, engine.aps(counts)):
        assert ap == pycoco_multiset(ev, np.repeat(gt.image_ids, c).tolist()).stats[0]


def test_eval_reference_matches_pinned_pycocotools_stats(real_data, tmp_path):
    folder = real_data / "eval_reference"
    if not folder.is_dir():
        pytest.skip("eval_reference sample absent")
    gt = load_ground_truth(folder / "gt_dataset.json")
    sig, source = resolve_sigmas(gt.keypoint_names)
    assert source == "coco17"
    table = evaluate(gt, load_results(folder / "dt_dataset.json", gt), sig)
    assert stats_as_pycoco(table.stats()) == REFERENCE_STATS


def test_crowdpose_sample_14_keypoints_identical_to_pycocotools(real_data, tmp_path):
    src = real_data / "crowdpose_sample" / "test_crowdpose.json"
    if not src.is_file():
        pytest.skip("crowdpose sample absent")
    data = json.loads(src.read_text())
    res = _crowdpose_results(data)
    gt = load_ground_truth(src)
    sig, source = resolve_sigmas(gt.keypoint_names)
    assert source == "crowdpose14" and gt.keypoint_names == CROWDPOSE14
    crowdposetools = np.array([.79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89, .79, .79]) / 10.0
    assert sig.tolist() == crowdposetools.tolist()
    ours = evaluate(gt, load_results(write_json(tmp_path / "res.json", res), gt), sig).stats()
    # pycocotools needs `area`, which CrowdPose files lack: give it the box area we use
    for a in data["annotations"]:
        a["area"] = a["bbox"][2] * a["bbox"][3]
    ev = pycoco(write_json(tmp_path / "gt_area.json", data), res, sigmas=sig)
    assert stats_as_pycoco(ours) == ev.stats.tolist()
    assert gt.notes["area_from_bbox"] == len(data["annotations"])


def test_equal_oks_to_two_people_goes_to_the_later_one_like_pycocotools(tmp_path):
    # the first detection sits exactly halfway between A and B (equal OKS to both);
    # pycocotools keeps the later gt on ties (>=), so it takes B, and the second
    # detection, lying on B, is left with A at a low OKS
    a = pose(100, 150, 80)
    b = a + [8.0, 0.0]
    gt_dict = gt_file([image(1)], [gt_ann(1, 1, a, area=6000.0), gt_ann(2, 1, b, area=6000.0)])
    res = [dt(1, a + [4.0, 0.0], 0.9), dt(1, b, 0.8)]
    gp, gt, table, _ = _ours(tmp_path, gt_dict, res)
    ev = pycoco(gp, res)
    assert ev.evalImgs[0]["dtMatches"][0].tolist() == [2, 1]   # at OKS 0.5
    assert stats_as_pycoco(table.stats()) == ev.stats.tolist()
    assert ev.stats[0] < 1.0   # the tie decided the outcome


def _crowdpose_results(data: dict, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    res = []
    for a in data["annotations"]:
        kp = np.asarray(a["keypoints"], float).reshape(-1, 3)
        noisy = kp[:, :2] + rng.normal(0, 4, (len(kp), 2))
        res.append({"image_id": a["image_id"], "category_id": 1, "score": float(rng.random()),
                    "keypoints": np.c_[noisy, np.ones(len(kp))].ravel().tolist()})
    return res


def test_crowdpose_sample_crowd_index_buckets(real_data, tmp_path):
    from benchmarks.scoring import score_files

    src = real_data / "crowdpose_sample" / "test_crowdpose.json"
    if not src.is_file():
        pytest.skip("crowdpose sample absent")
    data = json.loads(src.read_text())
    assert sorted(img["crowdIndex"] for img in data["images"]) == [0.33, 0.39]
    rp = write_json(tmp_path / "res.json", _crowdpose_results(data, 1))
    s = score_files(src, rp, bootstrap=50)
    crowd = {b["label"]: b for b in s["crowd_index"]["buckets"]}
    assert [crowd[k]["images"] for k in ("easy", "medium", "hard")] == [0, 2, 0]
    assert crowd["easy"]["stats"]["AP"] is None and crowd["hard"]["stats"]["AP"] is None
    assert crowd["medium"]["stats"] == s["ap_ar"]["stats"]      # both images are medium
    assert s["ap_by_people"]["source"] == "annotations"                # CrowdPose has no num_people
    assert s["pck"]["parts"].keys() >= {"head", "neck", "shoulder", "ankle"}


def test_coco_sample_detection_boxes_are_not_keypoint_results(real_data):
    from benchmarks.scoring import score_files
    from cococrowd.cocofile import CocoFormatError

    folder = real_data / "coco_kp_sample"
    if not folder.is_dir():
        pytest.skip("coco sample absent")
    with pytest.raises(CocoFormatError, match=r"test_coco_det_AP_H_56\.json: \[0\]\.keypoints: missing key"):
        score_files(folder / "test_coco.json", folder / "test_coco_det_AP_H_56.json", bootstrap=0)


def test_sigmas_follow_keypoint_names_not_positions(tmp_path):
    gt_dict, res = random_case(7)
    _, _, table, _ = _ours(tmp_path, gt_dict, res)
    perm = np.random.default_rng(0).permutation(17)

    def shuffle(flat):
        return np.asarray(flat, float).reshape(17, 3)[perm].ravel().tolist()

    gt_dict["categories"][0]["keypoints"] = [gt_dict["categories"][0]["keypoints"][j] for j in perm]
    for a in gt_dict["annotations"]:
        a["keypoints"] = shuffle(a["keypoints"])
    for r in res:
        r["keypoints"] = shuffle(r["keypoints"])
    (tmp_path / "p").mkdir()
    gp, gt, shuffled, sig = _ours(tmp_path / "p", gt_dict, res)
    assert resolve_sigmas(gt.keypoint_names)[1] == "by-name"
    assert sig.tolist() == resolve_sigmas(list(COCO17_NAMES))[0][perm].tolist()
    assert shuffled.stats() == table.stats()
    assert stats_as_pycoco(shuffled.stats()) == pycoco(gp, res, sigmas=sig).stats.tolist()
