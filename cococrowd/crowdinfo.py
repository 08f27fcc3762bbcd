"""``crowd_info``: the file-level block of a COCO-crowd file, read and checked in one place.

Every reader (split, jitter, stats, show, the training dataset, scoring) takes these fields
through :func:`read_crowd_info`, so each is checked by the same rule with the same message:
``image_dir`` (crops folder relative to the JSON, or null: no crops), ``source_images`` (the
source image folder, or null), ``split``, ``source_split``, ``iou``, ``jitter_px`` (0 or absent on a base file),
``jitter_seed`` and ``synthetic``. Other keys are kept as they are (``raw``).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from .cocofile import CocoFormatError


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
