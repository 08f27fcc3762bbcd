"""Eq. 1-3: the matched person loss equals the best of all orderings (brute force)."""
import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from benchmarks.seqpose.loss import (pair_costs, part_loss, person_loss, seqpose_loss, steps_needed,
                                     zero_target_costs)


def masked_bce(logits, target, mask):
    """Mean BCE over kept pixels and channels, from torch's own BCE."""
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return float((bce * mask).sum() / (mask.sum() * logits.shape[0]))


def brute_force(logits, targets, mask, max_people, stop_steps=2):
    """Min over every assignment of the first min(P, M) steps to distinct people, plus stop steps."""
    p = targets.shape[0]
    n = min(p, max_people)
    best = math.inf
    for chosen in itertools.permutations(range(p), n):
        total = sum(masked_bce(logits[s], targets[t], mask) for s, t in enumerate(chosen))
        best = min(best, total)
    stop = stop_steps if p <= max_people else 0
    best = (0.0 if n == 0 else best) + sum(masked_bce(logits[n + s], torch.zeros_like(logits[0]), mask)
                                           for s in range(stop))
    return best / (n + stop)


def random_case(gen, steps, people, k=3, size=6, masked=True):
    logits = torch.randn(steps, k, size, size, generator=gen) * 3
    targets = (torch.rand(people, k, size, size, generator=gen) > 0.8).float()
    mask = (torch.rand(1, size, size, generator=gen) > 0.3).float() if masked else torch.ones(1, size, size)
    return logits, targets, mask


@pytest.mark.parametrize("people,max_people", [(1, 5), (2, 5), (3, 5), (4, 5), (4, 2), (5, 3), (3, 1), (0, 2)])
def test_matched_loss_is_min_over_permutations(people, max_people):
    gen = torch.Generator().manual_seed(10 * people + max_people)
    for trial in range(3):
        steps = steps_needed(people, max_people) + trial  # extra steps are not supervised
        logits, targets, mask = random_case(gen, steps, people)
        got = person_loss(logits[None], targets[None], torch.ones(1, people, dtype=torch.bool), mask[None],
                          max_people)
        assert float(got.loss) == pytest.approx(brute_force(logits, targets, mask, max_people), rel=1e-5)
        assert got.steps == [steps_needed(people, max_people)]


def test_batch_loss_is_mean_of_images_and_ignores_padding():
    gen = torch.Generator().manual_seed(0)
    a = random_case(gen, 4, 2)
    b = random_case(gen, 5, 3)
    pad = torch.rand(3, 3, 6, 6, generator=gen)  # person slot 3 of image a is padding
    logits = torch.stack([torch.cat([a[0], torch.zeros(1, 3, 6, 6)]), b[0]])  # image a's 5th step unused
    people = torch.stack([torch.cat([a[1], pad[:1]]), b[1]])
    valid = torch.tensor([[True, True, False], [True, True, True]])
    mask = torch.stack([a[2], b[2]])
    got = person_loss(logits, people, valid, mask, max_people=5)
    want = (brute_force(a[0], a[1], a[2], 5) + brute_force(b[0], b[1], b[2], 5)) / 2
    assert float(got.loss) == pytest.approx(want, rel=1e-5)


def test_assignment_recovers_a_known_order():
    targets = torch.zeros(3, 2, 8, 8)
    for p, (y, x) in enumerate([(1, 1), (4, 6), (6, 2)]):
        targets[p, :, y, x] = 1
    order = [2, 0, 1]
    logits = (targets[order] * 20 - 10)  # step s predicts person order[s] almost perfectly
    res = person_loss(torch.cat([logits, torch.full((2, 2, 8, 8), -10.0)])[None], targets[None],
                      torch.ones(1, 3, dtype=torch.bool), torch.ones(1, 1, 8, 8), max_people=4)
    assert res.assignments == [[(0, 2), (1, 0), (2, 1)]]
    assert float(res.loss) < 1e-3


def test_part_loss_and_masking():
    gen = torch.Generator().manual_seed(1)
    logits, targets, mask = random_case(gen, 2, 2)
    got = part_loss(logits, targets, mask.expand(2, 1, 6, 6))
    want = (masked_bce(logits[0], targets[0], mask) + masked_bce(logits[1], targets[1], mask)) / 2
    assert float(got) == pytest.approx(want, rel=1e-6)
    # masked pixels do not matter
    changed = logits.clone()
    changed[:, :, mask[0] == 0] = 50.0
    assert float(part_loss(changed, targets, mask.expand(2, 1, 6, 6))) == pytest.approx(float(got), rel=1e-6)
    # a fully masked image adds zero, not NaN
    assert float(part_loss(logits[:1], targets[:1], torch.zeros(1, 1, 6, 6))) == 0.0


def test_pair_costs_match_direct_bce():
    gen = torch.Generator().manual_seed(2)
    logits, targets, mask = random_case(gen, 3, 4)
    costs = pair_costs(logits, targets, mask)
    for a in range(3):
        for b in range(4):
            assert float(costs[a, b]) == pytest.approx(masked_bce(logits[a], targets[b], mask), rel=1e-5)
    zeros = zero_target_costs(logits, mask)
    assert float(zeros[1]) == pytest.approx(masked_bce(logits[1], torch.zeros_like(logits[1]), mask), rel=1e-5)


def test_total_is_lambda_part_plus_person_and_gradients_flow():
    gen = torch.Generator().manual_seed(3)
    logits, targets, mask = random_case(gen, 4, 2)
    part = torch.randn(1, 3, 6, 6, generator=gen, requires_grad=True)
    person = logits[None].clone().requires_grad_(True)
    batch = {"parts": targets.amax(0, keepdim=True), "people": targets[None],
             "people_valid": torch.ones(1, 2, dtype=torch.bool), "mask": mask[None]}
    out = seqpose_loss(part, person, batch, max_people=3, part_weight=0.5)
    want = 0.5 * masked_bce(part[0].detach(), batch["parts"][0], mask) + brute_force(logits, targets, mask, 3)
    assert float(out.total.detach()) == pytest.approx(want, rel=1e-5)
    out.total.backward()
    assert part.grad.abs().sum() > 0 and person.grad[0, :4].abs().sum() > 0
    assert float(seqpose_loss(part, person, batch, 3, part_weight=0.0).total.detach()) == pytest.approx(float(out.person))


def test_too_few_steps_and_bad_cap_are_errors():
    logits, targets, mask = random_case(torch.Generator().manual_seed(4), 2, 2)
    with pytest.raises(ValueError, match="need 4"):
        person_loss(logits[None], targets[None], torch.ones(1, 2, dtype=torch.bool), mask[None], 3)
    with pytest.raises(ValueError, match="max_people"):
        person_loss(logits[None], targets[None], torch.ones(1, 2, dtype=torch.bool), mask[None], 0)


def test_steps_needed_follows_the_curriculum():
    assert steps_needed(3, 5) == 5          # 3 people + 2 stop steps
    assert steps_needed(2, 2) == 4
    assert steps_needed(5, 2) == 2          # more people than M: M steps, no stop
    assert steps_needed(0, 2) == 2
