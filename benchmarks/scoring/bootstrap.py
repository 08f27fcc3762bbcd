"""Bootstrap confidence intervals for AP, resampling images (seeded).

Each resample draws the images of a set with replacement; its AP is what
pycocotools' accumulate gives over that multiset of per-image evaluations
(see :mod:`.accumulate`). Matching is never redone.

Fast path. For one IoU threshold, drop the ignored detections; the rest form
alternating blocks of true and false positives in score order. Interpolated
precision is attained at the end of a true-positive block, and the first
position to reach a recall threshold lies in a true-positive block, so only
block ends matter. Block weights are differences of one cumulative sum of
detection weights, shared by all thresholds, and a batch of resamples is one
set of numpy calls. Results equal ``MatchTable.ap`` exactly (tests check it);
tables where one image has equal-score detections with different outcomes
take the copy-by-copy path of ``MatchTable.ap`` instead.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .accumulate import EPS, REC_THRS, MatchTable


def _targets(npig: np.ndarray) -> np.ndarray:
    """(B, R): smallest count v with float64 v / npig >= each recall threshold."""
    npig = np.maximum(npig, 1)[:, None]
    v = np.maximum(np.floor(REC_THRS[None, :] * npig).astype(np.int64) - 1, 0)
    for _ in range(8):
        low = (v / npig) < REC_THRS[None, :]
        if not low.any():
            return v
        v = v + low
    raise AssertionError("recall threshold search did not converge")


@dataclass
class _Blocks:
    start: np.ndarray      # first detection of each TP block (accumulate order)
    end: np.ndarray        # last detection of each TP block
    uncounted: np.ndarray  # ignored detections
    u_before_start: np.ndarray  # number of ignored detections before each start
    u_through_end: np.ndarray   # ... up to and including each end
    key: bytes                  # identifies thresholds with identical flags


class ResampledAP:
    """AP (area all, IoU .50:.95) of many image resamples of one MatchTable."""

    def __init__(self, table: MatchTable):
        self.table = table
        self.npig = table.npig[0]
        tp, counted = table.tp[0], table.counted[0]
        self.exact_fallback = table.has_ties and self._mixed_ties(tp, counted)
        self.blocks = []
        for t in range(tp.shape[0]):
            cpos = np.flatnonzero(counted[t])
            ctp = tp[t, cpos]
            prev = np.concatenate(([False], ctp[:-1]))
            nxt = np.concatenate((ctp[1:], [False]))
            start, end = cpos[ctp & ~prev], cpos[ctp & ~nxt]
            unc = np.flatnonzero(~counted[t])
            key = np.packbits(tp[t]).tobytes() + np.packbits(counted[t]).tobytes()
            self.blocks.append(_Blocks(start, end, unc, np.searchsorted(unc, start, "left"),
                                       np.searchsorted(unc, end, "right"), key))

    def _mixed_ties(self, tp, counted) -> bool:
        """Does some image hold equal-score detections with different outcomes?"""
        n = tp.shape[1]
        group = np.zeros(n, dtype=np.int64)
        group[self.table.tie_start[1:]] = 1
        group = np.cumsum(group)
        for flags in (tp, counted):
            lo = np.minimum.reduceat(flags, self.table.tie_start, axis=1) if n else flags
            hi = np.maximum.reduceat(flags, self.table.tie_start, axis=1) if n else flags
            if (lo != hi).any():
                return True
        return False

    def aps(self, counts: np.ndarray) -> np.ndarray:
        """counts: (B, I) copies of each image; returns (B,) AP, NaN where undefined."""
        counts = np.asarray(counts, dtype=np.int64)
        if self.exact_fallback:
            out = [self.table.ap(c) for c in counts]
            return np.array([np.nan if a is None else a for a in out])
        b = len(counts)
        npig = counts @ self.npig
        n = len(self.table.det_image)
        q = np.zeros((len(self.blocks), b, len(REC_THRS)))
        if n:
            w = counts[:, self.table.det_image]                       # (B, n)
            cum = np.zeros((b, n + 1), dtype=np.int64)
            np.cumsum(w, axis=1, out=cum[:, 1:])
            target = _targets(npig)
            rows = np.arange(b)[:, None]
            done: dict[bytes, int] = {}
            for t, blk in enumerate(self.blocks):
                if blk.key in done:          # same flags as an earlier threshold
                    q[t] = q[done[blk.key]]
                    continue
                done[blk.key] = t
                nb = len(blk.start)
                if nb == 0:
                    continue
                s_end = cum[:, blk.end + 1]
                block_w = s_end - cum[:, blk.start]
                all_end = s_end
                if len(blk.uncounted):
                    ucum = np.zeros((b, len(blk.uncounted) + 1), dtype=np.int64)
                    np.cumsum(w[:, blk.uncounted], axis=1, out=ucum[:, 1:])
                    u_end = ucum[:, blk.u_through_end]
                    all_end = s_end - u_end
                    block_w -= u_end - ucum[:, blk.u_before_start]
                tp_end = np.cumsum(block_w, axis=1)
                pr = tp_end / (all_end + EPS)
                env = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
                # one searchsorted for all resamples: offset each one past the previous
                big = int(max(tp_end[:, -1].max(), target.max())) + 1
                keys = (tp_end + rows * big).ravel()
                pos = np.searchsorted(keys, (target + rows * big).ravel(), side="left").reshape(b, -1)
                pos -= rows * nb
                ok = pos < nb
                q[t] = np.where(ok, np.take_along_axis(env, np.minimum(pos, nb - 1), axis=1), 0.0)
        ap = q.transpose(1, 0, 2).reshape(b, -1).mean(axis=1)
        ap[npig == 0] = np.nan
        return ap


def draw_counts(rng: np.random.Generator, n_images: int, n_resamples: int) -> np.ndarray:
    """(B, I) image multiplicities of B resamples with replacement."""
    picks = rng.integers(0, n_images, size=(n_resamples, n_images))
    offs = (np.arange(n_resamples) * n_images)[:, None]
    return np.bincount((picks + offs).ravel(), minlength=n_resamples * n_images).reshape(n_resamples, n_images)


def bootstrap_ap(table: MatchTable, n_resamples: int, seed, level: float = 0.95, batch: int = 100) -> dict | None:
    """Percentile CI of AP over ``n_resamples`` image resamples; None if no resamples
    or no images. Resamples whose AP is undefined (no countable ground truth) are
    left out and counted."""
    if n_resamples <= 0 or table.n_images == 0:
        return None
    rng = np.random.default_rng(seed)
    engine = ResampledAP(table)
    aps = []
    for lo in range(0, n_resamples, batch):
        aps.append(engine.aps(draw_counts(rng, table.n_images, min(batch, n_resamples - lo))))
    aps = np.concatenate(aps)
    valid = aps[~np.isnan(aps)]
    if valid.size == 0:
        return None
    tail = (1 - level) / 2 * 100
    lo_v, hi_v = np.percentile(valid, [tail, 100 - tail])
    return {"low": float(lo_v), "high": float(hi_v), "level": level,
            "resamples": int(n_resamples), "undefined_resamples": int(aps.size - valid.size)}
