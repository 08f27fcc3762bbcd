"""Training targets of Associative Embedding: detection heatmaps and the tag loss's joint list.

Input keypoints are map coordinates (stride-4 output pixels; pixel (row i, col j) sits at
(x, y) = (j, i)), shape (P, K, 3) with v > 0 for labelled joints.

Choices (pose-ae-train's ``GenerateHeatmap`` / ``KeypointsRef`` in data/coco_pose/dp.py):

* The Gaussian is centred on the *pixel* holding the keypoint, not its subpixel position, as
  theirs (they truncate with ``int()`` in a convention whose pixel j covers [j, j+1); in ours
  pixel j covers [j - 0.5, j + 0.5), so the same pixel is ``round(x)``). The joint index uses
  that same pixel, so the tag is read where the heatmap peaks. A keypoint whose pixel falls
  outside the map is treated as unlabelled.
* Like theirs, the Gaussian is cut to a square window of half-width ``3*sigma + 1`` pixels
  (values there are < 0.003 for any sigma) and people overlap by pixelwise max.
  Their sigma is output_res / 64, i.e. 2 for the 128 map of a 512 input: our default.
* ``joints[m, k] = (y*W + x, 1)`` for labelled joint k of person m, ``(0, 0)`` otherwise.
  Theirs packs labelled joints to the front and folds the joint into the index
  (``k*H*W + y*W + x``); we keep the joint axis instead (the loss reads tag channel k), which
  carries the same information in a fixed (M, K, 2) shape.
* At most ``max_people`` people (their 30) enter ``joints``; later ones are dropped from the
  tag loss only (theirs would fail on them); they still draw heatmap peaks.
"""
from __future__ import annotations

import numpy as np
import torch


def _pixels(keypoints: np.ndarray, map_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer pixel (x, y) of each keypoint and whether it is labelled and inside the map."""
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[2] != 3:
        raise ValueError(f"keypoints must be (P, K, 3), got {kp.shape}")
    finite = np.isfinite(kp[..., :2]).all(-1)
    xy = np.where(finite[..., None], np.floor(kp[..., :2] + 0.5), -1).astype(np.int64)
    x, y = xy[..., 0], xy[..., 1]
    ok = (kp[..., 2] > 0) & finite & (x >= 0) & (y >= 0) & (x < map_size) & (y < map_size)
    return x, y, ok


def encode(keypoints: np.ndarray, map_size: int, sigma: float = 2.0, max_people: int = 30) -> dict:
    """Heatmaps (K, H, W) float32 and joints (max_people, K, 2) int64 for one sample."""
    if map_size < 1 or sigma <= 0 or max_people < 0:
        raise ValueError("map_size >= 1, sigma > 0 and max_people >= 0 are required")
    x, y, ok = _pixels(keypoints, map_size)
    num_people, num_kp = ok.shape
    heatmaps = np.zeros((num_kp, map_size, map_size), np.float32)
    radius = int(3 * sigma + 1)
    offsets = np.arange(-radius, radius + 1)
    patch = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2.0 * sigma ** 2)).astype(np.float32)
    for p, k in zip(*np.nonzero(ok)):
        cx, cy = x[p, k], y[p, k]
        x0, x1 = max(cx - radius, 0), min(cx + radius + 1, map_size)
        y0, y1 = max(cy - radius, 0), min(cy + radius + 1, map_size)
        window = patch[y0 - cy + radius:y1 - cy + radius, x0 - cx + radius:x1 - cx + radius]
        np.maximum(heatmaps[k, y0:y1, x0:x1], window, out=heatmaps[k, y0:y1, x0:x1])
    joints = np.zeros((max_people, num_kp, 2), np.int64)
    kept = min(num_people, max_people)
    joints[:kept, :, 0] = np.where(ok[:kept], y[:kept] * map_size + x[:kept], 0)
    joints[:kept, :, 1] = ok[:kept]
    return {"heatmaps": heatmaps, "joints": joints}


def collate(samples: list[dict]) -> dict:
    """Stack per-sample targets into batch tensors: heatmaps (B, K, H, W), joints (B, M, K, 2)."""
    if not samples:
        raise ValueError("collate needs at least one sample")
    return {
        "heatmaps": torch.stack([torch.as_tensor(s["heatmaps"], dtype=torch.float32) for s in samples]),
        "joints": torch.stack([torch.as_tensor(s["joints"], dtype=torch.int64) for s in samples]),
    }
