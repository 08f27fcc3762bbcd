"""Heatmap targets and masks of benchmarks.data, against brute-force computation."""
from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from benchmarks.data.crowdfile import Region, flip_permutation
from benchmarks.data.fixtures import COCO_KEYPOINTS
from benchmarks.data.targets import draw_targets, keypoints_to_map, region_mask, window_mask


def brute_force_disks(kps: np.ndarray, radius: float, size: int) -> np.ndarray:
    """(P, K, H, W): 1 where the pixel's (col, row) lies within radius of the keypoint."""
    rows, cols = np.mgrid[0:size, 0:size]
    out = np.zeros(kps.shape[:2] + (size, size), dtype=np.float32)
    for p in range(kps.shape[0]):
        for k in range(kps.shape[1]):
            x, y, v = kps[p, k]
            if v > 0:
                out[p, k] = np.hypot(cols - x, rows - y) <= radius
    return out


@pytest.mark.parametrize("radius", [3, 2.5, 0, 1.7])
def test_disks_match_brute_force(radius):
    rng = np.random.default_rng(1)
    size = 40
    kps = np.zeros((4, 5, 3))
    kps[..., :2] = rng.uniform(-3, size + 2, (4, 5, 2))
    kps[..., 2] = rng.choice([0, 1, 2], (4, 5))
    kps[0, 0] = (10.0, 7.0, 2)           # integer centre: disk boundary points at distance exactly R
    kps[0, 1] = (0.0, 0.0, 1)            # corner: disk clipped by the map edge
    parts, people = draw_targets(kps, radius, size)
    expected = brute_force_disks(kps, radius, size)
    np.testing.assert_array_equal(people, expected)
    np.testing.assert_array_equal(parts, expected.max(axis=0))
    assert people.dtype == parts.dtype == np.float32


def test_radius_three_disk_has_29_pixels():
    # integer points with x^2 + y^2 <= 9: 1 + 4*3 (axes) + 4*4 (off-axis: (1,1),(1,2),(2,1),(2,2)) = 29
    _, people = draw_targets(np.array([[[20.0, 20.0, 2]]]), 3, 41)
    assert people.sum() == 29


def test_empty_and_unlabelled_people_draw_nothing():
    parts, people = draw_targets(np.zeros((0, 17, 3)), 3, 16)
    assert parts.shape == (17, 16, 16) and people.shape == (0, 17, 16, 16) and parts.sum() == 0
    parts, people = draw_targets(np.zeros((2, 17, 3)), 3, 16)
    assert parts.sum() == 0 and people.sum() == 0


def test_keypoints_to_map_drops_out_of_frame_and_unlabelled():
    members = np.array([[[1.0, 1.0, 2], [5.0, 5.0, 0], [9.0, 2.0, 1], [-0.4, 3.0, 2], [-0.6, 3.0, 2]]])
    out = keypoints_to_map(members, np.eye(3), None, 10)
    np.testing.assert_array_equal(out[0, 0], [1, 1, 2])
    np.testing.assert_array_equal(out[0, 1], [0, 0, 0])     # unlabelled
    np.testing.assert_array_equal(out[0, 2], [9, 2, 1])
    np.testing.assert_array_equal(out[0, 3], [-0.4, 3, 2])  # nearest pixel 0 is inside
    np.testing.assert_array_equal(out[0, 4], [0, 0, 0])     # nearest pixel -1 is outside


def test_flip_permutation_pairs_left_right_by_name():
    perm = flip_permutation(COCO_KEYPOINTS)
    for k, name in enumerate(COCO_KEYPOINTS):
        partner = COCO_KEYPOINTS[perm[k]]
        if name == "nose":
            assert partner == "nose"
        else:
            side, part = name.split("_", 1)
            assert partner == {"left": "right", "right": "left"}[side] + "_" + part
    crowdpose = ["left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
                 "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head", "neck"]
    perm = flip_permutation(crowdpose)
    np.testing.assert_array_equal(perm, [1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 12, 13])
    assert list(flip_permutation(["LeftEye", "RightEye", "eye_left", "eye_right", "leftover"])) == [1, 0, 3, 2, 4]


def test_region_mask_polygon_box_and_rle_agree():
    # a 12x8 box at (4, 6) in crop pixels on a map with the crop's pixel grid: 96 pixels
    aligned = np.array([[1.0, 0, -0.5], [0, 1.0, -0.5], [0, 0, 1]])  # continuous -> pixel-index coordinates
    poly = Region(segmentation=[[4, 6, 16, 6, 16, 14, 4, 14]], bbox=(4, 6, 12, 8))
    box_only = Region(segmentation=[], bbox=(4, 6, 12, 8))
    full = np.zeros((20, 24), dtype=np.uint8)
    full[6:14, 4:16] = 1
    rle = mask_utils.encode(np.asfortranarray(full))
    rle = Region(segmentation={"size": [20, 24], "counts": rle["counts"].decode("ascii")}, bbox=(4, 6, 12, 8))
    expected = np.zeros((32, 32), dtype=bool)
    expected[6:14, 4:16] = True
    for region in (poly, box_only, rle):
        np.testing.assert_array_equal(region_mask([region], aligned, 32), expected)


def test_region_mask_follows_the_affine():
    # continuous map = 0.5 * crop + (3, 1): the 12x8 box at (4, 6) becomes 6x4 at (5, 4);
    # the matrix is to pixel-index coordinates, which are continuous ones minus 0.5
    m = np.array([[0.5, 0, 3 - 0.5], [0, 0.5, 1 - 0.5], [0, 0, 1]])
    got = region_mask([Region(segmentation=[], bbox=(4, 6, 12, 8))], m, 16)
    expected = np.zeros((16, 16), dtype=bool)
    expected[4:8, 5:11] = True
    np.testing.assert_array_equal(got, expected)


def test_window_mask_marks_pixel_centres_inside_the_crop():
    # identity: map pixel centre (j, i) inside [0, 5] x [0, 3]
    got = window_mask(5.5, 3.5, np.eye(3), 8)
    expected = np.zeros((8, 8), dtype=bool)
    expected[:4, :6] = True
    np.testing.assert_array_equal(got, expected)
