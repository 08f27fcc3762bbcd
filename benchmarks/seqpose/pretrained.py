"""ImageNet weights for the ResNet backbone, with a clear message when offline.

``spec`` is ``"imagenet"`` (torchvision's weight enum: IMAGENET1K_V2 for ResNet-50,
IMAGENET1K_V1 for the others, read from the torch hub cache or downloaded there),
``"none"`` (random initialisation) or the path of a torchvision-format state dict.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torchvision.models import (ResNet18_Weights, ResNet34_Weights, ResNet50_Weights,
                                ResNet101_Weights)

IMAGENET_WEIGHTS = {
    "resnet18": ResNet18_Weights.IMAGENET1K_V1,
    "resnet34": ResNet34_Weights.IMAGENET1K_V1,
    "resnet50": ResNet50_Weights.IMAGENET1K_V2,
    "resnet101": ResNet101_Weights.IMAGENET1K_V2,
}


class PretrainedWeightsUnavailable(RuntimeError):
    """The ImageNet weights could neither be read from the cache nor downloaded."""


def cached_weight_path(backbone: str) -> Path:
    """Where torchvision keeps (or would keep) the ImageNet weights of ``backbone``."""
    url = IMAGENET_WEIGHTS[backbone].url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def backbone_state_dict(backbone: str, spec: str) -> dict | None:
    """The state dict named by ``spec`` for ``backbone``, or None for ``"none"``."""
    if backbone not in IMAGENET_WEIGHTS:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {sorted(IMAGENET_WEIGHTS)}")
    if spec == "none":
        return None
    if spec == "imagenet":
        weights = IMAGENET_WEIGHTS[backbone]
        cached = cached_weight_path(backbone)
        try:
            # reads the cache when the file is there, else downloads into it
            return weights.get_state_dict(progress=False, check_hash=False)
        except (OSError, RuntimeError) as err:  # URLError is an OSError
            raise PretrainedWeightsUnavailable(
                f"cannot load ImageNet weights for {backbone}: {err}. Offline, put "
                f"{weights.url.rsplit('/', 1)[-1]} (from {weights.url}) at {cached}, "
                f"or pass --pretrained PATH (a torchvision {backbone} state dict) "
                f"or --pretrained none (random initialisation)") from err
    path = Path(spec)
    if not path.is_file():
        raise PretrainedWeightsUnavailable(
            f"--pretrained {spec}: no such file (expected 'imagenet', 'none' or the path of a "
            f"torchvision {backbone} state dict)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise PretrainedWeightsUnavailable(f"{path}: expected a state dict, got {type(state).__name__}")
    return state
