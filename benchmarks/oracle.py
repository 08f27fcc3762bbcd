"""`bench run --method oracle`: the AP ceiling of a target encoding and its read-out.

Each crop is "predicted" from the dataset's own training targets for a config (the person
disks of Eq. 2 at that input size and radius, in annotation order) instead of a model's
maps, through exactly the prediction path a trained model uses: the eval letterbox, the flip
test (the second pass gets the targets of the mirrored crop, so unflip and merging are
exercised), the read-out of :mod:`benchmarks.seqpose.decode`, mapping to crop pixels, COCO
results and scoring. Whatever AP it loses is lost by the encoding and the read-out alone, so
it is the most a perfect model of that config could score, and a guard on the read-out.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from benchmarks.data import AugParams, collate_people


class OracleSamples(Dataset):
    """Eval samples of a :class:`~benchmarks.data.CrowdPoseDataset`, each with the person targets
    of its mirrored crop as ``people_flipped`` when ``flip`` is on."""

    def __init__(self, dataset, flip: bool):
        self.dataset, self.flip = dataset, flip

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        sample = self.dataset[index]
        if self.flip:
            sample["people_flipped"] = self.dataset.sample(index, AugParams(flip=True))["people"]
        return sample


def collate_oracle(samples: list[dict]) -> dict:
    flipped = [s.pop("people_flipped") for s in samples if "people_flipped" in s]
    batch = collate_people(samples)
    batch["people_flipped"] = flipped
    return batch


def oracle_infer(batch: dict, flipped: bool) -> list[torch.Tensor]:
    if flipped:
        return batch["people_flipped"]
    return [people[valid] for people, valid in zip(batch["people"], batch["people_valid"])]


@dataclass
class OracleMethod:
    """The dataset's own targets for ``config`` (a seqpose TOML/JSON file; default: the paper's
    512 px settings) through the model's prediction path."""

    config: str | Path | None = None
    flip: bool | None = None          # None: the config's ``infer.flip``
    batch_size: int | None = None
    workers: int = 0
    progress: bool = True

    def predict(self, gt_path: str | Path, images: str | Path | None = None) -> tuple[list[dict], dict]:
        from benchmarks.seqpose.config import Config, load_config
        from benchmarks.seqpose.predict import eval_dataset, person_category_id, predict_dataset
        config = load_config(self.config) if self.config is not None else Config()
        dataset = eval_dataset(config, gt_path, images)
        use_flip = config.infer.flip if self.flip is None else self.flip
        start = time.monotonic()
        results = predict_dataset(oracle_infer, OracleSamples(dataset, use_flip),
                                  category_id=person_category_id(gt_path),
                                  flip_permutation=[int(p) for p in dataset.flip_permutation],
                                  radius=config.data.radius, flip=use_flip,
                                  batch_size=self.batch_size or config.infer.batch_size, workers=self.workers,
                                  collate_fn=collate_oracle, progress=self.progress)
        seconds = time.monotonic() - start
        summary = {"method": "oracle", "config": None if self.config is None else str(self.config),
                   "input_size": config.data.input_size, "radius": config.data.radius, "gt": str(gt_path),
                   "flip": use_flip, "images": len(dataset), "people": len(results),
                   "seconds": round(seconds, 3), "images_per_s": round(len(dataset) / max(seconds, 1e-9), 3)}
        return results, summary
