"""Crop boxes and moving annotations into crop coordinates.

A crop box is ``(x, y, w, h)`` in integer source pixels. Keypoints and boxes
shift by the crop offset (exact for integer COCO keypoints), polygons are
clipped with shapely, RLE masks are cut through pycocotools.
"""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import shapely
from pycocotools import mask as mask_utils

CropBox = tuple[int, int, int, int]


def union_crop_boxes(boxes: np.ndarray, starts: np.ndarray, margin: float, sizes: np.ndarray) -> np.ndarray:
    """Crop boxes of many groups at once: the union of each run of xywh
    ``boxes`` beginning at ``starts``, grown by ``margin`` on every side,
    snapped outwards to the integer pixel grid and clipped to its image
    (``sizes`` (R, 2) widths and heights). Returns (R, 4) int xywh."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x0 = np.maximum(0, np.floor(np.minimum.reduceat(boxes[:, 0], starts) - margin))
    y0 = np.maximum(0, np.floor(np.minimum.reduceat(boxes[:, 1], starts) - margin))
    x1 = np.minimum(np.floor(sizes[:, 0]), np.ceil(np.maximum.reduceat(boxes[:, 0] + boxes[:, 2], starts) + margin))
    y1 = np.minimum(np.floor(sizes[:, 1]), np.ceil(np.maximum.reduceat(boxes[:, 1] + boxes[:, 3], starts) + margin))
    bad = (x1 <= x0) | (y1 <= y0)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise ValueError(f"group {r}: boxes lie outside their {sizes[r, 0]:g}x{sizes[r, 1]:g} image")
    return np.column_stack([x0, y0, x1 - x0, y1 - y0]).astype(np.int64)


def union_crop_box(boxes: np.ndarray, margin: float, width: float, height: float) -> CropBox:
    """:func:`union_crop_boxes` for one group."""
    crop = union_crop_boxes(boxes, np.array([0]), margin, np.array([[width, height]], dtype=np.float64))[0]
    return tuple(int(v) for v in crop)


def boxes_to_crops(boxes: np.ndarray, crops: np.ndarray) -> np.ndarray:
    """Many source xywh ``boxes`` in their ``crops``' coordinates, clipped to
    the crop; a box wholly inside keeps its width and height exactly. A box
    with nothing inside gets width or height <= 0. Float noise of the
    subtraction is rounded away (10 decimals)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    crops = np.asarray(crops).reshape(-1, 4)
    x0 = np.maximum(boxes[:, 0] - crops[:, 0], 0)
    y0 = np.maximum(boxes[:, 1] - crops[:, 1], 0)
    x1 = np.minimum(boxes[:, 0] + boxes[:, 2] - crops[:, 0], crops[:, 2])
    y1 = np.minimum(boxes[:, 1] + boxes[:, 3] - crops[:, 1], crops[:, 3])
    inside = ((boxes[:, 0] >= crops[:, 0]) & (boxes[:, 1] >= crops[:, 1])
              & (boxes[:, 0] + boxes[:, 2] <= crops[:, 0] + crops[:, 2])
              & (boxes[:, 1] + boxes[:, 3] <= crops[:, 1] + crops[:, 3]))
    w = np.where(inside, boxes[:, 2], x1 - x0)
    h = np.where(inside, boxes[:, 3], y1 - y0)
    return np.round(np.column_stack([x0, y0, w, h]), 10)


def clip_box(bbox: list[float], crop: CropBox) -> list[float] | None:
    """One box in crop coordinates (:func:`boxes_to_crops`); None when
    nothing of it (no positive area) lies inside."""
    out = boxes_to_crops(np.array([bbox]), np.array([crop]))[0]
    return out.tolist() if out[2] > 0 and out[3] > 0 else None


