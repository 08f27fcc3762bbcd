"""Batching samples whose number of people differs."""
from __future__ import annotations

import torch

PADDED = ("people", "keypoints")


def collate_people(batch: list[dict]) -> dict:
    """Stack a list of :class:`CocoCrowdDataset` samples into a batch.

    ``people`` (P, K, H, W) and ``keypoints`` (P, K, 3) are zero-padded to the
    batch's largest P; ``people_valid`` (B, Pmax) bool marks the real ones.
    Tensors are stacked, ints become int64 tensors (``image_id``, ``num_people``)."""
    if not batch:
        raise ValueError("collate_people needs at least one sample")
    counts = [int(s["num_people"]) for s in batch]
    pmax = max(counts)
    out: dict = {}
    for key in PADDED:
        if key not in batch[0]:  # eval samples and other codecs' targets have no person maps
            continue
        first = batch[0][key]
        padded = first.new_zeros((len(batch), pmax) + tuple(first.shape[1:]))
        for b, s in enumerate(batch):
            padded[b, : counts[b]] = s[key]
        out[key] = padded
    out["people_valid"] = torch.arange(pmax)[None, :] < torch.tensor(counts)[:, None]
    for key in batch[0]:
        if key in PADDED:
            continue
        values = [s[key] for s in batch]
        out[key] = torch.stack(values) if isinstance(values[0], torch.Tensor) else torch.tensor(values)
    return out
