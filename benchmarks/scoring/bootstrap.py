"""Bootstrap confidence intervals for AP, resampling images (seeded).

Each resample draws the images of a set with replacement; its AP is what
pycocotools' accumulate gives over that multiset of per-image evaluations
(see :mod:`.accumulate`). Matching is never redone.

How a batch of resamples is scored at once. An image drawn c times puts c
adjacent copies of each of its detections into pycocotools' sorted list, so
each detection is one entry of weight c. For one IoU threshold, drop the
ignored entries; the rest form alternating blocks of true and false
positives. Interpolated precision peaks at the end of a true-positive block,
and the first position reaching a recall threshold lies in a true-positive
block, so only block ends matter; block weights are differences of one
cumulative sum of entry weights, shared by all thresholds. The one exception:
equal-score detections of one image whose outcomes differ. Their copies
interleave (copy 1 of each, then copy 2, ...), so such groups are laid out
copy by copy up to the batch's largest count, each copy weighing 1 or 0.
Results equal ``MatchTable.ap`` exactly (tests check it against pycocotools).

Engine: :func:`_resample_precision`, that block formulation compiled by numba:
per resample one cumulative sum of entry weights, then per distinct threshold
only its true-positive blocks and ignored entries, the envelope from the
right, and the recall targets met with one pointer. Groups of resamples run
on the worker threads (:mod:`.threads`). The tests keep a numpy formulation of
the same blocks as a second opinion (tests/helpers/scoring_reference.py);
timings are in reports/scoring_speed.md.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .accumulate import EPS, REC_THRS, MatchTable
from . import threads


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
    start: np.ndarray           # first entry of each TP block
    end: np.ndarray             # last entry of each TP block
    uncounted: np.ndarray       # ignored entries
    u_before_start: np.ndarray  # number of ignored entries before each start
    u_through_end: np.ndarray   # ... up to and including each end
    key: bytes                  # identifies thresholds with identical flags


@dataclass
class _Layout:
    """The entries of the sorted list for resamples with at most ``copies`` copies
    of an image that holds a mixed tie group."""
    det: np.ndarray      # detection of each entry
    copy: np.ndarray     # -1: one entry weighing c; k >= 0: copy k of a tie-group member
    blocks: list
    flat: tuple = ()     # the blocks of the distinct thresholds, flattened for the numba engine


@njit(cache=True, nogil=True, error_model="numpy")
def _resample_precision(bl_off, b_start, b_end, b_ub, b_ut, un_off, unc, tmap, ent_img, copy, counts, target, q):
    """q (B, T, R): interpolated precision of each resample (counts (B, I)) at each threshold,
    from the true-positive blocks of each distinct threshold u (``b_*[bl_off[u]:bl_off[u+1]]``)
    and its ignored entries (``unc[un_off[u]:un_off[u+1]]``), as :meth:`ResampledAP._precision`."""
    n_b = counts.shape[0]
    n_e = len(ent_img)
    n_u = len(bl_off) - 1
    n_r = target.shape[1]
    eps = 2.220446049250313e-16
    for b in range(n_b):
        cum = np.empty(n_e + 1, dtype=np.int64)        # cumulative weight before each entry
        cum[0] = 0
        for e in range(n_e):
            c = counts[b, ent_img[e]]
            if copy[e] >= 0:
                c = 1 if copy[e] < c else 0
            cum[e + 1] = cum[e] + c
        qu = np.zeros((n_u, n_r))
        for u in range(n_u):
            lo, hi = bl_off[u], bl_off[u + 1]
            nb = hi - lo
            if nb == 0:
                continue
            ulo, uhi = un_off[u], un_off[u + 1]
            ucum = np.empty(uhi - ulo + 1, dtype=np.int64)
            ucum[0] = 0
            for j in range(uhi - ulo):
                x = unc[ulo + j]
                ucum[j + 1] = ucum[j] + cum[x + 1] - cum[x]
            pr = np.empty(nb)
            tpe = np.empty(nb, dtype=np.int64)
            tp_c = 0
            for k in range(nb):
                s_end = cum[b_end[lo + k] + 1]
                u_end = ucum[b_ut[lo + k]]
                tp_c += s_end - cum[b_start[lo + k]] - (u_end - ucum[b_ub[lo + k]])
                pr[k] = tp_c / (s_end - u_end + eps)
                tpe[k] = tp_c
            for k in range(nb - 2, -1, -1):
                if pr[k + 1] > pr[k]:
                    pr[k] = pr[k + 1]
            k = 0
            for r in range(n_r):
                tg = target[b, r]
                while k < nb and tpe[k] < tg:
                    k += 1
                qu[u, r] = pr[k] if k < nb else 0.0
        for t in range(len(tmap)):
            for r in range(n_r):
                q[b, t, r] = qu[tmap[t], r]


def _blocks(tp: np.ndarray, counted: np.ndarray) -> list[_Blocks]:
    out = []
    for t in range(tp.shape[0]):
        cpos = np.flatnonzero(counted[t])
        ctp = tp[t, cpos]
        prev = np.concatenate(([False], ctp[:-1]))
        nxt = np.concatenate((ctp[1:], [False]))
        start, end = cpos[ctp & ~prev], cpos[ctp & ~nxt]
        unc = np.flatnonzero(~counted[t])
        key = np.packbits(tp[t]).tobytes() + np.packbits(counted[t]).tobytes()
        out.append(_Blocks(start, end, unc, np.searchsorted(unc, start, "left"),
                           np.searchsorted(unc, end, "right"), key))
    return out


class ResampledAP:
    """AP (area all, IoU .50:.95) of many image resamples of one MatchTable."""

    def __init__(self, table: MatchTable):
        self.table = table
        self.npig = table.npig[0]
        self.tp, self.counted = table.tp[0], table.counted[0]
        n = self.tp.shape[1]
        # tie groups (one image, one score) whose members' flags differ at some threshold
        starts = table.tie_start
        length = np.diff(np.append(starts, n))
        mixed = np.zeros(len(starts), dtype=bool)
        if n and table.has_ties:
            for flags in (self.tp, self.counted):
                lo = np.minimum.reduceat(flags, starts, axis=1)
                hi = np.maximum.reduceat(flags, starts, axis=1)
                mixed |= (lo != hi).any(0)
        self.unit_start, self.unit_length, self.unit_mixed = starts, length, mixed & (length > 1)
        self.mixed_images = np.unique(table.det_image[starts[self.unit_mixed]])
        self._layouts: dict[int, _Layout] = {}

    def _layout(self, copies: int) -> _Layout:
        if copies not in self._layouts:
            total = self.unit_length * np.where(self.unit_mixed, copies, 1)
            unit = np.repeat(np.arange(len(self.unit_start)), total)
            j = np.arange(total.sum()) - np.repeat(np.cumsum(total) - total, total)
            length = self.unit_length[unit]
            det = self.unit_start[unit] + j % length
            copy = np.where(self.unit_mixed[unit], j // length, -1)
            blocks = _blocks(self.tp[:, det], self.counted[:, det])
            first: dict[bytes, int] = {}
            tmap = np.array([first.setdefault(blk.key, len(first)) for blk in blocks], dtype=np.int64)
            distinct = [blocks[tmap.tolist().index(u)] for u in range(len(first))]

            def cat(name):
                parts = [getattr(blk, name).astype(np.int64) for blk in distinct]
                return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

            def offsets(name):
                return np.cumsum([0] + [len(getattr(blk, name)) for blk in distinct]).astype(np.int64)

            flat = (offsets("start"), cat("start"), cat("end"), cat("u_before_start"), cat("u_through_end"),
                    offsets("uncounted"), cat("uncounted"), tmap)
            self._layouts[copies] = _Layout(det, copy, blocks, flat)
        return self._layouts[copies]

    def aps(self, counts: np.ndarray) -> np.ndarray:
        """counts: (B, I) copies of each image; returns (B,) AP, NaN where undefined."""
        counts = np.ascontiguousarray(counts, dtype=np.int64)
        b = len(counts)
        npig = counts @ self.npig
        t_n = self.tp.shape[0]
        q = np.zeros((b, t_n, len(REC_THRS)))
        if self.tp.shape[1]:
            lay = self._layout(int(counts[:, self.mixed_images].max(initial=1)))
            ent_img, target = np.ascontiguousarray(self.table.det_image[lay.det]), _targets(npig)
            # resamples are independent: groups of them on the worker threads
            threads.run_parts(lambda lo, hi: _resample_precision(*lay.flat, ent_img, lay.copy, counts[lo:hi],
                                                                 target[lo:hi], q[lo:hi]),
                              threads.row_ranges(b, threads.worker_threads()))
        ap = q.reshape(b, -1).mean(axis=1)    # (T, R) of each resample in C order, as before
        ap[npig == 0] = np.nan
        return ap


def draw_counts(rng: np.random.Generator, n_images: int, n_resamples: int) -> np.ndarray:
    """(B, I) image multiplicities of B resamples with replacement."""
    picks = rng.integers(0, n_images, size=(n_resamples, n_images))
    offs = (np.arange(n_resamples) * n_images)[:, None]
    return np.bincount((picks + offs).ravel(), minlength=n_resamples * n_images).reshape(n_resamples, n_images)


def resample_aps(tables: list[MatchTable], n_resamples: int, seed, batch: int = 25) -> np.ndarray:
    """(len(tables), n_resamples) AP of every table on the *same* image resamples
    (NaN where undefined). The tables must cover the same images in the same
    order (e.g. several results files scored against one ground truth), so that
    row differences are paired comparisons. One table gives exactly the draws
    of :func:`bootstrap_ap` with the same seed."""
    n_images = {t.n_images for t in tables}
    if len(n_images) != 1:
        raise ValueError(f"paired resamples need tables over the same images, got image counts {sorted(n_images)}")
    (n,) = n_images
    rng = np.random.default_rng(seed)
    engines = [ResampledAP(t) for t in tables]
    out = np.empty((len(tables), max(n_resamples, 0)))
    for lo in range(0, n_resamples, batch):
        counts = draw_counts(rng, n, min(batch, n_resamples - lo))
        for row, engine in enumerate(engines):
            out[row, lo:lo + len(counts)] = engine.aps(counts)
    return out


def percentile_ci(values: np.ndarray, level: float = 0.95) -> dict | None:
    """Percentile interval of per-resample values, NaN (undefined) left out and
    counted; None when no resample is defined."""
    values = np.asarray(values, dtype=np.float64)
    valid = values[~np.isnan(values)]
    if valid.size == 0:
        return None
    tail = (1 - level) / 2 * 100
    lo_v, hi_v = np.percentile(valid, [tail, 100 - tail])
    return {"low": float(lo_v), "high": float(hi_v), "level": level,
            "resamples": int(values.size), "undefined_resamples": int(values.size - valid.size)}


def paired_delta_ci(aps: np.ndarray, reference: np.ndarray, level: float = 0.95) -> dict | None:
    """Percentile CI of AP minus the reference's AP, resample by resample (both
    from one :func:`resample_aps` call, so each difference is on one image set)."""
    return percentile_ci(np.asarray(aps) - np.asarray(reference), level)


def bootstrap_ap(table: MatchTable, n_resamples: int, seed, level: float = 0.95, batch: int = 25) -> dict | None:
    """Percentile CI of AP over ``n_resamples`` image resamples; None if no resamples
    or no images. Resamples whose AP is undefined (no countable ground truth) are
    left out and counted."""
    if n_resamples <= 0 or table.n_images == 0:
        return None
    return percentile_ci(resample_aps([table], n_resamples, seed, batch)[0], level)
