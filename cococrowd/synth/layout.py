"""Where people go: images, their units (isolated people, overlapping groups,
crowd regions) and a row-and-slot layout that keeps units apart.

Only members of one group overlap: each unit gets its own slot in a row band
of the image, so isolated people stay isolated and every group is designed
(neighbours in a group overlap at a sampled box IoU >= 0.15)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# COCO-like image sizes (width, height) and how often they occur
SIZES = np.array([(640, 480), (640, 427), (480, 640), (640, 426), (427, 640),
                  (640, 360), (500, 375), (612, 612), (375, 500), (640, 512)])
SIZE_P = np.array([0.30, 0.22, 0.14, 0.08, 0.07, 0.06, 0.04, 0.03, 0.03, 0.03])
GROUPS_P = np.array([0.74, 0.21, 0.045, 0.005])  # groups per image: 0, 1, 2, 3
GROUP_SIZE_P = np.array([0.55, 0.20, 0.10, 0.06, 0.045, 0.025, 0.02])  # sizes 2..8
SINGLE_IMAGE_P = 0.45  # share of group-free images holding exactly one person
ISOLATED_TAIL = 4.2  # mean of the exponential tail of isolated people
MAX_PEOPLE = 15
CROWD_REGION_P = (0.02, 0.25)  # images with one iscrowd region: most, and those with >= BUSY people
BUSY = 12
EDGE_P = (0.15, 0.1, 0.2)  # units pushed partly out of frame: sideways, up, down


@dataclass
class Units:
    """Per image: size; per unit: image, number of people, crowd-region flag."""

    width: np.ndarray
    height: np.ndarray
    image: np.ndarray
    size: np.ndarray
    is_crowd: np.ndarray


def sample_units(rng: np.random.Generator, n_images: int) -> Units:
    wh = SIZES[rng.choice(len(SIZES), size=n_images, p=SIZE_P)]
    n_groups = rng.choice(len(GROUPS_P), size=n_images, p=GROUPS_P)
    g_image = np.repeat(np.arange(n_images), n_groups)
    g_size = 2 + rng.choice(len(GROUP_SIZE_P), size=len(g_image), p=GROUP_SIZE_P)
    # drop groups that would take an image past MAX_PEOPLE (the first always fits)
    ends = np.cumsum(g_size)
    first = np.searchsorted(g_image, g_image)
    start_total = ends[first] - g_size[first]
    keep = ends - start_total <= MAX_PEOPLE
    g_image, g_size = g_image[keep], g_size[keep]
    in_groups = np.bincount(g_image, weights=g_size, minlength=n_images).astype(int)

    single = rng.random(n_images) < SINGLE_IMAGE_P
    tail = 2 + np.floor(rng.exponential(ISOLATED_TAIL, n_images)).astype(int)
    n_iso = np.where(single, 1, tail) - (in_groups > 0)
    n_iso = np.minimum(n_iso, MAX_PEOPLE - in_groups)
    crowd = rng.random(n_images) < np.where(in_groups + n_iso >= BUSY, CROWD_REGION_P[1], CROWD_REGION_P[0])

    image = np.concatenate([g_image, np.repeat(np.arange(n_images), n_iso), np.flatnonzero(crowd)])
    size = np.concatenate([g_size, np.ones(n_iso.sum(), int), np.zeros(crowd.sum(), int)])
    order = np.argsort(image, kind="stable")
    return Units(width=wh[:, 0].astype(float), height=wh[:, 1].astype(float),
                 image=image[order], size=size[order], is_crowd=(size[order] == 0))


def place_members(rng: np.random.Generator, box: np.ndarray, member: np.ndarray,
                  depth: np.ndarray) -> np.ndarray:
    """Lay out people of each unit side by side, left to right.

    box: (n, 4) each person's extent at its own scale, x0 y0 x1 y1 around its
    origin; member: index within the unit (people of a unit are contiguous).
    Members stand with their feet (box bottom) on their depth line and overlap
    their left neighbour at a sampled box IoU.
    Returns the offset (n, 2) to add to each person's coordinates."""
    n = len(box)
    off = np.zeros((n, 2))
    off[:, 1] = depth - box[:, 3]
    target = rng.uniform(0.15, 0.6, n)
    placed = box + np.tile(off, 2)
    for m in range(1, member.max(initial=0) + 1):
        b = np.flatnonzero(member == m)
        a = b - 1
        A, B = placed[a], placed[b]
        oy = np.minimum(A[:, 3], B[:, 3]) - np.maximum(A[:, 1], B[:, 1])
        area_a = (A[:, 2] - A[:, 0]) * (A[:, 3] - A[:, 1])
        area_b = (B[:, 2] - B[:, 0]) * (B[:, 3] - B[:, 1])
        t = target[b]
        # IoU = ox*oy / (area_a + area_b - ox*oy)  solved for the x overlap ox
        ox = t * (area_a + area_b) / ((1 + t) * np.maximum(oy, 1e-6))
        ox = np.minimum(ox, 0.95 * np.minimum(A[:, 2] - A[:, 0], B[:, 2] - B[:, 0]))
        off[b, 0] = A[:, 2] - ox - box[b, 0]
        placed[b] = box[b] + np.tile(off[b], 2)
    return off


