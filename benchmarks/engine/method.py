"""What a method is to the engine.

Every method (`bench run --method NAME`) has ``predict(gt_path, images) -> (results, summary)``:
COCO keypoint results for every image of a COCO-crowd file and a small dict describing the run.
Its options are its dataclass fields (the registry refuses any other).

A *learned* method (:class:`LearnedMethod`, trained by `bench train --method NAME`) is its
config class, its model, its :class:`Codec` (geometry -> training targets, model outputs ->
people), its loss (named terms) and optional :class:`Hooks`; the engine does the rest for all of
them alike (:mod:`.train`: DDP, AMP, checkpoints, exact resume, logs; :mod:`.predict`: batched
prediction, flip test, crop pixels, COCO results; :mod:`.oracle`: the codec's own ceiling).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Protocol

import numpy as np


class Codec(Protocol):
    """Between the data pipeline's geometry and a method's tensors.

    ``encode(sample)``: a sample of :class:`benchmarks.data.CrowdPoseDataset` (``image``,
    ``keypoints`` (P, K, 3) map coordinates, ``mask`` (1, H, W), ``affine``, ...) -> the same
    dict with the method's training targets added. ``collate(samples)`` -> a batch.
    ``decode(raw, raw_flipped, flip_permutation)``: one image's model outputs (and those of its
    mirrored image, or None) -> (keypoints (N, K, 3) as map x, y, keypoint score; person scores
    (N,)). ``oracle(sample)``: the outputs a perfect model would give for an encoded sample."""

    def encode(self, sample: dict) -> dict: ...
    def collate(self, samples: list[dict]) -> dict: ...
    def decode(self, raw: Any, raw_flipped: Any | None, flip_permutation: list[int]) -> tuple[np.ndarray, np.ndarray]: ...
    def oracle(self, sample: dict) -> Any: ...


class Hooks(Protocol):
    """Per-epoch state of a method's training (the sequential model's curriculum)."""

    def epoch_values(self, epoch: int) -> dict[str, float]: ...     # logged; passed to the loss
    def end_epoch(self, epoch: int, loss: float) -> None: ...
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> None: ...


# infer(batch, flipped) -> one raw output per image of the batch (``flipped``: of the mirrored images)
Infer = Callable[[dict, bool], list]


@dataclass
class LearnedMethod:
    """Base of the methods the engine trains. ``bench run`` options: a checkpoint of
    `bench train`, the flip test (default: the checkpoint's ``infer.flip``), batch, workers,
    device. Subclasses set ``config_class`` and implement the methods below."""

    checkpoint: str | Path | None = None
    flip: bool | None = None
    batch_size: int | None = None
    workers: int = 0
    device: str | None = None
    progress: bool = True

    config_class: ClassVar[Any] = None     # the method's config dataclass
    smoke_config: ClassVar[str] = ""       # a tiny CPU config (repo-relative), for smoke runs and tests
    method_name: ClassVar[str] = ""        # set by @register

    # ---------------------------------------------------------------- for the engine

    def build_model(self, config: Any, keypoint_names: list[str], pretrained: str | None = None):
        raise NotImplementedError

    def codec(self, config: Any, keypoint_names: list[str]) -> Codec:
        raise NotImplementedError

    def losses(self, net, batch: dict, config: Any, values: dict) -> dict:
        """Named loss terms of one batch (tensors), with their weighted sum as ``total``; optionally
        ``monitor``: NAME -> (sum, count) of a diagnostic over the batch (the same names every
        step), logged as its epoch mean in log.csv and TensorBoard, never trained on."""
        raise NotImplementedError

    def hooks(self, config: Any) -> Hooks | None:
        return None

    def infer(self, model, config: Any, amp_dtype) -> Infer:
        raise NotImplementedError

    def optimizer(self, model, config: Any):
        import torch
        return torch.optim.Adam(model.parameters(), lr=config.optim.lr)

    def load_config(self, path: str | Path | None):
        from .config import load_config
        return load_config(path, self.config_class) if path is not None else self.config_class().validate()

    # ---------------------------------------------------------------- bench run

    def model_for_run(self, device, gt_path) -> tuple[Any, Any, list[str] | None, dict]:
        """(model in eval mode on ``device``, config, the keypoint names it was trained on or None,
        summary entries) for predicting ``gt_path``."""
        from .predict import load_trained
        if self.checkpoint is None:
            raise ValueError(f"--method {self.method_name} needs --checkpoint (a `bench train` checkpoint, "
                             "e.g. RUN/checkpoints/last.pt)")
        model, config, names = load_trained(self, self.checkpoint, device)
        return model, config, names, {"checkpoint": str(self.checkpoint)}

    def predict(self, gt_path: str | Path, images: str | Path | None = None) -> tuple[list[dict], dict]:
        from .distributed import pick_device
        from .predict import amp_dtype_for, check_keypoints, eval_dataset, person_category_id, predict_dataset
        dev = pick_device(self.device)
        model, config, names, about = self.model_for_run(dev, gt_path)
        dataset = eval_dataset(config, gt_path, images)
        if names is not None:
            check_keypoints(dataset, names, gt_path)
        names = list(dataset.keypoint_names)
        codec = self.codec(config, names)
        use_flip = config.infer.flip if self.flip is None else self.flip
        start = time.monotonic()
        results = predict_dataset(self.infer(model, config, amp_dtype_for(config, dev)), dataset, codec,
                                  category_id=person_category_id(gt_path),
                                  flip_permutation=[int(p) for p in dataset.flip_permutation], flip=use_flip,
                                  batch_size=self.batch_size or config.infer.batch_size, workers=self.workers,
                                  progress=self.progress)
        seconds = time.monotonic() - start
        summary = {"method": self.method_name, **about, "gt": str(gt_path), "flip": use_flip,
                   "images": len(dataset), "people": len(results), "device": str(dev),
                   "seconds": round(seconds, 3), "images_per_s": round(len(dataset) / max(seconds, 1e-9), 3)}
        return results, summary
