"""`--method ae`: Associative Embedding (Newell, Huang and Deng, NIPS 2017) as an engine method.

A stacked hourglass (:mod:`.hourglass`) predicts K detection heatmaps and K tag maps at stride 4
with intermediate supervision; the loss (:mod:`.loss`) is the heatmap MSE against Gaussian
targets (:mod:`.targets`) plus the pull/push tag loss, masked like every method's by the data
pipeline (unannotated people, ``iscrowd`` regions); grouping is :mod:`.grouping`'s.

`bench train --method ae` on a COCO-crowd file is the paper's AE*; `bench run --method ae
--weights FILE` runs a checkpoint of the authors' pose-ae-train (the paper's AE; 17 COCO
keypoints, ``configs/ae_authors_coco.toml``). Where the AE paper's test differs: single scale at
the config's input size (their multi-scale average is not run), maps at stride 4 (theirs are
upsampled to the input before grouping); the flip test is theirs (average the detections,
concatenate the tags), and detection maps are clipped at 1 before grouping, as their test.py.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from benchmarks.engine import config as engine_config
from benchmarks.engine.config import OptimConfig, TrainConfig
from benchmarks.engine.method import LearnedMethod, option
from benchmarks.engine.registry import register, register_codec

from .grouping import GroupingParams


@dataclass
class ModelConfig:
    stacks: int = 4                       # the AE paper's 4-stack network
    width: int = 256
    increase: int = 128                   # extra channels per hourglass level (theirs)
    tag_dim: int = 1
    out_channels: int = 0                 # 0: K * (1 + tag_dim); the authors' COCO checkpoint has 68
    input: str = "imagenet"               # what the network sees: "imagenet" (normalised, as the data
                                          # pipeline gives) or "unit" (RGB in [0, 1], the authors' network)


@dataclass
class DataConfig(engine_config.DataConfig):
    rotate: float = 30.0                  # theirs: +-30 degrees, scale 0.75-1.25, flip
    sigma: float = 2.0                    # Gaussian target, output pixels (theirs: output_res / 64)
    max_people: int = 30                  # people per image in the tag loss (theirs)


@dataclass
class LossConfig:
    heatmap_weight: float = 1.0
    push_weight: float = 1e-3             # theirs
    pull_weight: float = 1e-3


_GROUPING = GroupingParams()


@dataclass
class InferConfig(engine_config.InferConfig):
    """The grouping's settings (:class:`.grouping.GroupingParams`, whose defaults are theirs)."""

    max_people: int = _GROUPING.max_people            # top-k candidates per joint
    detection_threshold: float = _GROUPING.detection_threshold
    tag_threshold: float = _GROUPING.tag_threshold
    use_detection_val: bool = _GROUPING.use_detection_val
    ignore_too_much: bool = _GROUPING.ignore_too_much
    refine: bool = _GROUPING.refine
    nms_kernel: int = _GROUPING.nms_kernel

    def grouping(self) -> GroupingParams:
        return GroupingParams(**{f.name: getattr(self, f.name) for f in dataclasses.fields(GroupingParams)
                                 if f.name != "joint_order"})


@dataclass
class AEConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    # Adam 2e-4 (theirs), on the same 130-epoch schedule as the sequential model's COCO-crowd run
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=2e-4))
    train: TrainConfig = field(default_factory=TrainConfig)
    infer: InferConfig = field(default_factory=InferConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self, source: str = "config") -> "AEConfig":
        # the hourglass halves a stride-4 map four times: inputs are multiples of 64
        engine_config.check_common(self, source, input_multiple=64)
        m, d, i = self.model, self.data, self.infer
        checks = [
            (m.stacks >= 1, "model.stacks", "must be >= 1"),
            (m.width >= 1, "model.width", "must be >= 1"),
            (m.increase >= 0, "model.increase", "must be >= 0"),
            (m.tag_dim >= 1, "model.tag_dim", "must be >= 1"),
            (m.out_channels >= 0, "model.out_channels", "must be >= 0 (0: K * (1 + tag_dim))"),
            (m.input in ("imagenet", "unit"), "model.input", "must be imagenet or unit"),
            (d.sigma > 0, "data.sigma", "must be > 0"),
            (d.max_people >= 1, "data.max_people", "must be >= 1"),
            (i.max_people >= 1, "infer.max_people", "must be >= 1"),
            (i.tag_threshold > 0, "infer.tag_threshold", "must be > 0"),
            (i.nms_kernel >= 1 and i.nms_kernel % 2 == 1, "infer.nms_kernel", "must be an odd number >= 1"),
        ]
        engine_config.check_all(checks, source)
        return self


