"""COCO keypoint evaluation (pycocotools semantics), vectorised over images.

``evaluate`` does what ``COCOeval(iouType='keypoints').evaluate()`` does (OKS
for every detection/ground-truth pair of an image, then greedy matching per
IoU threshold and area range) but in numpy over many images at once, with the
same floating-point operations in the same order, so every OKS value and every
match is bit-identical (tests compare against pycocotools on many inputs).

The result is a :class:`~benchmarks.scoring.accumulate.MatchTable`: every kept
detection in pycocotools' accumulate order with its TP/FP/ignore flags, from
which AP/AR of any image subset or bootstrap resample is re-accumulated without
recomputing OKS.

The engine runs pycocotools' own loops (computeOks, evaluateImg) image by
image, compiled by numba: the squared distances and their scaling are the same
IEEE operations in the same order, ``exp`` is numpy's (on one flat array), and
the sum over a pair's labelled keypoints replays numpy's pairwise summation
(:func:`np_sum`, checked against ``np.sum``), so every OKS is bit-identical.
numba's ``math.exp`` (libm) is not used: numpy dispatches its own SIMD exp on
AVX-512 machines, and only numpy's exp is what pycocotools computes. Images go
in chunks of about ``PAIR_CHUNK`` pairs so the exp buffer stays small at any
size. The tests keep a numpy formulation of the same matching as a second
opinion (tests/helpers/scoring_reference.py).
"""
from __future__ import annotations

import numpy as np
from numba import njit
from pycocotools.cocoeval import Params

from .accumulate import MatchTable
from .groundtruth import GroundTruth
from .results import Detections
from . import threads

_P = Params(iouType="keypoints")
IOU_THRS = np.asarray(_P.iouThrs)               # (T,) 0.50:0.05:0.95
REC_THRS = np.asarray(_P.recThrs)               # (R,) 0:0.01:1
AREA_RANGES = np.asarray(_P.areaRng, dtype=np.float64)  # all, medium, large
AREA_LABELS = tuple(_P.areaRngLbl)
MAX_DETS = int(_P.maxDets[-1])                  # 20


def _group_starts(sorted_keys: np.ndarray, n: int) -> np.ndarray:
    """Start offset of each of n groups in an array sorted by group key."""
    return np.searchsorted(sorted_keys, np.arange(n + 1))


def oks(gt_kps, gt_bbox, gt_area, dt_kps, sigmas) -> np.ndarray:
    """OKS of each (gt, dt) row pair, exactly as pycocotools' computeOks.

    A gt with labelled keypoints uses them; one without uses the distance to a
    box twice its size. The sum over labelled keypoints runs over exactly those
    values, in keypoint order, so it rounds like pycocotools' ``np.sum``."""
    n = len(gt_kps)
    out = np.empty(n)
    if n == 0:
        return out
    var = (sigmas * 2) ** 2
    vis = gt_kps[:, :, 2] > 0
    k1 = vis.sum(1)
    xd, yd = dt_kps[:, :, 0], dt_kps[:, :, 1]
    dx = xd - gt_kps[:, :, 0]
    dy = yd - gt_kps[:, :, 1]
    none = k1 == 0
    if none.any():
        bb = gt_bbox[none]
        x0 = (bb[:, 0] - bb[:, 2])[:, None]
        x1 = (bb[:, 0] + bb[:, 2] * 2)[:, None]
        y0 = (bb[:, 1] - bb[:, 3])[:, None]
        y1 = (bb[:, 1] + bb[:, 3] * 2)[:, None]
        xdn, ydn = xd[none], yd[none]
        dx[none] = np.maximum(0.0, x0 - xdn) + np.maximum(0.0, xdn - x1)
        dy[none] = np.maximum(0.0, y0 - ydn) + np.maximum(0.0, ydn - y1)
    e = (dx ** 2 + dy ** 2) / var / (gt_area + np.spacing(1))[:, None] / 2
    ex = np.exp(-e)
    k = gt_kps.shape[1]
    for c in np.unique(k1):
        rows = np.flatnonzero(k1 == c)
        if c == 0:
            out[rows] = ex[rows].sum(1) / k
        else:
            sub = vis[rows]
            # the labelled values of each row, packed in keypoint order
            vals = ex[rows][sub].reshape(len(rows), c)
            out[rows] = vals.sum(1) / c
    return out


EPS = np.spacing(1)
PAIR_CHUNK = 1 << 16


@njit(cache=True, nogil=True, error_model="numpy")
def _n_labelled(gk, g):
    """Labelled keypoints (v > 0) of ground truth g: computeOks' k1."""
    k1 = 0
    for k in range(gk.shape[1]):
        if gk[g, k, 2] > 0:
            k1 += 1
    return k1


