"""Crop boxes and moving annotations into crop coordinates.

A crop box is ``(x, y, w, h)`` in integer source pixels. Keypoints and boxes
shift by the crop offset (exact for integer COCO keypoints), polygons are
clipped with shapely, RLE masks are cut through pycocotools.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from pycocotools import mask as mask_utils
from shapely.geometry import Polygon, box as shapely_box

CropBox = tuple[int, int, int, int]


def union_crop_box(boxes: np.ndarray, margin: float, width: float, height: float) -> CropBox:
    """Union of xywh ``boxes`` grown by ``margin`` on every side, snapped
    outwards to the integer pixel grid and clipped to the ``width`` x ``height`` image."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x0 = max(0, math.floor(boxes[:, 0].min() - margin))
    y0 = max(0, math.floor(boxes[:, 1].min() - margin))
    x1 = min(int(math.floor(width)), math.ceil((boxes[:, 0] + boxes[:, 2]).max() + margin))
    y1 = min(int(math.floor(height)), math.ceil((boxes[:, 1] + boxes[:, 3]).max() + margin))
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"boxes {boxes.tolist()} lie outside the {width}x{height} image")
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def clip_box(bbox: list[float], crop: CropBox) -> list[float] | None:
    """``bbox`` (source xywh) in crop coordinates, clipped to the crop; None
    when nothing of it (no positive area) lies inside."""
    cx, cy, cw, ch = crop
    x0 = max(bbox[0] - cx, 0)
    y0 = max(bbox[1] - cy, 0)
    x1 = min(bbox[0] + bbox[2] - cx, cw)
    y1 = min(bbox[1] + bbox[3] - cy, ch)
    if x1 <= x0 or y1 <= y0:
        return None
    return [x0, y0, x1 - x0, y1 - y0]


def box_inside(bbox: list[float], crop: CropBox) -> bool:
    cx, cy, cw, ch = crop
    return bbox[0] >= cx and bbox[1] >= cy and bbox[0] + bbox[2] <= cx + cw and bbox[1] + bbox[3] <= cy + ch


def keypoints_to_crops(kps: np.ndarray, offsets: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move many people's keypoints at once.

    ``kps`` (M, K, 3) source keypoints, ``offsets`` (M, 2) crop origins,
    ``sizes`` (M, 2) crop widths/heights. A labelled keypoint outside its crop
    (or any unlabelled one) becomes (0, 0, 0). Returns the moved keypoints
    (same dtype as the input) and the recomputed ``num_keypoints`` (M,)."""
    out = kps.copy()
    out[..., :2] -= offsets[:, None, :].astype(kps.dtype)
    x, y, v = out[..., 0], out[..., 1], out[..., 2]
    keep = (v > 0) & (x >= 0) & (y >= 0) & (x <= sizes[:, None, 0]) & (y <= sizes[:, None, 1])
    out[~keep] = 0
    return out, keep.sum(axis=1)


def _polygons_inside(polys: list[list[float]], crop: CropBox) -> bool:
    # plain min/max on short lists beats building arrays per polygon
    cx, cy, cw, ch = crop
    return all(p and min(p[0::2]) >= cx and max(p[0::2]) <= cx + cw
               and min(p[1::2]) >= cy and max(p[1::2]) <= cy + ch for p in polys)


def _shift_polygons(polys: list[list[float]], crop: CropBox) -> list[list[float]]:
    cx, cy = crop[0], crop[1]
    out = []
    for p in polys:
        q = [0.0] * len(p)
        q[0::2] = [round(v - cx, 10) for v in p[0::2]]  # round: drop float noise
        q[1::2] = [round(v - cy, 10) for v in p[1::2]]
        out.append(q)
    return out


def _clip_polygons(polys: list[list[float]], crop: CropBox) -> list[list[float]]:
    """Polygons clipped to the crop with shapely, in crop coordinates."""
    cx, cy, cw, ch = crop
    window = shapely_box(0, 0, cw, ch)
    out: list[list[float]] = []
    for p in polys:
        pts = np.asarray(p, dtype=np.float64).reshape(-1, 2) - (cx, cy)
        if len(pts) < 3:
            continue
        poly = Polygon(pts)
        if not poly.is_valid:
            poly = shapely.make_valid(poly)
        clipped = poly.intersection(window)
        for part in getattr(clipped, "geoms", [clipped]):
            if part.geom_type == "Polygon" and not part.is_empty and part.area > 0:
                ring = np.asarray(part.exterior.coords)[:-1]  # drop the closing point
                out.append(np.round(ring, 2).ravel().tolist())
    return out


def _crop_rle(segm: dict, crop: CropBox) -> dict:
    """Cut an RLE mask to the crop (zero-padded where the crop reaches past it)."""
    h, w = segm["size"]
    rle = mask_utils.frPyObjects(segm, h, w) if isinstance(segm["counts"], list) else segm
    full = mask_utils.decode(rle)
    cx, cy, cw, ch = crop
    sub = np.zeros((ch, cw), dtype=np.uint8)
    x0, y0 = max(cx, 0), max(cy, 0)
    x1, y1 = min(cx + cw, w), min(cy + ch, h)
    if x1 > x0 and y1 > y0:
        sub[y0 - cy:y1 - cy, x0 - cx:x1 - cx] = full[y0:y1, x0:x1]
    enc = mask_utils.encode(np.asfortranarray(sub))
    return {"size": [int(ch), int(cw)], "counts": enc["counts"].decode("ascii")}


def segmentation_to_crop(segm: Any, crop: CropBox, source_area: float) -> tuple[Any, float]:
    """Segmentation and area in crop coordinates. The source area is kept
    when nothing was clipped (so OKS scales match the source exactly)."""
    cw, ch = crop[2], crop[3]
    if isinstance(segm, list):
        if not segm:
            return [], float(source_area)
        if _polygons_inside(segm, crop):
            return _shift_polygons(segm, crop), source_area
        clipped = _clip_polygons(segm, crop)
        if not clipped:
            return [], 0.0
        area = float(mask_utils.area(mask_utils.merge(mask_utils.frPyObjects(clipped, ch, cw))))
        return clipped, area
    if isinstance(segm, dict) and "counts" in segm and "size" in segm:
        cut = _crop_rle(segm, crop)
        return cut, float(mask_utils.area(cut))
    return segm, source_area


def to_crop(ann: dict, crop: CropBox, num_keypoints: int) -> dict | None:
    """One annotation's geometry in crop coordinates: ``keypoints``,
    ``num_keypoints``, ``bbox`` (clipped), ``area``, ``segmentation``.
    None when its box has no area inside the crop. Other fields are left to
    the caller. (The build moves keypoints of many people at once with
    :func:`keypoints_to_crops`; this is the one-person form of the same rules.)"""
    bbox = clip_box(ann["bbox"], crop)
    if bbox is None:
        return None
    kps = np.asarray(ann.get("keypoints") or [0] * (3 * num_keypoints)).reshape(1, num_keypoints, 3)
    moved, counts = keypoints_to_crops(kps, np.array([crop[:2]]), np.array([crop[2:]]))
    segm, area = segmentation_to_crop(ann.get("segmentation", []), crop, ann.get("area", bbox[2] * bbox[3]))
    return {"keypoints": moved.ravel().tolist(), "num_keypoints": int(counts[0]), "bbox": bbox,
            "area": area, "segmentation": segm}
