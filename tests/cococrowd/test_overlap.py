"""Crowd pairs and groups against an independent brute force (pycocotools IoU + BFS)."""
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from cococrowd.overlap import box_iou, crowd_groups, crowd_pairs, overlaps_per_person, same_image_pairs


def brute_groups(image_index, boxes, thr):
    """Per image: pycocotools IoU matrix, then breadth-first components."""
    groups = []
    for img in np.unique(image_index):
        idx = np.flatnonzero(image_index == img)
        iou = mask_utils.iou(boxes[idx].tolist(), boxes[idx].tolist(), [0] * len(idx))
        adj = (np.asarray(iou) >= thr) & ~np.eye(len(idx), dtype=bool)
        seen = set()
        for s in range(len(idx)):
            if s in seen or not adj[s].any():
                continue
            comp, todo = {s}, [s]
            while todo:
                u = todo.pop()
                for v in np.flatnonzero(adj[u]):
                    if v not in comp:
                        comp.add(v)
                        todo.append(v)
            seen |= comp
            groups.append(frozenset(idx[list(comp)].tolist()))
    return set(groups)


@pytest.mark.parametrize("seed", range(5))
def test_groups_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    image_index = np.sort(rng.integers(0, 40, 300))
    boxes = np.column_stack([rng.uniform(0, 200, 300), rng.uniform(0, 200, 300),
                             rng.uniform(5, 80, 300), rng.uniform(5, 80, 300)])
    for thr in (0.1, 0.3):
        ours = {frozenset(g.tolist()) for g in crowd_groups(image_index, boxes, thr)}
        assert ours == brute_groups(image_index, boxes, thr)
        assert all(len(g) >= 2 for g in ours)


def test_pairs_are_all_same_image_pairs():
    image_index = np.array([0, 0, 0, 2, 5, 5])
    i, j = same_image_pairs(image_index)
    assert sorted(zip(i.tolist(), j.tolist())) == [(0, 1), (0, 2), (1, 2), (4, 5)]
    with pytest.raises(ValueError, match="sorted"):
        same_image_pairs(np.array([1, 0]))


def test_threshold_is_inclusive():
    # a 1x10 box inside a 10x10 box: IoU exactly 10/100 = 0.1
    boxes = np.array([[0, 0, 10, 10], [0, 0, 1, 10]], float)
    assert box_iou(boxes[:1], boxes[1:])[0] == 0.1
    i, j = crowd_pairs(np.array([0, 0]), boxes, 0.1)
    assert (i.tolist(), j.tolist()) == ([0], [1])
    assert crowd_pairs(np.array([0, 0]), boxes, 0.1000001)[0].size == 0


def test_chain_merges_and_degrees():
    # 0-1 overlap, 1-2 overlap, 0-2 do not: one group of three (paper Fig. 2, boxes 3, 4, 5)
    boxes = np.array([[0, 0, 10, 10], [6, 0, 10, 10], [12, 0, 10, 10], [100, 100, 5, 5]], float)
    image_index = np.zeros(4, int)
    assert [g.tolist() for g in crowd_groups(image_index, boxes)] == [[0, 1, 2]]
    i, j = crowd_pairs(image_index, boxes)
    assert overlaps_per_person(4, i, j).tolist() == [1, 2, 1, 0]


def test_people_of_different_images_never_pair():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], float)
    assert crowd_groups(np.array([0, 1]), boxes) == []
