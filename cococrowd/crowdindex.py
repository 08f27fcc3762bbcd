"""CrowdPose's crowd index of one image (Li et al., CVPR 2019): the mean over its people of
N_b / N_a, where N_a is a person's labelled joints and N_b the labelled joints of the *other*
people that lie inside that person's box. A COCO-crowd region recomputes it from its members."""
from __future__ import annotations

import numpy as np


def crowd_index(keypoints: np.ndarray, boxes: np.ndarray) -> float:
    """keypoints (P, K, 3), boxes (P, 4) as x, y, w, h; people without a labelled joint are
    left out of the mean; 0.0 when nobody is left."""
    kps = np.asarray(keypoints, dtype=np.float64)
    boxes = np.asarray(boxes, dtype=np.float64)
    labelled = kps[:, :, 2] > 0
    ratios = []
    for i in range(len(kps)):
        n_a = int(labelled[i].sum())
        if n_a == 0:
            continue
        x, y, w, h = boxes[i]
        others = np.arange(len(kps)) != i
        xy, lab = kps[others, :, :2], labelled[others]
        inside = lab & (xy[..., 0] >= x) & (xy[..., 0] <= x + w) & (xy[..., 1] >= y) & (xy[..., 1] <= y + h)
        ratios.append(inside.sum() / n_a)
    return float(np.mean(ratios)) if ratios else 0.0
