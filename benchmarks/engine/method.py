"""What a method is to the engine: the interface every `bench run --method NAME` follows.

A method is a dataclass registered with ``@register("NAME")`` (:mod:`.registry`) in a module of
its own under ``benchmarks/`` or ``baselines/``. Its fields are its options, declared once: the
CLI makes each one a `bench run` flag (``--field-name``; :func:`option` adds help, bounds, a flag
spelling) and the registry refuses an option of another method. It has one method::

    predict(gt_path, images) -> results  or  (results, summary)

``results``: COCO keypoint results for the images of a COCO-crowd file (``images``: its crops
folder, None = the file's own); ``summary``: optional, what the method wants in ``run.json``
(the CLI reads nothing from it). Deriving from :class:`Method` gives it the generic run options
(batch size, workers, device, progress bar) that the CLI passes every method; ``test_options``
makes it fast on random weights in the registry-parametrised tests.

A *learned* method (a subclass of :class:`LearnedMethod`, trained by `bench train --method NAME`)
is its config class, its model, its :class:`Codec` (geometry -> training targets, model outputs ->
people), its loss (named terms) and optional :class:`Hooks`; the engine does the rest for all of
them alike (:mod:`.train`: DDP, AMP, checkpoints, exact resume, logs; :mod:`.predict`: batched
prediction, flip test, crop pixels, COCO results; :mod:`.oracle`: the codec's own ceiling).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Protocol

import numpy as np


def option(default: Any = None, help: str = "", *, flag: str | None = None, min: float | None = None,
           max: float | None = None, choices: Callable[[], list[str]] | None = None):
    """A method's dataclass field declared as a `bench run` option: its help, its flag when not
    ``--field-name``, its bounds, or a function naming its choices (called when the CLI is built)."""
    meta = {"help": help, "flag": flag, "min": min, "max": max, "choices": choices}
    return dataclasses.field(default=default, metadata={k: v for k, v in meta.items() if v is not None})


@dataclass
class Method:
    """Base of the methods: the generic run options, which the CLI gives every method."""

    batch_size: int | None = None          # None: the method's own choice
    workers: int = 0
    device: str | None = None              # None: CUDA when present
    progress: bool = True

    method_name: ClassVar[str] = ""        # set by @register
    test_options: ClassVar[dict] = {}      # options for a fast run on random weights (registry tests)

    def predict(self, gt_path: str | Path, images: str | Path | None = None) -> list[dict] | tuple[list[dict], dict]:
        raise NotImplementedError


GENERIC_OPTIONS = tuple(f.name for f in dataclasses.fields(Method))


class Codec(Protocol):
    """Between the data pipeline's geometry and a method's tensors.

    ``encode(sample)``: a sample of :class:`benchmarks.data.CocoCrowdDataset` (``image``,
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
class LearnedMethod(Method):
    """Base of the methods the engine trains (a subclass of one is learned too). ``bench run``
    options: a checkpoint of `bench train` and the flip test. Subclasses set ``config_class``
    and implement the methods below."""

    checkpoint: str | Path | None = option(None, "checkpoint written by `bench train` (e.g. RUN/checkpoints/last.pt)")
    flip: bool | None = option(None, "flip test (default: the checkpoint's infer.flip)")

    config_class: ClassVar[Any] = None     # the method's config dataclass
    default_config: ClassVar[str] = ""     # its paper settings, a file of the shipped configs (config_file)
    smoke_config: ClassVar[str] = ""       # a tiny CPU config, for smoke runs and tests (config_file)

    @classmethod
    def config_file(cls, which: str = "smoke") -> Path:
        """The path of the method's ``smoke`` or ``default`` config, from the installed package
        (``benchmarks/configs/``, which ``configs/`` in the checkout points at)."""
        return shipped_config(cls.smoke_config if which == "smoke" else cls.default_config)

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


def shipped_config(name: str) -> Path:
    """A config file shipped in the package (``benchmarks/configs/NAME``)."""
    from importlib.resources import files
    path = Path(str(files("benchmarks") / "configs" / name))
    if not name or not path.is_file():
        raise FileNotFoundError(f"{name or '(none)'}: not a config shipped in {path.parent}")
    return path
