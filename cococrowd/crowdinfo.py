"""``crowd_info``: the file-level block of a COCO-crowd file, read and checked in one place.

Every reader (split, jitter, stats, show, the training dataset, scoring) takes these fields
through :func:`read_crowd_info`, so each is checked by the same rule with the same message:
``image_dir`` (crops folder relative to the JSON, or null: no crops), ``source_images`` (the
source image folder, or null), ``split``, ``source_split``, ``iou``, ``jitter_px`` (0 or absent on a base file),
``jitter_seed`` and ``synthetic``. Other keys are kept as they are (``raw``).

The per-record COCO-crowd fields have their one rule here too (:func:`check_crowd_fields`, called
by every reader: build, split, jitter, stats, show, scoring, analysis, the training dataset), and
their one meaning: an annotation is a group member when ``ignore`` and ``iscrowd`` are both 0
(:func:`is_member`); every other annotation is ignored. docs/coco-crowd-format.md says each rule.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from .cocofile import CocoFormatError, check_segmentations, image_size_of, annotation_paths


@dataclass(frozen=True)
class CrowdInfo:
    image_dir: str | None = None
    source_images: str | None = None
    split: str | None = None
    source_split: str | None = None
    iou: float | None = None
    jitter_px: float | None = None
    synthetic: bool = False
    raw: dict = field(default_factory=dict)

    def has(self, key: str) -> bool:
        return key in self.raw

    @property
    def jittered(self) -> bool:
        return bool(self.jitter_px)


def _folder(value, source, key: str, what: str):
    if value is not None and (not isinstance(value, str) or not value):
        raise CocoFormatError(source, f"crowd_info.{key}", f"must name {what} or be null, got {value!r}")
    return value


def _number(value, source, key: str, low: float, high: float | None = None, low_open: bool = False):
    if value is None:
        return None
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and (high is None or value <= high)
    if not ok:
        span = f"{'>' if low_open else '>='} {low:g}" + (f" and <= {high:g}" if high is not None else "")
        raise CocoFormatError(source, f"crowd_info.{key}", f"must be a number {span}, got {value!r}")
    return float(value)


def read_crowd_info(data: dict, source, *, required: bool = False) -> CrowdInfo:
    """The checked ``crowd_info`` of ``data``; ``required``: a file without it is refused (the
    training dataset needs its folders), else it reads as empty (a plain COCO file)."""
    info = data.get("crowd_info")
    if info is None:
        if required:
            raise CocoFormatError(source, "crowd_info", "missing key: not a COCO-crowd file "
                                                        "(make one with `cococrowd build`)")
        return CrowdInfo()
    if not isinstance(info, dict):
        raise CocoFormatError(source, "crowd_info", f"must be an object, got {type(info).__name__}")
    for key in ("split", "source_split"):
        if info.get(key) is not None and not isinstance(info[key], str):
            raise CocoFormatError(source, f"crowd_info.{key}", f"must be a string or null, got {info[key]!r}")
    synthetic = info.get("synthetic", False)
    if not isinstance(synthetic, bool):
        raise CocoFormatError(source, "crowd_info.synthetic", f"must be true or false, got {synthetic!r}")
    return CrowdInfo(
        image_dir=_folder(info.get("image_dir"), source, "image_dir",
                          "the crops folder (relative to the JSON's folder)"),
        source_images=_folder(info.get("source_images"), source, "source_images", "the source image folder"),
        split=info.get("split"),
        source_split=info.get("source_split"),
        iou=_number(info.get("iou"), source, "iou", 0, 1, low_open=True),
        jitter_px=_number(info.get("jitter_px"), source, "jitter_px", 0),
        synthetic=synthetic,
        raw=dict(info))


def require_key(info: CrowdInfo, key: str, source) -> None:
    """A key a reader needs present (even when null), named as the rest of the format's errors."""
    if not info.has(key):
        raise CocoFormatError(source, f"crowd_info.{key}", "missing key")


def rebased_image_dir(info: CrowdInfo, from_dir: Path, to_dir: Path) -> str | None:
    """``image_dir`` as seen from ``to_dir`` for a file moving there from ``from_dir``; None
    when it needs no change (same folder, or no crops)."""
    if not info.image_dir or Path(to_dir).resolve() == Path(from_dir).resolve():
        return None
    return os.path.relpath(Path(from_dir).resolve() / info.image_dir, Path(to_dir).resolve())


# ---------------------------------------------------------------- per-record crowd fields

def is_member(ann: dict) -> bool:
    """The one meaning of ``ignore`` / ``iscrowd``: a group member has both 0 (or absent);
    ``ignore: 0, iscrowd: 1`` is an iscrowd region, ignored like ``ignore: 1``."""
    return not ann.get("ignore", 0) and not ann.get("iscrowd", 0)


def _int(v) -> bool:
    return type(v) is int


def _finite_number(v) -> bool:
    return type(v) in (int, float) and math.isfinite(v)


