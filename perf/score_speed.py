"""Speed and peak memory of `bench score` against pycocotools, hotcoco and faster-coco-eval.

Builds a synthetic COCO-crowd validation set the size of the paper's (3,336
crops, 2..8 people each, CrowdPose-style crowdIndex, ignored non-group people)
with a noisy results file of ~34.5k detections (found people, duplicates,
false alarms and a tail of low-score guesses, ~10 per image as a bottom-up
method writes them), then on the same files:

  time, in this process, tools interleaved, median of --repeats:
    pycocotools       COCO(gt), loadRes, COCOeval(keypoints) evaluate + accumulate + summarize
    faster-coco-eval  the same through its COCOeval_faster
    hotcoco           the same through hotcoco's COCOeval (Rust)
    bench Table 1     load + validate both files, OKS + matching, AP/AR (load_ground_truth,
                      load_results, evaluate, stats: what Table 1 needs)
    bench whole       benchmarks.evaluate.score_and_report: Table 1, five people buckets,
                      three crowd-index buckets, counting, PCK, --bootstrap CIs for AP and
                      every bucket AP, scores.json + report.md + PNGs
  peak memory: each tool once in its own fresh subprocess, its peak resident set
    (VmHWM of /proc/self/status, numpy and C allocations included; tracemalloc would
    see only Python's; ru_maxrss is not used because Linux carries the forking
    parent's peak into the child). The target figure is a fresh process running the
    tool once, as a user's `bench score` does, with numba's on-disk cache already
    filled (by the timed runs above; no compiling inside). Beside it, the peak after
    a warm-up on a 4-image set in the same process (every import, numba's functions
    and matplotlib's fonts already resident while the data is scored, which a real
    run never has: it draws its plots after the scoring arrays are freed).

and prints the ratios (issue 11's targets: Table 1 / hotcoco <= 1.5, fresh-process peak
memory / pycocotools <= 1; issue 20's: whole / pycocotools <= 0.35), then how time and memory grow from
1x to 16x the images (the set tiled with new ids: same per-image content, so
every scale has the same AP; subprocess per tool and scale, one run each).
It checks that Table 1 equals pycocotools (and says whether the peers do).

    .venv/bin/python perf/score_speed.py [--images 3336] [--repeats 5] [--bootstrap 1000]
        [--scales 1,2,4,8,16] [--reference-max-scale 4]

Needs the ``perf`` extra (pip install -e .[perf]: hotcoco, faster-coco-eval).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import statistics
import subprocess
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
        boxes, labelled, poses = [], [], []
        for p in range(n):
            xy = POSE * scale[p] + rng.normal(0, 0.02 * scale[p], POSE.shape) + [cx[p], cy[p]]
            vis = rng.choice([0, 1, 2], size=17, p=[0.15, 0.15, 0.7])
            lab = xy[vis > 0] if (vis > 0).any() else xy
            x0, y0 = lab.min(0) - 0.05 * scale[p]
            x1, y1 = lab.max(0) + 0.05 * scale[p]
            box = [round(float(x0), 2), round(float(y0), 2), round(float(x1 - x0), 2), round(float(y1 - y0), 2)]
            boxes.append(box)
            labelled.append(xy[vis > 0])
            poses.append(xy)
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
        for _ in range(int(rng.poisson(5.2))):                # low-score guesses near someone
            p = int(rng.integers(0, n))
            xy = poses[p] + rng.normal(0, 0.15 * scale[p], (17, 2))
            results.append({"image_id": img_id, "category_id": 1, "score": round(float(rng.uniform(0.01, 0.3)), 6),
                            "keypoints": np.c_[np.round(xy, 2), np.ones(17)].ravel().tolist()})
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


def tile(gt: dict, res: list, times: int) -> tuple[dict, list]:
    """The set ``times`` over, each copy with new image and annotation ids and file names
    (COCO-crowd file names are unique)."""
    if times == 1:
        return gt, res
    n_img = max(im["id"] for im in gt["images"])
    n_ann = max(a["id"] for a in gt["annotations"])
    images, anns, out = [], [], []
    for c in range(times):
        images += [dict(im, id=im["id"] + c * n_img, file_name=f"{c}_{im['file_name']}") for im in gt["images"]]
        anns += [dict(a, id=a["id"] + c * n_ann, image_id=a["image_id"] + c * n_img) for a in gt["annotations"]]
        out += [dict(r, image_id=r["image_id"] + c * n_img) for r in res]
    return dict(gt, images=images, annotations=anns), out


# ---------------------------------------------------------------- the tools, one call each

def run_pycocotools(gt_path, res_path, out_dir=None, bootstrap=0):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        dt = gt.loadRes(str(res_path))
        ev = COCOeval(gt, dt, "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(v) for v in ev.stats]


def run_faster_coco_eval(gt_path, res_path, out_dir=None, bootstrap=0):
    from faster_coco_eval import COCO, COCOeval_faster

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        dt = gt.loadRes(str(res_path))
        ev = COCOeval_faster(gt, dt, "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(v) for v in ev.stats][:10]


def run_hotcoco(gt_path, res_path, out_dir=None, bootstrap=0):
    import hotcoco

    with contextlib.redirect_stdout(io.StringIO()):
        gt = hotcoco.COCO(str(gt_path))
        dt = gt.loadRes(str(res_path))
        ev = hotcoco.COCOeval(gt, dt, "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(v) for v in ev.stats][:10]


def run_bench_table1(gt_path, res_path, out_dir=None, bootstrap=0):
    from benchmarks.scoring.cocoeval_engine import evaluate
    from benchmarks.scoring.results import load_inputs

    gt, dt, sig, _ = load_inputs(gt_path, res_path)
    table = evaluate(gt, dt, sig)
    return [-1.0 if v is None else v for v in table.stats()]


def run_bench_whole(gt_path, res_path, out_dir, bootstrap):
    from benchmarks.evaluate import score_and_report

    scores = score_and_report(gt_path, res_path, out_dir, bootstrap=bootstrap)
    return [-1.0 if v is None else v for v in scores["ap_ar"]["stats"].values()]


TOOLS = {"pycocotools": run_pycocotools, "faster-coco-eval": run_faster_coco_eval, "hotcoco": run_hotcoco,
         "bench Table 1": run_bench_table1, "bench whole": run_bench_whole}


def _write_set(folder: Path, gt: dict, res: list) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    gt_path, res_path = folder / "crowd_val_synthetic.json", folder / "results.json"
    gt_path.write_text(json.dumps(gt))
    res_path.write_text(json.dumps(res))
    return gt_path, res_path


def _peak_rss() -> int:
    """Peak resident set of this process image in bytes: VmHWM of /proc/self/status (Linux), which
    starts afresh at exec; ru_maxrss would carry the forking parent's peak over into the child."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker(tool: str, gt_path: str, res_path: str, out_dir: str, bootstrap: int, warm_gt: str, warm_res: str) -> None:
    """One tool in this fresh process (after a warm-up on the tiny set unless warm_gt is "-"),
    timed; prints JSON."""
    fn = TOOLS[tool]
    if warm_gt != "-":
        fn(warm_gt, warm_res, out_dir + "_warm", 10)
    t0 = time.perf_counter()
    stats = fn(gt_path, res_path, out_dir, bootstrap)
    wall = time.perf_counter() - t0
    peak = _peak_rss()
    print(json.dumps({"time": wall, "peak": peak, "stats": stats}))


