"""pycocotools' ``accumulate`` + ``summarize`` for any image subset or resample.

A :class:`MatchTable` holds every evaluated detection in the order pycocotools'
accumulate sorts them (score descending, stable over images in id order and
over each image's own score order) with per-area, per-IoU-threshold TP/FP
flags. Any image subset (a Table 2 bucket) or bootstrap resample (images
drawn with repetition) is then a vector of image weights; no OKS is recomputed.

Equality with pycocotools, step by step: a detection of an image drawn c times
appears as c adjacent copies in pycocotools' sorted list (copies of one image
are adjacent in its concatenation). Such a run of copies is one weighted entry
here. Inside a run of true positives precision only grows, so the
interpolated precision at any point of the run equals its value at the run's
end; recall thresholds are therefore resolved on run ends, with the same
float operations (``tp / (fp + tp + eps)``, ``tp / npig``) on the same integer
counts. Only when one image holds several detections of *exactly* equal score
do its copies interleave; those tie groups are expanded copy by copy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pycocotools.cocoeval import Params

_P = Params(iouType="keypoints")
IOU_THRS = np.asarray(_P.iouThrs)
REC_THRS = np.asarray(_P.recThrs)
EPS = np.spacing(1)
STAT_NAMES = ("AP", "AP.5", "AP.75", "AP(M)", "AP(L)", "AR", "AR.5", "AR.75", "AR(M)", "AR(L)")


@dataclass
class MatchTable:
    det_image: np.ndarray   # (n,) image position of each detection, accumulate order
    det_score: np.ndarray   # (n,)
    tp: np.ndarray          # (A, T, n) bool: matched and not ignored
    counted: np.ndarray     # (A, T, n) bool: not ignored (tp or fp)
    npig: np.ndarray        # (A, I) non-ignored gts per image
    n_images: int
    tie_start: np.ndarray   # start of each group of equal-score detections of one image
    has_ties: bool

    @classmethod
    def build(cls, det_image, det_score, matched, ignored, npig, n_images) -> "MatchTable":
        """``det_*`` / flags in per-image rank order, images in id order."""
        order = np.argsort(-det_score, kind="stable")
        img, score = det_image[order], det_score[order]
        new = np.ones(len(order), dtype=bool)
        new[1:] = (img[1:] != img[:-1]) | (score[1:] != score[:-1])
        return cls(det_image=img, det_score=score,
                   tp=matched[:, :, order] & ~ignored[:, :, order], counted=~ignored[:, :, order],
                   npig=npig, n_images=n_images, tie_start=np.flatnonzero(new),
                   has_ties=bool((~new).any()))

    def subset(self, images: np.ndarray) -> "MatchTable":
        """The table of only ``images`` (positions, increasing), renumbered 0..len-1.
        Accumulating it equals accumulating the full table with those images
        weighted 1 and the rest 0, at a cost in proportion to the subset."""
        images = np.asarray(images, dtype=np.int64)
        new_pos = np.full(self.n_images, -1, dtype=np.int64)
        new_pos[images] = np.arange(len(images))
        keep = np.flatnonzero(new_pos[self.det_image] >= 0)
        img, score = new_pos[self.det_image[keep]], self.det_score[keep]
        new = np.ones(len(keep), dtype=bool)
        new[1:] = (img[1:] != img[:-1]) | (score[1:] != score[:-1])
        return MatchTable(det_image=img, det_score=score, tp=self.tp[:, :, keep],
                          counted=self.counted[:, :, keep], npig=self.npig[:, images],
                          n_images=len(images), tie_start=np.flatnonzero(new), has_ties=bool((~new).any()))

    @property
    def num_areas(self) -> int:
        return self.tp.shape[0]

    # ------------------------------------------------------------ accumulate
    def _runs(self, weights: np.ndarray):
        """(index into detections, weight) of each run, in accumulate order."""
        w = weights[self.det_image]
        if not self.has_ties or weights.max(initial=0) <= 1:
            return None, w
        start = self.tie_start
        length = np.diff(np.append(start, len(w)))
        c = w[start]
        rep = np.where(length == 1, 1, c)          # tie groups are tiled copy by copy
        total = length * rep
        unit = np.repeat(np.arange(len(start)), total)
        j = np.arange(total.sum()) - np.repeat(np.cumsum(total) - total, total)
        member = start[unit] + j % length[unit]
        return member, np.where(length == 1, c, 1)[unit]

    def accumulate(self, weights: np.ndarray | None = None, areas=None):
        """precision (A, T, R) and recall (A, T) as pycocotools' accumulate
        computes them over the images weighted by ``weights`` (0 = left out)."""
        if weights is None:
            weights = np.ones(self.n_images, dtype=np.int64)
        weights = np.asarray(weights, dtype=np.int64)
        areas = range(self.num_areas) if areas is None else areas
        member, w = self._runs(weights)
        precision = -np.ones((len(areas), len(IOU_THRS), len(REC_THRS)))
        recall = -np.ones((len(areas), len(IOU_THRS)))
        for out, a in enumerate(areas):
            npig = int(weights @ self.npig[a])
            if npig == 0:
                continue
            tp, counted = self.tp[a], self.counted[a]
            if member is not None:
                tp, counted = tp[:, member], counted[:, member]
            precision[out], recall[out] = precision_recall(tp, counted, w, npig)
        return precision, recall

    def stats(self, weights: np.ndarray | None = None) -> list[float | None]:
        return summarize(*self.accumulate(weights))

    def ap(self, weights: np.ndarray) -> float | None:
        """Only AP (area all, IoU .50:.95): what the bootstrap needs."""
        precision, _ = self.accumulate(weights, areas=(0,))
        return _mean(precision[0])


def first_count_reaching(npig: int) -> np.ndarray:
    """For each recall threshold r: the smallest count v with v / npig >= r in
    float64, i.e. where pycocotools' ``searchsorted(rc, recThrs)`` lands."""
    v = np.maximum(np.floor(REC_THRS * npig).astype(np.int64) - 1, 0)
    for _ in range(8):
        low = (v / npig) < REC_THRS
        if not low.any():
            return v
        v = v + low
    raise AssertionError("recall threshold search did not converge")


