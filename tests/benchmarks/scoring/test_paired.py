"""Table 3's paired bootstrap: every jitter level and Table 1 share one set of
image resamples, and each level's AP difference to level 0 gets the percentile
interval of the per-resample differences."""
from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.scoring import score_files
from benchmarks.scoring.bootstrap import (bootstrap_ap, draw_counts, paired_delta_ci, percentile_ci,
                                          resample_aps)
from benchmarks.scoring.cocoeval_engine import evaluate
from benchmarks.scoring.groundtruth import load_ground_truth
from benchmarks.scoring.results import load_results
from benchmarks.scoring.sigmas import resolve_sigmas

from tests.helpers.scoring import dt, gt_ann, gt_file, image, pose, random_case, write_json

SHIFT = (5, -3)   # level-5 crop origin minus base crop origin (integers: mapping back is exact)


def _tables(tmp_path, seeds):
    """Match tables of several random results files against one ground truth."""
    gt_dict, _ = random_case(seeds[0], n_images=10)
    gp = write_json(tmp_path / "gt.json", gt_dict)
    gt = load_ground_truth(gp)
    sig, _ = resolve_sigmas(gt.keypoint_names)
    out = []
    for s in seeds:
        # another draw's results moved onto the same images (random_case ids end in the image's index)
        _, res = random_case(s, n_images=10)
        ids = [img["id"] for img in gt_dict["images"]]
        for r in res:
            r["image_id"] = ids[r["image_id"] % 10]
        rp = write_json(tmp_path / f"res{s}.json", res)
        out.append(evaluate(gt, load_results(rp, gt), sig))
    return gt, out


def test_resample_aps_use_one_draw_for_every_table(tmp_path):
    gt, tables = _tables(tmp_path, [11, 12, 13])
    aps = resample_aps(tables, 30, [4, 0], batch=7)
    # the same counts, drawn independently batch by batch, accumulated by the slow exact path
    rng = np.random.default_rng([4, 0])
    counts = np.vstack([draw_counts(rng, gt.num_images, min(7, 30 - lo)) for lo in range(0, 30, 7)])
    for row, table in zip(aps, tables):
        expected = np.array([np.nan if a is None else a for a in (table.ap(c) for c in counts)])
        assert np.array_equal(row, expected, equal_nan=True)
    # one table: exactly bootstrap_ap's interval
    assert percentile_ci(resample_aps(tables[:1], 30, [4, 0])[0]) == bootstrap_ap(tables[0], 30, [4, 0])


def test_paired_delta_is_the_percentile_of_per_resample_differences(tmp_path):
    _, tables = _tables(tmp_path, [21, 22])
    aps = resample_aps(tables, 200, 9)
    ci = paired_delta_ci(aps[1], aps[0])
    diff = aps[1] - aps[0]
    diff = diff[~np.isnan(diff)]
    assert [ci["low"], ci["high"]] == pytest.approx(np.percentile(diff, [2.5, 97.5]), abs=1e-12)
    assert ci["resamples"] == 200
    # identical tables: identical rows, a difference of exactly 0
    same = resample_aps([tables[0], tables[0]], 50, 9)
    assert np.array_equal(same[0], same[1], equal_nan=True)
    zero = paired_delta_ci(same[1], same[0])
    assert zero["low"] == 0.0 and zero["high"] == 0.0


def test_resample_aps_refuses_tables_over_different_images(tmp_path):
    gt_dict, res = random_case(31, n_images=6)
    gp = write_json(tmp_path / "gt.json", gt_dict)
    gt = load_ground_truth(gp)
    sig, _ = resolve_sigmas(gt.keypoint_names)
    table = evaluate(gt, load_results(write_json(tmp_path / "r.json", res), gt), sig)
    with pytest.raises(ValueError, match=r"same images, got image counts \[3, 6\]"):
        resample_aps([table, table.subset(np.arange(3))], 10, 0)


# ---------------------------------------------------------------- score_files


def _world(tmp_path, n_images=8, seed=0):
    """A base COCO-crowd file, its level-5 variant (crops moved by SHIFT) and noisy
    predictions with half-pixel coordinates (exact under the integer shift)."""
    rng = np.random.default_rng(seed)
    base_imgs, jit_imgs, anns, preds = [], [], [], []
    aid = 1
    for i in range(1, n_images + 1):
        crop = [10 * i, 20, 400, 300]
        base_imgs.append(image(i, crop_box=crop, num_people=2))
        jit_imgs.append(image(i, crop_box=[crop[0] + SHIFT[0], crop[1] + SHIFT[1], 400, 300],
                              base_crop_box=crop, num_people=2))
        for j in range(2):
            xy = np.round(pose(100 + 150 * j, 150, 60))
            anns.append(gt_ann(aid, i, xy, area=5000.0))
            aid += 1
            noisy = np.round(2 * (xy + rng.normal(0, rng.choice([1.0, 4.0, 9.0]), xy.shape))) / 2
            preds.append((i, noisy, float(np.round(rng.random(), 3))))
    base = write_json(tmp_path / "gt.json", gt_file(base_imgs, anns))
    jdict = gt_file(jit_imgs, [dict(a, keypoints=_moved(a["keypoints"])) for a in anns])
    jdict["crowd_info"] = {"jitter_px": 5, "jitter_seed": 0}
    jit = write_json(tmp_path / "gt_j5.json", jdict)
    return base, jit, preds


