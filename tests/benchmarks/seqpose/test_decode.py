"""Heatmaps -> keypoints (sub-pixel), flip-test merging and COCO results."""
import numpy as np
import pytest
import torch

from benchmarks.engine.predict import people_to_results, to_crop_coordinates
from benchmarks.seqpose.decode import decode_people, flip_permutation, locate_peaks, match_people, merge_flip, unflip

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


def _disk(h, w, cx, cy, r, value=1.0):
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return ((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r).float() * value


@pytest.mark.parametrize("radius", [0.75, 1.5, 3.0])
def test_locate_peaks_finds_the_centre_of_flat_disks(radius):
    # the previous read-out took the disk's first pixel in raster order: ~R above the keypoint
    rng = np.random.default_rng(0)
    centres = rng.uniform(4, 28, size=(40, 2))
    maps = torch.stack([_disk(32, 32, x, y, radius) for x, y in centres])
    xy, peak = locate_peaks(maps, radius)
    err = (xy.numpy() - centres)
    # a disk of integer pixels is the centre quantised: its centroid is within half a pixel
    assert np.abs(err).max() < 0.5 and np.linalg.norm(err, axis=1).mean() < 0.3
    assert peak.tolist() == [1.0] * 40


def test_locate_peaks_centre_of_a_blurred_blob_and_robust_to_a_lone_spike():
    yy, xx = torch.meshgrid(torch.arange(40.0), torch.arange(40.0), indexing="ij")
    blob = 0.8 * torch.exp(-((xx - 17.3) ** 2 + (yy - 22.6) ** 2) / (2 * 2.0 ** 2))
    spiked = blob.clone()
    spiked[3, 35] = 0.9                          # one hot pixel far away, higher than the blob
    xy, peak = locate_peaks(torch.stack([blob, spiked]), radius=3.0)
    assert xy[0].tolist() == pytest.approx([17.3, 22.6], abs=0.05)
    assert xy[1].tolist() == pytest.approx([17.3, 22.6], abs=0.05)   # smoothing ignores the spike
    assert float(peak[0]) == pytest.approx(float(blob.max()))


def test_locate_peaks_at_the_border_and_on_empty_maps():
    maps = torch.stack([_disk(16, 16, 0.2, 15.0, 1.5), torch.zeros(16, 16)])
    xy, peak = locate_peaks(maps, 1.5)
    assert xy[0].tolist() == pytest.approx([0.5, 14.5], abs=0.5)
    assert float(peak[1]) == 0.0 and torch.isfinite(xy[1]).all()
    assert locate_peaks(torch.zeros(0, 3, 8, 8), 1.0)[0].shape == (0, 3, 2)


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
    keypoints, scores = decode_people(people, radius=1.0)
    res = people_to_results(keypoints, scores, affine, image_id=7, category_id=1)
    assert len(res) == 1
    r = res[0]
    assert (r["image_id"], r["category_id"]) == (7, 1)
    assert r["keypoints"] == pytest.approx([16.0, 24.0, 0.9, 20.0, 32.0, 0.5])
    assert r["score"] == pytest.approx(0.7)
    assert people_to_results(*decode_people(people[:0], radius=1.0), affine, 7, 1) == []


def test_to_crop_coordinates_is_the_affine():
    affine = np.array([[0.0, -1.0, 5.0], [1.0, 0.0, 1.0]])
    assert to_crop_coordinates(np.array([[2.0, 3.0]]), affine).tolist() == [[2.0, 3.0]]
