"""Training/prediction settings of the sequential model (the paper's COCO-crowd setup,
section 5.1), read from a TOML or JSON file by the engine's loader
(:mod:`benchmarks.engine.config`, which owns the data/optim/train/infer sections)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.engine import config as engine_config
from benchmarks.engine.config import ConfigError, OptimConfig, TrainConfig

__all__ = ["Config", "ConfigError", "config_from_dict", "load_config"]


@dataclass
class ModelConfig:
    backbone: str = "resnet50"
    pretrained: str = "imagenet"          # "imagenet", "none" or a state-dict path
    norm: str = "batch"                   # "batch" (SyncBatchNorm under multi-GPU DDP), "frozen", "group"
    decoder_channels: list[int] = field(default_factory=lambda: [32, 64, 128, 128])


@dataclass
class DataConfig(engine_config.DataConfig):
    radius: float = 3.0                   # R of the target disks, output pixels


@dataclass
class LossConfig:
    part_weight: float = 0.5              # lambda0 of Eq. 3; 0 is the paper's ablation
    stop_steps: int = 2                   # all-zero steps after the last person (Eq. 2)


@dataclass
class CurriculumConfig:
    """At most ``start_people`` people per image until the loss settles, then one more every
    ``increase_every`` epochs. The loss has settled at the end of epoch e when at least
    ``min_epochs`` epochs ran and the best epoch loss of the last ``plateau_window`` epochs is
    not ``plateau_rel_tol`` (relative) below the best loss before them; or, at the latest,
    after ``max_warmup_epochs`` epochs."""

    start_people: int = 2
    plateau_window: int = 3
    plateau_rel_tol: float = 0.01
    min_epochs: int = 5
    max_warmup_epochs: int = 40
    increase_every: int = 2
    max_people: int = 0                   # cap on the curriculum; 0 = no cap


@dataclass
class InferConfig(engine_config.InferConfig):
    threshold: float = 0.05               # a step whose maximum is below this ends the sequence
    max_steps: int = 20


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)   # Adam 1e-3, x0.1 at 60 and 90 of 130
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    infer: InferConfig = field(default_factory=InferConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self, source: str = "config") -> "Config":
        engine_config.check_common(self, source, input_multiple=32)
        checks = [
            (self.model.norm in ("batch", "frozen", "group"), "model.norm", "must be batch, frozen or group"),
            (self.data.radius >= 0, "data.radius", "must be >= 0"),
            (self.curriculum.start_people >= 1, "curriculum.start_people", "must be >= 1"),
            (self.curriculum.plateau_window >= 1, "curriculum.plateau_window", "must be >= 1"),
            (self.curriculum.increase_every >= 1, "curriculum.increase_every", "must be >= 1"),
            (self.loss.part_weight >= 0, "loss.part_weight", "must be >= 0"),
            (self.loss.stop_steps >= 0, "loss.stop_steps", "must be >= 0"),
            (self.infer.max_steps >= 1, "infer.max_steps", "must be >= 1"),
        ]
        engine_config.check_all(checks, source)
        return self


def config_from_dict(raw: Any, source: str = "config") -> Config:
    """Build a :class:`Config` from nested dicts, checking names and types."""
    return engine_config.config_from_dict(raw, Config, source)


def load_config(path: str | Path) -> Config:
    """Read a ``.toml`` or ``.json`` config file."""
    return engine_config.load_config(path, Config)
