"""Load and validate a COCO keypoint results file against its ground truth.

A results file is a JSON list of ``{"image_id", "category_id", "keypoints",
"score"}`` objects. Every problem is reported with the file and the index,
e.g. ``results.json: [12].keypoints: has 48 values, expected 51 (3 x 17 keypoints)``.
An empty list is valid (it scores zero).

:func:`load_results` reads the file as arrays (:func:`_fast_results`,
:mod:`.fastjson`) when every record has the plain shape, else through orjson
and :func:`validate_results` (same arrays; the messages come from there).
"""
from __future__ import annotations

import itertools
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cococrowd.cocofile import CocoFormatError

from . import fastjson
from .groundtruth import GroundTruth, load_ground_truth, read_bytes, read_with_sha256, sha256_beside
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


def _fast_ok(results: list, k: int, gt: GroundTruth, positions: dict, need_bbox: bool) -> bool:
    """True when every result surely passes :func:`_check_one`; vectorised."""
    try:
        if not all(type(r) is dict for r in results):
            return False
        kps = [r["keypoints"] for r in results]
        scores = [r["score"] for r in results]
        if not all(type(v) is list and len(v) == 3 * k for v in kps):
            return False
        if not set(map(type, itertools.chain.from_iterable(kps))) <= {int, float}:
            return False
        if not set(map(type, scores)) <= {int, float}:
            return False
        if not all(type(r["image_id"]) is int and r["image_id"] in positions for r in results):
            return False
        if any(r.get("category_id", gt.category_id) != gt.category_id for r in results):
            return False
        if not np.isfinite(np.asarray(kps, dtype=np.float64)).all():
            return False
        if not np.isfinite(np.asarray(scores, dtype=np.float64)).all():
            return False
        if need_bbox:
            boxes = [r.get("bbox") for r in results]
            if not all(type(b) is list and len(b) == 4 for b in boxes):
                return False
            if not set(map(type, itertools.chain.from_iterable(boxes))) <= {int, float}:
                return False
            if not np.isfinite(np.asarray(boxes, dtype=np.float64)).all():
                return False
        return True
    except (KeyError, TypeError, ValueError):
        return False


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
    if not _fast_ok(results, k, gt, positions, need_bbox):
        for i, r in enumerate(results):
            _check_one(r, i, k, gt, positions, need_bbox, source)
    kps = np.asarray([r["keypoints"] for r in results], dtype=np.float64).reshape(len(results), k, 3)
    score = np.asarray([r["score"] for r in results], dtype=np.float64)
    image = np.asarray([positions[r["image_id"]] for r in results], dtype=np.int64)
    if need_bbox:
        boxes = np.asarray([r["bbox"] for r in results], dtype=np.float64)
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


def _scan(raw: bytes, k: int) -> fastjson.Records | None:
    """The results' numbers as arrays, K = k keypoints (:mod:`.fastjson`); None: not for the fast path."""
    S = fastjson.SCALAR
    buf = np.frombuffer(raw, dtype=np.uint8)
    return fastjson.parse_records(buf, 0, len(buf), {"image_id": S, "category_id": S, "score": S,
                                                     "keypoints": 3 * k, "bbox": 4,
                                                     "segmentation": fastjson.KEY_BAIL})


MAX_GUESSED_K = 128


def _keypoint_count_guess(raw: bytes) -> int | None:
    """K from the first record's keypoint list, to scan before the ground truth is known; a wrong
    guess only costs a second scan (the ground truth's K decides)."""
    at = raw.find(b'"keypoints"', 0, 1 << 16)
    lo = raw.find(b"[", at, at + 64) if at >= 0 else -1
    hi = raw.find(b"]", lo, lo + (1 << 16)) if lo >= 0 else -1
    if hi < 0:
        return None
    n = raw.count(b",", lo, hi) + 1
    # an odd first record must not size the scan's arrays (K x records); the engine stops at 128
    return n // 3 if n % 3 == 0 and 3 <= n <= 3 * MAX_GUESSED_K else None


