"""Second opinions for the scoring kernels: numpy formulations of what the numba kernels of
benchmarks/scoring compute, kept here because only the tests use them (the tests check the
kernels equal these bit for bit, and both equal pycocotools)."""
from __future__ import annotations

import numpy as np

from benchmarks.scoring.accumulate import EPS, MatchTable, REC_THRS
from benchmarks.scoring.assignment import linear_sum_assignment
from benchmarks.scoring.bootstrap import ResampledAP, _Blocks, _targets
from benchmarks.scoring.cocoeval_engine import AREA_RANGES, IOU_THRS, MAX_DETS, _group_starts, oks
from benchmarks.scoring.groundtruth import GroundTruth
from benchmarks.scoring.pck import FAR
from benchmarks.scoring.results import Detections


def _match_group(ious, gt_valid, gt_ign, gt_crowd, gt_id, n_dt, thr):
    """Greedy matching of pycocotools' evaluateImg for a block of images.

    ious: (n, D, G) for images sorted by detection count (descending), so the
    images with a detection at rank r are the first rows; gt_ign: (n, A, G).
    Returns dt_gt_id (n, A, T, D) (0 = unmatched) and dt_ign (n, A, T, D)."""
    n, d_max, g = ious.shape
    a = gt_ign.shape[1]
    t = len(thr)
    gtm = np.zeros((n, a, t, g), dtype=bool)
    dt_id = np.zeros((n, a, t, d_max), dtype=np.int64)
    dt_ig = np.zeros((n, a, t, d_max), dtype=bool)
    if g == 0:
        return dt_id, dt_ig
    regular = (gt_valid[:, None, :] & ~gt_ign)[:, :, None, :]       # (n, A, 1, G)
    ignored = (gt_valid[:, None, :] & gt_ign)[:, :, None, :]
    crowd = gt_crowd[:, None, None, :]
    thr4 = thr[None, None, :, None]
    for r in range(d_max):
        m = int((n_dt > r).sum())
        if m == 0:
            break
        iou = ious[:m, r, :][:, None, None, :]                       # (m, 1, 1, G)
        free = ~gtm[:m] | crowd[:m]
        cand = (iou >= thr4) & free                                  # (m, A, T, G)
        reg = cand & regular[:m]
        # a regular gt wins over any ignored one; only then ignored gts count
        pool = np.where(reg.any(3, keepdims=True), reg, cand & ignored[:m])
        vals = np.where(pool, iou, -np.inf)
        best = pool & (vals == vals.max(3, keepdims=True))
        # ties go to the last gt in order (pycocotools replaces on >=)
        pick = g - 1 - np.argmax(best[..., ::-1], axis=3)            # (m, A, T)
        hit = pool.any(3)
        rows, aa, tt = np.nonzero(hit)
        gg = pick[rows, aa, tt]
        gtm[rows, aa, tt, gg] = True
        dt_id[rows, aa, tt, r] = gt_id[rows, gg]
        dt_ig[rows, aa, tt, r] = gt_ign[rows, aa, gg]
    return dt_id, dt_ig