def _moved(kps):
    k = np.reshape(kps, (-1, 3)).astype(float)
    k[:, 0] -= SHIFT[0] * (k[:, 2] > 0)
    k[:, 1] -= SHIFT[1] * (k[:, 2] > 0)
    return k.ravel().tolist()


def _results(tmp_path, name, preds, in_jittered_crop=False, offset=(0.0, 0.0)):
    shift = np.array(SHIFT) if in_jittered_crop else 0
    return write_json(tmp_path / name, [dt(i, xy - shift + offset, s) for i, xy, s in preds])


def test_identical_predictions_at_two_levels_get_identical_cis_and_a_zero_delta(tmp_path):
    base, jit, preds = _world(tmp_path)
    r0 = _results(tmp_path, "res.json", preds)
    r5 = _results(tmp_path, "res_j5.json", preds, in_jittered_crop=True)
    for spec in ([f"5={jit},{r5}"], [f"0={base},{r0}", f"5={jit},{r5}"]):
        s = score_files(base, r0, jitter=spec, bootstrap=200, seed=3)
        zero, five = s["ap_under_jitter"]["levels"]
        assert five["stats"] == zero["stats"] == s["ap_ar"]["stats"]
        assert 0.2 < five["stats"]["AP"] < 0.95                 # not a trivial all-perfect case
        assert five["ap_ci"] == zero["ap_ci"] == s["ap_ar"]["ap_ci"]
        assert five["ap_ci"]["low"] < five["ap_ci"]["high"]
        assert five["delta_vs_0"] == 0.0
        assert (five["delta_ci"]["low"], five["delta_ci"]["high"]) == (0.0, 0.0)
        assert zero["delta_vs_0"] is None and zero["delta_ci"] is None        # the reference itself
    assert s["ap_under_jitter"]["delta_reference"].startswith("the level-0 files")


def test_a_level_worse_on_every_image_has_a_delta_ci_below_zero(tmp_path):
    base, jit, preds = _world(tmp_path)
    exact = [(i, np.reshape(a, (-1, 3))[:, :2], 0.9) for i, a in
             ((a["image_id"], a["keypoints"]) for a in json.loads(base.read_text())["annotations"])]
    r0 = _results(tmp_path, "res.json", exact)                                    # perfect on every image
    r5 = _results(tmp_path, "res_j5.json", exact, in_jittered_crop=True, offset=(3.0, 0.0))  # 3 px off everywhere
    s = score_files(base, r0, jitter=[f"5={jit},{r5}"], bootstrap=200, seed=1)
    zero, five = s["ap_under_jitter"]["levels"]
    assert zero["stats"]["AP"] == 1.0 and five["stats"]["AP"] < 1.0
    assert five["delta_vs_0"] == pytest.approx(five["stats"]["AP"] - 1.0)
    assert five["delta_ci"]["low"] <= five["delta_ci"]["high"] < 0.0
    assert s["ap_under_jitter"]["delta_reference"].startswith("the main --gt/--results")


def test_paired_deltas_are_seeded(tmp_path):
    base, jit, preds = _world(tmp_path)
    r0 = _results(tmp_path, "res.json", preds)
    rng = np.random.default_rng(5)
    worse = [(i, xy + np.round(rng.normal(0, 6, xy.shape)), s) for i, xy, s in preds]
    r5 = _results(tmp_path, "res_j5.json", worse, in_jittered_crop=True)
    a, b, c = (score_files(base, r0, jitter=[f"5={jit},{r5}"], bootstrap=100, seed=sd)["ap_under_jitter"]
               for sd in (2, 2, 3))
    assert a == b
    assert a["levels"][1]["delta_ci"] != c["levels"][1]["delta_ci"]
    assert a["levels"][1]["delta_vs_0"] == c["levels"][1]["delta_vs_0"]    # the point estimate has no seed


def test_no_bootstrap_still_gives_the_point_delta(tmp_path):
    base, jit, preds = _world(tmp_path)
    r0 = _results(tmp_path, "res.json", preds)
    r5 = _results(tmp_path, "res_j5.json", preds[::2], in_jittered_crop=True)
    s = score_files(base, r0, jitter=[f"5={jit},{r5}"], bootstrap=0)
    zero, five = s["ap_under_jitter"]["levels"]
    assert five["delta_vs_0"] == five["stats"]["AP"] - zero["stats"]["AP"]
    assert five["delta_ci"] is None and five["ap_ci"] is None
