"""Heatmap targets (disks of radius R, Eq. 1 and 2) and the loss mask.

Map coordinates are pixel indices of the output map: pixel ``(row i, col j)``
sits at ``(x, y) = (j, i)``. A target pixel is 1 when its distance to a
keypoint is at most R (the paper's disks, not Gaussians).
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from .crowdfile import Region


def transform_points(matrix: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Apply a 3x3 affine to (..., 2) points."""
    return xy @ matrix[:2, :2].T + matrix[:2, 2]


def keypoints_to_map(members: np.ndarray, crop_to_map: np.ndarray, perm: np.ndarray | None,
                     map_size: int) -> np.ndarray:
    """Members' (P, K, 3) crop keypoints -> (P, K, 3) map keypoints.

    ``perm`` (after a mirror) reorders channels so that the keypoint now on
    the left is labelled left. A keypoint keeps its flag ``v`` only when it
    was labelled and its nearest map pixel lies inside the map; otherwise it
    becomes (0, 0, 0)."""
    out = np.zeros_like(members, dtype=np.float64)
    if members.size == 0:
        return out
    out[..., :2] = transform_points(crop_to_map, members[..., :2])
    out[..., 2] = members[..., 2]
    if perm is not None:
        out = out[:, perm]
    x, y = out[..., 0], out[..., 1]
    inside = (out[..., 2] > 0) & (x >= -0.5) & (x < map_size - 0.5) & (y >= -0.5) & (y < map_size - 0.5)
    out[~inside] = 0.0
    return out


def disk_pixels(points: np.ndarray, radius: float, map_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels within ``radius`` of each point: returns (point index, row, col)
    arrays. Vectorised over all points with one small window per point."""
    n = int(math.floor(2 * radius)) + 1          # integers in [c - R, c + R] number at most floor(2R) + 1
    offs = np.arange(n)
    x0 = np.ceil(points[:, 0] - radius)[:, None]
    y0 = np.ceil(points[:, 1] - radius)[:, None]
    cols = (x0 + offs)[:, None, :]               # (N, 1, n)
    rows = (y0 + offs)[:, :, None]               # (N, n, 1)
    d2 = (cols - points[:, 0, None, None]) ** 2 + (rows - points[:, 1, None, None]) ** 2
    keep = (d2 <= radius * radius) & (cols >= 0) & (cols < map_size) & (rows >= 0) & (rows < map_size)
    idx, r, c = np.nonzero(keep)
    return idx, (y0[idx, 0] + r).astype(np.intp), (x0[idx, 0] + c).astype(np.intp)


def draw_targets(keypoints: np.ndarray, radius: float, map_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Part maps (K, H, W) over all people (Eq. 1) and person maps
    (P, K, H, W) (Eq. 2) from map keypoints (P, K, 3); ``v == 0`` draws nothing."""
    p, k = keypoints.shape[:2]
    people = np.zeros((p, k, map_size, map_size), dtype=np.float32)
    parts = np.zeros((k, map_size, map_size), dtype=np.float32)
    pi, ki = np.nonzero(keypoints[..., 2] > 0)
    if len(pi):
        idx, rows, cols = disk_pixels(keypoints[pi, ki, :2], radius, map_size)
        people[pi[idx], ki[idx], rows, cols] = 1.0
        parts[ki[idx], rows, cols] = 1.0
    return parts, people


class DiskTargets:
    """The data pipeline's default encoder (the sequential model's targets): ``parts``
    (K, H, W) from every labelled member, ``people`` (P, K, H, W) for the sample's people."""

    def __init__(self, radius: float, map_size: int):
        self.radius, self.map_size = float(radius), int(map_size)

    def __call__(self, sample: dict) -> dict:
        import torch
        parts, people = draw_targets(sample["keypoints_all"], self.radius, self.map_size)
        sample["parts"] = torch.from_numpy(parts)
        sample["people"] = torch.from_numpy(np.ascontiguousarray(people[sample["chosen"]]))
        return sample


def _polygons_to_map(polys: list, crop_to_map: np.ndarray) -> list[list[float]]:
    """Polygons in crop coordinates -> continuous map coordinates (what
    pycocotools rasterises: pixel ``j`` covers ``[j, j + 1)``)."""
    out = []
    for poly in polys:
        pts = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
        if len(pts) >= 3:
            out.append((transform_points(crop_to_map, pts) + 0.5).ravel().tolist())
    return out


def _box_polygon(bbox: tuple[float, float, float, float]) -> list[float]:
    x, y, w, h = bbox
    return [x, y, x + w, y, x + w, y + h, x, y + h]


def _rle_to_map(segm: dict, crop_to_map: np.ndarray, map_size: int) -> np.ndarray:
    """Warp an RLE mask (crop frame) onto the map grid (bilinear, half-cover threshold)."""
    h, w = segm["size"]
    rle = mask_utils.frPyObjects(segm, h, w) if isinstance(segm["counts"], list) else segm
    full = Image.fromarray(mask_utils.decode(rle) * np.uint8(255))
    to_cont = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]]) @ crop_to_map
    inv = np.linalg.inv(to_cont)
    warped = full.transform((map_size, map_size), Image.Transform.AFFINE, tuple(inv[:2].ravel()),
                            resample=Image.Resampling.BILINEAR, fillcolor=0)
    return np.asarray(warped) >= 128


def region_mask(regions: Iterable[Region], crop_to_map: np.ndarray, map_size: int) -> np.ndarray:
    """Boolean (H, W) union of ``regions`` on the map; a region with no
    segmentation uses its box (rotated with the picture)."""
    polys: list[list[float]] = []
    out = np.zeros((map_size, map_size), dtype=bool)
    for region in regions:
        segm = region.segmentation
        if isinstance(segm, dict) and "counts" in segm and "size" in segm:
            out |= _rle_to_map(segm, crop_to_map, map_size)
            continue
        mapped = _polygons_to_map(segm, crop_to_map) if isinstance(segm, list) else []
        polys.extend(mapped or _polygons_to_map([_box_polygon(region.bbox)], crop_to_map))
    if polys:
        rles = mask_utils.frPyObjects(polys, map_size, map_size)
        out |= mask_utils.decode(mask_utils.merge(rles)).astype(bool)
    return out


def window_mask(width: float, height: float, crop_to_map: np.ndarray, map_size: int) -> np.ndarray:
    """Boolean (H, W): map pixels whose centre falls inside the crop box."""
    inv = np.linalg.inv(crop_to_map)
    grid = np.arange(map_size, dtype=np.float64)
    xy = np.stack(np.meshgrid(grid, grid, indexing="xy"), axis=-1)
    crop = transform_points(inv, xy)
    return (crop[..., 0] >= 0) & (crop[..., 0] <= width) & (crop[..., 1] >= 0) & (crop[..., 1] <= height)