@register_codec("ae")
@dataclass
class AECodec:
    """Gaussian heatmaps + joint indices (encode); tag grouping (decode)."""

    config: AEConfig
    num_keypoints: int

    config_class: ClassVar[type] = AEConfig

    @classmethod
    def from_config(cls, config: AEConfig, keypoint_names: list[str]) -> "AECodec":
        return cls(config, len(keypoint_names))

    def encode(self, sample: dict) -> dict:
        from .targets import encode
        d = self.config.data
        t = encode(sample["keypoints_all"], sample["mask"].shape[-1], d.sigma, d.max_people)
        sample["heatmaps"] = torch.from_numpy(t["heatmaps"])
        sample["joints"] = torch.from_numpy(t["joints"])
        return sample

    def collate(self, samples: list[dict]) -> dict:
        from benchmarks.data import collate_people
        return collate_people(samples)

    def decode(self, raw: torch.Tensor, raw_flipped: torch.Tensor | None,
               flip_permutation: list[int]) -> tuple[np.ndarray, np.ndarray]:
        from .grouping import group, merge_flip, split_outputs
        k, tag_dim = self.num_keypoints, self.config.model.tag_dim
        det, tags = split_outputs(raw.float().cpu(), k, tag_dim)
        if raw_flipped is not None:
            det_f, tags_f = split_outputs(raw_flipped.float().cpu(), k, tag_dim)
            det, tags = merge_flip(det, tags, det_f, tags_f, flip_permutation)
        return group(det.clamp(max=1.0), tags, self.config.infer.grouping())

    def oracle(self, sample: dict) -> torch.Tensor:
        """A perfect network's last stack: the target heatmaps, and each joint's tag map holding,
        at every pixel, 2 x the index of the person whose Gaussian is highest there (tags 2 apart,
        beyond the default tag threshold of 1)."""
        from .targets import encode
        heat = sample["heatmaps"]
        k, size = heat.shape[0], heat.shape[-1]
        people = sample["keypoints"].numpy().astype(np.float64)
        tag_dim = self.config.model.tag_dim
        tags = torch.zeros(k, tag_dim, size, size)
        if len(people):
            each = np.stack([encode(p[None], size, self.config.data.sigma, 1)["heatmaps"] for p in people])
            owner = torch.from_numpy(each.argmax(axis=0)).float() * 2.0           # (K, H, W)
            tags[:] = owner[:, None]
        return torch.cat([heat, tags.reshape(k * tag_dim, size, size)], dim=0)


def network_input(images: torch.Tensor, config: AEConfig) -> torch.Tensor:
    """The pipeline's ImageNet-normalised images as the network expects them."""
    if config.model.input == "imagenet":
        return images
    from benchmarks.data.augment import IMAGENET_MEAN, IMAGENET_STD
    mean = torch.as_tensor(IMAGENET_MEAN, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    std = torch.as_tensor(IMAGENET_STD, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return images * std + mean


@register("ae")
@dataclass
class AEMethod(LearnedMethod):
    """Associative Embedding from a `bench train --method ae` checkpoint, or from the authors'
    pose-ae-train checkpoint (``weights``) with the network of ``config``."""

    weights: str | Path | None = option(None, "a checkpoint saved by the authors' pose-ae-train (e.g. "
                                        "checkpoint.pth.tar), instead of --checkpoint")
    config: str | Path | None = option(None, "with --weights: the network's config (e.g. configs/ae_authors_coco.toml)")

    config_class = AEConfig
    default_config = "ae_coco_crowd.toml"
    smoke_config = "ae_cpu_smoke.toml"

    def build_model(self, config: AEConfig, keypoint_names: list[str], pretrained: str | None = None):
        from .hourglass import StackedHourglass
        if pretrained not in (None, "none"):
            raise ValueError("--pretrained: not an option of --method ae (the hourglass trains from scratch, "
                             "as in the AE paper)")
        m = config.model
        return StackedHourglass(len(keypoint_names), m.stacks, m.width, m.increase, m.tag_dim,
                                m.out_channels or None)

    def codec(self, config: AEConfig, keypoint_names: list[str]) -> AECodec:
        return AECodec.from_config(config, keypoint_names)

    def losses(self, net, batch: dict, config: AEConfig, values: dict) -> dict:
        from .loss import ae_loss
        preds = net(network_input(batch["image"], config))
        c = config.loss
        return ae_loss(preds, batch["heatmaps"], batch["mask"], batch["joints"], config.model.tag_dim,
                       push_weight=c.push_weight, pull_weight=c.pull_weight, heatmap_weight=c.heatmap_weight)

    def infer(self, model, config: AEConfig, amp_dtype):
        from benchmarks.engine.predict import amp_context
        device = next(model.parameters()).device

        def run(batch: dict, flipped: bool) -> list[torch.Tensor]:
            images = network_input(batch["image"].to(device), config)
            with amp_context(device, amp_dtype):
                last = model(images.flip(-1) if flipped else images)[:, -1]
            return list(last.float())
        return run

    def model_for_run(self, device, gt_path) -> tuple[Any, Any, list[str] | None, dict]:
        if self.weights is None:
            if self.config is not None:
                raise ValueError("--config: --method ae takes it with --weights only (a checkpoint of "
                                 "`bench train` holds its own config)")
            return super().model_for_run(device, gt_path)
        if self.checkpoint is not None:
            raise ValueError("--method ae: give --checkpoint (ours) or --weights (the authors'), not both")
        from cococrowd.cocofile import load_keypoint_file

        from .authors import load_authors_checkpoint
        config = self.load_config(self.config)
        names = list(load_keypoint_file(gt_path).schema.keypoints)
        model = self.build_model(config, names)
        load_authors_checkpoint(self.weights, model)
        return model.to(device).eval(), config, None, {"weights": str(self.weights)}
