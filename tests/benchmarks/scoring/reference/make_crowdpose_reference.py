"""Rebuild crowdpose_reference.json.gz: generated CrowdPose-format cases and the
numbers crowdposetools and xtcocotools give on them (so CI needs neither tool).

    .venv/bin/python tests/benchmarks/scoring/reference/make_crowdpose_reference.py cases DIR
    TOOLS/bin/python tests/benchmarks/scoring/reference/make_crowdpose_reference.py reference DIR CROWDPOSE_PYTHONAPI
    .venv/bin/python tests/benchmarks/scoring/reference/make_crowdpose_reference.py pack DIR

TOOLS: a throwaway venv with numpy < 2, cython and xtcocotools; CROWDPOSE_PYTHONAPI:
Jeff-sjtu/CrowdPose crowdpose-api/PythonAPI built with ``setup.py build_ext --inplace``.
"""
from __future__ import annotations

import contextlib
import gzip
import io
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "crowdpose_reference.json.gz"
REAL_SAMPLE = "crowdpose_sample/test_crowdpose.json"
CI_VALUES = [0.0, 0.05, 0.1999, 0.2, 0.35, 0.5, 0.7999, 0.8, 0.9, 1.0, 1.7]
SIGMAS14 = [.79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89, .79, .79]


def sample_results(gt: dict) -> list[dict]:
    """Arithmetic (no RNG) predictions for a real file: offsets, one duplicate and
    one false alarm per image, so the test can rebuild them from the file alone."""
    res = []
    for j, a in enumerate(gt["annotations"]):
        kp = a["keypoints"]
        pts = []
        for i in range(len(kp) // 3):
            pts += [kp[3 * i] + ((i * 7 + j * 3) % 11 - 5) * 2.5, kp[3 * i + 1] + ((i * 5 + j) % 9 - 4) * 2.5, 1]
        res.append({"image_id": a["image_id"], "category_id": 1, "score": round(0.95 - 0.07 * j, 2), "keypoints": pts})
    for n, img in enumerate(gt["images"]):
        first = next(r for r in res if r["image_id"] == img["id"])
        res.append(dict(first, score=0.3))                                   # duplicate
        shifted = [v + 60.0 if i % 3 == 0 else v for i, v in enumerate(first["keypoints"])]
        res.append({"image_id": img["id"], "category_id": 1, "score": 0.5 + 0.01 * n, "keypoints": shifted})
    return res


def _make(seed, n_images, ci_pool, keep_area, names, zero_id=False, dup=True):
    sys.path.insert(0, str(HERE.parents[3]))
    from tests.helpers.scoring import random_case

    rng = np.random.default_rng(1000 + seed)
    gt, res = random_case(seed, n_images=n_images, k=len(names), names=names, zero_id=zero_id)
    for a in gt["annotations"]:
        a["keypoints"] = [round(v, 2) if isinstance(v, float) else v for v in a["keypoints"]]
        a["bbox"] = [round(float(v), 2) for v in a["bbox"]]
        if keep_area:
            a["area"] = round(a["area"] * float(rng.uniform(0.2, 3)), 2)   # crowdpose must not read it
        else:
            a.pop("area", None)
    for img in gt["images"]:
        img["crowdIndex"] = float(rng.choice(ci_pool))
        img.pop("num_people", None)
    for r in res:
        r["keypoints"] = [round(v, 2) for v in r["keypoints"]]
        r["score"] = round(r["score"], 3)
        if "bbox" in r:
            r["bbox"] = [round(float(v), 2) for v in r["bbox"]]
    if dup and res:
        for i in rng.choice(len(res), size=max(1, len(res) // 10), replace=False):
            res.append(dict(res[int(i)]))                                   # exact duplicates
    return gt, res


def cases(out: Path) -> None:
    sys.path.insert(0, str(HERE.parents[3]))
    from tests.helpers.scoring import COCO17, CROWDPOSE14

    c = {
        "g01_all_buckets": _make(1, 16, CI_VALUES, False, CROWDPOSE14),
        "g02_area_present_not_read": _make(2, 16, CI_VALUES, True, CROWDPOSE14),
        "g03_boundaries_only": _make(3, 14, [0.2, 0.8], False, CROWDPOSE14),
        "g04_no_hard_image": _make(4, 12, [0.0, 0.1, 0.5], False, CROWDPOSE14),
        "g05_zero_ann_id": _make(5, 14, CI_VALUES, False, CROWDPOSE14, zero_id=True),
        "g06_hard_only": _make(6, 10, [0.85, 1.2], True, CROWDPOSE14),
        "g07_thirty_images": _make(7, 30, CI_VALUES, False, CROWDPOSE14),
        "g08_no_duplicates": _make(8, 18, CI_VALUES, False, CROWDPOSE14, dup=False),
        "x11_coco17_keypoints": _make(11, 16, CI_VALUES, True, COCO17),          # xtcocotools only
    }
    gt, res = _make(9, 14, [0.5, 0.9], False, CROWDPOSE14)
    easy = [img["id"] for img in gt["images"][:3]]
    for img in gt["images"][:3]:
        img["crowdIndex"] = 0.1
    for a in gt["annotations"]:
        if a["image_id"] in easy:
            a["num_keypoints"] = 0             # the easy bucket holds no scored person
    c["g09_easy_without_scored_people"] = (gt, res)
    gt, res = _make(10, 14, CI_VALUES, False, CROWDPOSE14)
    med = {img["id"] for img in gt["images"] if 0.2 <= img["crowdIndex"] < 0.8}
    c["g10_medium_without_detections"] = (gt, [r for r in res if r["image_id"] not in med])
    out.mkdir(parents=True, exist_ok=True)
    for name, (g, r) in c.items():
        (out / f"{name}_gt.json").write_text(json.dumps(g))
        (out / f"{name}_res.json").write_text(json.dumps(r))
    real = HERE.parents[4] / "shared" / "data" / "real" / REAL_SAMPLE
    g = json.loads(real.read_text())
    (out / "real_sample_gt.json").write_text(json.dumps(g))
    (out / "real_sample_res.json").write_text(json.dumps(sample_results(g)))


def reference(out: Path, api: str) -> None:
    np.float = float                              # crowdposetools predates numpy 1.24
    sys.path.insert(0, api)
    from crowdposetools.coco import COCO as CCOCO
    from crowdposetools.cocoeval import COCOeval as CEval
    from xtcocotools.coco import COCO as XCOCO
    from xtcocotools.cocoeval import COCOeval as XEval

    ref = {}
    for gp in sorted(out.glob("*_gt.json")):
        name = gp.name[:-len("_gt.json")]
        rp = out / f"{name}_res.json"
        k = len(json.loads(gp.read_text())["categories"][0]["keypoints"])
        entry = {}
        if k == 14:
            text = io.StringIO()
            with contextlib.redirect_stdout(text):
                g = CCOCO(str(gp))
                e = CEval(g, g.loadRes(str(rp)), "keypoints")
                e.evaluate(); e.accumulate(); e.summarize()
            entry["crowdposetools"] = [float(e.stats[i]) for i in (0, 1, 2, 5, 6, 7, 8, 9, 10)]
            entry["printed"] = [line for line in text.getvalue().splitlines() if line.startswith(" Average")]
        sig = np.array(SIGMAS14 if k == 14 else [.26, .25, .25, .35, .35] + SIGMAS14[:12]) / 10.0
        with contextlib.redirect_stdout(io.StringIO()):
            g = XCOCO(str(gp))
            e = XEval(g, g.loadRes(str(rp)), "keypoints_crowd", sig, use_area=False)
            e.evaluate(); e.accumulate(); e.summarize()
        entry["xtcocotools"] = [float(v) for v in e.stats]
        ref[name] = entry
    from importlib.metadata import version

    ref["_tools"] = {"crowdposetools": "Jeff-sjtu/CrowdPose@86fe5e11e570cad02d553db52ec72545578cd1c8",
                     "xtcocotools": version("xtcocotools"), "numpy": version("numpy")}
    (out / "reference.json").write_text(json.dumps(ref, indent=1))


def pack(out: Path) -> None:
    ref = json.loads((out / "reference.json").read_text())
    data = {"tools": ref.pop("_tools"), "cases": {}}
    for name, entry in ref.items():
        case = dict(entry)
        if name != "real_sample":              # the real file stays in shared/, never copied
            case["gt"] = json.loads((out / f"{name}_gt.json").read_text())
            case["results"] = json.loads((out / f"{name}_res.json").read_text())
        data["cases"][name] = case
    with gzip.open(FIXTURE, "wt", compresslevel=9) as f:
        json.dump(data, f, separators=(",", ":"))


if __name__ == "__main__":
    step, folder = sys.argv[1], Path(sys.argv[2])
    {"cases": lambda: cases(folder), "reference": lambda: reference(folder, sys.argv[3]),
     "pack": lambda: pack(folder)}[step]()
