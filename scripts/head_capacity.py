"""Measure the person head's capacity: how fast a step-1 peak becomes confident.

Overfits the test suite's toy batch (2 images, 2 and 3 people, tiny ResNet-18 model) with the
person head as shipped (3x3 conv + ReLU + 1x1) and with the earlier single 1x1 convolution on
the tanh-bounded ConvLSTM state, and prints the step-1 peak (the lowest over the two images)
every 30 optimiser steps. Same seed, data and optimiser for both.

    python scripts/head_capacity.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]                       # benchmarks and tests.helpers

from benchmarks.data import collate_people  # noqa: E402
from benchmarks.engine import distributed  # noqa: E402
from benchmarks.seqpose.model import PRIOR_BIAS  # noqa: E402
from benchmarks.engine.train import Trainer  # noqa: E402
from benchmarks.seqpose.method import SeqPoseMethod  # noqa: E402
from tests.helpers.seqpose import ToyDataset, tiny_config  # noqa: E402


def step1_peaks(single_conv_head: bool, steps: int = 120, every: int = 30) -> list[float]:
    torch.manual_seed(0)
    trainer = Trainer(SeqPoseMethod(), tiny_config(optim={"lr": 3e-3}), ToyDataset.keypoint_names,
                      distributed.DistContext(0, 1, 0, torch.device("cpu")))
    if single_conv_head:
        head = torch.nn.Conv2d(trainer.model.decoder.head[0].in_channels, len(ToyDataset.keypoint_names), 1)
        torch.nn.init.constant_(head.bias, PRIOR_BIAS)
        trainer.model.decoder.head = head
        trainer.optimizer = torch.optim.Adam(trainer.model.parameters(), lr=3e-3)
    data = ToyDataset([2, 3], seed=0)
    batch = collate_people([data[0], data[1]])
    peaks = []
    for i in range(steps + 1):
        if i % every == 0:
            trainer.model.eval()
            with torch.no_grad():
                first = trainer.model(batch["image"], 1).person_logits[:, 0].sigmoid()
            peaks.append(round(float(first.flatten(1).amax(1).min()), 3))
            trainer.model.train()
        if i < steps:
            trainer.forward_backward(batch, {"max_people": 5})
            trainer.optimizer_step()
    return peaks


def main() -> int:
    torch.set_num_threads(1)
    print("optimiser steps:        ", list(range(0, 121, 30)))
    print("1x1 conv head (before): ", step1_peaks(True))
    print("3x3+ReLU+1x1 head (now):", step1_peaks(False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
