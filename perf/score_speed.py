"""Speed of `bench score` against one plain pycocotools COCOeval run.

Builds a synthetic COCO-crowd validation set the size of the paper's (3,336
crops, 2..8 people each, CrowdPose-style crowdIndex, ignored non-group people)
with a noisy results file (misses, false alarms, duplicates), then times, in
this process and on the same files:

  reference  pycocotools: COCO(gt), loadRes(results), COCOeval(..., "keypoints")
             evaluate + accumulate + summarize
  bench      benchmarks.evaluate.score_and_report: loading and validation,
             Table 1, five people buckets, three crowd-index buckets, counting,
             PCK, 1000-resample bootstrap CIs for AP and every bucket AP, and
             scores.json + report.md + PNG plots

and prints time(bench) / time(reference) (median of --repeats runs each; the
target is <= 1.0). It also checks that the Table 1 numbers are identical.

    .venv/bin/python perf/score_speed.py [--images 3336] [--repeats 3] [--bootstrap 1000]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

NAMES = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
         "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
         "right_knee", "left_ankle", "right_ankle"]
# a standing person, offsets from the centre in units of its height / 1.5
POSE = np.array([[0, -0.62], [-0.05, -0.66], [0.05, -0.66], [-0.1, -0.63], [0.1, -0.63], [-0.2, -0.42],
                 [0.2, -0.42], [-0.28, -0.16], [0.28, -0.16], [-0.3, 0.08], [0.3, 0.08], [-0.12, 0.12],
                 [0.12, 0.12], [-0.12, 0.48], [0.12, 0.48], [-0.12, 0.85], [0.12, 0.85]])


def _crowd_index(boxes: np.ndarray, kps: list[np.ndarray]) -> float:
    """CrowdPose's crowd index: mean over people of (others' labelled keypoints in
    my box) / (my labelled keypoints)."""
    ratios = []
    for i, (x, y, w, h) in enumerate(boxes):
        own = len(kps[i])
        if own == 0:
            continue
        others = np.vstack([k for j, k in enumerate(kps) if j != i]) if len(kps) > 1 else np.zeros((0, 2))
        inside = ((others[:, 0] >= x) & (others[:, 0] <= x + w) & (others[:, 1] >= y) & (others[:, 1] <= y + h)).sum()
        ratios.append(inside / own)
    return float(np.mean(ratios)) if ratios else 0.0


def synthetic_world(n_images: int, seed: int) -> tuple[dict, list]:
    rng = np.random.default_rng(seed)
    images, anns, results = [], [], []
    aid = 1
    for img_id in range(1, n_images + 1):
        n = int(rng.integers(2, 9))
        scale = rng.uniform(60, 200, n)                       # person height in px
        cx = np.cumsum(rng.uniform(0.25, 0.6, n) * scale) + 20
        cy = rng.uniform(0.7, 0.9, n) * scale.max()
        width = int(cx[-1] + scale[-1] * 0.4 + 20)
        height = int(scale.max() * 1.6 + 20)
        boxes, labelled = [], []
        for p in range(n):
            xy = POSE * scale[p] + rng.normal(0, 0.02 * scale[p], POSE.shape) + [cx[p], cy[p]]
            vis = rng.choice([0, 1, 2], size=17, p=[0.15, 0.15, 0.7])
            lab = xy[vis > 0] if (vis > 0).any() else xy
            x0, y0 = lab.min(0) - 0.05 * scale[p]
            x1, y1 = lab.max(0) + 0.05 * scale[p]
            box = [round(float(x0), 2), round(float(y0), 2), round(float(x1 - x0), 2), round(float(y1 - y0), 2)]
            boxes.append(box)
            labelled.append(xy[vis > 0])
            anns.append({"id": aid, "image_id": img_id, "category_id": 1, "iscrowd": 0, "ignore": 0,
                         "bbox": box, "area": round(box[2] * box[3] * rng.uniform(0.45, 0.7), 2),
                         "num_keypoints": int((vis > 0).sum()),
                         "keypoints": np.c_[np.round(np.where(vis[:, None] > 0, xy, 0), 2), vis].ravel().tolist()})
            aid += 1
            if rng.random() < 0.88:                          # the method finds this person
                noise = rng.normal(0, rng.choice([0.01, 0.03, 0.08]) * scale[p], xy.shape)
                quality = float(np.exp(-np.abs(noise).mean() / (0.05 * scale[p])))
                score = float(np.clip(quality * 0.8 + rng.normal(0, 0.1), 0.01, 1.0))
                results.append({"image_id": img_id, "category_id": 1, "score": round(score, 6),
                                "keypoints": np.c_[np.round(xy + noise, 2), np.ones(17)].ravel().tolist()})
                if rng.random() < 0.05:                      # a duplicate
                    results.append({"image_id": img_id, "category_id": 1, "score": round(score * 0.5, 6),
                                    "keypoints": np.c_[np.round(xy + 2 * noise, 2), np.ones(17)].ravel().tolist()})
        if rng.random() < 0.3:                               # a non-group person reaching into the crop
            xy = POSE * scale.mean() + [width - 5, cy.mean()]
            anns.append({"id": aid, "image_id": img_id, "category_id": 1, "iscrowd": 1, "ignore": 1,
                         "bbox": [width - 40.0, 10.0, 39.0, height - 20.0], "area": 39.0 * (height - 20),
                         "num_keypoints": 0, "keypoints": [0] * 51})
            aid += 1
        for _ in range(int(rng.poisson(0.6))):                # false alarms
            xy = POSE * rng.uniform(40, 150) + [rng.uniform(0, width), rng.uniform(0, height)]
            results.append({"image_id": img_id, "category_id": 1, "score": round(float(rng.uniform(0.01, 0.4)), 6),
                            "keypoints": np.c_[np.round(xy, 2), np.ones(17)].ravel().tolist()})
        images.append({"id": img_id, "file_name": f"{img_id:06d}.png", "width": width, "height": height,
                       "source_image_id": 100000 + img_id, "source_file_name": f"COCO_val2014_{img_id:012d}.jpg",
                       "crop_box": [int(rng.integers(0, 200)), int(rng.integers(0, 200)), width, height],
                       "num_people": n, "crowdIndex": round(_crowd_index(np.array(boxes), labelled), 4)})
    gt = {"images": images, "annotations": anns,
          "categories": [{"id": 1, "name": "person", "supercategory": "person", "keypoints": NAMES,
                          "skeleton": [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13]]}],
          "crowd_info": {"tool": "perf/score_speed.py synthetic", "iou": 0.1, "margin": 0, "split": "val",
                         "jitter_px": 0}}
    return gt, results


def run_pycocotools(gt_path: Path, res_path: Path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        t0 = time.perf_counter()
        gt = COCO(str(gt_path))
        dt = gt.loadRes(str(res_path))
        t1 = time.perf_counter()
        ev = COCOeval(gt, dt, "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        t2 = time.perf_counter()
    return t2 - t0, t2 - t1, ev.stats.tolist()


def run_bench(gt_path: Path, res_path: Path, out_dir: Path, bootstrap: int, report: bool):
    from benchmarks.evaluate import score_and_report
    from benchmarks.scoring import score_files

    t0 = time.perf_counter()
    if report:
        scores = score_and_report(gt_path, res_path, out_dir, bootstrap=bootstrap)
    else:
        scores = score_files(gt_path, res_path, bootstrap=bootstrap)
    return time.perf_counter() - t0, scores


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=3336, help="crops in the synthetic set (paper: 3,336)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each side; medians are compared")
    ap.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples of bench score")
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic set")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        gt, res = synthetic_world(args.images, args.seed)
        gt_path, res_path = tmp / "crowd_val_synthetic.json", tmp / "results.json"
        gt_path.write_text(json.dumps(gt))
        res_path.write_text(json.dumps(res))
        people = sum(1 for a in gt["annotations"] if not a["iscrowd"])
        print(f"synthetic COCO-crowd: {len(gt['images'])} images, {people} people "
              f"(+{len(gt['annotations']) - people} ignored), {len(res)} detections")

        run_bench(gt_path, res_path, tmp / "warm", 10, True)   # imports, caches
        ref, ref_eval, bench, bench_core = [], [], [], []
        for r in range(args.repeats):
            t_all, t_eval, ref_stats = run_pycocotools(gt_path, res_path)
            ref.append(t_all)
            ref_eval.append(t_eval)
            t, scores = run_bench(gt_path, res_path, tmp / f"run{r}", args.bootstrap, True)
            bench.append(t)
            bench_core.append(run_bench(gt_path, res_path, tmp / "x", args.bootstrap, False)[0])
        ours = [-1.0 if v is None else v for v in scores["ap_ar"]["stats"].values()]
        if ours != ref_stats:
            print(f"MISMATCH with pycocotools: {ours} != {ref_stats}")
            return 1
        med = statistics.median
        print(f"Table 1 identical to pycocotools: AP {ours[0]:.4f}; crowd-index buckets "
              f"{[b['images'] for b in scores['crowd_index']['buckets']]}; bootstrap {args.bootstrap}")
        print(f"pycocotools load+evaluate+accumulate+summarize: {med(ref):.2f} s "
              f"(evaluate+accumulate+summarize alone {med(ref_eval):.2f} s)")
        print(f"bench score (all tables, CIs, scores.json, report.md, PNGs): {med(bench):.2f} s "
              f"(without the report {med(bench_core):.2f} s)")
        print(f"ratio bench score / pycocotools run: {med(bench) / med(ref):.2f} "
              f"(without the report {med(bench_core) / med(ref):.2f}; "
              f"vs pycocotools without its file loading {med(bench) / med(ref_eval):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
