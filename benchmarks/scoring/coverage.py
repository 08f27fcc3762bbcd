"""Warnings for results scored against what looks like the wrong ground truth (issue 19): both
files are valid and every id is found, so scoring goes on, but the figures would mislead."""
from __future__ import annotations

import warnings

import numpy as np

MIN_SHARE = 2 / 3   # results of one half of a split scored against the whole file cover about 1/2


def coverage_warnings(gt, dt) -> list[str]:
    """One line per doubt: the results cover a small share of the ground truth's images that have
    people, or the ground truth is no COCO-crowd file while the results' image ids look like one's
    (1..N, where a source file's ids are sparse)."""
    out = []
    with_people = np.zeros(gt.num_images, dtype=bool)
    with_people[gt.ann_image[gt.countable]] = True
    covered = np.zeros(gt.num_images, dtype=bool)
    covered[dt.image] = True
    n_people, n_covered = int(with_people.sum()), int((covered & with_people).sum())
    if len(dt) and n_people and n_covered < MIN_SHARE * n_people:
        out.append(f"{dt.source}: detections on {n_covered:,} of the {n_people:,} images with people in "
                   f"{gt.source} ({100 * n_covered / n_people:.0f}%); the others count as missed people. "
                   "Were the results made on another file (one half of a split), or does the method "
                   "predict nobody on most images?")
    ids = np.unique(gt.image_ids[dt.image])
    if (gt.crowd_info is None and len(ids) >= 2 and ids[0] >= 1 and ids[-1] <= 3 * len(ids)
            and gt.image_ids[-1] > 3 * gt.num_images):
        out.append(f"{gt.source} is no COCO-crowd file (no crowd_info), but the image ids of {dt.source} "
                   f"({ids[0]}..{ids[-1]}) look like a COCO-crowd file's (1..N): were they made on one? "
                   "Score them against that file.")
    return out


def warn_coverage(gt, dt) -> None:
    for line in coverage_warnings(gt, dt):
        warnings.warn(line, stacklevel=3)