def in_subprocess(tool, gt_path, res_path, out_dir, bootstrap, warm) -> dict:
    cmd = [sys.executable, __file__, "--worker", tool, str(gt_path), str(res_path), str(out_dir), str(bootstrap),
           str(warm[0]), str(warm[1])]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"{tool} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _mb(v: float) -> str:
    return f"{v / 2 ** 20:.0f} MB"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=3336, help="crops in the synthetic set (paper: 3,336)")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs of each tool; medians are compared")
    ap.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples of bench score")
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic set")
    ap.add_argument("--scales", default="1,2,4,8,16", help="growth table: multiples of the set ('' = none)")
    ap.add_argument("--reference-max-scale", type=int, default=4,
                    help="largest scale at which the slow peers (pycocotools, faster-coco-eval) run in the growth table")
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], *sys.argv[3:6], int(sys.argv[6]), *sys.argv[7:9])
        return 0
    args = ap.parse_args(argv)
    med = statistics.median

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base_gt, base_res = synthetic_world(args.images, args.seed)
        gt_path, res_path = _write_set(tmp / "x1", base_gt, base_res)
        warm = _write_set(tmp / "warm", *synthetic_world(4, args.seed + 1))
        people = sum(1 for a in base_gt["annotations"] if not a["iscrowd"])
        print(f"synthetic COCO-crowd: {len(base_gt['images'])} images, {people} people "
              f"(+{len(base_gt['annotations']) - people} ignored), {len(base_res)} detections; "
              f"bootstrap {args.bootstrap}; {os.cpu_count()} CPUs")

        for name, fn in TOOLS.items():          # imports, numba cache
            fn(*warm, tmp / "warm_out", 10)
        times: dict[str, list[float]] = {name: [] for name in TOOLS}
        stats: dict[str, list] = {}
        for r in range(args.repeats):
            for name, fn in TOOLS.items():
                t0 = time.perf_counter()
                stats[name] = fn(gt_path, res_path, tmp / f"run_{r}", args.bootstrap)
                times[name].append(time.perf_counter() - t0)
        ref = stats["pycocotools"]
        for name in ("bench Table 1", "bench whole"):
            if stats[name] != ref:
                print(f"MISMATCH {name} with pycocotools: {stats[name]} != {ref}")
                return 1
        t = {name: med(v) for name, v in times.items()}
        print(f"\ntime in one process, median of {args.repeats} (Table 1 equal to pycocotools: "
              + ", ".join(f"{n} {'yes' if stats[n] == ref else 'NO'}" for n in TOOLS if n != "pycocotools") + ")")
        for name in TOOLS:
            print(f"  {name:<17} {t[name]:7.3f} s   (runs {', '.join(f'{v:.3f}' for v in times[name])})")

        fresh = ("-", "-")
        mem = {name: in_subprocess(name, gt_path, res_path, tmp / f"mem_{i}", args.bootstrap, fresh)
               for i, name in enumerate(TOOLS)}
        warm_mem = {name: in_subprocess(name, gt_path, res_path, tmp / f"memw_{i}", args.bootstrap, warm)
                    for i, name in enumerate(TOOLS)}
        print("\npeak memory, one fresh process per tool (VmHWM): a single run | after an in-process warm-up")
        for name in TOOLS:
            print(f"  {name:<17} {_mb(mem[name]['peak']):>8} | {_mb(warm_mem[name]['peak']):>8}")

        print("\nratios (targets)")
        print(f"  bench Table 1 / hotcoco                 {t['bench Table 1'] / t['hotcoco']:.2f}   (<= 1.5)")
        print(f"  bench whole / pycocotools               {t['bench whole'] / t['pycocotools']:.3f}  (<= 0.35)")
        ratio = lambda m, n: m[n]["peak"] / m["pycocotools"]["peak"]  # noqa: E731
        print(f"  peak memory bench whole / pycocotools   {ratio(mem, 'bench whole'):.2f}"
              f"   (<= 1; Table 1 path {ratio(mem, 'bench Table 1'):.2f}; after an in-process warm-up"
              f" {ratio(warm_mem, 'bench whole'):.2f}, Table 1 path {ratio(warm_mem, 'bench Table 1'):.2f})")

        scales = [int(v) for v in args.scales.split(",") if v.strip()]
        if scales:
            print("\ngrowth (one fresh process per tool and scale, a single run; time s / peak MB)")
            names = list(TOOLS)
            print("| scale | images | detections | " + " | ".join(names) + " |")
            print("|---|---|---|" + "---|" * len(names))
            for sc in scales:
                gt_s, res_s = tile(base_gt, base_res, sc)
                paths = (gt_path, res_path) if sc == 1 else _write_set(tmp / f"x{sc}", gt_s, res_s)
                cells = []
                for i, name in enumerate(names):
                    if name in ("pycocotools", "faster-coco-eval") and sc > args.reference_max_scale:
                        cells.append("-")
                        continue
                    m = in_subprocess(name, *paths, tmp / f"grow_{sc}_{i}", args.bootstrap, fresh)
                    cells.append(f"{m['time']:.2f} s / {m['peak'] / 2 ** 20:.0f}")
                print(f"| {sc}x | {len(gt_s['images'])} | {len(res_s)} | " + " | ".join(cells) + " |", flush=True)
                if sc != 1:
                    for f in paths:
                        Path(f).unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
