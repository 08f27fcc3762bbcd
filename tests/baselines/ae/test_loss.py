"""Associative Embedding targets and loss against hand-computed numbers."""
import math

import numpy as np
import pytest
import torch

from baselines.ae.loss import ae_loss
from baselines.ae.targets import collate, encode

# ---------------------------------------------------------------- targets


def test_gaussian_peak_and_falloff_on_the_keypoint_pixel():
    kp = np.array([[[5.3, 6.6, 2], [0, 0, 0]]], np.float32)   # pixel (x, y) = (5, 7)
    out = encode(kp, 16, sigma=2.0)
    hm = out["heatmaps"]
    assert hm.shape == (2, 16, 16) and hm.dtype == np.float32
    assert hm[0, 7, 5] == 1.0 and hm[0].max() == 1.0
    assert hm[0, 7, 8] == pytest.approx(math.exp(-9 / 8), rel=1e-6)           # d = 3
    assert hm[0, 11, 8] == pytest.approx(math.exp(-25 / 8), rel=1e-6)         # d = 5
    assert hm[0, 7, 12] == pytest.approx(math.exp(-49 / 8), rel=1e-6)         # window edge 3s+1 = 7
    assert hm[0, 7, 13] == 0.0                                               # outside the window
    assert not hm[1].any()                                                   # unlabelled joint
    np.testing.assert_array_equal(out["joints"][0], [[7 * 16 + 5, 1], [0, 0]])


def test_people_overlap_by_max_and_joints_index_each_person():
    kp = np.array([[[2, 3, 1]], [[4, 3, 1]]], np.float32)
    out = encode(kp, 8, sigma=1.0, max_people=4)
    assert out["heatmaps"][0, 3, 3] == pytest.approx(math.exp(-0.5))          # max(e^-.5, e^-.5)
    assert out["heatmaps"][0, 3, 2] == 1.0 and out["heatmaps"][0, 3, 4] == 1.0
    np.testing.assert_array_equal(out["joints"][:, 0], [[3 * 8 + 2, 1], [3 * 8 + 4, 1], [0, 0], [0, 0]])
    assert out["joints"].dtype == np.int64


def test_out_of_map_and_excess_people():
    kp = np.array([[[15.6, 2, 1]], [[1, 1, 1]], [[6, 6, 1]]], np.float32)    # 15.6 rounds to 16: out
    out = encode(kp, 16, max_people=2)
    np.testing.assert_array_equal(out["joints"][:, 0], [[0, 0], [17, 1]])     # third person dropped
    assert out["heatmaps"][0, 6, 6] == 1.0                                   # but still drawn
    assert out["heatmaps"][0, 2, 15] < 1.0


def test_collate_stacks_fixed_shapes():
    a = encode(np.array([[[1, 1, 1], [2, 2, 1]]], np.float32), 8)
    b = encode(np.zeros((0, 2, 3), np.float32), 8)
    batch = collate([a, b])
    assert batch["heatmaps"].shape == (2, 2, 8, 8) and batch["heatmaps"].dtype == torch.float32
    assert batch["joints"].shape == (2, 30, 2, 2) and batch["joints"].dtype == torch.int64
    assert batch["joints"][1].sum() == 0 and batch["joints"][0, 0, 1].tolist() == [18, 1]

# ---------------------------------------------------------------- loss

H = W = 4


def preds_with_tags(people, k=2, dim=1, stacks=1):
    """One image; ``people`` is a list of {joint: (x, y, tag)}; tags written into the tag maps."""
    preds = torch.zeros(1, stacks, k * (1 + dim), H, W)
    joints = torch.zeros(1, max(len(people), 1), k, 2, dtype=torch.int64)
    for m, person in enumerate(people):
        for j, (x, y, tag) in person.items():
            tag = torch.as_tensor(tag, dtype=torch.float32).reshape(dim)
            preds[0, :, k + j * dim:k + (j + 1) * dim, y, x] = tag
            joints[0, m, j] = torch.tensor([y * W + x, 1])
    return preds, joints


