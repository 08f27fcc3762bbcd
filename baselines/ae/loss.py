"""Associative Embedding loss: masked heatmap MSE plus the tag pull / push terms.

Follows pose-ae-train (task/loss.py ``HeatmapLoss``, extensions/AE/src/my_lib.c, and the
weights of task/pose.py), per image and per stack:

* heatmap: ``mean over (K, H, W) of mask * (pred - gt)^2``; masked pixels count in the
  denominator (theirs divides by all pixels, not by the unmasked ones).
* pull: person n with joints J_n (labelled, ``joints[..., 1] > 0``) has mean tag
  ``h_n = mean_{k in J_n} t_k``; ``pull = mean_n mean_{k in J_n} ||t_k - h_n||^2 / L``
  (squared distance averaged over the L tag dims), over people with >= 1 labelled joint.
* push: ``push = 0.5 * mean_{n < n'} exp(-||h_n - h_n'||^2)`` over unordered pairs of those
  people (squared L2, *not* divided by L); 0 with fewer than two people.

Each term is then averaged over images and stacks (their ``torch.mean`` of the (B, stacks)
losses) and multiplied by its weight (theirs: push 1e-3, pull 1e-3, heatmap 1).

Tag channel of joint k, dim l is ``K + k*L + l`` (see ``hourglass.StackedHourglass``).
"""
from __future__ import annotations

import torch


def _tag_terms(tags: torch.Tensor, joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Push and pull per image for tags (B, K, HW, L) and joints (B, M, K, 2): two (B,) tensors."""
    batch, num_kp, hw, tag_dim = tags.shape
    index, valid = joints[..., 0], joints[..., 1] > 0
    if bool(((index < 0) | (index >= hw))[valid].any()):
        raise ValueError(f"joints hold a pixel index outside the {hw}-pixel map")
    index = torch.where(valid, index, torch.zeros_like(index))
    b = torch.arange(batch, device=tags.device)[:, None, None]
    k = torch.arange(num_kp, device=tags.device)[None, None, :]
    picked = tags[b, k, index]                                        # (B, M, K, L)
    weight = valid.to(tags.dtype)[..., None]
    count = weight.sum(2)                                             # (B, M, 1)
    present = count[..., 0] > 0                                       # (B, M)
    mean = (picked * weight).sum(2) / count.clamp(min=1)              # (B, M, L)
    spread = ((picked - mean[:, :, None]) ** 2 * weight).sum((2, 3)) / tag_dim
    people = present.sum(1).to(tags.dtype)                            # (B,)
    pull = (spread / count[..., 0].clamp(min=1) * present).sum(1) / people.clamp(min=1)
    dist = ((mean[:, :, None] - mean[:, None]) ** 2).sum(-1)          # (B, M, M)
    pairs = present[:, :, None] & present[:, None] & torch.ones_like(dist, dtype=torch.bool).triu(1)
    push = (torch.exp(-dist) * pairs).sum((1, 2)) / pairs.sum((1, 2)).clamp(min=1) * 0.5
    return push, pull


def ae_loss(preds: torch.Tensor, heatmaps: torch.Tensor, mask: torch.Tensor, joints: torch.Tensor,
            tag_dim: int = 1, push_weight: float = 1e-3, pull_weight: float = 1e-3,
            heatmap_weight: float = 1.0) -> dict[str, torch.Tensor]:
    """Weighted scalar terms ``heatmap``, ``push``, ``pull`` and their sum ``total``.

    preds (B, stacks, K*(1+tag_dim), H, W); heatmaps (B, K, H, W); mask (B, 1, H, W);
    joints (B, M, K, 2) int (flat pixel index y*W+x, labelled flag) from ``targets.encode``.
    """
    if preds.dim() != 5:
        raise ValueError(f"preds must be (B, stacks, C, H, W), got {tuple(preds.shape)}")
    batch, stacks, channels, height, width = preds.shape
    num_kp = heatmaps.shape[1]
    if channels != num_kp * (1 + tag_dim):
        raise ValueError(f"preds have {channels} channels, expected K*(1+tag_dim) = {num_kp * (1 + tag_dim)}")
    if joints.dim() != 4 or joints.shape[0] != batch or joints.shape[2] != num_kp or joints.shape[3] != 2:
        raise ValueError(f"joints must be (B, M, K, 2) = ({batch}, M, {num_kp}, 2), got {tuple(joints.shape)}")
    with torch.autocast(device_type=preds.device.type, enabled=False):
        preds = preds.float()
        mask = mask.float().reshape(batch, 1, 1, height, width)
        det = preds[:, :, :num_kp]
        hm = (((det - heatmaps.float()[:, None]) ** 2) * mask).mean((2, 3, 4))     # (B, stacks)
        tags = preds[:, :, num_kp:].reshape(batch, stacks, num_kp, tag_dim, height * width)
        tags = tags.transpose(3, 4)                                               # (B, S, K, HW, L)
        joints = joints.to(device=preds.device, dtype=torch.int64)
        flat = tags.transpose(0, 1).reshape(stacks * batch, num_kp, height * width, tag_dim)
        push, pull = _tag_terms(flat, joints.repeat(stacks, 1, 1, 1))
        out = {
            "heatmap": hm.mean() * heatmap_weight,
            "push": push.mean() * push_weight,
            "pull": pull.mean() * pull_weight,
        }
    out["total"] = out["heatmap"] + out["push"] + out["pull"]
    return out
