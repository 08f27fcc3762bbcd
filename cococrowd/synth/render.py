"""Draw one image of the world: textured background, crowd regions, people.

Each image draws from its own random stream (seed, image index), so images
come out the same whichever worker renders them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.colors import hsv_to_rgb
from PIL import Image, ImageDraw

from .skeleton import BODY, LIMBS

NECK_BASE = (5, 6)  # the neck runs from the shoulders' midpoint to the head centre


@dataclass
class ImagePlan:
    """What one image shows, in pixels; people in drawing order."""

    index: int
    width: int
    height: int
    kp: np.ndarray
    r: np.ndarray
    head: np.ndarray
    axes: np.ndarray
    color: np.ndarray
    crowd_polygons: list


def image_plan(scenes, index: int) -> ImagePlan:
    """What image `index` of a Scenes shows, sliced out for a renderer."""
    lo, hi = np.searchsorted(scenes.image, [index, index + 1])
    crowd = np.flatnonzero(scenes.crowd_image == index)
    return ImagePlan(index=index, width=int(scenes.width[index]), height=int(scenes.height[index]),
                     kp=scenes.kp[lo:hi], r=scenes.r[lo:hi], head=scenes.head[lo:hi], axes=scenes.axes[lo:hi],
                     color=scenes.color[lo:hi], crowd_polygons=[scenes.crowd_polygon[i] for i in crowd])


def image_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, index)))


def _muted(rng: np.random.Generator, n: int) -> np.ndarray:
    hsv = np.stack([rng.random(n), rng.uniform(0.05, 0.35, n), rng.uniform(0.3, 0.85, n)], axis=1)
    return hsv_to_rgb(hsv) * 255


def background(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """Gradient + smooth colour noise + sometimes stripes + grain + a few
    muted shapes: texture that is not a person."""
    c = _muted(rng, 2)
    angle = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    t = x * np.cos(angle) + y * np.sin(angle)
    t = (t - t.min()) / max(float(np.ptp(t)), 1.0)
    img = c[0] + t[..., None] * (c[1] - c[0])
    # smooth noise, mostly in brightness so the background stays muted
    gh, gw = height // 48 + 2, width // 48 + 2
    cells = rng.normal(0, 18, (gh, gw, 1)) + rng.normal(0, 5, (gh, gw, 3))
    blobs = Image.fromarray(np.uint8(np.clip(cells + 128, 0, 255))).resize((width, height), Image.BICUBIC)
    img += np.asarray(blobs, np.float32) - 128
    if rng.random() < 0.4:
        beta, period = rng.uniform(0, np.pi), rng.uniform(8, 60)
        img += rng.uniform(6, 18) * np.sin(2 * np.pi * (x * np.cos(beta) + y * np.sin(beta)) / period)[..., None]
    img += rng.normal(0, 4, (height, width, 1))
    out = Image.fromarray(np.uint8(np.clip(img, 0, 255)))
    draw = ImageDraw.Draw(out)
    for color in _muted(rng, int(rng.integers(0, 6))):
        x0, x1 = np.sort(rng.uniform(0, width, 2))
        y0, y1 = np.sort(rng.uniform(0, height, 2))
        shape = draw.rectangle if rng.random() < 0.5 else draw.ellipse
        shape([x0, y0, x1, y1], fill=tuple(int(v) for v in color))
    return out


def draw_person(draw: ImageDraw.ImageDraw, kp: np.ndarray, r: float, head: np.ndarray,
                axes: np.ndarray, color: np.ndarray) -> None:
    fill = tuple(int(v) for v in color)
    width = int(round(2 * r))
    neck = 0.5 * (kp[NECK_BASE[0]] + kp[NECK_BASE[1]])
    for a, b in [*((kp[i], kp[j]) for i, j in LIMBS), (neck, head)]:
        draw.line([tuple(a), tuple(b)], fill=fill, width=width)
    for x, y in kp[BODY]:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)
    (cx, cy), (ha, hb) = head, axes
    edge = tuple(int(v * 0.6) for v in color) if ha >= 6 else fill
    draw.ellipse([cx - ha, cy - hb, cx + ha, cy + hb], fill=fill, outline=edge)


def draw_crowd(img: Image.Image, rng: np.random.Generator, polygon: np.ndarray) -> None:
    """A dense blob of tiny people, pasted through the region's mask."""
    x0, y0 = polygon.min(axis=0)
    x1, y1 = polygon.max(axis=0)
    layer = Image.new("RGB", img.size, tuple(int(v) for v in _muted(rng, 1)[0] * 0.6))
    draw = ImageDraw.Draw(layer)
    size = max(6.0, (y1 - y0) / rng.uniform(2.5, 5.0))
    rows = np.arange(y0 - size / 2, y1 + size / 2, size * 0.45)
    for y in rows:
        xs = np.arange(x0 - size / 2 + rng.uniform(0, size / 3), x1 + size / 2, size * 0.35)
        colors = np.rint(hsv_to_rgb(np.stack([rng.random(len(xs)), rng.uniform(0.4, 0.9, len(xs)),
                                               rng.uniform(0.4, 0.9, len(xs))], axis=1)) * 255).astype(int)
        for x, c in zip(xs + rng.normal(0, size * 0.05, len(xs)), colors):
            fill = tuple(c.tolist())
            draw.line([(x, y + 0.2 * size), (x, y + size)], fill=fill, width=max(1, int(size / 6)))
            draw.ellipse([x - 0.12 * size, y, x + 0.12 * size, y + 0.25 * size], fill=fill)
    mask = Image.new("L", img.size, 0)
    ImageDraw.Draw(mask).polygon([tuple(p) for p in polygon.tolist()], fill=255)
    img.paste(layer, mask=mask)


def render(plan: ImagePlan, seed: int) -> Image.Image:
    rng = image_rng(seed, plan.index)
    img = background(rng, plan.width, plan.height)
    for polygon in plan.crowd_polygons:
        draw_crowd(img, rng, polygon)
    draw = ImageDraw.Draw(img)
    for kp, r, head, axes, color in zip(plan.kp, plan.r, plan.head, plan.axes, plan.color):
        draw_person(draw, kp, float(r), head, axes, color)
    return img
