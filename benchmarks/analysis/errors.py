"""Keypoint localisation errors of matched detections (Ronchi and Perona, ICCV 2017).

Each labelled keypoint of the person a detection is matched to is compared, by keypoint
similarity ks (the per-keypoint term of OKS, with each person's own area), with the same
keypoint of every annotated person in the image and with the left/right-mirrored keypoints of
each. The best candidate decides the type:

- ``good``: the matched person's own keypoint wins with ks > 0.85
- ``jitter``: it wins with 0.5 <= ks <= 0.85
- ``inversion``: the matched person's mirrored keypoint wins with ks >= 0.5
- ``swap``: another person's keypoint (as is or mirrored) wins with ks >= 0.5
- ``miss``: no candidate reaches 0.5

Ties go to the candidate listed first: own, others (file order), own mirrored, others mirrored;
so a keypoint without a mirror (the nose) is never an inversion. Each error also has its
correction (as in coco-analyze): jitter moves to ks = 0.85 from the right keypoint, a miss to
ks = 0.5, an inversion or a swap keeps the ks it had but on the right keypoint.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TYPES = ("good", "jitter", "inversion", "swap", "miss")
ERRORS = TYPES[1:]
GOOD_KS, JITTER_KS = 0.85, 0.5
NOT_ANALYSED = -1


def mirror_index(names) -> np.ndarray:
    """For each keypoint, its left/right mirror (itself when it has none): the data pipeline's
    flip pairing, so analysis and flip test agree on what a mirror is."""
    from benchmarks.data.crowdfile import flip_permutation
    return flip_permutation(list(names))


def keypoint_similarity(gt_xy: np.ndarray, gt_v: np.ndarray, area: np.ndarray, dt_xy: np.ndarray,
                        sigmas: np.ndarray) -> np.ndarray:
    """ks of one detection's keypoints (K, 2) against candidate rows (R, K, 2); -1 where the
    candidate keypoint is not labelled. Same formula as pycocotools' computeOks."""
    d2 = ((gt_xy - dt_xy[None]) ** 2).sum(-1)
    ks = np.exp(-d2 / ((2 * sigmas) ** 2)[None] / (area[:, None] + np.spacing(1)) / 2)
    return np.where(gt_v > 0, ks, -1.0)


@dataclass
class KeypointErrors:
    types: np.ndarray       # (N, K) int8: index into TYPES, NOT_ANALYSED where no labelled matched keypoint
    corrected: np.ndarray   # (N, K, 2) where each keypoint goes when its error type is corrected
    analysed: np.ndarray    # (N,) bool: matched to a person with a labelled keypoint


def classify(gt, dt, match: np.ndarray, sigmas: np.ndarray, mirror: np.ndarray) -> KeypointErrors:
    """Error type of every keypoint of every detection matched (``match[i]`` = annotation
    index, -1 for none) to a person who counts in AP (not iscrowd/ignored, a labelled
    keypoint). ``gt`` is a scoring GroundTruth, ``dt`` its Detections."""
    n, k = dt.keypoints.shape[:2]
    types = np.full((n, k), NOT_ANALYSED, dtype=np.int8)
    corrected = dt.keypoints[:, :, :2].copy()
    analysed = np.zeros(n, dtype=bool)
    labelled = gt.keypoints[:, :, 2] > 0
    # candidates: every annotation of the image with a labelled keypoint, ignored bystanders
    # included (a wrist on a bystander is a swap); iscrowd regions have none
    candidate = labelled.any(1)
    by_image: dict[int, np.ndarray] = {}
    for a in np.flatnonzero(candidate):
        by_image.setdefault(int(gt.ann_image[a]), []).append(a)
    for i in np.flatnonzero(match >= 0):
        g = int(match[i])
        if gt.iscrowd[g] or not labelled[g].any():  # ignored by AP: nothing to correct
            continue
        analysed[i] = True
        others = [a for a in by_image.get(int(gt.ann_image[g]), []) if a != g]
        rows = np.asarray([g] + others, dtype=np.int64)
        xy, v = gt.keypoints[rows, :, :2], gt.keypoints[rows, :, 2]
        cand_xy = np.concatenate([xy, xy[:, mirror]])
        cand_v = np.concatenate([v, v[:, mirror]])
        area = np.concatenate([gt.area[rows], gt.area[rows]])
        ks = keypoint_similarity(cand_xy, cand_v, area, dt.keypoints[i, :, :2], sigmas)
        win = ks.argmax(0)                                   # first of equal maxima
        top = np.maximum(ks.max(0), 0.0)
        own, own_mirror = win == 0, win == len(rows)
        t = np.where(top < JITTER_KS, 4, np.where(own, np.where(top > GOOD_KS, 0, 1), np.where(own_mirror, 2, 3)))
        keep = labelled[g]
        types[i, keep] = t[keep]
        # the correction: the right keypoint displaced (along x) to the ks the type is corrected to
        target = np.where(t == 1, GOOD_KS, np.where(t == 4, JITTER_KS, np.clip(top, np.spacing(1), 1.0)))
        dist = np.sqrt(-np.log(target) * 2 * gt.area[g] * (2 * sigmas) ** 2)
        fix = keep & (t > 0)
        corrected[i, fix, 0] = gt.keypoints[g, fix, 0] + dist[fix]
        corrected[i, fix, 1] = gt.keypoints[g, fix, 1]
    return KeypointErrors(types, corrected, analysed)