def loss(preds, joints, heatmaps=None, mask=None, **kw):
    b, _, c, h, w = preds.shape
    k = joints.shape[2]
    heatmaps = torch.zeros(b, k, h, w) if heatmaps is None else heatmaps
    mask = torch.ones(b, 1, h, w) if mask is None else mask
    kw = {"push_weight": 1.0, "pull_weight": 1.0, **kw}
    return ae_loss(preds, heatmaps, mask, joints, **kw)


def test_pull_zero_for_shared_tag_and_hand_value_for_two_joints():
    preds, joints = preds_with_tags([{0: (0, 0, 2.0), 1: (3, 1, 2.0)}])
    assert loss(preds, joints)["pull"].item() == 0.0
    preds, joints = preds_with_tags([{0: (0, 0, 1.0), 1: (3, 1, 3.0)}])   # mean 2: (1 + 1) / 2
    out = loss(preds, joints)
    assert out["pull"].item() == pytest.approx(1.0)
    assert out["push"].item() == 0.0                                          # one person


def test_pull_averages_people_and_tag_dims_push_uses_squared_l2():
    # person 0: tags (0,0), (2,2) -> mean (1,1), squared distances 2 each, / L=2 -> pull 1
    # person 1: tags (5,5), (5,5) -> pull 0; pull = (1 + 0) / 2
    # means (1,1) and (5,5): ||.||^2 = 32 -> push 0.5 * exp(-32); check with (1,1) vs (1,2) too
    preds, joints = preds_with_tags([{0: (0, 0, [0, 0]), 1: (1, 0, [2, 2])},
                                     {0: (2, 2, [5, 5]), 1: (3, 3, [5, 5])}], dim=2)
    out = loss(preds, joints, tag_dim=2)
    assert out["pull"].item() == pytest.approx(0.5)
    assert out["push"].item() == pytest.approx(0.5 * math.exp(-32), rel=1e-4)
    preds, joints = preds_with_tags([{0: (0, 0, [1, 1])}, {0: (2, 2, [1, 2])}], dim=2)
    assert loss(preds, joints, tag_dim=2)["push"].item() == pytest.approx(0.5 * math.exp(-1), rel=1e-6)


def test_push_equal_tags_hand_value_and_decreasing_with_separation():
    values = []
    for gap in [0.0, 0.5, 1.0, 2.0]:
        preds, joints = preds_with_tags([{0: (0, 0, 1.0)}, {0: (2, 2, 1.0 + gap)}])
        values.append(loss(preds, joints)["push"].item())
    assert values[0] == pytest.approx(0.5)                          # 0.5 * exp(0) over 1 pair
    assert values[2] == pytest.approx(0.5 * math.exp(-1.0))
    assert values == sorted(values, reverse=True) and values[3] < values[2]
    # three people, one pair coinciding: 0.5 * (1 + e^-100 + e^-100) / 3 pairs
    preds, joints = preds_with_tags([{0: (0, 0, 0.0)}, {0: (1, 1, 0.0)}, {0: (2, 2, 10.0)}])
    assert loss(preds, joints)["push"].item() == pytest.approx(0.5 / 3, rel=1e-6)


def test_weights_images_and_stacks_are_averaged():
    preds, joints = preds_with_tags([{0: (0, 0, 1.0)}, {0: (2, 2, 1.0)}], stacks=2)
    preds[0, 1, 2, 2, 2] = 2.0                                      # stack 2: gap 1
    both = torch.cat([preds, torch.zeros_like(preds)])              # image 2: nobody labelled
    joints = torch.cat([joints, torch.zeros_like(joints)])
    out = loss(both, joints, push_weight=1e-3, pull_weight=1e-3)
    expected = 1e-3 * (0.5 + 0.5 * math.exp(-1) + 0 + 0) / 4
    assert out["push"].item() == pytest.approx(expected, rel=1e-6)
    assert out["total"].item() == pytest.approx(out["heatmap"].item() + out["push"].item() + out["pull"].item())


