"""Background errors: detections of nobody and people nobody detected.

A false positive is a detection with OKS < 0.1 with every person of its image (it is not
even a poor detection of someone); a *duplicate* reaches someone but is left unmatched because
a higher-scored detection took that person; detections ranked below the 20th of their image
are not evaluated by COCO AP and counted apart. A false negative is a person who counts in AP (not
iscrowd/ignored, a labelled keypoint) whom no detection reaches at OKS 0.1. False negatives
are broken down by labelled keypoints, size (COCO's area ranges) and the number of other
annotated people whose boxes overlap theirs (IoU >= 0.1, the curation's pairing rule).
"""
from __future__ import annotations

import numpy as np

KEYPOINT_BINS = (("1-5", 1, 5), ("6-10", 6, 10), ("11+", 11, 10 ** 9))
SIZE_BINS = (("small", 0, 32 ** 2), ("medium", 32 ** 2, 96 ** 2), ("large", 96 ** 2, np.inf))
OVERLAP_BINS = (("0", 0, 0), ("1", 1, 1), ("2", 2, 2), (">=3", 3, 10 ** 9))
PAIR_IOU = 0.1


def in_ap(gt) -> np.ndarray:
    """Annotations that count in AP: not iscrowd (COCO-crowd's ignored have iscrowd 1) and labelled."""
    return ~gt.iscrowd & (gt.keypoints[:, :, 2] > 0).any(1)


def false_negatives(gt, match: np.ndarray) -> np.ndarray:
    hit = np.zeros(len(gt.ann_ids), dtype=bool)
    hit[match[match >= 0]] = True
    return in_ap(gt) & ~hit


def overlapping_others(gt) -> np.ndarray:
    """For each annotation, how many other non-region annotations of its image overlap its box."""
    from pycocotools import mask as mask_utils
    out = np.zeros(len(gt.ann_ids), dtype=np.int64)
    person = (gt.keypoints[:, :, 2] > 0).any(1)   # people, ignored bystanders included
    by_image: dict[int, list[int]] = {}
    for a in np.flatnonzero(person):
        by_image.setdefault(int(gt.ann_image[a]), []).append(int(a))
    for members in by_image.values():
        if len(members) < 2:
            continue
        boxes = gt.bbox[members].tolist()
        iou = np.asarray(mask_utils.iou(boxes, boxes, [0] * len(boxes)))
        np.fill_diagonal(iou, 0.0)
        out[members] = (iou >= PAIR_IOU).sum(1)
    return out


def detection_rank(dt) -> np.ndarray:
    """Rank of each detection among its image's by score (0 = best), ties in file order, as
    pycocotools sorts them."""
    order = np.lexsort((-dt.score, dt.image))
    rank = np.empty(len(dt), dtype=np.int64)
    starts = np.searchsorted(dt.image[order], dt.image[order], side="left")
    rank[order] = np.arange(len(order)) - starts
    return rank


def background_summary(gt, dt, match: np.ndarray, best: np.ndarray, fn: np.ndarray, overlaps: np.ndarray,
                       images: np.ndarray | None = None) -> dict:
    """Counts over all images, or over ``images`` (positions). ``best``: each detection's
    highest OKS with anyone in its image."""
    from benchmarks.scoring.cocoeval_engine import MAX_DETS
    d_in = np.ones(len(dt), dtype=bool) if images is None else np.isin(dt.image, images)
    g_in = np.ones(len(gt.ann_ids), dtype=bool) if images is None else np.isin(gt.ann_image, images)
    people = in_ap(gt) & g_in
    evaluated = detection_rank(dt) < MAX_DETS
    unmatched = (match < 0) & d_in & evaluated
    fp = unmatched & (best < 0.1)
    miss = fn & g_in
    labelled = (gt.keypoints[:, :, 2] > 0).sum(1)
    n_det, n_people = int((d_in & evaluated).sum()), int(people.sum())
    return {
        "detections": n_det, "false_positives": int(fp.sum()),
        "false_positive_fraction": fp.sum() / n_det if n_det else None,
        "duplicates": int((unmatched & ~fp).sum()),
        "beyond_max_dets": int((d_in & ~evaluated).sum()),
        "people": n_people, "false_negatives": int(miss.sum()),
        "false_negative_fraction": miss.sum() / n_people if n_people else None,
        "false_negatives_by": {
            "labelled_keypoints": {label: int((miss & (labelled >= lo) & (labelled <= hi)).sum())
                                   for label, lo, hi in KEYPOINT_BINS},
            "size": {label: int((miss & (gt.area >= lo) & (gt.area < hi)).sum()) for label, lo, hi in SIZE_BINS},
            "overlaps": {label: int((miss & (overlaps >= lo) & (overlaps <= hi)).sum())
                         for label, lo, hi in OVERLAP_BINS},
        },
    }
