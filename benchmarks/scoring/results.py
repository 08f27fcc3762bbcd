"""Load and validate a COCO keypoint results file against its ground truth.

A results file is a JSON list of ``{"image_id", "category_id", "keypoints",
"score"}`` objects. Every problem is reported with the file and the index,
e.g. ``results.json: [12].keypoints: has 48 values, expected 51 (3 x 17 keypoints)``.
An empty list is valid (it scores zero).

Reading: orjson, then :func:`validate_results` (a vectorised check of the usual
file, and the per-record check that names the culprit when it fails).
"""
from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cococrowd.cocofile import CocoFormatError, gc_paused, read_json_sha256

from .groundtruth import GroundTruth, load_ground_truth
from .sigmas import resolve_sigmas


@dataclass
class Detections:
    source: str
    image: np.ndarray       # (N,) position of the image in gt.image_ids
    keypoints: np.ndarray   # (N, K, 3) float64
    score: np.ndarray       # (N,)
    area: np.ndarray        # (N,) as pycocotools' loadRes computes it
    area_from_bbox: bool = False  # loadRes took areas from the results' bboxes
    sha256: str = ""

    def __len__(self) -> int:
        return len(self.score)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_one(r: Any, i: int, k: int, gt: GroundTruth, positions: dict, need_bbox: bool, source: str) -> None:
    where = f"[{i}]"
    if not isinstance(r, dict):
        raise CocoFormatError(source, where, f"must be an object, got {type(r).__name__}")
    for key in ("image_id", "keypoints", "score"):
        if key not in r:
            raise CocoFormatError(source, f"{where}.{key}", "missing key")
    if r["image_id"] not in positions or isinstance(r["image_id"], bool):
        raise CocoFormatError(source, f"{where}.image_id",
                              f"unknown image id {r['image_id']!r} (not in {Path(gt.source).name})")
    cat = r.get("category_id", gt.category_id)
    if cat != gt.category_id or isinstance(cat, bool):
        raise CocoFormatError(source, f"{where}.category_id",
                              f"is {cat!r}, but the person category of the ground truth is {gt.category_id}")
    kps = r["keypoints"]
    if not isinstance(kps, list):
        raise CocoFormatError(source, f"{where}.keypoints",
                              f"must be a list of {3 * k} numbers, got {type(kps).__name__}")
    if len(kps) != 3 * k:
        raise CocoFormatError(source, f"{where}.keypoints",
                              f"has {len(kps)} values, expected {3 * k} (3 x {k} keypoints)")
    for j, v in enumerate(kps):
        if not _is_number(v):
            raise CocoFormatError(source, f"{where}.keypoints[{j}]", f"must be a number, got {v!r}")
        if not math.isfinite(v):
            raise CocoFormatError(source, f"{where}.keypoints[{j}]", f"must be finite, got {v!r}")
    s = r["score"]
    if not _is_number(s):
        raise CocoFormatError(source, f"{where}.score", f"must be a number, got {s!r}")
    if not math.isfinite(s):
        raise CocoFormatError(source, f"{where}.score", f"must be finite, got {s!r}")
    if need_bbox:
        b = r.get("bbox")
        if not isinstance(b, list) or len(b) != 4 or not all(_is_number(v) and math.isfinite(v) for v in b):
            raise CocoFormatError(source, f"{where}.bbox",
                                  f"must be [x, y, w, h] of finite numbers, got {b!r} (the first result has a "
                                  "bbox, so pycocotools takes every result's area from its bbox)")


