"""iscrowd regions: blobs of many small people, labelled as one RLE mask."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import shapely
from pycocotools import mask as mask_utils

N_VERTICES = 24
MIN_AREA = 16  # px: smaller leftovers at the image border are dropped


@dataclass
class CrowdShapes:
    """Crowd-region outlines in their own unit frame: polygons (n, V, 2) and
    boxes (n, 4); `place` sets where they land in pixels."""

    polygon: np.ndarray
    box: np.ndarray
    image: np.ndarray | None = None
    pixels: np.ndarray | None = None

    def place(self, scale: np.ndarray, origin: np.ndarray, image: np.ndarray) -> None:
        self.image = image
        self.pixels = origin[:, None] + scale[:, None, None] * self.polygon

    def to_pixels(self, widths: np.ndarray, heights: np.ndarray) -> dict:
        """Clip the placed regions to their images and encode their masks."""
        out = {"crowd_image": [], "crowd_polygon": [], "crowd_bbox": [], "crowd_area": [], "crowd_rle": []}
        for img, p in zip(self.image.tolist(), self.pixels):
            w, h = int(widths[img]), int(heights[img])
            clipped = shapely.intersection(shapely.Polygon(p), shapely.box(0, 0, w, h))
            if clipped.is_empty or clipped.geom_type != "Polygon":
                continue
            ring = np.asarray(clipped.exterior.coords)[:-1]
            rle = mask_utils.merge(mask_utils.frPyObjects([ring.ravel().tolist()], h, w))
            area = int(mask_utils.area(rle))
            if area < MIN_AREA:
                continue
            out["crowd_image"].append(img)
            out["crowd_polygon"].append(ring)
            out["crowd_bbox"].append(mask_utils.toBbox(rle).tolist())
            out["crowd_area"].append(area)
            out["crowd_rle"].append(uncompressed_rle(_decode(rle)))
        return {"crowd_image": np.array(out["crowd_image"], dtype=int),
                "crowd_polygon": out["crowd_polygon"],
                "crowd_bbox": np.array(out["crowd_bbox"], dtype=float).reshape(-1, 4),
                "crowd_area": np.array(out["crowd_area"], dtype=np.int64),
                "crowd_rle": out["crowd_rle"]}


def crowd_regions(rng: np.random.Generator, n: int) -> CrowdShapes:
    """Wide ragged ellipses, 1.5 to 3 times wider than tall."""
    ang = 2 * np.pi * np.arange(N_VERTICES) / N_VERTICES
    half = np.stack([rng.uniform(0.75, 1.5, n), rng.uniform(0.2, 0.4, n)], axis=1)
    radius = rng.uniform(0.8, 1.0, (n, N_VERTICES))
    poly = radius[..., None] * half[:, None, :] * np.stack([np.cos(ang), np.sin(ang)], axis=-1)
    box = np.concatenate([poly.min(axis=1), poly.max(axis=1)], axis=1)
    return CrowdShapes(polygon=poly, box=box)


def _decode(rle: dict) -> np.ndarray:
    with warnings.catch_warnings():  # pycocotools' decode trips a numpy 2 deprecation warning
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode(rle)


def uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE of a binary mask: run lengths in column-major
    order, starting with a (possibly empty) run of zeros."""
    flat = mask.ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.r_[0, change, flat.size])
    if flat[0]:
        counts = np.r_[0, counts]
    return {"counts": counts.tolist(), "size": [int(mask.shape[0]), int(mask.shape[1])]}