def precision_recall(tp: np.ndarray, counted: np.ndarray, w: np.ndarray, npig: int):
    """Interpolated precision at the recall thresholds, and final recall.

    tp, counted: (T, m) flags of m runs in accumulate order; w: (m,) copies."""
    t_n, m = tp.shape
    q = np.zeros((t_n, len(REC_THRS)))
    if m == 0 or not w.any():
        return q, np.zeros(t_n)
    tp_end = np.cumsum(tp * w, axis=1)
    all_end = np.cumsum(counted * w, axis=1)
    tp_f = tp_end.astype(np.float64)
    pr = tp_f / (all_end.astype(np.float64) + EPS)
    env = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
    target = first_count_reaching(npig)
    for t in range(t_n):
        pos = np.searchsorted(tp_end[t], target, side="left")
        ok = pos < m
        q[t, ok] = env[t, pos[ok]]
    return q, tp_f[:, -1] / npig


def _mean(s: np.ndarray) -> float | None:
    s = s[s > -1]
    return None if s.size == 0 else float(np.mean(s))


def summarize(precision: np.ndarray, recall: np.ndarray) -> list[float | None]:
    """pycocotools' ``summarize`` for keypoints (maxDets 20); n/a -> None."""
    t50 = np.flatnonzero(IOU_THRS == 0.5)
    t75 = np.flatnonzero(IOU_THRS == 0.75)
    return [
        _mean(precision[0]), _mean(precision[0, t50]), _mean(precision[0, t75]),
        _mean(precision[1]), _mean(precision[2]),
        _mean(recall[0]), _mean(recall[0, t50]), _mean(recall[0, t75]),
        _mean(recall[1]), _mean(recall[2]),
    ]
