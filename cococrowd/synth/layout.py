"""Where people go: images, their units (isolated people, overlapping groups,
crowd regions) and a row-and-slot layout that keeps units apart.

Only members of one group overlap: each unit gets its own slot in a row band
of the image, so isolated people stay isolated and every group is designed
(neighbours in a group overlap at a sampled box IoU >= 0.15).

Some groups have a bystander: an isolated person in the group's slot whose
box reaches into the group's union box at an IoU well under 0.1 with every
member, as the people beside a group in COCO photos (`cococrowd build` keeps
them as ignored annotations of the group's region). Some crowd regions are
moved so that they reach into a group's box for the same reason."""
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
CROWD_REGION_P = (0.02, 0.25, 0.08)  # images with one iscrowd region: most, >= BUSY people, with a group
BUSY = 12
BYSTANDER_P = 0.35  # groups with a bystander beside them
BYSTANDER_REACH = (0.1, 0.4)  # share of the bystander's width inside the group's union box, at most
BYSTANDER_IOU = 0.05  # the reach shrinks until the box IoU with every member is below this (pairing: 0.1)
CROWD_BESIDE_P = 0.6  # crowd regions of images with a group moved to reach into its box
CROWD_REACH = (0.1, 0.3)  # how far, as a share of the narrower of the two boxes
EDGE_P = (0.15, 0.1, 0.2)  # units pushed partly out of frame: sideways, up, down


@dataclass
class Units:
    """Per image: size; per unit: image, number of people, crowd-region flag
    and whether a group's last person is a bystander (not a group member).
    An image's groups come first among its units."""

    width: np.ndarray
    height: np.ndarray
    image: np.ndarray
    size: np.ndarray
    is_crowd: np.ndarray
    bystander: np.ndarray


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
    # bystanders take the place of isolated people where the image has some, so
    # people per image stay as they were; an image's n-th bystander fits or goes
    by = rng.random(len(g_image)) < BYSTANDER_P
    seen = np.cumsum(by)
    g_first = np.searchsorted(g_image, g_image)
    by &= seen - (seen[g_first] - by[g_first]) <= MAX_PEOPLE - in_groups[g_image]
    n_by = np.bincount(g_image, weights=by, minlength=n_images).astype(int)
    n_iso = np.maximum(n_iso - n_by, 0)
    crowd_p = np.where(in_groups + n_iso + n_by >= BUSY, CROWD_REGION_P[1],
                       np.where(in_groups > 0, CROWD_REGION_P[2], CROWD_REGION_P[0]))
    crowd = rng.random(n_images) < crowd_p

    image = np.concatenate([g_image, np.repeat(np.arange(n_images), n_iso), np.flatnonzero(crowd)])
    size = np.concatenate([g_size + by, np.ones(n_iso.sum(), int), np.zeros(crowd.sum(), int)])
    bystander = np.concatenate([by, np.zeros(n_iso.sum() + crowd.sum(), bool)])
    order = np.argsort(image, kind="stable")
    return Units(width=wh[:, 0].astype(float), height=wh[:, 1].astype(float),
                 image=image[order], size=size[order], is_crowd=(size[order] == 0), bystander=bystander[order])


def place_members(rng: np.random.Generator, box: np.ndarray, member: np.ndarray,
                  depth: np.ndarray, bystander: np.ndarray) -> np.ndarray:
    """Lay out people of each unit side by side, left to right.

    box: (n, 4) each person's extent at its own scale, x0 y0 x1 y1 around its
    origin; member: index within the unit (people of a unit are contiguous);
    bystander: the last person of a unit that stands beside the group.
    Members stand with their feet (box bottom) on their depth line and overlap
    their left neighbour at a sampled box IoU; bystanders see `place_bystanders`.
    Returns the offset (n, 2) to add to each person's coordinates."""
    n = len(box)
    off = np.zeros((n, 2))
    off[:, 1] = depth - box[:, 3]
    target = rng.uniform(0.15, 0.6, n)
    placed = box + np.tile(off, 2)
    for m in range(1, member.max(initial=0) + 1):
        b = np.flatnonzero((member == m) & ~bystander)
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
    b = np.flatnonzero(bystander)
    off[b, 0] = place_bystanders(rng, placed, b, member[b]) - box[b, 0]
    return off


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of x0 y0 x1 y1 boxes."""
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    return inter / ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter)


def place_bystanders(rng: np.random.Generator, placed: np.ndarray, b: np.ndarray, n_members: np.ndarray) -> np.ndarray:
    """Left edges for bystanders b (each after its group's n_members members in
    placed, x0 y0 x1 y1, vertical position already set): left or right of the
    group, reaching into its union box by a sampled share of their width that
    shrinks until their box IoU with every member is below BYSTANDER_IOU."""
    if not len(b):
        return np.zeros(0)
    first = b - n_members
    union_x0 = np.minimum.reduceat(placed[:, 0], np.ravel(np.column_stack([first, b])))[::2]
    union_x1 = np.maximum.reduceat(placed[:, 2], np.ravel(np.column_stack([first, b])))[::2]
    right = rng.random(len(b)) < 0.5
    reach = rng.uniform(*BYSTANDER_REACH, len(b))
    w = placed[b, 2] - placed[b, 0]
    # every (bystander, member) pair of a group
    pair_of = np.repeat(np.arange(len(b)), n_members)
    q = np.repeat(first, n_members) + np.arange(int(n_members.sum())) - np.repeat(np.cumsum(n_members) - n_members,
                                                                                  n_members)
    starts = np.cumsum(n_members) - n_members
    for _ in range(16):
        x0 = np.where(right, union_x1 - reach * w, union_x0 + reach * w - w)
        box = placed[b].copy()
        box[:, 0], box[:, 2] = x0, x0 + w
        worst = np.maximum.reduceat(_iou(box[pair_of], placed[q]), starts)
        close = worst >= BYSTANDER_IOU
        if not close.any():
            return x0
        reach = np.where(close, 0.6 * reach, reach)
    # still too close after 16 steps (reach < 0.03 % of the width): stand just outside
    return np.where(close, np.where(right, union_x1, union_x0 - w), x0)


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


def crowds_beside_groups(rng: np.random.Generator, units: Units, box: np.ndarray) -> np.ndarray:
    """Shift (u, 2) that moves a share of the crowd regions of images with a
    group so that they reach into the box of the image's first group, from its
    roomier side, at a height within the group's. box: (u, 4) placed x0 y0 x1 y1
    of every unit (a group's without its bystander). Crowds are drawn behind
    people and never pair, so the overlap hides nobody and makes no group."""
    shift = np.zeros((len(box), 2))
    c = np.flatnonzero(units.is_crowd)
    g = np.searchsorted(units.image, units.image[c])  # groups come first among an image's units
    move = (units.size[g] > 1) & ~units.is_crowd[g] & (rng.random(len(c)) < CROWD_BESIDE_P)
    reach = rng.uniform(*CROWD_REACH, len(c))
    height_at = rng.random(len(c))
    C, G = box[c], box[g]
    cw, ch, gw = C[:, 2] - C[:, 0], C[:, 3] - C[:, 1], G[:, 2] - G[:, 0]
    right = units.width[units.image[c]] - G[:, 2] > G[:, 0]
    reach = reach * np.minimum(cw, gw)
    x0 = np.where(right, G[:, 2] - reach, G[:, 0] + reach - cw)
    y0 = G[:, 1] + height_at * (G[:, 3] - G[:, 1]) - ch / 2
    shift[c] = np.where(move[:, None], np.column_stack([x0 - C[:, 0], y0 - C[:, 1]]), 0.0)
    return shift