def segment_bounds(box: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Union box of consecutive runs of boxes beginning at starts."""
    return np.concatenate([np.minimum.reduceat(box[:, :2], starts), np.maximum.reduceat(box[:, 2:], starts)], axis=1)


def _share_rows(row_key: np.ndarray, slot: np.ndarray, weight: np.ndarray):
    """For units in rows (row_key) at positions (slot): the row's total
    weight, the weight of the units before each one, and whether it is last."""
    n = len(row_key)
    by_slot = np.lexsort((slot, row_key))
    w = weight[by_slot]
    run_start = np.r_[0, np.flatnonzero(np.diff(row_key[by_slot])) + 1]
    run_sum = np.add.reduceat(w, run_start)
    run_of = np.repeat(np.arange(len(run_start)), np.diff(np.r_[run_start, n]))
    total, before, last = np.empty(n), np.empty(n), np.empty(n, bool)
    total[by_slot] = run_sum[run_of]
    before[by_slot] = np.cumsum(w) - np.cumsum(np.r_[0, run_sum])[run_of] - w
    last[by_slot] = np.r_[np.diff(run_of) != 0, True]
    return total, before, last


def place_units(rng: np.random.Generator, units: Units, ubox: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale and position each unit (natural box ubox) in its image.

    Units of an image are shuffled into R row bands; a row's width is shared
    in proportion to the units' aspect ratios, so slots never overlap. Some
    units at the image border are pushed partly out of frame.
    Returns (scale (u,), top-left (u, 2) of the scaled box in pixels)."""
    n_units = len(units.image)
    W, H = units.width[units.image], units.height[units.image]
    uw, uh = ubox[:, 2] - ubox[:, 0], ubox[:, 3] - ubox[:, 1]
    aspect = uw / uh
    n_img = len(units.width)
    count = np.bincount(units.image, minlength=n_img)
    total_aspect = np.bincount(units.image, weights=aspect, minlength=n_img)
    rows = np.ceil(np.sqrt(total_aspect * units.height / units.width) * rng.uniform(0.9, 1.8, n_img))
    rows = np.clip(rows, 1, np.maximum(count, 1)).astype(int)

    # rank of each unit in a random order within its image
    order = np.lexsort((rng.random(n_units), units.image))
    rank = np.empty(n_units, int)
    first = np.searchsorted(units.image[order], units.image[order])
    rank[order] = np.arange(n_units) - first
    R = rows[units.image]
    row, slot = rank % R, rank // R
    row_h = H / R

    row_sum, slot_x0, last = _share_rows(units.image * 64 + row, slot, aspect)  # < 64 rows per image
    fill = np.minimum(1.0, 0.96 * W / (row_h * row_sum))
    size = rng.uniform(0.2, 1.0, n_units)  # varied sizes
    scale = 0.96 * row_h * fill * size / uh
    sw, sh = uw * scale, uh * scale
    slot_w = W * aspect / row_sum
    x = W * slot_x0 / row_sum + rng.random(n_units) * (slot_w - sw)
    y = row * row_h + rng.random(n_units) * (row_h - sh)

    out = rng.uniform(0.05, 0.5, n_units)  # share of the unit pushed out of frame
    side, up, down = (rng.random((3, n_units)) < np.array(EDGE_P)[:, None])
    left = side & (slot == 0) & (~last | (rng.random(n_units) < 0.5))
    right = side & last & ~left
    x = np.where(left, -out * sw, np.where(right, W - (1 - out) * sw, x))
    y = np.where(up & (row == 0), -out * sh, np.where(down & (row == R - 1), H - (1 - out) * sh, y))
    return scale, np.stack([x, y], axis=1)
