"""Table 3: predictions made on jittered crops, mapped back to the base crop.

A jittered ground-truth variant has the same image ids as the base file; each
image's ``crop_box`` is the jittered crop and ``base_crop_box`` the unjittered
one (equal to the base file's ``crop_box`` of that id), both in source pixels.
A prediction at crop point (x, y) of the jittered crop is at
(x + jx - bx, y + jy - by) in the base crop, for every keypoint whatever its
visibility. The mapped predictions are scored against the base ground truth.

:func:`crop_origins` makes sure the file given for a level is that level's
jitter of the base file: ``base_crop_box`` on every image, equal to the base
file's ``crop_box``, and ``crowd_info.jitter_px`` (when present) equal to the
level. At level 0 the unjittered base file itself (no ``base_crop_box``) is
accepted too, its crop boxes then being the base ones.
"""
from __future__ import annotations

import numpy as np

from cococrowd.cocofile import CocoFormatError
from cococrowd.crowdinfo import read_crowd_info

from .groundtruth import GroundTruth
from .results import Detections, keypoint_extent_area


def _box(gt: GroundTruth, pos: int, key: str) -> np.ndarray | None:
    """The image's ``key`` box as 4 floats, None when absent."""
    box = gt.image_records[pos].get(key)
    if box is None:
        return None
    if (not isinstance(box, list) or len(box) != 4
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in box)):
        raise CocoFormatError(gt.source, gt.image_path(pos, key), f"must be [x, y, w, h] numbers, got {box!r}")
    return np.asarray(box, dtype=np.float64)


NOT_JITTERED = "missing: not a jittered variant (make one with cococrowd jitter)"


def _check_level(jittered: GroundTruth, level: float) -> bool:
    """Check ``crowd_info.jitter_px`` against ``level``; True when the file is the
    unjittered one given for level 0 (no ``base_crop_box`` on any image)."""
    has_base = [img.get("base_crop_box") is not None for img in jittered.image_records]
    unjittered = level == 0 and not any(has_base)
    if not unjittered:
        for pos, present in enumerate(has_base):
            if not present:
                raise CocoFormatError(jittered.source, jittered.image_path(pos, "base_crop_box"), NOT_JITTERED)
    declared = read_crowd_info({"crowd_info": jittered.crowd_info}, jittered.source).jitter_px
    if declared is not None:
        if declared != float(level):
            raise CocoFormatError(jittered.source, "crowd_info.jitter_px",
                                  f"is {declared:g}, but --jitter says {level:g}")
    return unjittered


def crop_origins(jittered: GroundTruth, base: GroundTruth, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Per jittered image: its crop origin (jx, jy) and its base crop origin (bx, by),
    after checking that ``jittered`` is ``base`` jittered by ``level`` pixels."""
    unjittered = _check_level(jittered, level)
    base_pos = base.position_of()
    crop_xy = np.zeros((jittered.num_images, 2))
    base_xy = np.zeros((jittered.num_images, 2))
    for pos, img_id in enumerate(jittered.image_ids.tolist()):
        if img_id not in base_pos:
            raise CocoFormatError(jittered.source, jittered.image_path(pos, "id"),
                                  f"image id {img_id} is not in the base ground truth {base.source}")
        crop = _box(jittered, pos, "crop_box")
        if crop is None:
            raise CocoFormatError(jittered.source, jittered.image_path(pos, "crop_box"),
                                  "missing (a jittered COCO-crowd file has crop_box on every image)")
        base_crop = _box(base, base_pos[img_id], "crop_box")
        if base_crop is None:
            raise CocoFormatError(base.source, base.image_path(base_pos[img_id], "crop_box"),
                                  "missing: --jitter needs the COCO-crowd file the variants were made from as --gt")
        key = "crop_box" if unjittered else "base_crop_box"
        declared = crop if unjittered else _box(jittered, pos, "base_crop_box")
        if not np.array_equal(declared, base_crop):
            raise CocoFormatError(jittered.source, jittered.image_path(pos, key),
                                  f"is {declared.tolist()} but the --gt file's crop_box of image {img_id} "
                                  f"is {base_crop.tolist()}: not a jitter of this ground truth")
        crop_xy[pos] = crop[:2]
        base_xy[pos] = base_crop[:2]
    return crop_xy, base_xy


def map_to_base(dt: Detections, jittered: GroundTruth, base: GroundTruth, level: float) -> Detections:
    """Detections validated against ``jittered`` (the ``level`` variant of ``base``), moved
    into ``base``'s crops and images."""
    crop_xy, base_xy = crop_origins(jittered, base, level)
    kps = dt.keypoints.copy()
    jx, jy = crop_xy[dt.image, 0:1], crop_xy[dt.image, 1:2]
    bx, by = base_xy[dt.image, 0:1], base_xy[dt.image, 1:2]
    kps[:, :, 0] = kps[:, :, 0] + jx - bx
    kps[:, :, 1] = kps[:, :, 1] + jy - by
    base_pos = base.position_of()
    to_base = np.asarray([base_pos[i] for i in jittered.image_ids.tolist()], dtype=np.int64)
    # pycocotools would take the area of the mapped results: a bbox's w*h does not move
    area = dt.area if dt.area_from_bbox else keypoint_extent_area(kps)
    return Detections(dt.source, to_base[dt.image] if len(dt) else dt.image, kps, dt.score, area,
                      dt.area_from_bbox, dt.sha256)
