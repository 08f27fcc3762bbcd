"""PCK@alpha per body part, with one-to-one matching of predictions to people.

Per image, ground-truth people (annotations that are not ignore/iscrowd
regions, with at least one labelled keypoint, v > 0) are matched one-to-one
to predictions with score >= the threshold by the Hungarian algorithm
(:mod:`.assignment`, equal to scipy's ``linear_sum_assignment``) on the mean
distance over the person's labelled keypoints. A labelled keypoint is correct
when its matched prediction lies within ``alpha * max(w, h)`` of the person's
ground-truth box (distance <= threshold). A person left unmatched (fewer predictions than people) counts
every labelled keypoint as a miss. ``mean`` pools all labelled keypoints.
``matched_only`` repeats the numbers over matched people only (the paper's
Table 4 convention).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .assignment import solve_any
from .cocoeval_engine import np_sum
from .groundtruth import GroundTruth
from .results import Detections

HEAD_NAMES = {"nose", "left_eye", "right_eye", "left_ear", "right_ear", "head", "head_top", "top_head"}
BODY_PARTS = ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
PART_ORDER = ("head",) + BODY_PARTS


def part_of(name: str) -> str:
    """Body part group of a keypoint name; unknown names stay their own group."""
    if name in HEAD_NAMES:
        return "head"
    for part in BODY_PARTS:
        if part in name:
            return part
    return name


def _block_starts(sorted_img: np.ndarray, n: int) -> np.ndarray:
    return np.searchsorted(sorted_img, np.arange(n + 1))


# a far-off coordinate (1e308) overflows a distance to inf, which the Hungarian algorithm refuses:
# such a pair is as bad as any pair can be, and its keypoints are misses either way
FAR = 1e300                 # sums of a few stay finite


@njit(cache=True, nogil=True, error_model="numpy")
def _match_people(gxy, lab, dxy, scale, p_start, d_start, correct, matched):
    """Per image, people matched to predictions on mean distance over their labelled keypoints;
    the same IEEE operations as a numpy loop (np.linalg.norm's sqrt of dx*dx + dy*dy, numpy's
    pairwise sum over K; the tests keep that loop as a second opinion). Returns -1, or the image
    whose matrix was infeasible."""
    k_n = gxy.shape[1]
    tmp = np.empty(k_n)
    for img in range(len(p_start) - 1):
        ps, pe, ds, de = p_start[img], p_start[img + 1], d_start[img], d_start[img + 1]
        np_, nd = pe - ps, de - ds
        if np_ == 0 or nd == 0:
            continue
        dist = np.empty((np_, nd, k_n))
        cost = np.empty((np_, nd))
        for p in range(np_):
            n_lab = 0
            for k in range(k_n):
                if lab[ps + p, k]:
                    n_lab += 1
            for d in range(nd):
                for k in range(k_n):
                    dx = gxy[ps + p, k, 0] - dxy[ds + d, k, 0]
                    dy = gxy[ps + p, k, 1] - dxy[ds + d, k, 1]
                    dist[p, d, k] = np.sqrt(dx * dx + dy * dy)
                    tmp[k] = dist[p, d, k] if lab[ps + p, k] else 0.0
                c = np_sum(tmp, k_n) / n_lab
                cost[p, d] = FAR if np.isnan(c) or c == np.inf else c
        rows, cols, feasible = solve_any(cost)
        if not feasible:
            return img
        for q in range(len(rows)):
            p, d = rows[q], cols[q]
            matched[ps + p] = True
            for k in range(k_n):
                correct[ps + p, k] = dist[p, d, k] <= scale[ps + p]
    return -1


def pck(gt: GroundTruth, dt: Detections, alpha: float = 0.2, threshold: float = 0.0) -> dict:
    if not alpha > 0:
        raise ValueError(f"PCK alpha must be > 0, got {alpha}")
    k = len(gt.keypoint_names)
    labelled = gt.keypoints[:, :, 2] > 0
    person = np.flatnonzero(gt.countable)
    person = person[np.argsort(gt.ann_image[person], kind="stable")]
    p_img = gt.ann_image[person]
    det = np.flatnonzero(dt.score >= threshold)
    det = det[np.argsort(dt.image[det], kind="stable")]
    d_img = dt.image[det]
    p_start = _block_starts(p_img, gt.num_images)
    d_start = _block_starts(d_img, gt.num_images)

    correct = np.zeros((len(person), k), dtype=bool)     # per person, per keypoint
    matched = np.zeros(len(person), dtype=bool)
    scale = alpha * np.maximum(gt.bbox[person, 2], gt.bbox[person, 3])
    gxy = gt.keypoints[person, :, :2]
    lab = labelled[person]
    dxy = dt.keypoints[det, :, :2]
    bad = _match_people(np.ascontiguousarray(gxy), np.ascontiguousarray(lab), np.ascontiguousarray(dxy),
                        scale, p_start, d_start, correct, matched)
    if bad >= 0:
        raise ValueError("cost matrix is infeasible")
    correct &= lab

    parts = [part_of(n) for n in gt.keypoint_names]
    order = [p for p in PART_ORDER if p in parts] + [p for p in dict.fromkeys(parts) if p not in PART_ORDER]
    cols_of = {p: [j for j, q in enumerate(parts) if q == p] for p in order}

    def rates(mask_people: np.ndarray) -> tuple[dict, float | None, dict]:
        per, counts = {}, {}
        for p, cols in cols_of.items():
            n = int(lab[mask_people][:, cols].sum())
            per[p] = float(correct[mask_people][:, cols].sum() / n) if n else None
            counts[p] = n
        total = int(lab[mask_people].sum())
        mean = float(correct[mask_people].sum() / total) if total else None
        return per, mean, counts

    everyone = np.ones(len(person), dtype=bool)
    per, mean, counts = rates(everyone)
    per_m, mean_m, counts_m = rates(matched)
    return {
        "alpha": alpha, "threshold": threshold,
        "parts": per, "mean": mean, "labelled_keypoints": counts,
        "people": int(len(person)), "matched_people": int(matched.sum()),
        "matched_only": {"parts": per_m, "mean": mean_m, "labelled_keypoints": counts_m},
    }