@njit(cache=True, nogil=True, error_model="numpy")
def _pair_e(gk, gb, ga, dk, gmap, dmap, var, d_start, n_dt, g_start, n_gt, pair_off, out):
    """computeOks' e = (dx**2 + dy**2) / vars / (area + eps) / 2 of every (dt, gt, keypoint) of
    every image; pair (i, j) of an image at row pair_off + i * n_gt + j. gmap / dmap: row of
    the g-th ground truth / d-th detection (in evaluation order) in gk, gb, ga / dk."""
    k_n = gk.shape[1]
    eps = 2.220446049250313e-16
    for img in range(len(n_dt)):
        nd, ng = n_dt[img], n_gt[img]
        if nd == 0 or ng == 0:
            continue
        for j in range(ng):
            g = gmap[g_start[img] + j]
            k1 = _n_labelled(gk, g)
            x0 = gb[g, 0] - gb[g, 2]
            x1 = gb[g, 0] + gb[g, 2] * 2
            y0 = gb[g, 1] - gb[g, 3]
            y1 = gb[g, 1] + gb[g, 3] * 2
            scale = ga[g] + eps
            for i in range(nd):
                d = dmap[d_start[img] + i]
                row = pair_off[img] + i * ng + j
                for k in range(k_n):
                    xd = dk[d, k, 0]
                    yd = dk[d, k, 1]
                    if k1 > 0:
                        dx = xd - gk[g, k, 0]
                        dy = yd - gk[g, k, 1]
                    else:
                        dx = max(0.0, x0 - xd) + max(0.0, xd - x1)
                        dy = max(0.0, y0 - yd) + max(0.0, yd - y1)
                    out[row, k] = (dx * dx + dy * dy) / var[k] / scale / 2


@njit(cache=True, nogil=True, error_model="numpy")
def _block_sum(a, lo, n):
    """numpy's pairwise_sum of a[lo:lo + n] for n <= 128: 8 interleaved partial sums."""
    if n < 8:
        r = 0.0
        for i in range(n):
            r += a[lo + i]
        return r
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - (n % 8):
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(cache=True, nogil=True, error_model="numpy")
def np_sum(a, n):
    """numpy's sum of a[:n] (a contiguous float64 array), operation for operation: above 128
    values numpy sums the two halves (the first a multiple of 8) so and adds them. That
    recursion is walked with a stack here (numba's cache cannot reload a recursive function)."""
    if n <= 128:
        return _block_sum(a, 0, n)
    t_lo, t_n, t_step = np.empty(64, np.int64), np.empty(64, np.int64), np.empty(64, np.int64)
    vals = np.empty(64)
    sp, vp = 1, 0
    t_lo[0], t_n[0], t_step[0] = 0, n, 0
    while sp > 0:
        lo, m, step = t_lo[sp - 1], t_n[sp - 1], t_step[sp - 1]
        if m <= 128:
            sp -= 1
            vals[vp] = _block_sum(a, lo, m)
            vp += 1
            continue
        h = m // 2
        h -= h % 8
        if step < 2:                 # sum the left half, then the right one
            t_step[sp - 1] = step + 1
            t_lo[sp], t_n[sp], t_step[sp] = (lo, h, 0) if step == 0 else (lo + h, m - h, 0)
            sp += 1
        else:                        # both halves done: left + right
            sp -= 1
            vp -= 1
            vals[vp - 1] = vals[vp - 1] + vals[vp]
    return vals[0]


@njit(cache=True, nogil=True, error_model="numpy")
def _match_images(ex, gk, gmap, g_ign, g_crowd, g_id, d_start, n_dt, g_start, n_gt, pair_off, d_area_out, thr,
                  matched, dt_ign):
    """OKS from exp(-e) (``ex``), then evaluateImg's greedy matching per area range and threshold.
    g_ign (M, A): ignored in area range a; outputs (A, T, Nk): matched to a gt whose id is not 0
    (pycocotools keeps the gt id, so a match to id 0 reads as none), ignored."""
    k_n = gk.shape[1]
    a_n = g_ign.shape[1]
    t_n = len(thr)
    tmp = np.empty(k_n)
    gmax = 1
    for img in range(len(n_gt)):
        gmax = max(gmax, n_gt[img])
    ious = np.empty((20 if len(n_dt) == 0 else max(1, n_dt.max()), gmax))
    order = np.empty(gmax, dtype=np.int64)
    taken = np.zeros(gmax, dtype=np.bool_)
    for img in range(len(n_dt)):
        nd, ng = n_dt[img], n_gt[img]
        if nd == 0:
            continue
        for j in range(ng):
            g = gmap[g_start[img] + j]
            k1 = _n_labelled(gk, g)
            for i in range(nd):
                row = pair_off[img] + i * ng + j
                if k1 == 0:
                    ious[i, j] = np_sum(ex[row], k_n) / k_n
                else:
                    c = 0
                    for k in range(k_n):
                        if gk[g, k, 2] > 0:
                            tmp[c] = ex[row, k]
                            c += 1
                    ious[i, j] = np_sum(tmp, c) / k1
        for a in range(a_n):
            # gts sorted by ignore flag, stable (mergesort): regular ones first
            c = 0
            for j in range(ng):
                if not g_ign[g_start[img] + j, a]:
                    order[c] = j
                    c += 1
            for j in range(ng):
                if g_ign[g_start[img] + j, a]:
                    order[c] = j
                    c += 1
            for t in range(t_n):
                for j in range(ng):
                    taken[j] = False
                for i in range(nd):
                    d = d_start[img] + i
                    iou = thr[t]
                    m = -1
                    for q in range(ng):
                        j = order[q]
                        g = g_start[img] + j
                        if taken[q] and not g_crowd[g]:
                            continue
                        if m > -1 and not g_ign[g_start[img] + order[m], a] and g_ign[g, a]:
                            break
                        if ious[i, j] < iou:
                            continue
                        iou = ious[i, j]
                        m = q
                    if m == -1:
                        if d_area_out[d, a]:
                            dt_ign[a, t, d] = True
                        continue
                    gm = g_start[img] + order[m]
                    taken[m] = True
                    matched[a, t, d] = g_id[gm] != 0
                    dt_ign[a, t, d] = g_ign[gm, a] or (g_id[gm] == 0 and d_area_out[d, a])