def test_heatmap_mse_masked_over_all_pixels():
    preds = torch.zeros(1, 1, 4, H, W)          # K=2, tag_dim 1
    heatmaps = torch.zeros(1, 2, H, W)
    heatmaps[0, 0, 1, 1] = 1.0                  # error 1 at an unmasked pixel
    mask = torch.ones(1, 1, H, W)
    mask[0, 0, 3, 3] = 0
    joints = torch.zeros(1, 1, 2, 2, dtype=torch.int64)
    base = loss(preds, joints, heatmaps, mask)["heatmap"].item()
    assert base == pytest.approx(1 / (2 * H * W))   # mean over K*H*W, masked pixels included
    preds[0, 0, 0, 3, 3] = 7.0                   # masked pixel: no change
    preds[0, 0, 1, 3, 3] = -3.0
    assert loss(preds, joints, heatmaps, mask, heatmap_weight=1.0)["heatmap"].item() == base
    assert loss(preds, joints, heatmaps, mask, heatmap_weight=2.0)["heatmap"].item() == pytest.approx(2 * base)


def test_finite_with_zero_or_one_person_and_gradients_flow():
    for people in ([], [{0: (1, 1, 0.3), 1: (2, 2, 0.7)}]):
        preds, joints = preds_with_tags(people)
        preds.requires_grad_(True)
        out = loss(preds, joints, heatmaps=torch.rand(1, 2, H, W))
        assert all(torch.isfinite(v) for v in out.values())
        assert out["push"].item() == 0.0
        out["total"].backward()
        assert torch.isfinite(preds.grad).all()
        assert preds.grad[0, 0, :2].abs().sum() > 0             # heatmap gradient
        if people:
            # d pull / d t = 2 (t - mean) / (L * joints * people) = 2 * (-0.2) / 2 at joint 0
            assert preds.grad[0, 0, 2, 1, 1].item() == pytest.approx(-0.2, rel=1e-5)


def test_matches_a_direct_loop_over_people():
    torch.manual_seed(0)
    k, dim, m = 3, 2, 4
    preds = torch.randn(2, 2, k * (1 + dim), H, W)
    joints = torch.stack([torch.randint(0, H * W, (2, m, k)), torch.randint(0, 2, (2, m, k))], -1)
    out = loss(preds, joints, tag_dim=dim)
    pushes, pulls = [], []
    for s in range(2):
        for b in range(2):
            tags = preds[b, s, k:].reshape(k, dim, H * W)
            means, pull = [], 0.0
            for person in joints[b]:
                t = [tags[j, :, i] for j, (i, v) in enumerate(person.tolist()) if v]
                if t:
                    t = torch.stack(t)
                    means.append(t.mean(0))
                    pull += ((t - means[-1]) ** 2).mean().item()
            pulls.append(pull / max(len(means), 1))
            pairs = [(a, c) for a in range(len(means)) for c in range(a + 1, len(means))]
            pushes.append(0.5 * sum(math.exp(-((means[a] - means[c]) ** 2).sum().item()) for a, c in pairs)
                          / max(len(pairs), 1))
    assert out["pull"].item() == pytest.approx(np.mean(pulls), rel=1e-5)
    assert out["push"].item() == pytest.approx(np.mean(pushes), rel=1e-5)


def test_autocast_and_bad_inputs():
    preds, joints = preds_with_tags([{0: (0, 0, 1.0)}, {0: (2, 2, 1.0)}])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = loss(preds.bfloat16(), joints)
    assert out["push"].dtype == torch.float32 and out["push"].item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="channels"):
        loss(preds, joints, tag_dim=2)
    joints[0, 0, 0, 0] = H * W
    with pytest.raises(ValueError, match="outside"):
        loss(preds, joints)