def _plain_arrays(results: list, k: int, gt: GroundTruth, positions: dict, need_bbox: bool):
    """(keypoints, scores, boxes or None) as float64 arrays when every result surely passes
    :func:`_check_one` (vectorised), else None."""
    try:
        if not all(type(r) is dict for r in results):
            return None
        kps = [r["keypoints"] for r in results]
        scores = [r["score"] for r in results]
        if not all(type(v) is list and len(v) == 3 * k for v in kps):
            return None
        if not set(map(type, itertools.chain.from_iterable(kps))) <= {int, float}:
            return None
        if not set(map(type, scores)) <= {int, float}:
            return None
        if not all(type(r["image_id"]) is int and r["image_id"] in positions for r in results):
            return None
        if any(r.get("category_id", gt.category_id) != gt.category_id for r in results):
            return None
        kps, scores, boxes = np.asarray(kps, dtype=np.float64), np.asarray(scores, dtype=np.float64), None
        if not (np.isfinite(kps).all() and np.isfinite(scores).all()):
            return None
        if need_bbox:
            boxes = [r.get("bbox") for r in results]
            if not all(type(b) is list and len(b) == 4 for b in boxes):
                return None
            if not set(map(type, itertools.chain.from_iterable(boxes))) <= {int, float}:
                return None
            boxes = np.asarray(boxes, dtype=np.float64)
            if not np.isfinite(boxes).all():
                return None
        return kps, scores, boxes
    except (KeyError, TypeError, ValueError):
        return None


def validate_results(results: Any, gt: GroundTruth, source: str | os.PathLike) -> Detections:
    """Check a parsed results list against ``gt`` and flatten it."""
    source = str(source)
    k = len(gt.keypoint_names)
    if not isinstance(results, list):
        raise CocoFormatError(source, "", f"top level must be a JSON list of detections, got {type(results).__name__}")
    if not results:
        return Detections(source, np.zeros(0, dtype=np.int64), np.zeros((0, k, 3)), np.zeros(0), np.zeros(0))
    first = results[0]
    if isinstance(first, dict) and "segmentation" in first and not first.get("bbox"):
        raise CocoFormatError(source, "[0].segmentation",
                              "segmentation results are not supported; give keypoints (and optionally bbox)")
    # pycocotools' loadRes takes every result's area from its bbox when the first has one
    need_bbox = isinstance(first, dict) and bool(first.get("bbox"))
    positions = gt.position_of()
    plain = _plain_arrays(results, k, gt, positions, need_bbox)
    if plain is None:
        for i, r in enumerate(results):
            _check_one(r, i, k, gt, positions, need_bbox, source)
        plain = (np.asarray([r["keypoints"] for r in results], dtype=np.float64),
                 np.asarray([r["score"] for r in results], dtype=np.float64),
                 np.asarray([r["bbox"] for r in results], dtype=np.float64) if need_bbox else None)
    kps, score, boxes = plain
    kps = kps.reshape(len(results), k, 3)
    image = np.fromiter((positions[r["image_id"]] for r in results), dtype=np.int64, count=len(results))
    if need_bbox:
        area = boxes[:, 2] * boxes[:, 3]
    else:
        area = keypoint_extent_area(kps)
    return Detections(source, image, kps, score, area, need_bbox)


def keypoint_extent_area(kps: np.ndarray) -> np.ndarray:
    """pycocotools' loadRes area for keypoint results: extent of all K points (any visibility)."""
    if len(kps) == 0:
        return np.zeros(0)
    x, y = kps[:, :, 0], kps[:, :, 1]
    return (x.max(1) - x.min(1)) * (y.max(1) - y.min(1))


def load_results(path: str | os.PathLike, gt: GroundTruth) -> Detections:
    """Read and validate a COCO keypoint results file."""
    with gc_paused():                        # as load_ground_truth
        data, digest = read_json_sha256(path)
        dt = validate_results(data, gt, path)
    dt.sha256 = digest
    return dt


def load_inputs(gt_path, results_path, sigmas: str | None = None
                ) -> tuple[GroundTruth, Detections, np.ndarray, str]:
    """(ground truth, detections, sigmas, where the sigmas came from), validated as `bench score`
    does, in its order of errors: the ground truth, the sigmas, then the results."""
    gt = load_ground_truth(gt_path)
    sig, sig_source = resolve_sigmas(gt.keypoint_names, sigmas, gt.source)
    dt = load_results(results_path, gt)
    from .coverage import warn_coverage
    warn_coverage(gt, dt)   # results that look scored against the wrong file: one warning line each
    return gt, dt, sig, sig_source