def evaluate_numpy(gt: GroundTruth, dt: Detections, sigmas: np.ndarray) -> MatchTable:
    """The same as :func:`benchmarks.scoring.cocoeval_engine.evaluate` in numpy over blocks of images."""
    n_img = gt.num_images
    lo, hi = AREA_RANGES[:, 0], AREA_RANGES[:, 1]
    thr = np.minimum(IOU_THRS, 1 - 1e-10)
    a_n, t_n = len(AREA_RANGES), len(IOU_THRS)

    # detections: by image, then score (stable: file order breaks ties), top MAX_DETS
    d_order = np.lexsort((-dt.score, dt.image))
    d_img = dt.image[d_order]
    d_start = _group_starts(d_img, n_img)
    d_rank = np.arange(len(d_order)) - d_start[d_img]
    keep = d_rank < MAX_DETS
    d_order, d_img, d_rank = d_order[keep], d_img[keep], d_rank[keep]
    d_start = _group_starts(d_img, n_img)
    n_dt = np.diff(d_start)

    # ground truth: by image, file order within
    g_order = np.argsort(gt.ann_image, kind="stable")
    g_img = gt.ann_image[g_order]
    g_start = _group_starts(g_img, n_img)
    n_gt = np.diff(g_start)
    g_ign = gt.eval_ignore[g_order][:, None] | (gt.area[g_order][:, None] < lo) | (gt.area[g_order][:, None] > hi)
    npig = np.zeros((a_n, n_img), dtype=np.int64)
    np.add.at(npig.T, g_img, ~g_ign)

    dt_area_out = (dt.area[d_order][:, None] < lo) | (dt.area[d_order][:, None] > hi)   # (Nk, A)
    matched_id = np.zeros((a_n, t_n, len(d_order)), dtype=np.int64)
    dt_ign = np.zeros((a_n, t_n, len(d_order)), dtype=bool)

    # blocks of images with similar gt counts, padded to a power of two
    g_pad = np.where(n_gt == 0, 0, 2 ** np.ceil(np.log2(np.maximum(n_gt, 1))).astype(np.int64))
    for gp in np.unique(g_pad[n_dt > 0]):
        imgs = np.flatnonzero((g_pad == gp) & (n_dt > 0))
        imgs = imgs[np.argsort(-n_dt[imgs], kind="stable")]
        nd, ng = n_dt[imgs], n_gt[imgs]
        dmax = int(nd.max())
        # padded index matrices (-1 = none)
        didx = d_start[imgs][:, None] + np.arange(dmax)[None, :]
        dvalid = np.arange(dmax)[None, :] < nd[:, None]
        gidx = g_start[imgs][:, None] + np.arange(gp)[None, :]
        gvalid = np.arange(gp)[None, :] < ng[:, None]
        if gp > 0:
            pair = dvalid[:, :, None] & gvalid[:, None, :]
            bi, di, gi = np.nonzero(pair)
            dsel = didx[bi, di]
            gsel = g_order[gidx[bi, gi]]
            ious = np.full((len(imgs), dmax, gp), -np.inf)
            ious[bi, di, gi] = oks(gt.keypoints[gsel], gt.bbox[gsel], gt.area[gsel],
                                   dt.keypoints[d_order[dsel]], sigmas)
            gsafe = np.where(gvalid, gidx, 0)
            ids, ign = _match_group(
                ious, gvalid, np.where(gvalid[:, None, :], g_ign[gsafe].transpose(0, 2, 1), False),
                gt.iscrowd[g_order][gsafe] & gvalid, gt.ann_ids[g_order][gsafe], nd, thr)
        else:
            ids = np.zeros((len(imgs), a_n, t_n, dmax), dtype=np.int64)
            ign = np.zeros_like(ids, dtype=bool)
        bi, di = np.nonzero(dvalid)
        flat = didx[bi, di]
        matched_id[:, :, flat] = ids[bi, :, :, di].transpose(1, 2, 0)
        dt_ign[:, :, flat] = ign[bi, :, :, di].transpose(1, 2, 0)

    # unmatched detections outside the area range are ignored (pycocotools: dtm == 0)
    dt_ign |= (matched_id == 0) & dt_area_out.T[:, None, :]
    return MatchTable.build(det_image=d_img, det_score=dt.score[d_order], matched=matched_id != 0,
                            ignored=dt_ign, npig=npig, n_images=n_img)


def numpy_aps(engine: ResampledAP, counts: np.ndarray) -> np.ndarray:
    """:meth:`ResampledAP.aps` in numpy over the same layout (blocks of true positives)."""
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    b = len(counts)
    npig = counts @ engine.npig
    t_n = engine.tp.shape[0]
    q = np.zeros((t_n, b, len(REC_THRS)))
    if engine.tp.shape[1]:
        lay = engine._layout(int(counts[:, engine.mixed_images].max(initial=1)))
        w = counts[:, engine.table.det_image[lay.det]]                    # (B, entries)
        tiled = lay.copy >= 0
        if tiled.any():
            w[:, tiled] = (lay.copy[tiled] < w[:, tiled]).astype(np.int64)
        _precision(lay.blocks, w, _targets(npig), q)
    ap = q.transpose(1, 0, 2).reshape(b, -1).mean(axis=1)
    ap[npig == 0] = np.nan
    return ap


def _precision(blocks: list[_Blocks], w: np.ndarray, target: np.ndarray, q: np.ndarray) -> None:
    """Fill q (T, B, R) with interpolated precision at the recall thresholds."""
    b, n = w.shape
    cum = np.zeros((b, n + 1), dtype=np.int64)
    np.cumsum(w, axis=1, out=cum[:, 1:])
    rows = np.arange(b)[:, None]
    done: dict[bytes, int] = {}
    for t, blk in enumerate(blocks):
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


def _match_people_numpy(gxy, lab, dxy, scale, p_start, d_start, correct, matched):
    """:func:`benchmarks.scoring.pck._match_people` in numpy."""
    for i in np.flatnonzero((np.diff(p_start) > 0) & (np.diff(d_start) > 0)):
        ps, pe, ds, de = p_start[i], p_start[i + 1], d_start[i], d_start[i + 1]
        dist = np.linalg.norm(gxy[ps:pe, None] - dxy[None, ds:de], axis=3)   # (P, D, K)
        cost = np.where(lab[ps:pe, None], dist, 0).sum(2) / lab[ps:pe].sum(1)[:, None]
        cost = np.nan_to_num(cost, nan=FAR, posinf=FAR)
        rows, cols = linear_sum_assignment(cost)
        matched[ps + rows] = True
        correct[ps + rows] = dist[rows, cols] <= scale[ps + rows, None]
