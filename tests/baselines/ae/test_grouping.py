"""Associative Embedding grouping on hand-made detection and tag maps (numbers worked by hand)."""
import numpy as np
import pytest
import torch

from baselines.ae.grouping import COCO17_JOINT_ORDER, GroupingParams, group, merge_flip, split_outputs

S = 16  # map side


def maps(k=3, dim=1):
    return torch.zeros(k, S, S), torch.zeros(k, S, S, dim)


def put(det, tags, k, x, y, value, tag):
    det[k, y, x] = value
    tags[k, y, x] = torch.as_tensor(tag, dtype=torch.float32)


def test_two_people_with_distinct_tags_are_separated_and_adjusted():
    det, tags = maps()
    # person A (tag 0): value 0.9 at (3,4), (5,6), (7,8); person B (tag 5): 0.8, 0.7, 0.6
    for k, (x, y) in enumerate([(3, 4), (5, 6), (7, 8)]):
        put(det, tags, k, x, y, 0.9, 0.0)
    for k, (x, y) in enumerate([(12, 2), (11, 9), (10, 13)]):
        put(det, tags, k, x, y, 0.8 - 0.1 * k, 5.0)
    det[0, 4, 4] = 0.5   # right of A's joint 0: x +0.25; vertical tie: y -0.25
    det[1, 7, 5] = 0.4   # below A's joint 1: y +0.25; horizontal tie: x -0.25
    det[2, 8, 6] = 0.3   # left of A's joint 2: x -0.25 (left higher), vertical tie -0.25
    kps, scores = group(det, tags, GroupingParams())
    assert kps.shape == (2, 3, 3) and kps.dtype == np.float32
    np.testing.assert_allclose(kps[0], [[3.25, 3.75, 0.9], [4.75, 6.25, 0.9], [6.75, 7.75, 0.9]], atol=1e-6)
    np.testing.assert_allclose(kps[1], [[11.75, 1.75, 0.8], [10.75, 8.75, 0.7], [9.75, 12.75, 0.6]], atol=1e-6)
    np.testing.assert_allclose(scores, [0.9, 0.7], atol=1e-6)


def test_close_tags_merge_far_tags_split():
    for tag_b, expected in [(0.4, 1), (5.0, 2)]:
        det, tags = maps()
        put(det, tags, 0, 3, 3, 0.9, 0.0)
        put(det, tags, 1, 3, 6, 0.9, 0.0)
        put(det, tags, 2, 10, 10, 0.6, tag_b)
        kps, scores = group(det, tags, GroupingParams(refine=False))
        assert len(kps) == expected
        if expected == 1:
            np.testing.assert_allclose(kps[0, :, 2], [0.9, 0.9, 0.6], atol=1e-6)
            np.testing.assert_allclose(scores, [0.8], atol=1e-6)
        else:
            np.testing.assert_allclose(scores, [0.6, 0.2], atol=1e-6)   # (0.9+0.9+0)/3, 0.6/3
            np.testing.assert_allclose(kps[1, 2, 2], 0.6, atol=1e-6)


@pytest.mark.parametrize("tag_b, joins", [(0.9, True), (1.1, False), (-0.99, True), (-1.01, False)])
def test_tag_threshold_boundary(tag_b, joins):
    det, tags = maps(k=2)
    put(det, tags, 0, 3, 3, 0.9, 0.0)
    put(det, tags, 1, 9, 9, 0.9, tag_b)
    kps, _ = group(det, tags, GroupingParams(tag_threshold=1.0, refine=False))
    assert len(kps) == (1 if joins else 2)


def test_tag_distance_is_rms_over_tag_dims():
    # (1.2, 0.6) from (0, 0): L2 1.342 but RMS sqrt(0.9) = 0.949 < 1, so it joins (their choice)
    det, tags = maps(k=2, dim=2)
    put(det, tags, 0, 3, 3, 0.9, [0.0, 0.0])
    put(det, tags, 1, 9, 9, 0.9, [1.2, 0.6])
    assert len(group(det, tags, GroupingParams(refine=False))[0]) == 1
    tags[1, 9, 9] = torch.tensor([1.2, 0.9])        # RMS sqrt(1.125) > 1
    assert len(group(det, tags, GroupingParams(refine=False))[0]) == 2


@pytest.mark.parametrize("value, people", [(0.19, 0), (0.21, 1)])
def test_detection_threshold_boundary(value, people):
    det, tags = maps()
    put(det, tags, 0, 5, 5, value, 0.0)
    kps, scores = group(det, tags, GroupingParams(detection_threshold=0.2, refine=False))
    assert kps.shape == (people, 3, 3) and scores.shape == (people,)
    if people:
        np.testing.assert_allclose(kps[0, 0], [4.75, 4.75, 0.21], atol=1e-6)   # both ties: -0.25


def test_max_people_keeps_the_top_k_peaks():
    det, tags = maps(k=1)
    for i, v in enumerate([0.5, 0.9, 0.3, 0.7, 0.6]):
        put(det, tags, 0, 2 + 3 * i, 8, v, 10.0 * i)
    kps, scores = group(det, tags, GroupingParams(max_people=3, refine=False))
    np.testing.assert_allclose(kps[:, 0, 2], [0.9, 0.7, 0.6], atol=1e-6)
    np.testing.assert_allclose(kps[:, 0, 0], [5 - 0.25, 11 - 0.25, 14 - 0.25], atol=1e-6)
    np.testing.assert_allclose(scores, [0.9, 0.7, 0.6], atol=1e-6)


