"""Counting confusion matrix (the paper's Figure 6).

Per image: ground-truth people are the annotations that are not ignore/iscrowd
regions and have at least one labelled keypoint (``GroundTruth.countable``: an
annotation without one is ignored by pycocotools and dropped from the training
targets, so no method can be asked to count it); predicted people are the detections with score >= the threshold.
The matrix is square, from the smallest to the largest count seen (either
axis); counts at or above ``cap`` share the last row/column ("cap+").
"""
from __future__ import annotations

import numpy as np

from .groundtruth import GroundTruth
from .results import Detections


def count_people(gt: GroundTruth, dt: Detections, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(ground-truth count, predicted count) per image, in gt.image_ids order."""
    true = np.bincount(gt.ann_image[gt.countable], minlength=gt.num_images)
    pred = np.bincount(dt.image[dt.score >= threshold], minlength=gt.num_images)
    return true, pred


def counting_confusion(gt: GroundTruth, dt: Detections, threshold: float = 0.0, cap: int = 10) -> dict:
    """Matrix rows = ground-truth count, columns = predicted count, cells = images."""
    if cap < 1:
        raise ValueError(f"count cap must be >= 1, got {cap}")
    true, pred = count_people(gt, dt, threshold)
    top = int(min(cap, max(true.max(initial=0), pred.max(initial=0))))
    low = int(min(true.min(initial=top), pred.min(initial=top)))
    labels = [str(i) for i in range(low, top + 1)]
    if top == cap:
        labels[-1] = f"{cap}+"
    t, p = np.minimum(true, top) - low, np.minimum(pred, top) - low
    matrix = np.zeros((top - low + 1, top - low + 1), dtype=np.int64)
    np.add.at(matrix, (t, p), 1)
    n = max(len(true), 1)
    diff = pred - true
    return {
        "threshold": threshold,
        "labels": labels,
        "matrix": matrix.tolist(),
        "images": int(len(true)),
        "exact": float((diff == 0).sum() / n) if len(true) else None,
        "over": float((diff > 0).sum() / n) if len(true) else None,
        "under": float((diff < 0).sum() / n) if len(true) else None,
        "mean_abs_error": float(np.abs(diff).mean()) if len(true) else None,
        "gt_people": int(true.sum()),
        "predicted_people": int(pred.sum()),
    }
