"""Image subsets for per-bucket AP: people per image (Table 2), CrowdPose crowd index.

A bucket is a list of image positions; its AP is pycocotools' AP with
``params.imgIds`` restricted to those images. An empty bucket has no AP (n/a);
it is never averaged in as -1.
"""
from __future__ import annotations

import math

import numpy as np

from cococrowd.cocofile import CocoFormatError
from cococrowd.crowdindex import CROWD_INDEX_BUCKETS  # CrowdPose's limits have one owner

from .groundtruth import GroundTruth

# (label, lowest, highest) people in the image, inclusive
PEOPLE_BUCKETS = (("2", 2, 2), ("3", 3, 3), ("4", 4, 4), ("5", 5, 5), (">=6", 6, math.inf))


def people_per_image(gt: GroundTruth) -> tuple[np.ndarray, str]:
    """People per image: the COCO-crowd ``num_people`` field when every image has
    it, else the count of annotations that are not ignore/iscrowd regions."""
    values = gt.image_field("num_people")
    present = [v is not None for v in values]
    if all(present) and values:
        for pos, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise CocoFormatError(gt.source, gt.image_path(pos, "num_people"),
                                      f"must be an integer >= 0, got {v!r}")
        return np.asarray(values, dtype=np.int64), "num_people"
    if any(present):
        pos = present.index(False)
        raise CocoFormatError(gt.source, gt.image_path(pos, "num_people"),
                              "missing, while other images have it")
    return np.bincount(gt.ann_image[gt.people], minlength=gt.num_images), "annotations"


def people_buckets(gt: GroundTruth) -> tuple[list[tuple[str, np.ndarray]], str, int]:
    """[(label, image positions)], where the counts came from, images in no bucket."""
    counts, source = people_per_image(gt)
    out = [(label, np.flatnonzero((counts >= lo) & (counts <= hi))) for label, lo, hi in PEOPLE_BUCKETS]
    outside = gt.num_images - sum(len(p) for _, p in out)
    return out, source, outside


def crowd_index_buckets(gt: GroundTruth) -> list[tuple[str, np.ndarray]] | None:
    """CrowdPose crowd-index buckets, or None when no image has ``crowdIndex``."""
    values = gt.image_field("crowdIndex")
    present = [v is not None for v in values]
    if not any(present):
        return None
    for pos, v in enumerate(values):
        where = gt.image_path(pos, "crowdIndex")
        if v is None:
            raise CocoFormatError(gt.source, where, "missing, while other images have it")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise CocoFormatError(gt.source, where, f"must be a finite number >= 0, got {v!r}")
    ci = np.asarray(values, dtype=np.float64)
    return [(label, np.flatnonzero((ci >= lo) & (ci < hi))) for label, lo, hi in CROWD_INDEX_BUCKETS]
