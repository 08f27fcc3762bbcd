"""Training/prediction settings of the sequential model, read from a TOML or JSON file.

A file holds any of the sections below; missing keys keep the defaults (the paper's
COCO-crowd setup, section 5.1). Unknown sections or keys and values of the wrong type are
errors that name the file and the key, e.g. ``configs/x.toml: optim.lr: expected a number``.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class ConfigError(ValueError):
    """A config file is malformed; the message names the file and the key."""

    def __init__(self, source: str, key: str, problem: str):
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")


@dataclass
class ModelConfig:
    backbone: str = "resnet50"
    pretrained: str = "imagenet"          # "imagenet", "none" or a state-dict path
    norm: str = "batch"                   # "batch" (SyncBatchNorm under multi-GPU DDP), "frozen", "group"
    decoder_channels: list[int] = field(default_factory=lambda: [32, 64, 128, 128])


@dataclass
class DataConfig:
    input_size: int = 512
    radius: float = 3.0                   # R of the target disks, output pixels
    rotate: float = 40.0                  # degrees, uniform in [-rotate, rotate]
    scale: list[float] = field(default_factory=lambda: [0.75, 1.25])
    flip: bool = True
    use_source_images: bool = True        # scale > 1 shows the source image's background
    workers: int = 4                      # DataLoader worker processes per training process


@dataclass
class LossConfig:
    part_weight: float = 0.5              # lambda0 of Eq. 3; 0 is the paper's ablation
    stop_steps: int = 2                   # all-zero steps after the last person (Eq. 2)


@dataclass
class OptimConfig:
    lr: float = 1e-3
    epochs: int = 130
    milestones: list[int] = field(default_factory=lambda: [60, 90])
    gamma: float = 0.1
    batch_size: int = 4                   # per process: 8 GPUs x 4 = the paper's 32


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
class TrainConfig:
    amp: str = "bf16"                     # "none", "bf16", "fp16" (fp16 uses a GradScaler); CUDA only
    seed: int = 0
    keep_every: int = 10                  # also keep epoch_NNNN.pt every this many epochs (0 = only last.pt)
    log_every: int = 20                   # TensorBoard scalars every this many steps


@dataclass
class InferConfig:
    threshold: float = 0.05               # a step whose maximum is below this ends the sequence
    max_steps: int = 20
    flip: bool = True
    batch_size: int = 8


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    infer: InferConfig = field(default_factory=InferConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self, source: str = "config") -> "Config":
        checks = [
            (self.model.norm in ("batch", "frozen", "group"), "model.norm", "must be batch, frozen or group"),
            (self.train.amp in ("none", "bf16", "fp16"), "train.amp", "must be none, bf16 or fp16"),
            (self.data.input_size >= 32 and self.data.input_size % 32 == 0, "data.input_size",
             "must be a multiple of 32 (the backbone's stride), at least 32"),
            (len(self.data.scale) == 2 and 0 < self.data.scale[0] <= self.data.scale[1], "data.scale",
             "must be [low, high] with 0 < low <= high"),
            (self.optim.lr > 0, "optim.lr", "must be > 0"),
            (self.optim.epochs >= 1, "optim.epochs", "must be >= 1"),
            (self.optim.batch_size >= 1, "optim.batch_size", "must be >= 1"),
            (self.curriculum.start_people >= 1, "curriculum.start_people", "must be >= 1"),
            (self.curriculum.plateau_window >= 1, "curriculum.plateau_window", "must be >= 1"),
            (self.curriculum.increase_every >= 1, "curriculum.increase_every", "must be >= 1"),
            (self.loss.part_weight >= 0, "loss.part_weight", "must be >= 0"),
            (self.loss.stop_steps >= 0, "loss.stop_steps", "must be >= 0"),
            (self.infer.max_steps >= 1, "infer.max_steps", "must be >= 1"),
        ]
        for ok, key, problem in checks:
            if not ok:
                raise ConfigError(source, key, problem)
        return self


def _check_value(default: Any, value: Any, source: str, key: str) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(source, key, f"expected true or false, got {value!r}")
    elif isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(source, key, f"expected a number, got {value!r}")
        if isinstance(default, int) and not isinstance(value, int):
            raise ConfigError(source, key, f"expected an integer, got {value!r}")
        return type(default)(value)
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(source, key, f"expected a string, got {value!r}")
    elif isinstance(default, list):
        if not isinstance(value, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise ConfigError(source, key, f"expected a list of numbers, got {value!r}")
        if default and all(isinstance(v, int) for v in default) and not all(isinstance(v, int) for v in value):
            raise ConfigError(source, key, f"expected a list of integers, got {value!r}")
    return value


def config_from_dict(raw: Any, source: str = "config") -> Config:
    """Build a :class:`Config` from nested dicts, checking names and types."""
    if not isinstance(raw, dict):
        raise ConfigError(source, "", "expected a table of sections")
    config = Config()
    sections = {f.name for f in dataclasses.fields(config)}
    for name, values in raw.items():
        if name not in sections:
            raise ConfigError(source, name, f"unknown section (known: {', '.join(sorted(sections))})")
        if not isinstance(values, dict):
            raise ConfigError(source, name, "expected a table of settings")
        section = getattr(config, name)
        defaults = {f.name: getattr(section, f.name) for f in dataclasses.fields(section)}
        for key, value in values.items():
            if key not in defaults:
                raise ConfigError(source, f"{name}.{key}", f"unknown key (known: {', '.join(sorted(defaults))})")
            setattr(section, key, _check_value(defaults[key], value, source, f"{name}.{key}"))
    return config.validate(source)


def load_config(path: str | Path) -> Config:
    """Read a ``.toml`` or ``.json`` config file."""
    path = Path(path)
    try:
        raw_bytes = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(path), "", "file not found") from None
    try:
        if path.suffix == ".json":
            raw = json.loads(raw_bytes)
        else:
            raw = tomllib.loads(raw_bytes.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as err:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise ConfigError(str(path), "", f"cannot parse: {err}") from None
    return config_from_dict(raw, str(path))
