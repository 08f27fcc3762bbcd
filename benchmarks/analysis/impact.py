"""AP after correcting each error type: alone, and cumulatively in the order jitter,
inversion, swap, miss, score, background false positives, false negatives.

Scored by the pycocotools-identical engine of `bench score`, so the baseline row is the
method's AP exactly. Corrections:

- a keypoint error type: those keypoints move to their correction (see ``errors``)
- ``score``: the oracle ranking, on the keypoints as corrected so far: in each image the
  one-to-one assignment of detections to people with the highest total OKS (Hungarian
  algorithm) ranks every assigned detection first, by its OKS, and the rest (duplicates,
  background) after, by their best OKS; so a duplicate never outranks the detection it copies
- ``background_fp``: detections of nobody (OKS < 0.1 with everyone in the image) are dropped
- ``false_negatives``: people no detection reaches (OKS 0.1) are ignored, as iscrowd would be
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from benchmarks.scoring.cocoeval_engine import evaluate, oks
from benchmarks.scoring.results import keypoint_extent_area

from .errors import ERRORS, TYPES

STEPS = ERRORS + ("score", "background_fp", "false_negatives")


def best_oks(gt, dt, sigmas: np.ndarray) -> np.ndarray:
    """Each detection's highest OKS with any annotation of its image (0 when it has none)."""
    out = np.zeros(len(dt))
    g_of_image: dict[int, list[int]] = {}
    for a, img in enumerate(gt.ann_image.tolist()):
        g_of_image.setdefault(img, []).append(a)
    pairs_d, pairs_g = [], []
    for i, img in enumerate(dt.image.tolist()):
        for a in g_of_image.get(img, ()):
            pairs_d.append(i)
            pairs_g.append(a)
    if pairs_d:
        d, g = np.asarray(pairs_d), np.asarray(pairs_g)
        values = oks(gt.keypoints[g], gt.bbox[g], gt.area[g], dt.keypoints[d], sigmas)
        np.maximum.at(out, d, values)
    return out


def oracle_scores(gt, dt, sigmas: np.ndarray) -> np.ndarray:
    """Scores that rank detections as an oracle would (see the module docstring)."""
    from scipy.optimize import linear_sum_assignment

    from .background import in_ap
    score = best_oks(gt, dt, sigmas)
    people = in_ap(gt)
    for img in np.unique(dt.image):
        d = np.flatnonzero(dt.image == img)
        g = np.flatnonzero((gt.ann_image == img) & people)
        if not len(g):
            continue
        dd, gg = np.repeat(d, len(g)), np.tile(g, len(d))
        m = oks(gt.keypoints[gg], gt.bbox[gg], gt.area[gg], dt.keypoints[dd], sigmas).reshape(len(d), len(g))
        rows, cols = linear_sum_assignment(m, maximize=True)
        hit = m[rows, cols] > 0
        score[d[rows[hit]]] = 1.0 + m[rows[hit], cols[hit]]   # above every unassigned one
    return score


def _with_keypoints(dt, xy: np.ndarray):
    kps = dt.keypoints.copy()
    kps[:, :, :2] = xy
    area = dt.area if dt.area_from_bbox else keypoint_extent_area(kps)
    return replace(dt, keypoints=kps, area=area)


def _subset_dt(dt, keep: np.ndarray):
    return replace(dt, image=dt.image[keep], keypoints=dt.keypoints[keep], score=dt.score[keep], area=dt.area[keep])


class Corrector:
    """Applies corrections to one (gt, dt) pair and scores them overall and per bucket."""

    def __init__(self, gt, dt, sigmas, errors, background: np.ndarray, false_negative: np.ndarray,
                 buckets: dict[str, np.ndarray]):
        self.gt, self.dt, self.sigmas, self.errors = gt, dt, sigmas, errors
        self.background, self.false_negative, self.buckets = background, false_negative, buckets

    def ap(self, gt, dt) -> dict:
        table = evaluate(gt, dt, self.sigmas)
        out = {"all": table.stats()[0]}
        for label, images in self.buckets.items():
            out[label] = table.subset(images).stats()[0] if len(images) else None
        return out

    def apply(self, steps: tuple[str, ...]):
        gt, dt = self.gt, self.dt
        fix = np.zeros(self.errors.types.shape, dtype=bool)
        for step in steps:
            if step in ERRORS:
                fix |= self.errors.types == TYPES.index(step)
        if fix.any():
            dt = _with_keypoints(dt, np.where(fix[:, :, None], self.errors.corrected, dt.keypoints[:, :, :2]))
        if "score" in steps:
            dt = replace(dt, score=oracle_scores(gt, dt, self.sigmas))
        if "background_fp" in steps:
            dt = _subset_dt(dt, ~self.background)
        if "false_negatives" in steps:
            gt = replace(gt, iscrowd=gt.iscrowd | self.false_negative)
        return gt, dt

    def impact(self) -> dict:
        baseline = self.ap(self.gt, self.dt)
        alone = {s: self.ap(*self.apply((s,))) for s in STEPS}
        cumulative = [{"corrected": list(STEPS[:i + 1]), "step": s, "AP": self.ap(*self.apply(STEPS[:i + 1]))}
                      for i, s in enumerate(STEPS)]
        return {"baseline": baseline, "alone": alone, "cumulative": cumulative}
