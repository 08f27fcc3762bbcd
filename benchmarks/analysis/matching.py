"""Detections matched to people at a low OKS, by pycocotools itself (its greedy matching:
detections by score, at most 20 per image, a regular person before an ignored one)."""
from __future__ import annotations

import contextlib
import io

import numpy as np

LOCALISATION_OKS = 0.1   # Ronchi and Perona's threshold for "this detection is of that person"


def _coco_gt(gt):
    from pycocotools.coco import COCO
    coco = COCO()
    anns = [{"id": int(gt.ann_ids[a]), "image_id": int(gt.image_ids[gt.ann_image[a]]),
             "category_id": gt.category_id, "keypoints": gt.keypoints[a].ravel().tolist(),
             "num_keypoints": int(gt.num_keypoints[a]), "bbox": gt.bbox[a].tolist(),
             "area": float(gt.area[a]), "iscrowd": int(gt.iscrowd[a])} for a in range(len(gt.ann_ids))]
    coco.dataset = {"images": [{"id": int(i)} for i in gt.image_ids], "annotations": anns,
                    "categories": [{"id": gt.category_id, "name": "person",
                                    "keypoints": list(gt.keypoint_names)}]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def match_detections(gt, dt, sigmas: np.ndarray, threshold: float = LOCALISATION_OKS):
    """(annotation index matched to each detection or -1, its OKS there) at ``threshold``,
    all areas. (Each detection's best OKS with anyone is impact.best_oks.)"""
    from pycocotools.cocoeval import COCOeval
    n = len(dt)
    matched, matched_oks = np.full(n, -1, dtype=np.int64), np.zeros(n)
    if n == 0:
        return matched, matched_oks
    coco = _coco_gt(gt)
    results = [{"image_id": int(gt.image_ids[dt.image[i]]), "category_id": gt.category_id,
                "keypoints": dt.keypoints[i].ravel().tolist(), "score": float(dt.score[i])} for i in range(n)]
    with contextlib.redirect_stdout(io.StringIO()):
        res = coco.loadRes(results)       # ids 1..n in results order
        ev = COCOeval(coco, res, "keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        ev.params.iouThrs = np.array([threshold])
        ev.params.areaRng, ev.params.areaRngLbl = [[0, 1e10]], ["all"]
        ev.evaluate()
    position = {int(a): i for i, a in enumerate(gt.ann_ids)}
    for e in ev.evalImgs:
        if e is None:
            continue
        key = (e["image_id"], e["category_id"])
        ious = ev.ious[key]
        gt_col = {g["id"]: j for j, g in enumerate(ev._gts[key])}
        # computeOks' rows: the image's detections by score (stable), the first maxDets
        dts = ev._dts[key]
        ranked = np.argsort([-d["score"] for d in dts], kind="mergesort")[:ev.params.maxDets[-1]]
        row_of = {dts[r]["id"]: j for j, r in enumerate(ranked)}
        for d_id, g_id in zip(e["dtIds"], e["dtMatches"][0]):
            if g_id:
                matched[d_id - 1] = position[int(g_id)]
                matched_oks[d_id - 1] = float(ious[row_of[d_id], gt_col[int(g_id)]])
    return matched, matched_oks
