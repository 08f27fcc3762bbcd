"""The training loss of the paper, Eq. 1-3, on logits (BCE-with-logits for stability).

``BCE(x, y) = softplus(x) - x * y`` for a logit ``x`` and target ``y``; every term is a mean
over the pixels that ``mask`` keeps (mask 0 = people without annotation, ``iscrowd`` areas).

* Eq. 1, part loss: mean BCE of the K part maps against disks of radius R around every
  person's keypoints, ``sum_k sum_i m_i BCE / (K * sum_i m_i)``.
* Eq. 2, person loss: the first ``n = min(P, M)`` decoder steps are matched to the P target
  people by the Hungarian algorithm (scipy ``linear_sum_assignment``) on a cost matrix whose
  entry (step a, person b) is that pair's mean masked BCE; when ``P <= M`` the next
  ``stop_steps`` (2) steps are trained against all-zero maps so the model learns to stop.
  The loss is the mean over the supervised steps: ``sum / (K * N * (n + stop))``, which is
  ``1 / (NK(P+2))`` of Eq. 2 when the curriculum cap M is not reached. With ``P > M`` the M
  steps are matched to the best M of the P people (a rectangular assignment) and no stop
  step is added: the model learns to predict at most M people (curriculum, section 5.1).
* Eq. 3: ``L = lambda0 * L_part + L_person`` with ``lambda0 = 0.5``.

Each image's terms are normalised by its own kept pixels; the batch loss is the mean over
images, so equal per-process batches under DDP average to the combined-batch loss.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment


def steps_needed(num_people: int, max_people: int, stop_steps: int = 2) -> int:
    """Decoder steps supervised for an image with ``num_people`` under curriculum cap M."""
    return min(num_people, max_people) + (stop_steps if num_people <= max_people else 0)


def kept_pixels(mask: torch.Tensor) -> torch.Tensor:
    """Per-image count of kept pixels, at least 1 so a fully masked image adds 0, not NaN."""
    return mask.flatten(1).sum(dim=1).clamp_min(1.0)


def part_loss(part_logits: torch.Tensor, parts: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eq. 1 for a batch: logits and targets (B, K, H, W), mask (B, 1, H, W) -> scalar."""
    x = part_logits.float()
    bce = F.binary_cross_entropy_with_logits(x, parts.float(), reduction="none")
    per_image = (bce * mask).flatten(1).sum(dim=1) / (kept_pixels(mask) * x.shape[1])
    return per_image.mean()


def pair_costs(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean masked BCE of every (step, person) pair: logits (T, K, H, W), targets (P, K, H, W),
    mask (1, H, W) -> (T, P). One matrix product instead of T * P BCE maps."""
    x = logits.float()
    m = mask.float()
    norm = kept_pixels(m[None]) * x.shape[1]
    first = (F.softplus(x) * m).flatten(1).sum(dim=1)                 # (T,)
    cross = (x * m).flatten(1) @ targets.float().flatten(1).T         # (T, P)
    return (first[:, None] - cross) / norm


def zero_target_costs(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean masked BCE of each step (T, K, H, W) against an all-zero map -> (T,)."""
    x = logits.float()
    return (F.softplus(x) * mask).flatten(1).sum(dim=1) / (kept_pixels(mask[None].float()) * x.shape[1])


@dataclass
class PersonLossResult:
    loss: torch.Tensor                       # scalar, mean over images
    assignments: list[list[tuple[int, int]]]  # per image: (step, person index among valid people)
    steps: list[int]                          # supervised steps per image


def person_loss(person_logits: torch.Tensor, people: torch.Tensor, people_valid: torch.Tensor,
                mask: torch.Tensor, max_people: int, stop_steps: int = 2) -> PersonLossResult:
    """Eq. 2 for a batch.

    person_logits (B, T, K, H, W); people (B, Pmax, K, H, W) target disks; people_valid
    (B, Pmax) bool; mask (B, 1, H, W). T must cover :func:`steps_needed` of every image."""
    if max_people < 1:
        raise ValueError(f"max_people must be >= 1, got {max_people}")
    losses, assignments, supervised = [], [], []
    for b in range(person_logits.shape[0]):
        targets = people[b][people_valid[b].bool()]
        p = targets.shape[0]
        n = min(p, max_people)
        stop = stop_steps if p <= max_people else 0
        if person_logits.shape[1] < n + stop:
            raise ValueError(f"image {b}: {person_logits.shape[1]} decoder steps, need {n + stop}")
        total = person_logits.new_zeros((), dtype=torch.float32)
        pairs: list[tuple[int, int]] = []
        if n:
            costs = pair_costs(person_logits[b, :n], targets, mask[b])
            rows, cols = linear_sum_assignment(costs.detach().cpu().numpy().astype(np.float64))
            index = (torch.as_tensor(rows, device=costs.device), torch.as_tensor(cols, device=costs.device))
            total = total + costs[index].sum()
            pairs = list(zip(rows.tolist(), cols.tolist()))
        if stop:
            total = total + zero_target_costs(person_logits[b, n:n + stop], mask[b]).sum()
        losses.append(total / max(n + stop, 1))
        assignments.append(pairs)
        supervised.append(n + stop)
    return PersonLossResult(torch.stack(losses).mean(), assignments, supervised)


@dataclass
class LossParts:
    total: torch.Tensor
    part: torch.Tensor
    person: torch.Tensor


def seqpose_loss(part_logits: torch.Tensor, person_logits: torch.Tensor, batch: dict,
                 max_people: int, part_weight: float = 0.5, stop_steps: int = 2) -> LossParts:
    """Eq. 3: ``part_weight * L_part + L_person`` on a collated batch (``parts``, ``people``,
    ``people_valid``, ``mask``)."""
    mask = batch["mask"].float()
    lp = part_loss(part_logits, batch["parts"], mask)
    lq = person_loss(person_logits, batch["people"], batch["people_valid"], mask,
                     max_people, stop_steps).loss
    return LossParts(part_weight * lp + lq, lp.detach(), lq.detach())
