"""CrowdPose's crowd index (Li et al., CVPR 2019), the one owner of its rule.

The paper defines an image's index as the mean over its people of N_b / N_a: N_a a person's
labelled joints, N_b the labelled joints of the *other* people inside that person's box.
CrowdPose never published its code; the rule below reproduces every published value of
``crowdpose_val.json`` (2,000 of 2,000 images equal once rounded to 2 decimals as numpy rounds),
where the paper's formula as written matches 76.6% within 0.01 (docs/crowd-index.md):

- **subjects** (the people averaged over): annotations with ``iscrowd`` 0 (and ``ignore`` 0 where
  the field exists) whose ``num_keypoints`` is at least 4 -- the file's own field (CrowdPose's
  counts its 12 body joints, not head and neck; COCO's counts every labelled joint); without the
  field, the labelled joints;
- N_a: the subject's labelled joints (v > 0), all K of them;
- N_b: the labelled joints (v > 0) of every *other* annotation of the image -- small people,
  ``iscrowd`` and ``ignore`` ones included -- inside the subject's annotated box, borders included;
- an image without subjects has index 0; files carry the value rounded to 2 decimals, as
  CrowdPose publishes it, so buckets fall where CrowdPose's do.

``rule="paper"`` is the formula as written: every person with a labelled joint is a subject.
`cococrowd build`, `cococrowd crowd-index` and the training dataset reader all call
:func:`crowd_indices`.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from .cocofile import keypoint_array
from .crowdinfo import is_member

RULES = ("crowdpose", "paper")
DEFAULT_RULE = "crowdpose"
MIN_NUM_KEYPOINTS = 4  # CrowdPose's subjects; found on crowdpose_val.json (3 or 5: 92.7% / 87.7%)
DECIMALS = 2           # CrowdPose publishes two decimals
# CrowdPose: easy < 0.2 <= medium < 0.8 <= hard; (label, low inclusive, high exclusive)
CROWD_INDEX_BUCKETS = (("easy", 0.0, 0.2), ("medium", 0.2, 0.8), ("hard", 0.8, math.inf))
AGREE_WITHIN = 0.01


def crowd_index(keypoints, boxes, *, num_keypoints=None, subjects=None, rule: str = DEFAULT_RULE) -> float:
    """The index of one image. ``keypoints`` (P, K, 3), ``boxes`` (P, 4) as x, y, w, h;
    ``num_keypoints`` (P,) the annotations' own field (default: labelled joints); ``subjects``
    (P,) bool, who may be averaged over (default: everyone; callers pass iscrowd/ignore as
    False). Everyone's labelled joints count as the others' N_b. 0.0 without subjects."""
    if rule not in RULES:
        raise ValueError(f"unknown crowd-index rule {rule!r}; expected one of {', '.join(RULES)}")
    if not len(keypoints):
        return 0.0
    kps = np.asarray(keypoints, dtype=np.float64).reshape(len(keypoints), -1, 3)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(len(kps), 4)
    labelled = kps[:, :, 2] > 0
    n_a = labelled.sum(axis=1)
    subj = n_a > 0
    if subjects is not None:
        subj &= np.asarray(subjects, dtype=bool)
    if rule == "crowdpose":
        nk = n_a if num_keypoints is None else np.asarray(num_keypoints)
        subj &= nk >= MIN_NUM_KEYPOINTS
    s = np.flatnonzero(subj)
    if not len(s):
        return 0.0
    x, y, w, h = (boxes[s, c][:, None, None] for c in range(4))
    px, py = kps[None, :, :, 0], kps[None, :, :, 1]
    inside = labelled[None] & (px >= x) & (px <= x + w) & (py >= y) & (py <= y + h)  # (S, P, K)
    inside[np.arange(len(s)), s] = False  # a person's own joints are never N_b
    return float(np.mean(inside.sum(axis=(1, 2)) / n_a[s]))


def published(value: float) -> float:
    """The value as files carry it: CrowdPose's two decimals, rounded as numpy rounds (x 100, half
    to even): Python's round() sends the ties 0.175 and 0.225 the other way and misses 7 of 2,000."""
    return float(np.round(value, DECIMALS))


def bucket(value: float) -> str:
    for label, lo, hi in CROWD_INDEX_BUCKETS:
        if lo <= value < hi:
            return label
    raise ValueError(f"crowd index {value!r} is in no bucket")


def crowd_indices(images: Sequence[dict], annotations: Sequence[dict], k: int, source: str, *,
                  rule: str = DEFAULT_RULE, json_paths: Callable[[], list[str]] | None = None) -> list[float]:
    """The exact index of every image (in order) from its person annotations (``image_id``,
    ``bbox``, ``keypoints``, optional ``num_keypoints`` / ``iscrowd`` / ``ignore``), their fields
    already checked (cocofile's loader, crowdinfo.check_crowd_fields). A bad keypoint is a
    :class:`CocoFormatError` naming ``source`` and, through ``json_paths()``, the annotation."""
    anns = list(annotations)
    if json_paths is None:
        json_paths = lambda: [f"annotations[{n}]" for n in range(len(anns))]  # noqa: E731
    kps = keypoint_array(anns, k, source, json_paths).astype(np.float64) if anns else np.zeros((0, k, 3))
    labelled = (kps[:, :, 2] > 0).sum(axis=1)
    nk = np.array([a.get("num_keypoints", n) for a, n in zip(anns, labelled.tolist())], dtype=np.int64)
    subj = np.array([is_member(a) for a in anns], dtype=bool)  # iscrowd / ignored: others only
    boxes = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(len(anns), 4)
    position = {im["id"]: n for n, im in enumerate(images)}
    img = np.fromiter((position[a["image_id"]] for a in anns), dtype=np.int64, count=len(anns))
    order = np.argsort(img, kind="stable")
    starts = np.searchsorted(img[order], np.arange(len(images) + 1))
    out = []
    for n in range(len(images)):
        p = order[starts[n]:starts[n + 1]]
        out.append(crowd_index(kps[p], boxes[p], num_keypoints=nk[p], subjects=subj[p], rule=rule))
    return out
