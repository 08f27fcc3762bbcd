"""Evaluation protocols: ``coco`` (pycocotools) and ``crowdpose`` (crowdposetools).

``crowdpose`` is CrowdPose's own evaluation (crowdposetools ``COCOeval(...,
'keypoints')``; xtcocotools ``iouType='keypoints_crowd', use_area=False``).
It matches exactly as pycocotools does; what differs:

- every ground truth's area, for the OKS scale and the area ranges, is
  0.53 x box w x h; a file's own ``area`` is not read;
- the official stats are AP, AP.5, AP.75, AR, AR.5, AR.75 and AP easy /
  medium / hard, the AP of the images with ``crowdIndex`` < 0.2, in
  [0.2, 0.8) and >= 0.8, each bucket re-evaluated on its own images;
- a bucket's AP is the plain mean of its whole precision array (-1 when it
  holds no scored person), rounded to 4 places with Python's ``round`` on a
  numpy float; n/a stats are -1; printed values have 3 decimals.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .accumulate import IOU_THRS, STAT_NAMES, MatchTable
from .groundtruth import GroundTruth

PROTOCOLS = ("coco", "crowdpose")
CROWDPOSE_AREA_FACTOR = 0.53
OFFICIAL_STATS = ("AP", "AP.5", "AP.75", "AR", "AR.5", "AR.75", "AP(easy)", "AP(medium)", "AP(hard)")
BUCKET_LABELS = ("easy", "medium", "hard")


def check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise ValueError(f"--protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}")
    return protocol


def area_rule(protocol: str) -> str:
    return ("0.53 x ground-truth box w x h (crowdposetools)" if protocol == "crowdpose"
            else "the annotation's area, else box w x h (pycocotools)")


def for_protocol(gt: GroundTruth, protocol: str) -> GroundTruth:
    """The ground truth as ``protocol`` evaluates it (only ``area`` changes)."""
    if check_protocol(protocol) == "coco":
        return gt
    # crowdposetools: gt['bbox'][2] * gt['bbox'][3] * 0.53 (w*h first, then the factor)
    area = gt.bbox[:, 2] * gt.bbox[:, 3] * CROWDPOSE_AREA_FACTOR
    return dataclasses.replace(gt, area=area)


def _bucket_ap(table: MatchTable, images: np.ndarray) -> float:
    """crowdposetools' get_type_result for one bucket: round(np.mean(precision[:, :, :, 0, :]), 4)."""
    if len(images) == 0:
        return -1.0                    # nothing evaluated: precision stays all -1
    precision, _ = table.subset(images).accumulate(areas=(0,))
    # the (T, R, K=1, A, M=1) layout of crowdposetools, so np.mean sums in its order
    full = -np.ones((precision.shape[1], precision.shape[2], 1, table.num_areas, 1))
    full[:, :, 0, 0, 0] = precision[0]
    return float(round(np.mean(full[:, :, :, 0, :]), 4))


def official_stats(table: MatchTable, buckets: list[tuple[str, np.ndarray]] | None) -> dict:
    """crowdposetools' stats (n/a = -1, as it reports them); buckets None: no crowdIndex."""
    s = dict(zip(STAT_NAMES, table.stats()))
    out = {k: -1.0 if s[k] is None else s[k] for k in ("AP", "AP.5", "AP.75", "AR", "AR.5", "AR.75")}
    for label in BUCKET_LABELS:
        out[f"AP({label})"] = None
    if buckets is not None:
        for label, images in buckets:
            out[f"AP({label})"] = _bucket_ap(table, images)
    return out


def summary_lines(stats: dict, max_dets: int) -> list[str]:
    """The lines crowdposetools' summarize() prints (its easy/medium/hard lines say
    "Average Recall (AR)" although they hold AP; kept as printed)."""
    iou_all = f"{IOU_THRS[0]:0.2f}:{IOU_THRS[-1]:0.2f}"
    main = " {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}"
    typed = " {:<18} {} @[ IoU={:<9} | type={:>6s} | maxDets={:>3d} ] = {:0.3f}"
    rows = [("Average Precision", "(AP)", iou_all, "AP"), ("Average Precision", "(AP)", "0.50", "AP.5"),
            ("Average Precision", "(AP)", "0.75", "AP.75"), ("Average Recall", "(AR)", iou_all, "AR"),
            ("Average Recall", "(AR)", "0.50", "AR.5"), ("Average Recall", "(AR)", "0.75", "AR.75")]
    lines = [main.format(title, kind, iou, "all", max_dets, stats[key]) for title, kind, iou, key in rows]
    for label in BUCKET_LABELS:
        v = stats[f"AP({label})"]
        if v is not None:
            lines.append(typed.format("Average Recall", "(AR)", iou_all, label, max_dets, v))
    return lines


def printed(stats: dict) -> dict:
    """Each official stat as crowdposetools prints it (3 decimals); None = not computed."""
    return {k: None if v is None else f"{v:0.3f}" for k, v in stats.items()}
