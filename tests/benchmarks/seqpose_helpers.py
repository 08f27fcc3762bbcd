"""Hand-made samples in the data pipeline's format, for the sequential model's tests.

Targets are drawn here with plain numpy (disks of radius R around map keypoints), not with the
pipeline's code, so the model and loss tests do not depend on it."""
from __future__ import annotations

import numpy as np
import torch


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
