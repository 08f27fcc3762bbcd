"""Read a COCO-crowd JSON into per-image training records.

The file is validated as a COCO keypoint file by :mod:`cococrowd.cocofile`;
here we check the COCO-crowd fields the data pipeline needs
(``crowd_info.image_dir``, ``crowd_info.source_images``, each image's
``crop_box`` / ``source_file_name``, each annotation's ``ignore``) and group
annotations by image, in the file's annotation order. Every error names the
file and the JSON path of the bad value.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cococrowd.cocofile import CocoFormatError, annotation_paths, check_inside_path, check_keypoints, load_keypoint_file
from cococrowd.crowdindex import crowd_indices, published
from cococrowd.crowdinfo import check_whole_file, is_member, read_crowd_info, require_key

FORMAT_HINT = "is this a COCO-crowd file written by `cococrowd build`? (see docs/coco-crowd-format.md)"


@dataclass(frozen=True)
class Region:
    """An area to leave out of the loss: a segmentation (polygons or RLE, in
    crop coordinates) with the box as fallback when the segmentation is empty."""

    segmentation: Any
    bbox: tuple[float, float, float, float]


@dataclass(frozen=True)
class CrowdImage:
    """One COCO-crowd image (a crowd region) and its people, crop coordinates."""

    id: int
    position: int                 # index in the file's ``images`` list, for error messages
    crop_path: Path | None        # None when the file has no crops (``crowd_info.image_dir`` null)
    source_path: Path | None      # None when the file names no source folder
    width: int
    height: int
    crop_box: tuple[float, float, float, float] | None  # x, y, w, h in source pixels
    members: np.ndarray           # (P, K, 3) float64 keypoints of group members (ignore == 0)
    member_regions: tuple[Region, ...]   # one per member, same order
    ignore_regions: tuple[Region, ...]   # ignore == 1 or iscrowd == 1 annotations
    crowd_index: float = 0.0      # CrowdPose's, by cococrowd.crowdindex (the value build writes)


@dataclass(frozen=True)
class CrowdFile:
    source: str
    keypoint_names: tuple[str, ...]
    flip_permutation: np.ndarray  # (K,) channel k of a mirrored image holds keypoint flip_permutation[k]
    images: tuple[CrowdImage, ...]


def flip_permutation(names: list[str] | tuple[str, ...]) -> np.ndarray:
    """For each keypoint, the index of its mirror partner. Names that differ
    only by the word left/right pair up (``left_eye``/``right_eye``,
    ``eye_left``, ``LeftEye``); abbreviations such as ``l_eye`` are not
    guessed. Others (``nose``, ``head``, ``neck``) map to themselves."""
    swap = {"left": "right", "right": "left", "Left": "Right", "Right": "Left", "LEFT": "RIGHT", "RIGHT": "LEFT"}
    pattern = re.compile(r"(?<![A-Za-z])(left|right|Left|Right|LEFT|RIGHT)(?![a-z])")
    index = {n: i for i, n in enumerate(names)}
    perm = np.arange(len(names))
    for i, n in enumerate(names):
        partner = pattern.sub(lambda m: swap[m.group(1)], n)
        if partner != n and partner in index:
            perm[i] = index[partner]
    return perm


def _require(obj: dict, key: str, where: str, source: str) -> Any:
    if key not in obj:
        raise CocoFormatError(source, f"{where}.{key}" if where else key, f"missing key; {FORMAT_HINT}")
    return obj[key]


def _crop_box(img: dict, i: int, source: str) -> tuple[float, float, float, float]:
    box = _require(img, "crop_box", f"images[{i}]", source)
    ok = (isinstance(box, list) and len(box) == 4
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in box))
    if not ok or box[2] <= 0 or box[3] <= 0:
        raise CocoFormatError(source, f"images[{i}].crop_box",
                              f"must be [x, y, w, h] with w, h > 0 in source pixels, got {box!r}")
    return tuple(float(v) for v in box)


def _region(ann: dict) -> Region:
    return Region(segmentation=ann.get("segmentation") or [], bbox=tuple(float(v) for v in ann["bbox"]))


def _member_keypoints(members: list, positions: list[int], k: int, annotations: list, source: str) -> np.ndarray:
    """(P, K, 3) float64 keypoints; the loader checked their structure only,
    so values are checked here and the first bad one is named."""
    try:
        kps = np.asarray(members, dtype=np.float64).reshape(len(members), k, 3)
        bad = ~np.isfinite(kps).all(axis=(1, 2)) | ~np.isin(kps[..., 2], (0, 1, 2)).all(axis=1)
    except (TypeError, ValueError):
        kps, bad = None, np.ones(len(members), dtype=bool)
    for b in np.flatnonzero(bad):
        j = positions[b]
        check_keypoints(annotations[j]["keypoints"], k, f"annotations[{j}].keypoints", source)
    if kps is None:
        raise CocoFormatError(source, f"annotations[{positions[0]}].keypoints", "keypoints are not numbers")
    return kps


def load_crowd_file(path: str | os.PathLike, *, need_sources: bool = True,
                    crops_dir: str | os.PathLike | None = None) -> CrowdFile:
    """Parse and check a COCO-crowd file. ``need_sources`` asks for the fields
    that locate source pixels (``crop_box``, ``source_file_name``);
    ``crops_dir`` overrides the crops folder the file names. A file without crops
    (``crowd_info.image_dir`` null, from ``cococrowd build --no-images``) always needs
    the source fields: its crops are cut from the source images."""
    ds = load_keypoint_file(path)
    check_whole_file(ds)   # segmentations and each crowd field by the one rule every reader uses
    source = ds.source
    info = read_crowd_info(ds.data, source, required=True)
    require_key(info, "image_dir", source)
    image_dir = info.image_dir
    no_crops = image_dir is None and crops_dir is None
    if need_sources or no_crops:
        require_key(info, "source_images", source)
    source_dir = info.source_images
    if no_crops and not source_dir:
        raise CocoFormatError(source, "crowd_info.image_dir",
                              "is null (no crops: built with --no-images) and crowd_info.source_images is null too, "
                              "so there are no pixels to read; rebuild with crops or give the crops folder (--images)")
    need_sources = need_sources or no_crops

    json_dir = Path(path).resolve().parent
    if crops_dir is not None:
        crops_dir = Path(crops_dir)
    elif image_dir is not None:
        crops_dir = json_dir / image_dir
    # the format writes an absolute folder; a relative one is read from the JSON's folder
    sources_dir = (json_dir / source_dir) if source_dir else None
    k = ds.schema.num_keypoints

    per_image: dict[int, list[tuple[int, dict]]] = {img["id"]: [] for img in ds.images}
    positions = {id(a): j for j, a in enumerate(ds.data["annotations"])}
    for a in ds.annotations:
        per_image[a["image_id"]].append((positions[id(a)], a))

    crowd = crowd_indices(ds.images, ds.annotations, k, source, json_paths=lambda: annotation_paths(ds.data, ds.annotations))
    images = []
    for i, img in enumerate(ds.images):
        members, member_regions, ignore_regions, member_pos = [], [], [], []
        for j, a in per_image[img["id"]]:
            _require(a, "ignore", f"annotations[{j}]", source)   # its value: check_whole_file
            if not is_member(a):
                ignore_regions.append(_region(a))
            else:
                members.append(a["keypoints"])
                member_regions.append(_region(a))
                member_pos.append(j)
        kps = _member_keypoints(members, member_pos, k, ds.data["annotations"], source)
        crop_box = src_name = None
        if need_sources:
            crop_box = _crop_box(img, i, source)
            src_name = _require(img, "source_file_name", f"images[{i}]", source)
            check_inside_path(src_name, source, f"images[{i}].source_file_name")
        images.append(CrowdImage(
            id=img["id"], position=i, crop_path=(crops_dir / img["file_name"]) if crops_dir is not None else None,
            source_path=(sources_dir / src_name) if (sources_dir is not None and src_name) else None,
            width=int(round(img["width"])), height=int(round(img["height"])), crop_box=crop_box,
            members=kps, member_regions=tuple(member_regions), ignore_regions=tuple(ignore_regions),
            crowd_index=published(crowd[i])))
    names = tuple(ds.schema.keypoints)
    return CrowdFile(source=source, keypoint_names=names, flip_permutation=flip_permutation(names),
                     images=tuple(images))