def _fast_results(raw: bytes, gt: GroundTruth, source, rec: fastjson.Records | None = None) -> Detections | None:
    """:func:`validate_results` of the file read as arrays (:mod:`.fastjson`; ``rec``: scanned
    already with the ground truth's K); None at any doubt (empty, odd keys or values, ...: the
    usual path then decides and names the culprit)."""
    k = len(gt.keypoint_names)
    if rec is None:
        rec = _scan(raw, k)
    if rec is None or rec.n == 0:
        return None
    for key in ("image_id", "score", "keypoints"):
        if not rec.present(key).all():
            return None
    img, img_int = rec.ints("image_id")
    cat, cat_int = rec.ints("category_id")
    has_cat = rec.present("category_id")
    if not (img_int and cat_int) or (cat[has_cat] != gt.category_id).any():
        return None
    kps = rec.array("keypoints").reshape(rec.n, k, 3)
    if not np.isfinite(kps).all():
        return None
    pos = np.searchsorted(gt.image_ids, img)
    if (pos >= len(gt.image_ids)).any() or (gt.image_ids[np.minimum(pos, len(gt.image_ids) - 1)] != img).any():
        return None
    need_bbox = bool(rec.present("bbox")[0])
    if need_bbox:
        boxes = rec.array("bbox")
        if not rec.present("bbox").all() or not np.isfinite(boxes).all():
            return None
        area = boxes[:, 2] * boxes[:, 3]
    else:
        area = keypoint_extent_area(kps)
    return Detections(str(source), pos.astype(np.int64), kps, rec.floats("score").copy(), area, need_bbox)


class ResultsReader:
    """:func:`load_results` started before the ground truth is loaded: a thread reads the file,
    hashes it and scans it (hashlib and the scanner release the GIL) while the caller loads the
    ground truth, then :meth:`load` validates against it. The file's bytes are dropped once
    scanned (a 16x set's are 230 MB), and read again only for the plain path. Errors surface in
    :meth:`load`, so a bad ground truth is still reported first."""

    def __init__(self, path: str | os.PathLike):
        self.path = path
        self._read: tuple | None = None
        self._error: BaseException | None = None
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name="read-results", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """The caller will not load (its ground truth failed): skip the scan if not begun."""
        self._cancelled.set()

    def _run(self) -> None:
        try:
            raw = read_bytes(Path(self.path))
            if self._cancelled.is_set():
                return
            k = _keypoint_count_guess(raw)

            def scan():
                try:
                    return None if k is None else _scan(raw, k)
                except MemoryError:             # no early scan; load() takes the usual path
                    return None

            digest, rec = sha256_beside(raw, scan)
            self._read = (None if rec is not None else raw, digest, k, rec)
        except BaseException as err:            # re-raised by load() in the caller's thread
            self._error = err

    def load(self, gt: GroundTruth) -> Detections:
        self._thread.join()
        if self._error is not None:
            raise self._error
        raw, digest, k, rec = self._read
        self._read = None
        if rec is not None and k == len(gt.keypoint_names):
            out = _fast_results(b"", gt, self.path, rec)
            if out is not None:
                out.sha256 = digest
                return out
        return read_with_sha256(self.path, lambda raw: _fast_results(raw, gt, self.path),
                                lambda data: validate_results(data, gt, self.path), raw=raw)


def load_results(path: str | os.PathLike, gt: GroundTruth) -> Detections:
    """Read and validate a COCO keypoint results file."""
    return ResultsReader(path).load(gt)


def load_inputs(gt_path, results_path, sigmas: str | None = None
                ) -> tuple[GroundTruth, Detections, np.ndarray, str]:
    """(ground truth, detections, sigmas, where the sigmas came from), validated as `bench score`
    does, in its order of errors: the ground truth, the sigmas, then the results, which are read
    and scanned meanwhile."""
    reader = ResultsReader(results_path)
    try:
        gt = load_ground_truth(gt_path)
        sig, sig_source = resolve_sigmas(gt.keypoint_names, sigmas, gt.source)
    except BaseException:
        reader.cancel()
        raise
    return gt, reader.load(gt), sig, sig_source