@pytest.mark.parametrize("ignore, people", [(False, 3), (True, 2)])
def test_ignore_too_much_skips_joints_once_max_people_exist(ignore, people):
    det, tags = maps(k=2)
    put(det, tags, 0, 2, 2, 0.9, 0.0)
    put(det, tags, 0, 12, 2, 0.8, 5.0)
    put(det, tags, 1, 2, 5, 0.9, 0.1)      # would join person 0
    put(det, tags, 1, 7, 12, 0.7, 10.0)    # a new person unless ignored
    kps, _ = group(det, tags, GroupingParams(max_people=2, ignore_too_much=ignore, refine=False))
    assert len(kps) == people
    assert kps[0, 1, 2] == (0 if ignore else np.float32(0.9))


@pytest.mark.parametrize("use_val, joined", [(True, 0.9), (False, 0.5)])
def test_detection_value_breaks_rounded_tag_ties(use_val, joined):
    # one person (tag 0); two candidates for joint 1 compete for it: tags 0.1 (value 0.5) and
    # 0.4 (value 0.9). Both distances round to 0, so with use_detection_val the stronger wins.
    det, tags = maps(k=2)
    put(det, tags, 0, 3, 3, 0.9, 0.0)
    put(det, tags, 1, 3, 8, 0.5, 0.1)
    put(det, tags, 1, 10, 8, 0.9, 0.4)
    kps, _ = group(det, tags, GroupingParams(use_detection_val=use_val, refine=False))
    assert len(kps) == 2
    assert kps[0, 1, 2] == np.float32(joined)
    assert kps[1, 1, 2] == np.float32(1.4 - joined)


def test_refine_fills_missing_joint_by_detection_minus_rounded_tag_distance():
    det, tags = maps()
    put(det, tags, 0, 3, 3, 0.9, 0.0)
    put(det, tags, 1, 3, 6, 0.6, 0.0)
    put(det, tags, 2, 10, 2, 0.15, 0.0)   # below threshold, tag of the person: 0.15 - 0
    det[2, 2, 11] = 0.1                   # right neighbour higher: x +0.25; vertical tie -0.25
    put(det, tags, 2, 3, 12, 0.18, 5.0)   # stronger but foreign tag: 0.18 - 5
    kps, scores = group(det, tags, GroupingParams())
    assert len(kps) == 1
    np.testing.assert_allclose(kps[0, 2], [10.25, 1.75, 0.15], atol=1e-6)
    np.testing.assert_allclose(scores, [0.5], atol=1e-6)   # (0.9 + 0.6 + 0) / 3, before refine
    kps, _ = group(det, tags, GroupingParams(refine=False))
    np.testing.assert_array_equal(kps[0, 2], [0, 0, 0])


def test_joint_order_default_and_custom():
    assert GroupingParams().order(17) == list(COCO17_JOINT_ORDER) == [0, 1, 2, 3, 4, 5, 6, 11, 12,
                                                                     7, 8, 9, 10, 13, 14, 15, 16]
    assert GroupingParams().order(14) == list(range(14))
    with pytest.raises(ValueError):
        GroupingParams(joint_order=(0, 0, 1)).order(3)
    # the first joint visited seeds the people: with joint 1 first, its two peaks make 2 people
    det, tags = maps(k=2)
    put(det, tags, 0, 3, 3, 0.9, 0.0)
    put(det, tags, 1, 3, 8, 0.9, 0.0)
    put(det, tags, 1, 10, 8, 0.8, 0.3)
    seeded_by_0 = group(det, tags, GroupingParams(refine=False))[0]
    seeded_by_1 = group(det, tags, GroupingParams(refine=False, joint_order=(1, 0)))[0]
    assert len(seeded_by_0) == 2 and len(seeded_by_1) == 2
    np.testing.assert_allclose(seeded_by_1[:, 1, 2], [0.9, 0.8], atol=1e-6)


def test_merge_flip_averages_detections_and_concatenates_tags():
    det = torch.tensor([[[1.0, 2.0, 3.0]], [[4.0, 5.0, 6.0]]])          # (K=2, H=1, W=3)
    det_f = torch.tensor([[[10.0, 20.0, 30.0]], [[40.0, 50.0, 60.0]]])
    tags = torch.arange(6.0).reshape(2, 1, 3, 1)
    tags_f = 100 + torch.arange(6.0).reshape(2, 1, 3, 1)
    d, t = merge_flip(det, tags, det_f, tags_f, [1, 0])
    # channel 0 <- flipped channel 1 mirrored: [60, 50, 40]; channel 1 <- [30, 20, 10]
    np.testing.assert_allclose(d.numpy(), [[[30.5, 26.0, 21.5]], [[17.0, 12.5, 8.0]]])
    assert t.shape == (2, 1, 3, 2)
    np.testing.assert_allclose(t[..., 0].numpy(), [[[0, 1, 2]], [[3, 4, 5]]])
    np.testing.assert_allclose(t[..., 1].numpy(), [[[105, 104, 103]], [[102, 101, 100]]])


def test_split_outputs_channel_layout():
    k, dim = 2, 2
    pred = torch.arange(k * (1 + dim), dtype=torch.float32)[:, None, None].expand(-1, 2, 3)
    det, tags = split_outputs(pred, k, dim)
    assert det.shape == (2, 2, 3) and tags.shape == (2, 2, 3, 2)
    np.testing.assert_array_equal(det[:, 0, 0].numpy(), [0, 1])
    np.testing.assert_array_equal(tags[:, 0, 0].numpy(), [[2, 3], [4, 5]])   # K + k*L + l
    with pytest.raises(ValueError):
        split_outputs(pred, 2, 1)   # expects 4 channels, has 6
