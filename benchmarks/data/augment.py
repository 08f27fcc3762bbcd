"""Augmentation geometry and the one affine warp per sample.

Coordinates are continuous pixel coordinates throughout (COCO's convention
for boxes and polygons, and PIL's for ``Image.transform``): pixel ``j``
covers ``[j, j + 1)`` and its centre is ``j + 0.5``. A keypoint at crop
``x`` mirrors to ``width - x``.

The augmentation is one 3x3 matrix from crop coordinates to network-input
coordinates: move the crop's centre to the origin, mirror (flip), zoom,
rotate, move to the input's centre. ``scale`` is the side of the visible
window relative to the crop's longer side, so ``scale > 1`` zooms out and,
when the pixels come from the source image, shows real background beyond
the crop box (paper, section 5.1). Evaluation is the same matrix with no
flip, no rotation and ``scale = 1``: a centred letterbox.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class AugParams:
    """One sample's augmentation. ``angle`` in degrees, positive turns the
    picture counter-clockwise as displayed; ``scale`` > 1 zooms out."""

    flip: bool = False
    angle: float = 0.0
    scale: float = 1.0


def draw_params(rng: np.random.Generator, *, rotate: float, scale: tuple[float, float], flip: bool) -> AugParams:
    """Uniform rotation in [-rotate, rotate], uniform scale in ``scale``,
    a fair coin for the flip. Always draws three numbers so that switching
    one augmentation off leaves the others' draws unchanged."""
    u_flip, u_angle, u_scale = rng.random(3)
    return AugParams(flip=bool(flip and u_flip < 0.5),
                     angle=float(rotate * (2.0 * u_angle - 1.0)),
                     scale=float(scale[0] + (scale[1] - scale[0]) * u_scale))


def crop_to_input(width: float, height: float, size: int, params: AugParams) -> np.ndarray:
    """3x3 matrix taking crop coordinates to ``size`` x ``size`` input coordinates."""
    zoom = size / (max(width, height) * params.scale)
    t = math.radians(params.angle)
    c, s = math.cos(t), math.sin(t)
    mirror = -1.0 if params.flip else 1.0
    # y points down, so [[c, s], [-s, c]] turns the picture counter-clockwise on screen
    linear = zoom * np.array([[c, s], [-s, c]]) @ np.diag([mirror, 1.0])
    m = np.eye(3)
    m[:2, :2] = linear
    m[:2, 2] = size / 2.0 - linear @ np.array([width / 2.0, height / 2.0])
    return m


def input_to_map(size: int, stride: int) -> np.ndarray:
    """3x3 matrix from continuous input coordinates to output-map pixel-index
    coordinates (map pixel ``u`` is centred on input ``stride * (u + 0.5)``),
    so an argmax index maps straight through the inverse."""
    return np.array([[1.0 / stride, 0.0, -0.5], [0.0, 1.0 / stride, -0.5], [0.0, 0.0, 1.0]])


def translation(dx: float, dy: float) -> np.ndarray:
    m = np.eye(3)
    m[:2, 2] = dx, dy
    return m


def warp_image(img: Image.Image, src_to_input: np.ndarray, size: int) -> Image.Image:
    """Resample ``img`` onto the ``size`` x ``size`` input through the affine
    ``src_to_input`` (bilinear, black outside the image). When the warp
    shrinks by 2x or more, a box-filter ``reduce`` first keeps it from aliasing."""
    if img.mode != "RGB":
        img = img.convert("RGB")
    inv = np.linalg.inv(src_to_input)
    zoom = math.sqrt(abs(np.linalg.det(src_to_input[:2, :2])))
    factor = int(1.0 / zoom) if zoom > 0 else 1
    if factor >= 2:
        img = img.reduce(factor)  # reduced pixel j covers source [f*j, f*(j+1)): coordinates divide by f
        inv = np.diag([1.0 / factor, 1.0 / factor, 1.0]) @ inv
    return img.transform((size, size), Image.Transform.AFFINE, tuple(inv[:2].ravel()),
                         resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0))


_MEAN = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(3, 1, 1)
_STD = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(3, 1, 1)


def to_normalised_tensor(img: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float32 (3, H, W), ImageNet-normalised."""
    arr = np.asarray(img, dtype=np.uint8)
    chw = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).to(torch.float32)
    return chw.div_(255.0).sub_(_MEAN).div_(_STD)