def _keep_top(gt: GroundTruth, dt: Detections):
    """Detections by image, then score (stable: file order breaks ties), top MAX_DETS."""
    n_img = gt.num_images
    d_order = np.lexsort((-dt.score, dt.image))
    d_img = dt.image[d_order]
    d_start = _group_starts(d_img, n_img)
    d_rank = np.arange(len(d_order)) - d_start[d_img]
    keep = d_rank < MAX_DETS
    d_order, d_img = d_order[keep], d_img[keep]
    return d_order, d_img, _group_starts(d_img, n_img)


def evaluate(gt: GroundTruth, dt: Detections, sigmas: np.ndarray) -> MatchTable:
    """OKS + matching for every image of ``gt``; see the module docstring."""
    n_img = gt.num_images
    lo, hi = AREA_RANGES[:, 0], AREA_RANGES[:, 1]
    thr = np.minimum(IOU_THRS, 1 - 1e-10)
    d_order, d_img, d_start = _keep_top(gt, dt)
    n_dt = np.diff(d_start)
    g_order = np.argsort(gt.ann_image, kind="stable")
    g_img = gt.ann_image[g_order]
    g_start = _group_starts(g_img, n_img)
    n_gt = np.diff(g_start)
    area = gt.area[g_order]
    g_ign = gt.eval_ignore[g_order][:, None] | (area[:, None] < lo) | (area[:, None] > hi)
    npig = np.zeros((len(AREA_RANGES), n_img), dtype=np.int64)
    np.add.at(npig.T, g_img, ~g_ign)
    k = gt.keypoints.shape[1]
    gk, gb, dk = np.ascontiguousarray(gt.keypoints), np.ascontiguousarray(gt.bbox), np.ascontiguousarray(dt.keypoints)
    g_map, d_map = g_order.astype(np.int64), d_order.astype(np.int64)
    var = (np.asarray(sigmas, dtype=np.float64) * 2) ** 2
    d_area = dt.area[d_order]
    d_area_out = (d_area[:, None] < lo) | (d_area[:, None] > hi)
    g_ign = np.ascontiguousarray(g_ign)
    crowd, ids = gt.iscrowd[g_order], gt.ann_ids[g_order]
    matched = np.zeros((len(AREA_RANGES), len(IOU_THRS), len(d_order)), dtype=bool)
    dt_ign = np.zeros(matched.shape, dtype=bool)
    # images in chunks of about PAIR_CHUNK (dt, gt) pairs: the exp(-e) buffer stays a few MB at any size
    pairs = n_dt * n_gt
    n_threads = threads.worker_threads()
    # several chunks per thread, so the threads end together
    size = min(PAIR_CHUNK, max(1024, -(-int(pairs.sum()) // (4 * n_threads)))) if n_threads > 1 else PAIR_CHUNK
    ends = np.searchsorted(np.cumsum(pairs), np.arange(1, int(pairs.sum()) // size + 2) * size, "right")
    bounds = np.unique(np.concatenate(([0], np.minimum(ends, n_img), [n_img])))

    def chunk(i0, i1):
        p = pairs[i0:i1]
        pair_off = np.concatenate(([0], np.cumsum(p)[:-1])).astype(np.int64)
        ex = np.empty((int(p.sum()), k))
        ds, nd, gs, ng = d_start[i0:i1], n_dt[i0:i1], g_start[i0:i1], n_gt[i0:i1]
        _pair_e(gk, gb, gt.area, dk, g_map, d_map, var, ds, nd, gs, ng, pair_off, ex)
        np.negative(ex, out=ex)
        np.exp(ex, out=ex)
        _match_images(ex, gk, g_map, g_ign, crowd, ids, ds, nd, gs, ng, pair_off, d_area_out, thr, matched, dt_ign)

    threads.run_parts(chunk, list(zip(bounds[:-1], bounds[1:])))     # chunks write disjoint detections
    return MatchTable.build(det_image=d_img, det_score=dt.score[d_order], matched=matched,
                            ignored=dt_ign, npig=npig, n_images=n_img)
