"""Shapes of drawn people, vectorised over people.

A person is drawn as round-capped strokes of radius r between body joints
plus a filled head ellipse. For outlines the head is modelled as points on
the ellipse shrunk by r, so the whole drawing is "discs of radius r around a
point set Q": its convex hull is hull(Q) grown by r, computed exactly here
(the arcs sampled every 45 degrees), and its extent is Q's bounds +- r."""
from __future__ import annotations

import numpy as np
import shapely

from .skeleton import BODY, LIMBS

N_HEAD = 8  # points on the shrunk head ellipse
N_ARC = 8  # arc sample directions; a multiple of 4 so outline bounds equal the extent
_ARC_ANG = 2 * np.pi * np.arange(N_ARC) / N_ARC
ARC_DIRS = np.stack([np.cos(_ARC_ANG), np.sin(_ARC_ANG)], axis=-1)
_HEAD_ANG = 2 * np.pi * np.arange(N_HEAD) / N_HEAD
_HEAD_DIRS = np.stack([np.cos(_HEAD_ANG), np.sin(_HEAD_ANG)], axis=-1)
_LIMB_A = np.array([a for a, _ in LIMBS])
_LIMB_B = np.array([b for _, b in LIMBS])


def shape_points(kp: np.ndarray, r: np.ndarray, head: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """The point set Q (n, 12 + N_HEAD, 2) whose r-discs make up the drawing."""
    shrunk = np.maximum(axes - r[:, None], 0.0)
    ring = head[:, None] + shrunk[:, None] * _HEAD_DIRS
    return np.concatenate([kp[:, BODY], ring], axis=1)


def extent(q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """[x0, y0, x1, y1] of the discs of radius r around each person's points."""
    return np.concatenate([q.min(axis=1) - r[:, None], q.max(axis=1) + r[:, None]], axis=1)


def _cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a[..., 0] - o[..., 0]) * (b[..., 1] - o[..., 1]) - (a[..., 1] - o[..., 1]) * (b[..., 0] - o[..., 0])


def _chain(p: np.ndarray, sign: float) -> np.ndarray:
    """Monotone-chain half hull of (x, y)-sorted points p (n, M, 2), done in
    parallel: drop every point that does not turn strictly the chain's way
    between its surviving neighbours (it cannot be a hull vertex) until none
    is left. Repeats are dropped first: two copies of a vertex would each see
    the other as a collinear neighbour and both go."""
    n, m, _ = p.shape
    idx = np.broadcast_to(np.arange(m), (n, m))
    repeat = (np.abs(np.diff(p, axis=1)) < 1e-6).all(axis=-1)
    alive = np.concatenate([np.ones((n, 1), bool), ~repeat], axis=1)
    rows = np.arange(n)[:, None]
    while True:
        before = np.maximum.accumulate(np.where(alive, idx, -1), axis=1)
        prev = np.concatenate([np.full((n, 1), -1), before[:, :-1]], axis=1)
        after = np.minimum.accumulate(np.where(alive, idx, m)[:, ::-1], axis=1)[:, ::-1]
        nxt = np.concatenate([after[:, 1:], np.full((n, 1), m)], axis=1)
        inner = alive & (prev >= 0) & (nxt < m)
        turn = sign * _cross(p[rows, prev.clip(0)], p, p[rows, nxt.clip(max=m - 1)])
        drop = inner & (turn <= 0)
        if not drop.any():
            return alive
        alive &= ~drop


def convex_hull(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hull vertices of each point set, counter-clockwise in (x, y):
    returns (flat vertices (V, 2), count per person (n,))."""
    n, m, _ = q.shape
    order = np.lexsort((q[..., 1], q[..., 0]), axis=-1)
    p = np.take_along_axis(q, order[..., None], axis=1)
    lower, upper = _chain(p, 1.0), _chain(p, -1.0)
    # the ends already close the lower chain
    upper[:, 0] = False
    upper[np.arange(n), m - 1 - np.argmax(lower[:, ::-1], axis=1)] = False
    # lower chain left to right, then the upper chain right to left
    key = np.where(lower, np.arange(m), 2 * m - np.arange(m))
    keep = lower | upper
    key = np.where(keep, key, 3 * m)
    walk = np.argsort(key, axis=1, kind="stable")
    count = keep.sum(axis=1)
    flat = np.take_along_axis(p, walk[..., None], axis=1)[np.arange(m) < count[:, None]]
    return flat, count


def _ring_neighbours(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For ragged rings stored flat: owner, previous and next vertex index."""
    starts = np.cumsum(counts) - counts
    owner = np.repeat(np.arange(len(counts)), counts)
    idx = np.arange(len(owner))
    pos = idx - starts[owner]
    prev = np.where(pos == 0, idx + counts[owner] - 1, idx - 1)
    nxt = np.where(pos == counts[owner] - 1, starts[owner], idx + 1)
    return owner, prev, nxt


def outline(q: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convex outline of the discs of radius r around each point set: at each
    hull vertex an arc from the incoming to the outgoing edge normal, sampled
    at its ends and at the ARC_DIRS inside it. Returns (flat vertices (V, 2),
    vertex count per person)."""
    hull, h = convex_hull(q)
    owner, prev, nxt = _ring_neighbours(h)
    e_in, e_out = hull - hull[prev], hull[nxt] - hull
    # outward normal of a counter-clockwise edge (ex, ey) is (ey, -ex)
    n_in = np.stack([e_in[:, 1], -e_in[:, 0]], axis=-1)
    n_out = np.stack([e_out[:, 1], -e_out[:, 0]], axis=-1)
    n_in /= np.maximum(np.linalg.norm(n_in, axis=-1, keepdims=True), 1e-12)
    n_out /= np.maximum(np.linalg.norm(n_out, axis=-1, keepdims=True), 1e-12)
    a_in = np.arctan2(n_in[:, 1], n_in[:, 0])
    arc = (np.arctan2(n_out[:, 1], n_out[:, 0]) - a_in) % (2 * np.pi)
    rel = (_ARC_ANG - a_in[:, None]) % (2 * np.pi)
    inside = (rel > 1e-9) & (rel < arc[:, None] - 1e-9)
    v = len(hull)
    dirs = np.concatenate([n_in[:, None], np.broadcast_to(ARC_DIRS, (v, N_ARC, 2)), n_out[:, None]], axis=1)
    key = np.concatenate([np.zeros((v, 1)), np.where(inside, rel, np.inf), arc[:, None]], axis=1)
    order = np.argsort(key, axis=1, kind="stable")
    dirs = np.take_along_axis(dirs, order[..., None], axis=1)
    valid = np.isfinite(np.take_along_axis(key, order, axis=1))
    pts = hull[:, None] + r[owner, None, None] * dirs
    return pts[valid], np.bincount(owner, weights=valid.sum(axis=1), minlength=len(h)).astype(int)


def polygon_area(flat: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Shoelace area of ragged polygons given as flat vertices and counts."""
    owner, _, nxt = _ring_neighbours(counts)
    terms = flat[:, 0] * flat[nxt, 1] - flat[nxt, 0] * flat[:, 1]
    return 0.5 * np.abs(np.bincount(owner, weights=terms, minlength=len(counts)))


def clip_polygons(polys: list[np.ndarray], width: np.ndarray, height: np.ndarray):
    """Intersect convex polygons with their image rectangles (shapely, vectorised).
    Returns each result's vertices (open ring; empty if nothing is left), its
    area and its bounds [x0, y0, x1, y1] (0 if empty)."""
    if not polys:
        return [], np.zeros(0), np.zeros((0, 4))
    counts = np.array([len(p) for p in polys])
    rings = shapely.linearrings(np.concatenate(polys), indices=np.repeat(np.arange(len(polys)), counts))
    clipped = shapely.intersection(shapely.polygons(rings), shapely.box(0, 0, width, height))
    coords, index = shapely.get_coordinates(shapely.get_exterior_ring(clipped), return_index=True)
    out = [np.zeros((0, 2))] * len(polys)
    if len(coords):
        cuts = np.flatnonzero(np.diff(index)) + 1
        for i, ring in zip(index[np.r_[0, cuts]].tolist(), np.split(coords, cuts)):
            out[i] = ring[:-1]
    return out, shapely.area(clipped), np.nan_to_num(shapely.bounds(clipped))


def _point_segment_dist(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = ((p - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12)
    closest = a + t.clip(0.0, 1.0)[..., None] * ab
    return np.linalg.norm(p - closest, axis=-1)


def covered(points: np.ndarray, kp: np.ndarray, r: np.ndarray, head: np.ndarray,
            axes: np.ndarray, margin: float) -> np.ndarray:
    """Whether each of points (m, J, 2) lies under the drawing of the matching
    person (strokes and neck of radius r, head ellipse), grown by margin pixels."""
    neck_a = 0.5 * (kp[:, 5] + kp[:, 6])
    a = np.concatenate([kp[:, _LIMB_A], neck_a[:, None]], axis=1)[:, None]
    b = np.concatenate([kp[:, _LIMB_B], head[:, None]], axis=1)[:, None]
    d = _point_segment_dist(points[:, :, None], a, b).min(axis=2)
    in_stroke = d <= r[:, None] + margin
    rel = (points - head[:, None]) / (axes[:, None] + margin)
    in_head = (rel ** 2).sum(-1) <= 1.0
    return in_stroke | in_head
