"""collate_people: padding of per-image people, stacking of the rest."""
from __future__ import annotations

import pytest
import torch

from benchmarks.data import collate_people

from tests.helpers.data import disk_dataset


def fake_sample(p: int, k: int = 3, m: int = 4, image_id: int = 1) -> dict:
    g = torch.Generator().manual_seed(p * 10 + image_id)
    return {
        "image": torch.rand(3, 4 * m, 4 * m, generator=g),
        "parts": torch.rand(k, m, m, generator=g),
        "people": torch.rand(p, k, m, m, generator=g) + 0.5,   # never zero, so padding is visible
        "keypoints": torch.rand(p, k, 3, generator=g) + 0.5,
        "mask": torch.ones(1, m, m),
        "image_id": image_id,
        "num_people": p,
        "affine": torch.rand(2, 3, generator=g, dtype=torch.float64),
    }


def test_pads_people_and_marks_valid():
    batch = [fake_sample(2, image_id=7), fake_sample(0, image_id=8), fake_sample(3, image_id=9)]
    out = collate_people(batch)
    assert out["people"].shape == (3, 3, 3, 4, 4)
    assert out["keypoints"].shape == (3, 3, 3, 3)
    assert out["people_valid"].dtype == torch.bool
    assert out["people_valid"].tolist() == [[True, True, False], [False, False, False], [True, True, True]]
    for b, s in enumerate(batch):
        p = s["num_people"]
        assert torch.equal(out["people"][b, :p], s["people"])
        assert torch.equal(out["keypoints"][b, :p], s["keypoints"])
        assert (out["people"][b, p:] == 0).all() and (out["keypoints"][b, p:] == 0).all()
        for key in ("image", "parts", "mask", "affine"):
            assert torch.equal(out[key][b], s[key])
    assert out["image_id"].tolist() == [7, 8, 9] and out["num_people"].tolist() == [2, 0, 3]
    assert out["affine"].dtype == torch.float64 and out["image"].shape == (3, 3, 16, 16)


def test_all_empty_batch_and_errors():
    out = collate_people([fake_sample(0), fake_sample(0)])
    assert out["people"].shape == (2, 0, 3, 4, 4) and out["people_valid"].shape == (2, 0)
    with pytest.raises(ValueError, match="at least one sample"):
        collate_people([])


def test_works_in_a_dataloader_with_the_dataset(tmp_path):
    from benchmarks.data.fixtures import random_crowd_dataset
    path = random_crowd_dataset(tmp_path, num_sources=2, regions_per_source=2, source_size=(160, 120), seed=2)
    ds = disk_dataset(path, input_size=64)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=collate_people)
    (batch,) = list(loader)
    counts = [ds[i]["num_people"] for i in range(4)]
    assert batch["people"].shape == (4, max(counts), 17, 16, 16)
    assert batch["people_valid"].sum(1).tolist() == counts == batch["num_people"].tolist()


def test_worker_processes_give_the_same_samples_and_see_set_epoch(tmp_path):
    from benchmarks.data.fixtures import random_crowd_dataset
    path = random_crowd_dataset(tmp_path, num_sources=2, regions_per_source=2, source_size=(160, 120), seed=3)
    ds = disk_dataset(path, input_size=64, seed=1)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=collate_people, num_workers=2)
    for epoch in (0, 4):
        ds.set_epoch(epoch)
        direct = collate_people([ds[i] for i in range(len(ds))])
        batches = list(loader)
        for key in ("image", "parts", "mask", "affine"):
            assert torch.equal(torch.cat([b[key] for b in batches]), direct[key]), (epoch, key)
