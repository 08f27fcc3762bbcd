"""Heatmaps -> keypoints (sub-pixel), flip-test merging and COCO results."""
import numpy as np
import pytest
import torch

from benchmarks.seqpose.decode import (flip_permutation, match_people, merge_flip, people_to_results,
                                       refine_peaks, to_crop_coordinates, unflip)

COCO = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
        "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
        "left_knee", "right_knee", "left_ankle", "right_ankle"]


def test_flip_permutation_of_coco_names():
    assert flip_permutation(COCO) == [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    assert flip_permutation(["head_top", "neck", "left_hand", "right_hand"]) == [0, 1, 3, 2]
    assert flip_permutation(["left_x", "nose"]) == [0, 1]  # no partner: stays


def test_unflip_undoes_a_mirrored_image():
    maps = torch.zeros(3, 4, 5)
    maps[1, 2, 0] = 1.0           # left_eye at x=0 in the original
    mirrored = torch.zeros(3, 4, 5)
    mirrored[2, 2, 4] = 1.0       # the model sees it on the right, labelled right_eye
    torch.testing.assert_close(unflip(mirrored, flip_permutation(["nose", "left_eye", "right_eye"])), maps)


def test_refine_peaks_moves_a_quarter_toward_the_higher_neighbour():
    maps = torch.zeros(4, 7, 9)
    maps[0, 3, 4], maps[0, 3, 5], maps[0, 2, 4], maps[0, 4, 4] = 1.0, 0.6, 0.2, 0.1
    maps[1, 5, 2], maps[1, 5, 1], maps[1, 6, 2] = 1.0, 0.5, 0.7   # toward lower x, higher y
    maps[2, 1, 1] = 1.0                                            # symmetric: no offset
    maps[3, 0, 8], maps[3, 0, 7] = 1.0, 0.4                        # at the border
    xy, peak = refine_peaks(maps)
    assert xy.tolist() == [[4.25, 2.75], [1.75, 5.25], [1.0, 1.0], [7.75, 0.25]]
    assert peak.tolist() == [1.0, 1.0, 1.0, 1.0]


def test_match_and_merge_flip():
    a = torch.zeros(2, 1, 6, 6)
    a[0, 0, 1, 1] = a[1, 0, 4, 4] = 1.0
    b = torch.zeros(3, 1, 6, 6)
    b[0, 0, 4, 4] = 0.5
    b[1, 0, 0, 5] = 0.9           # extra person only in the flipped pass: dropped
    b[2, 0, 1, 1] = 0.5
    assert sorted(match_people(a, b)) == [(0, 2), (1, 0)]
    merged = merge_flip(a, b)
    assert merged.shape == a.shape
    assert float(merged[0, 0, 1, 1]) == 0.75 and float(merged[1, 0, 4, 4]) == 0.75
    assert float(merged[:, 0, 0, 5].abs().sum()) == 0.0
    # a person of the original pass without a partner is kept as it is
    torch.testing.assert_close(merge_flip(a, b[:1])[0], a[0])
    assert match_people(a, b[:0]) == []


def test_people_to_results_maps_through_the_affine():
    people = torch.zeros(1, 2, 8, 8)
    people[0, 0, 2, 3] = 0.9
    people[0, 1, 6, 5] = 0.5
    affine = np.array([[2.0, 0.0, 10.0], [0.0, 2.0, 20.0]])
    res = people_to_results(people, affine, image_id=7, category_id=1)
    assert len(res) == 1
    r = res[0]
    assert (r["image_id"], r["category_id"]) == (7, 1)
    assert r["keypoints"] == pytest.approx([16.0, 24.0, 0.9, 20.0, 32.0, 0.5])
    assert r["score"] == pytest.approx(0.7)
    assert people_to_results(people[:0], affine, 7, 1) == []


def test_to_crop_coordinates_is_the_affine():
    affine = np.array([[0.0, -1.0, 5.0], [1.0, 0.0, 1.0]])
    assert to_crop_coordinates(np.array([[2.0, 3.0]]), affine).tolist() == [[2.0, 3.0]]
