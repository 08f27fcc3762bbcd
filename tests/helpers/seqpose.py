"""Helpers for the sequential model's tests: hand-made samples in the data pipeline's format,
a tiny config, and the DDP worker (importable by name, as torch.multiprocessing needs).

Targets are drawn here with plain numpy (disks of radius R around map keypoints), not with the
pipeline's code, so the model and loss tests do not depend on it."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from benchmarks.engine import distributed
from benchmarks.seqpose.config import Config, config_from_dict


# the smallest network and input the CLI tests train: each test adds its own [optim], [infer], ...
TINY_NETWORK = """
[model]
backbone = "resnet18"
pretrained = "none"
decoder_channels = [8, 8, 16, 16]
[data]
input_size = 64
workers = 0
"""


def disks(points: np.ndarray, size: int, radius: float = 3.0) -> np.ndarray:
    """(K, size, size) maps: 1 within ``radius`` of each labelled point (x, y, v), per channel."""
    yy, xx = np.mgrid[0:size, 0:size]
    maps = np.zeros((len(points), size, size), dtype=np.float32)
    for k, (x, y, v) in enumerate(points):
        if v > 0:
            maps[k] = (xx - x) ** 2 + (yy - y) ** 2 <= radius ** 2
    return maps


def toy_sample(rng: np.random.Generator, image_id: int, num_people: int, k: int = 4,
               input_size: int = 64, radius: float = 2.0) -> dict:
    """One image with ``num_people`` people; keypoint k of a person is a bright square of
    colour k, scaled by a per-person brightness, on a dark background."""
    size = input_size // 4
    keypoints = np.zeros((num_people, k, 3), dtype=np.float32)
    keypoints[..., :2] = rng.integers(2, size - 2, size=(num_people, k, 2))
    keypoints[..., 2] = 2
    image = np.full((3, input_size, input_size), -1.0, dtype=np.float32)
    colours = np.eye(3)[np.arange(k) % 3] + (np.arange(k) // 3)[:, None] * 0.5
    for p in range(num_people):
        bright = 1.0 + p
        for j in range(k):
            x, y = (keypoints[p, j, :2] * 4).astype(int)
            image[:, y:y + 4, x:x + 4] = (colours[j] * bright)[:, None, None]
    people = np.stack([disks(kp, size, radius) for kp in keypoints]) if num_people else \
        np.zeros((0, k, size, size), np.float32)
    parts = people.max(axis=0) if num_people else np.zeros((k, size, size), np.float32)
    affine = np.array([[4.0, 0.0, 1.5], [0.0, 4.0, 1.5]])   # map pixel centre -> input pixel centre
    return {"image": torch.from_numpy(image), "parts": torch.from_numpy(parts),
            "people": torch.from_numpy(people), "keypoints": torch.from_numpy(keypoints),
            "mask": torch.ones(1, size, size), "image_id": image_id, "num_people": num_people,
            "affine": torch.from_numpy(affine)}


class ToyDataset(torch.utils.data.Dataset):
    """A fixed list of toy samples (no augmentation)."""

    keypoint_names = ("nose", "left_eye", "right_eye", "left_wrist")

    def __init__(self, counts: list[int], seed: int = 0, input_size: int = 64, radius: float = 2.0):
        rng = np.random.default_rng(seed)
        k = len(self.keypoint_names)
        self.samples = [toy_sample(rng, i + 1, n, k, input_size, radius) for i, n in enumerate(counts)]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        return self.samples[i]


def tiny_config(**sections) -> Config:
    """ResNet-18, 64 px input, GroupNorm (batch-independent), float32, no workers."""
    raw = {"model": {"backbone": "resnet18", "pretrained": "none", "norm": "group",
                     "decoder_channels": [16, 16, 32, 32]},
           "data": {"input_size": 64, "workers": 0},
           "optim": {"batch_size": 2, "epochs": 3, "milestones": [2]},
           "train": {"amp": "none", "keep_every": 0}}
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return config_from_dict(raw, "test")


DDP_COUNTS = [1, 3, 2, 2]   # people per image of the DDP test batch


def ddp_worker(rank: int, port: int, out_dir: str) -> None:
    """Rank ``rank`` of 2 (gloo): one forward/backward on its half of the batch; saves grads."""
    from benchmarks.data import collate_people
    from benchmarks.engine.train import Trainer
    from benchmarks.seqpose.method import SeqPoseMethod
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    ctx = distributed.setup("cpu")
    try:
        trainer = Trainer(SeqPoseMethod(), tiny_config(), ToyDataset.keypoint_names, ctx)
        data = ToyDataset(DDP_COUNTS, seed=5)
        half = collate_people([data[2 * rank], data[2 * rank + 1]])
        trainer.forward_backward(half, {"max_people": 2})
        grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}
        torch.save(grads, Path(out_dir) / f"grads{rank}.pt")
    finally:
        distributed.teardown(ctx)