def keypoints_to_crops(kps: np.ndarray, offsets: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move many people's keypoints at once.

    ``kps`` (M, K, 3) source keypoints, ``offsets`` (M, 2) crop origins,
    ``sizes`` (M, 2) crop widths/heights. A labelled keypoint outside its crop
    (0 <= x < w and 0 <= y < h fails) or any unlabelled one becomes (0, 0, 0). Returns the moved keypoints
    (same dtype as the input) and the recomputed ``num_keypoints`` (M,)."""
    out = kps.copy()
    out[..., :2] -= offsets[:, None, :].astype(kps.dtype)
    x, y, v = out[..., 0], out[..., 1], out[..., 2]
    # continuous pixel coordinates: pixel j covers [j, j + 1), so x == width is past the last column
    keep = (v > 0) & (x >= 0) & (y >= 0) & (x < sizes[:, None, 0]) & (y < sizes[:, None, 1])
    out[~keep] = 0
    return out, keep.sum(axis=1)


def polygons_to_crops(segs: list, crops: np.ndarray) -> list:
    """Shift the polygon segmentations of many annotations into their crops in
    one vectorised pass. An entry is None where the exact per-annotation path
    (:func:`segmentation_to_crop`) must run instead: RLE, malformed polygons,
    or polygons that reach outside the crop and need clipping."""
    out: list = [None] * len(segs)
    simple = [n for n, s in enumerate(segs) if type(s) is list]
    polys = [p for n in simple for p in segs[n]]
    if not polys:
        return [[] if type(s) is list else None for s in segs]
    try:
        lengths = np.fromiter(map(len, polys), np.int64, count=len(polys))
        coords = np.fromiter(itertools.chain.from_iterable(polys), np.float64, count=int(lengths.sum()))
    except (TypeError, ValueError):  # not lists of numbers: leave all to the exact path
        return out
    per_ann = np.fromiter((len(segs[n]) for n in simple), np.int64, count=len(simple))
    ann_of_poly = np.repeat(np.arange(len(simple)), per_ann)
    malformed = (lengths < 6) | (lengths % 2 == 1)
    if malformed.any():  # rare: leave those annotations to the exact path, keep x/y pairing intact
        bad = np.bincount(ann_of_poly, weights=malformed, minlength=len(simple)) > 0
        keep = [n for n, b in zip(simple, bad.tolist()) if not b]
        sub = polygons_to_crops([segs[n] for n in keep], crops[keep]) if keep else []
        for n, v in zip(keep, sub):
            out[n] = v
        return out
    # every polygon has even length, so the flat coordinates pair up as (x, y)
    pairs = coords.reshape(-1, 2)
    per_ann_pairs = np.bincount(ann_of_poly, weights=lengths // 2, minlength=len(simple)).astype(np.int64)
    cs = crops[simple]
    shifted = pairs - np.repeat(cs[:, :2], per_ann_pairs, axis=0)
    inside = ((shifted >= 0) & (shifted <= np.repeat(cs[:, 2:], per_ann_pairs, axis=0))).all(axis=1)
    all_inside = np.bincount(np.repeat(np.arange(len(simple)), per_ann_pairs), weights=~inside,
                             minlength=len(simple)) == 0
    shifted = shifted.ravel()
    values = np.round(shifted, 10).tolist()  # round: drop the subtraction's float noise
    ends = np.cumsum(lengths).tolist()
    starts = [0] + ends[:-1]
    p = 0
    for n, count, inside_n in zip(simple, per_ann.tolist(), all_inside.tolist()):
        if inside_n:
            out[n] = [values[starts[q]:ends[q]] for q in range(p, p + count)]
        p += count
    return out


def clip_polygon_sets(segs: list[list[list[float]]], crops: np.ndarray) -> list[list[list[float]]]:
    """Each annotation's polygons clipped to its crop, in crop coordinates,
    for many annotations in one pass of shapely's array functions. A polygon
    of fewer than 3 points has no area and is dropped; an odd-length one is
    an error (ValueError)."""
    flat, owner = [], []
    for n, seg in enumerate(segs):
        for p in seg:
            if len(p) % 2:
                raise ValueError(f"a polygon has an odd number of coordinates ({len(p)})")
            if len(p) >= 6:
                flat.append(np.asarray(p, dtype=np.float64).reshape(-1, 2))
                owner.append(n)
    out: list[list[list[float]]] = [[] for _ in segs]
    if not flat:
        return out
    owner_a = np.array(owner)
    crops = np.asarray(crops, dtype=np.float64).reshape(-1, 4)
    counts = np.fromiter((len(f) for f in flat), np.int64, count=len(flat))
    pts = np.concatenate(flat) - np.repeat(crops[owner_a, :2], counts, axis=0)
    polys = shapely.polygons(shapely.linearrings(pts, indices=np.repeat(np.arange(len(flat)), counts)))
    bad = ~shapely.is_valid(polys)
    if bad.any():
        polys[bad] = shapely.make_valid(polys[bad])
    clipped = shapely.intersection(polys, shapely.box(0, 0, crops[owner_a, 2], crops[owner_a, 3]))
    parts, idx = shapely.get_parts(clipped, return_index=True)
    parts2, idx2 = shapely.get_parts(parts, return_index=True)  # collections may hold multipolygons
    idx = idx[idx2]
    keep = (shapely.get_type_id(parts2) == 3) & (shapely.area(parts2) > 0)
    parts2, idx = parts2[keep], idx[keep]
    coords, cidx = shapely.get_coordinates(shapely.get_exterior_ring(parts2), return_index=True)
    coords = np.round(coords, 2)
    bounds = np.r_[0, np.flatnonzero(np.diff(cidx)) + 1, len(cidx)]
    for k in range(len(parts2)):
        ring = coords[bounds[k]:bounds[k + 1] - 1]  # drop the closing point
        out[owner[idx[k]]].append(ring.ravel().tolist())
    return out


def polygons_area(polys: list[list[float]], width: int, height: int) -> float:
    """Area of the union of polygons as COCO rasterises it (pycocotools)."""
    return float(mask_utils.area(mask_utils.merge(mask_utils.frPyObjects(polys, height, width)))) if polys else 0.0


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


def area_without_mask(source_area: float, source_box: list[float], box: list[float]) -> float:
    """Area of a person whose source has no segmentation: the source area
    scaled by how much of the box is left (unchanged when nothing was clipped)."""
    if box[2] == source_box[2] and box[3] == source_box[3]:
        return source_area
    return source_area * ((box[2] * box[3]) / (source_box[2] * source_box[3]))


def segmentation_to_crop(segm: Any, crop: CropBox, source_area: float) -> tuple[Any, float]:
    """Segmentation and area in crop coordinates. The source area is kept
    when nothing was clipped (so OKS scales match the source exactly)."""
    cw, ch = crop[2], crop[3]
    if isinstance(segm, list):
        if not segm:
            return [], float(source_area)
        shifted = polygons_to_crops([segm], np.array([crop]))[0]
        if shifted is not None:
            return shifted, source_area
        clipped = clip_polygon_sets([segm], np.array([crop]))[0]
        return clipped, polygons_area(clipped, cw, ch)
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
    source_area = ann.get("area", ann["bbox"][2] * ann["bbox"][3])
    segm, area = segmentation_to_crop(ann.get("segmentation") or [], crop, source_area)
    if not ann.get("segmentation"):
        area = area_without_mask(source_area, ann["bbox"], bbox)
    return {"keypoints": moved.ravel().tolist(), "num_keypoints": int(counts[0]), "bbox": bbox,
            "area": area, "segmentation": segm}
