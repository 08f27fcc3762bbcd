"""Crowd pairs and crowd groups: which people of an image overlap.

Two person boxes of one image form a crowd pair when their IoU is >= the
threshold (0.1 in the paper, after Ronchi and Perona); pairs that share a
person merge into groups, the connected components of the pair graph.
All pairs of all images are enumerated and scored in one vectorised pass.
"""
from __future__ import annotations

import networkx as nx
import numpy as np


def expand_ranges(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For runs [starts[r], starts[r] + counts[r]): (run index, value) of every
    element, without a Python loop."""
    run = np.repeat(np.arange(len(counts)), counts)
    first = np.cumsum(counts) - counts
    return run, np.repeat(starts, counts) + np.arange(int(counts.sum())) - np.repeat(first, counts)


def same_image_pairs(image_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (i, j), i < j, of people that share an image.

    ``image_index`` must be sorted (people of one image contiguous)."""
    image_index = np.asarray(image_index)
    n = len(image_index)
    if n < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    if (np.diff(image_index) < 0).any():
        raise ValueError("image_index must be sorted so that each image's people are contiguous")
    # end (exclusive) of each person's image block
    _, starts, counts = np.unique(image_index, return_index=True, return_counts=True)
    block_end = np.repeat(starts + counts, counts)
    partners = block_end - np.arange(n) - 1          # people after i in its image
    return expand_ranges(np.arange(1, n + 1), partners)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of xywh boxes ``a[k]`` and ``b[k]`` (COCO's continuous
    convention: area = w * h, as pycocotools.mask.iou with iscrowd=0)."""
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2, bx2) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(ay2, by2) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return inter / union


def crowd_pairs(image_index: np.ndarray, boxes: np.ndarray, iou: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i, j), i < j, of same-image people whose box IoU >= ``iou`` (inclusive)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    i, j = same_image_pairs(image_index)
    keep = box_iou(boxes[i], boxes[j]) >= iou
    return i[keep], j[keep]


def components(i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Connected components of the pair graph (networkx) as one flat array of
    members (each component sorted, components ordered by smallest member)
    and the component sizes: no small array per group at COCO scale."""
    graph = nx.Graph()
    graph.add_edges_from(zip(i.tolist(), j.tolist()))
    comps = sorted(sorted(c) for c in nx.connected_components(graph))
    sizes = np.fromiter((len(c) for c in comps), np.int64, count=len(comps))
    flat = np.fromiter((m for c in comps for m in c), np.int64, count=int(sizes.sum()))
    return flat, sizes


def groups_from_pairs(i: np.ndarray, j: np.ndarray) -> list[np.ndarray]:
    """Connected components of the pair graph, each sorted, ordered by their
    smallest member (so the order follows the input order of people)."""
    flat, sizes = components(i, j)
    return np.split(flat, np.cumsum(sizes)[:-1]) if len(sizes) else []


def crowd_groups(image_index: np.ndarray, boxes: np.ndarray, iou: float = 0.1) -> list[np.ndarray]:
    """Groups of >= 2 people (indices into ``boxes``) that overlap transitively."""
    return groups_from_pairs(*crowd_pairs(image_index, boxes, iou))


def overlaps_per_person(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """How many others each person pairs with (its degree in the pair graph)."""
    return np.bincount(np.concatenate([i, j]), minlength=n)