def _box_problem(box) -> str | None:
    if (type(box) is not list or len(box) != 4 or not all(_int(v) for v in box)
            or box[0] < 0 or box[1] < 0 or box[2] <= 0 or box[3] <= 0):
        return f"must be 4 integers [x, y, w, h] in source pixels with x, y >= 0 and w, h > 0, got {box!r}"
    return None


def _is_crowd_file(data: dict) -> bool:
    return "crowd_info" in data or any(type(im) is dict and "crop_box" in im for im in data["images"])


def check_crowd_fields(ds) -> None:
    """Each COCO-crowd field of a validated dataset (:class:`~.cocofile.ValidatedDataset`) by its
    one rule; a field may be absent (a plain COCO file), but where present:

    - annotations: ``ignore`` 0 or 1; ``num_keypoints`` an integer in 0..K;
    - images: ``crowdIndex`` a finite number >= 0, on every image or none; ``source_width`` and
      ``source_height`` positive integers; ``crop_box`` (and ``base_crop_box``)
      4 integers [x, y, w, h], x, y >= 0, w, h > 0, inside the source image when both its sizes are
      given, and ``crop_box``'s w, h the image's ``width``, ``height``; ``num_people`` an integer
      equal to the image's members (:func:`is_member`);
    - in a COCO-crowd file (``crowd_info`` or ``crop_box`` present), ``file_name``s are unique
      (each names one crop).
    """
    source, data, k = ds.source, ds.data, ds.schema.num_keypoints
    anns, images = data["annotations"], ds.images
    members = [0] * len(images)
    for i, a in enumerate(anns):
        if type(a) is not dict:
            continue
        if "ignore" in a and (not _int(a["ignore"]) or a["ignore"] not in (0, 1)):
            raise CocoFormatError(source, f"annotations[{i}].ignore", f"must be 0 or 1, got {a['ignore']!r}")
        if "num_keypoints" in a and (not _int(a["num_keypoints"]) or not 0 <= a["num_keypoints"] <= k):
            raise CocoFormatError(source, f"annotations[{i}].num_keypoints",
                                  f"must be an integer in 0..{k} (labelled keypoints), got {a['num_keypoints']!r}")
    for a in ds.annotations:   # people only: another category's annotation is no member
        if is_member(a):
            members[ds.image_index[a["image_id"]]] += 1
    with_index = sum("crowdIndex" in im for im in images)
    for n, im in enumerate(images):
        where = f"images[{n}]"
        if "crowdIndex" in im:
            v = im["crowdIndex"]
            if not _finite_number(v) or v < 0:
                raise CocoFormatError(source, f"{where}.crowdIndex", f"must be a finite number >= 0, got {v!r}")
        elif with_index:
            raise CocoFormatError(source, f"{where}.crowdIndex", "missing, while other images have it")
        has_w, has_h = "source_width" in im, "source_height" in im
        for key in ("source_width", "source_height"):
            if key in im and (not _int(im[key]) or im[key] <= 0):
                raise CocoFormatError(source, f"{where}.{key}", f"must be a positive integer, got {im[key]!r}")
        for key in ("crop_box", "base_crop_box"):
            if key not in im:
                continue
            problem = _box_problem(im[key])
            if problem is None and has_w and has_h:
                x, y, w, h = im[key]
                if x + w > im["source_width"] or y + h > im["source_height"]:
                    problem = (f"{im[key]} reaches outside its {im['source_width']}x{im['source_height']} "
                               "source image (source_width x source_height)")
            if problem is None and key == "crop_box" and (im[key][2] != im["width"] or im[key][3] != im["height"]):
                problem = (f"{im[key]} is {im[key][2]}x{im[key][3]}, but the image record says "
                           f"{im['width']!r}x{im['height']!r} (width x height): a crop is its crop box")
            if problem is not None:
                raise CocoFormatError(source, f"{where}.{key}", problem)
        if "num_people" in im:
            v = im["num_people"]
            if not _int(v) or v < 0:
                raise CocoFormatError(source, f"{where}.num_people", f"must be an integer >= 0, got {v!r}")
            if v != members[n]:
                raise CocoFormatError(source, f"{where}.num_people",
                                      f"is {v}, but the image has {members[n]} member annotations "
                                      "(ignore 0, iscrowd 0)")
    if _is_crowd_file(data):
        seen: dict = {}
        for n, im in enumerate(images):
            if im["file_name"] in seen:
                raise CocoFormatError(source, f"images[{n}].file_name",
                                      f"duplicate file name {im['file_name']!r} (also at "
                                      f"images[{seen[im['file_name']]}].file_name): each names one crop")
            seen[im["file_name"]] = n


def check_whole_file(ds) -> None:
    """What a reader of every annotation checks beyond the COCO structure: each segmentation by
    build's rule, ``crowd_info`` and the crowd fields (scoring, analysis, the training dataset)."""
    check_segmentations(ds.annotations, image_size_of(ds, ds.annotations), ds.source,
                        lambda: annotation_paths(ds.data, ds.annotations))
    read_crowd_info(ds.data, ds.source)
    check_crowd_fields(ds)
