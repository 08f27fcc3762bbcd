"""Published weights for torchvision models: read from the torch hub cache or downloaded there,
or read from a local state-dict file, with one clear message when neither works (offline
machines are common on clusters). State dicts are loaded with ``weights_only=True``."""
from __future__ import annotations

from pathlib import Path

import torch


class PretrainedWeightsUnavailable(RuntimeError):
    """Weights could neither be read from the cache nor downloaded, or a weights file is unusable."""


def cached_path(weights) -> Path:
    """Where torchvision keeps (or would keep) the file of a weights enum value."""
    return Path(torch.hub.get_dir()) / "checkpoints" / weights.url.rsplit("/", 1)[-1]


def published_state_dict(weights, what: str, instead: str) -> dict:
    """The state dict of a torchvision weights enum value (``what`` names it in messages,
    ``instead`` says which options avoid the download)."""
    try:
        # reads the cache when the file is there, else downloads into it
        return weights.get_state_dict(progress=False, check_hash=False)
    except (OSError, RuntimeError) as err:  # URLError is an OSError
        raise PretrainedWeightsUnavailable(
            f"cannot load {what}: {err}. Offline, put {weights.url.rsplit('/', 1)[-1]} (from {weights.url}) "
            f"at {cached_path(weights)}, or {instead}") from err


def state_dict_file(path: str | Path, option: str, what: str) -> dict:
    """A state dict saved with ``torch.save`` (also the ``{"state_dict": ...}`` wrapping)."""
    path = Path(path)
    if not path.is_file():
        raise PretrainedWeightsUnavailable(f"{option} {path}: no such file (expected {what})")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable or unsafe file is the same user error
        raise PretrainedWeightsUnavailable(
            f"{path}: not a state dict that loads without running code ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else 'unreadable'})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PretrainedWeightsUnavailable(f"{path}: expected a state dict of tensors, got {type(state).__name__}")
    return state
