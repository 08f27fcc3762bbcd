"""The synthetic world as arrays: people and crowd regions in images.

Worlds are generated in fixed blocks of BLOCK images, each from its own seed
stream (seed, block): vectorised, and the first n images of a bigger world
are the same as a world of n images."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from matplotlib.colors import hsv_to_rgb

from ..overlap import box_iou, same_image_pairs
from . import geometry, layout, pose
from .regions import crowd_regions

BLOCK = 256
SMALL_PX = 50  # people shorter than this usually carry no keypoint labels, as in COCO
UNLABELLED_P = (0.8, 0.04)  # no keypoints at all: small people, others
PARTIAL_P, PARTIAL_DROP = 0.08, 0.5  # some people with only a few labelled keypoints
OCCLUSION_MARGIN = 1.0  # px: a joint this close to a later-drawn person counts as hidden
MIN_SIDE, MIN_AREA = 2.0, 4.0  # drop people (nearly) out of frame
PAIR_IOU = 0.1  # `cococrowd build`'s default: a bystander must stay below it with everyone


@dataclass
class Scenes:
    """Images (width, height), people in drawing order and iscrowd regions.

    Person arrays: image index, keypoints kp (P, 17, 2) in pixels, visibility
    vis (P, 17) in {0, 1, 2}, stroke radius r, head centre and semi-axes,
    colour (P, 3) uint8, bbox [x, y, w, h], area, segmentation (flat
    polygon lists) and bystander (an isolated person placed beside a group so
    that its box reaches into the group's union box). Crowd arrays: image index, polygon (pixels), bbox, area,
    uncompressed RLE."""

    width: np.ndarray
    height: np.ndarray
    image: np.ndarray
    kp: np.ndarray
    vis: np.ndarray
    r: np.ndarray
    head: np.ndarray
    axes: np.ndarray
    color: np.ndarray
    bbox: np.ndarray
    area: np.ndarray
    segmentation: list
    bystander: np.ndarray
    crowd_image: np.ndarray
    crowd_polygon: list
    crowd_bbox: np.ndarray
    crowd_area: np.ndarray
    crowd_rle: list = field(default_factory=list)

    @property
    def n_images(self) -> int:
        return len(self.width)


def generate_scenes(n_images: int, seed: int) -> Scenes:
    """The first n_images images of the world of this seed."""
    if n_images < 1:
        raise ValueError(f"n_images must be >= 1, got {n_images}")
    blocks = []
    for b in range((n_images + BLOCK - 1) // BLOCK):
        blocks.append(_truncate(_block(seed, b), min(BLOCK, n_images - b * BLOCK), b * BLOCK))
    return _concat(blocks)


def person_colors(rng: np.random.Generator, n: int) -> np.ndarray:
    """Saturated, bright colours that stand out from the muted backgrounds."""
    hsv = np.stack([rng.random(n), rng.uniform(0.65, 1.0, n), rng.uniform(0.7, 1.0, n)], axis=1)
    return np.rint(hsv_to_rgb(hsv) * 255).astype(np.uint8)


def _block(seed: int, block: int) -> Scenes:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, block)))
    units = layout.sample_units(rng, BLOCK)
    people, regions = _place(rng, units)
    W, H = units.width[people["image"]], units.height[people["image"]]
    bbox, area, seg, keep = _outlines(people["kp"], people["r"], people["head"], people["axes"], W, H)
    keep &= ~_pairing_bystanders(people["bystander"], people["image"], bbox, keep)

    n = len(keep)
    colors = person_colors(rng, n)
    labelled = _labelled(rng, n, people["px_scale"]) & ~people["hidden"]
    sel = np.flatnonzero(keep)
    p = {k: v[sel] for k, v in people.items()}
    vis = _visibility(p["kp"], labelled[sel], p["r"], p["head"], p["axes"], p["unit"], W[sel], H[sel])
    crowd = regions.to_pixels(units.width, units.height)
    return Scenes(width=units.width.astype(int), height=units.height.astype(int), image=p["image"],
                  kp=p["kp"], vis=vis, r=p["r"], head=p["head"], axes=p["axes"], color=colors[sel],
                  bbox=bbox[sel], area=np.round(area[sel], 2), segmentation=[seg[i] for i in sel.tolist()],
                  bystander=p["bystander"], **crowd)


def _place(rng: np.random.Generator, units: layout.Units):
    """Pose everyone, build groups, lay the units out; people in pixels, in
    drawing order (by image, unit, then far to near), and the crowd regions."""
    person_unit = np.repeat(np.arange(len(units.size)), units.size)
    starts = np.cumsum(units.size) - units.size
    member = np.arange(len(person_unit)) - starts[person_unit]
    n = len(person_unit)

    bystander = units.bystander[person_unit] & (member == units.size[person_unit] - 1)

    poses = pose.sample_poses(rng, n)
    grouped = units.size[person_unit] > 1
    depth = np.where(grouped, rng.uniform(-0.08, 0.08, n), 0.0)
    # nearer people (feet lower) look larger
    height = np.where(grouped, 1.0 + 1.5 * depth + rng.normal(0, 0.03, n), 1.0)
    unit_r = np.full(n, pose.STROKE_R)
    natural = geometry.extent(geometry.shape_points(poses.kp, unit_r, poses.head, poses.head_axes), unit_r)
    natural *= height[:, None]
    off = layout.place_members(rng, natural, member, depth, bystander)

    # unit boxes: union of their people; crowd regions have their own shape
    ubox = np.zeros((len(units.size), 4))
    has_people = units.size > 0
    placed = natural + np.tile(off, 2)
    ubox[has_people] = layout.segment_bounds(placed, starts[has_people])
    regions = crowd_regions(rng, int(units.is_crowd.sum()))
    ubox[units.is_crowd] = regions.box
    scale, corner = layout.place_units(rng, units, ubox)
    # some crowd regions reach into a group's box (its members', without the bystander)
    core = ubox.copy()
    n_core = units.size - units.bystander
    core[has_people] = layout.segment_bounds(placed[~bystander], (np.cumsum(n_core) - n_core)[has_people])
    core_px = np.tile(corner, 2) + scale[:, None] * (core - np.tile(ubox[:, :2], 2))
    corner = corner + layout.crowds_beside_groups(rng, units, core_px)
    regions.place(scale[units.is_crowd], corner[units.is_crowd] - scale[units.is_crowd, None] * regions.box[:, :2],
                  units.image[units.is_crowd])

    # people to pixels: unit corner + unit scale * (position in the unit)
    s = scale[person_unit]
    origin = corner[person_unit] - s[:, None] * ubox[person_unit, :2]
    px_scale = s * height
    r = np.maximum(3.0, np.rint(2 * pose.STROKE_R * px_scale)) / 2
    order = np.lexsort((depth, person_unit))
    people = {
        "image": units.image[person_unit],
        "unit": person_unit,
        "kp": origin[:, None] + s[:, None, None] * (off[:, None] + height[:, None, None] * poses.kp),
        "head": origin + s[:, None] * (off + height[:, None] * poses.head),
        "axes": np.maximum(px_scale[:, None] * poses.head_axes, r[:, None]),
        "r": r,
        "px_scale": px_scale,
        "hidden": poses.hidden,
        "bystander": bystander,
    }
    return {k: v[order] for k, v in people.items()}, regions


def _outlines(kp, r, head, axes, W, H):
    """Segmentation polygon (the outline, clipped by shapely where it crosses
    the image border), its area and its bounds as bbox, and which people keep
    enough of themselves in frame to be annotated."""
    q = geometry.shape_points(kp, r, head, axes)
    ext = geometry.extent(q, r)  # the outline's bounds: it samples the axis directions
    flat, counts = geometry.outline(q, r)
    area = geometry.polygon_area(flat, counts)
    ends = np.cumsum(counts)
    starts = ends - counts
    rounded = np.round(flat, 2).ravel().tolist()
    seg = [rounded[2 * a:2 * b] for a, b in zip(starts.tolist(), ends.tolist())]
    crosses = np.flatnonzero((ext[:, 0] < 0) | (ext[:, 1] < 0) | (ext[:, 2] > W) | (ext[:, 3] > H))
    clipped, area[crosses], ext[crosses] = geometry.clip_polygons(
        [flat[starts[i]:ends[i]] for i in crosses], W[crosses], H[crosses])
    for i, ring in zip(crosses.tolist(), clipped):
        seg[i] = np.round(ring, 2).ravel().tolist()
    # rounded corners first, so that x + w is the rounded right edge
    x0, y0, x1, y1 = np.round(ext, 2).T
    keep = (x1 - x0 >= MIN_SIDE) & (y1 - y0 >= MIN_SIDE) & (area >= MIN_AREA)
    return np.stack([x0, y0, np.round(x1 - x0, 2), np.round(y1 - y0, 2)], axis=1), area, seg, keep


def _pairing_bystanders(bystander, image, bbox, keep) -> np.ndarray:
    """Bystanders whose final (rounded, clipped) box pairs with another kept
    person of their image at IoU >= PAIR_IOU: they would join a group, so they go."""
    idx = np.flatnonzero(keep)
    i, j = same_image_pairs(image[idx])
    i, j = idx[i], idx[j]
    pairs = box_iou(bbox[i], bbox[j]) >= PAIR_IOU
    out = np.zeros(len(keep), bool)
    out[i[pairs & bystander[i]]] = True
    out[j[pairs & bystander[j]]] = True
    return out


def _labelled(rng: np.random.Generator, n: int, px_scale: np.ndarray) -> np.ndarray:
    """Which keypoints an annotator labelled: small people mostly none, a few
    people none or only some."""
    none = rng.random(n) < np.where(px_scale < SMALL_PX, *UNLABELLED_P)
    partial = rng.random(n) < PARTIAL_P
    drop = partial[:, None] & (rng.random((n, pose.K)) < PARTIAL_DROP)
    return ~none[:, None] & ~drop


def _visibility(kp, labelled, r, head, axes, unit_of, W, H) -> np.ndarray:
    """COCO flags: 0 unlabelled or out of frame, 1 under a later-drawn person, 2 visible."""
    k = np.rint(kp)
    inside = (k[..., 0] >= 0) & (k[..., 0] <= W[:, None] - 1) & (k[..., 1] >= 0) & (k[..., 1] <= H[:, None] - 1)
    vis = np.where(labelled & inside, 2, 0).astype(np.int8)
    # only members of a unit overlap; pair each person with everyone drawn after it
    starts = np.r_[0, np.flatnonzero(np.diff(unit_of)) + 1]
    sizes = np.diff(np.r_[starts, len(unit_of)])
    for g in range(2, sizes.max(initial=0) + 1):
        s = starts[sizes == g]
        if not len(s):
            continue
        i, j = np.triu_indices(g, 1)
        p = (s[:, None] + i).ravel()
        q = (s[:, None] + j).ravel()
        hit = geometry.covered(kp[p], kp[q], r[q], head[q], axes[q], OCCLUSION_MARGIN)
        under = np.zeros(vis.shape, bool)
        np.logical_or.at(under, p, hit)
        vis[under & (vis == 2)] = 1
    return vis


def _truncate(s: Scenes, n_images: int, first_image: int) -> Scenes:
    """Keep the first n_images images of a block and number them globally."""
    p = s.image < n_images
    c = s.crowd_image < n_images
    pi, ci = np.flatnonzero(p).tolist(), np.flatnonzero(c).tolist()
    return Scenes(width=s.width[:n_images], height=s.height[:n_images], image=s.image[p] + first_image,
                  kp=s.kp[p], vis=s.vis[p], r=s.r[p], head=s.head[p], axes=s.axes[p], color=s.color[p],
                  bbox=s.bbox[p], area=s.area[p], segmentation=[s.segmentation[i] for i in pi],
                  bystander=s.bystander[p],
                  crowd_image=s.crowd_image[c] + first_image, crowd_polygon=[s.crowd_polygon[i] for i in ci],
                  crowd_bbox=s.crowd_bbox[c], crowd_area=s.crowd_area[c], crowd_rle=[s.crowd_rle[i] for i in ci])


def _concat(blocks: list[Scenes]) -> Scenes:
    if len(blocks) == 1:
        return blocks[0]
    out = {}
    for name in Scenes.__dataclass_fields__:
        parts = [getattr(b, name) for b in blocks]
        out[name] = list(itertools.chain.from_iterable(parts)) if isinstance(parts[0], list) else np.concatenate(parts)
    return Scenes(**out)

