"""`bench run --method oracle [--codec NAME]`: the AP ceiling of a method's target encoding and read-out.

Each crop is "predicted" from the dataset's own training targets, encoded by the codec of
``--codec NAME`` (default ``ours``) for a config of that method, instead of a model's outputs,
through exactly the prediction path a trained model uses: the eval letterbox, the flip test
(the second pass gets the targets of the mirrored crop, so unflip and merging are exercised),
the codec's decode, mapping to crop pixels, COCO results and scoring. Whatever AP it loses is
lost by the encoding and the read-out alone, so it is the most a perfect model of that config
could score, and a guard on the read-out.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset

from benchmarks.data import AugParams

from .config import load_config
from .method import Method, option
from .registry import codec_class, codec_names, register


class OracleSamples(Dataset):
    """Eval samples with the codec's perfect outputs for the crop (``oracle``) and, with
    ``flip``, for its mirror (``oracle_flipped``)."""

    def __init__(self, dataset, codec, flip: bool):
        self.dataset, self.codec, self.flip = dataset, codec, flip

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        sample = self.dataset[index]
        sample["oracle"] = self.codec.oracle(sample)
        if self.flip:
            sample["oracle_flipped"] = self.codec.oracle(self.dataset.sample(index, AugParams(flip=True)))
        return sample


class OracleCodec:
    """The method's codec, collating the oracle outputs aside (as plain lists)."""

    def __init__(self, codec):
        self.codec = codec

    def collate(self, samples: list[dict]) -> dict:
        keys = ("oracle", "oracle_flipped")
        aside = {k: [s.pop(k) for s in samples if k in s] for k in keys}
        batch = self.codec.collate(samples)
        batch.update(aside)
        return batch

    def decode(self, raw, raw_flipped, flip_permutation):
        return self.codec.decode(raw, raw_flipped, flip_permutation)


def oracle_infer(batch: dict, flipped: bool) -> list:
    return batch["oracle_flipped" if flipped else "oracle"]


@register("oracle")
@dataclass
class OracleMethod(Method):
    """The dataset's own targets, encoded by the registered codec ``codec`` for ``config`` (its
    TOML/JSON file; default: the codec's config defaults), through the model's prediction path."""

    codec: str = option("ours", "the registered codec whose encode -> decode it runs", choices=codec_names)
    config: str | Path | None = option(None, "config of the --codec's method (input size, targets; default: its "
                                       "defaults)")
    flip: bool | None = option(None, "flip test (default: the config's infer.flip)")

    def predict(self, gt_path: str | Path, images: str | Path | None = None) -> tuple[list[dict], dict]:
        from .predict import eval_dataset, person_category_id, predict_dataset
        cls = codec_class(self.codec)
        config = load_config(self.config, cls.config_class) if self.config else cls.config_class().validate()
        dataset = eval_dataset(config, gt_path, images)
        codec = cls.from_config(config, list(dataset.keypoint_names))
        dataset.encoder = codec.encode
        use_flip = config.infer.flip if self.flip is None else self.flip
        start = time.monotonic()
        results = predict_dataset(oracle_infer, OracleSamples(dataset, codec, use_flip), OracleCodec(codec),
                                  category_id=person_category_id(gt_path),
                                  flip_permutation=[int(p) for p in dataset.flip_permutation], flip=use_flip,
                                  batch_size=self.batch_size or config.infer.batch_size, workers=self.workers,
                                  progress=self.progress)
        seconds = time.monotonic() - start
        summary = {"method": "oracle", "codec": self.codec, "config": None if self.config is None else str(self.config),
                   "input_size": config.data.input_size, "gt": str(gt_path), "flip": use_flip,
                   "images": len(dataset), "people": len(results),
                   "seconds": round(seconds, 3), "images_per_s": round(len(dataset) / max(seconds, 1e-9), 3)}
        if hasattr(config.data, "radius"):
            summary["radius"] = config.data.radius
        return results, summary
