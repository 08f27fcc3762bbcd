"""Configs of learned methods: each method's own dataclass of sections, read from TOML or JSON.

The engine needs four sections from every method's config and owns their settings:
``data`` (input size, augmentation, loader workers), ``optim`` (Adam, step schedule, batch),
``train`` (AMP, seed, checkpoints, logging) and ``infer`` (flip test, batch). A method adds
fields to these (subclasses) and sections of its own (model, loss, ...). A file holds any of
the sections; missing keys keep the method's defaults. Unknown sections or keys and values of
the wrong type are errors that name the file and the key, e.g.
``configs/x.toml: optim.lr: expected a number``.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class ConfigError(ValueError):
    """A config file is malformed; the message names the file and the key."""

    def __init__(self, source: str, key: str, problem: str):
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")


@dataclass
class DataConfig:
    input_size: int = 512
    rotate: float = 40.0                  # degrees, uniform in [-rotate, rotate]
    scale: list[float] = field(default_factory=lambda: [0.75, 1.25])
    flip: bool = True
    use_source_images: bool = True        # scale > 1 shows the source image's background
    workers: int = 4                      # DataLoader worker processes per training process


@dataclass
class OptimConfig:
    lr: float = 1e-3
    epochs: int = 130
    milestones: list[int] = field(default_factory=lambda: [60, 90])
    gamma: float = 0.1
    batch_size: int = 4                   # per process


@dataclass
class TrainConfig:
    amp: str = "bf16"                     # "none", "bf16", "fp16" (fp16 uses a GradScaler); CUDA only
    seed: int = 0
    keep_every: int = 10                  # also keep epoch_NNNN.pt every this many epochs (0 = only last.pt)
    log_every: int = 20                   # TensorBoard scalars every this many steps


@dataclass
class InferConfig:
    flip: bool = True
    batch_size: int = 8


def check_all(checks: list[tuple[bool, str, str]], source: str) -> None:
    """Raise a :class:`ConfigError` for the first ``(ok, key, problem)`` that is not ok."""
    for ok, key, problem in checks:
        if not ok:
            raise ConfigError(source, key, problem)


def check_common(config: Any, source: str, input_multiple: int) -> None:
    """The engine's rules for its four sections; ``input_multiple``: the network's stride."""
    d, o = config.data, config.optim
    checks = [
        (config.train.amp in ("none", "bf16", "fp16"), "train.amp", "must be none, bf16 or fp16"),
        (d.input_size >= input_multiple and d.input_size % input_multiple == 0, "data.input_size",
         f"must be a multiple of {input_multiple} (the network's stride), at least {input_multiple}"),
        (len(d.scale) == 2 and 0 < d.scale[0] <= d.scale[1], "data.scale", "must be [low, high] with 0 < low <= high"),
        (d.rotate >= 0, "data.rotate", "must be >= 0 degrees"),
        (d.workers >= 0, "data.workers", "must be >= 0"),
        (o.lr > 0, "optim.lr", "must be > 0"),
        (o.epochs >= 1, "optim.epochs", "must be >= 1"),
        (o.batch_size >= 1, "optim.batch_size", "must be >= 1"),
        (o.gamma > 0, "optim.gamma", "must be > 0"),
        (config.infer.batch_size >= 1, "infer.batch_size", "must be >= 1"),
    ]
    check_all(checks, source)


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


C = TypeVar("C")


def config_from_dict(raw: Any, config_class: type[C], source: str = "config") -> C:
    """Build a ``config_class`` (a dataclass of section dataclasses with a ``validate(source)``)
    from nested dicts, checking names and types."""
    if not isinstance(raw, dict):
        raise ConfigError(source, "", "expected a table of sections")
    config = config_class()
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


def load_config(path: str | Path, config_class: type[C]) -> C:
    """Read a ``.toml`` or ``.json`` config file into ``config_class``."""
    path = Path(path)
    try:
        raw_bytes = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(path), "", "file not found") from None
    except IsADirectoryError:
        raise ConfigError(str(path), "", "is a folder, not a config file") from None
    try:
        if path.suffix == ".json":
            raw = json.loads(raw_bytes)
        else:
            raw = tomllib.loads(raw_bytes.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as err:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise ConfigError(str(path), "", f"cannot parse: {err}") from None
    return config_from_dict(raw, config_class, str(path))


def to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)
