"""ImageNet weights for the ResNet backbone, with a clear message when offline.

``spec`` is ``"imagenet"`` (torchvision's weight enum: IMAGENET1K_V2 for ResNet-50,
IMAGENET1K_V1 for the others, read from the torch hub cache or downloaded there),
``"none"`` (random initialisation) or the path of a torchvision-format state dict.
"""
from __future__ import annotations

from pathlib import Path

from torchvision.models import (ResNet18_Weights, ResNet34_Weights, ResNet50_Weights,
                                ResNet101_Weights)

from benchmarks.weights import PretrainedWeightsUnavailable, cached_path, published_state_dict, state_dict_file

__all__ = ["IMAGENET_WEIGHTS", "PretrainedWeightsUnavailable", "backbone_state_dict", "cached_weight_path"]

IMAGENET_WEIGHTS = {
    "resnet18": ResNet18_Weights.IMAGENET1K_V1,
    "resnet34": ResNet34_Weights.IMAGENET1K_V1,
    "resnet50": ResNet50_Weights.IMAGENET1K_V2,
    "resnet101": ResNet101_Weights.IMAGENET1K_V2,
}


def cached_weight_path(backbone: str) -> Path:
    """Where torchvision keeps (or would keep) the ImageNet weights of ``backbone``."""
    return cached_path(IMAGENET_WEIGHTS[backbone])


def backbone_state_dict(backbone: str, spec: str) -> dict | None:
    """The state dict named by ``spec`` for ``backbone``, or None for ``"none"``."""
    if backbone not in IMAGENET_WEIGHTS:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {sorted(IMAGENET_WEIGHTS)}")
    if spec == "none":
        return None
    if spec == "imagenet":
        return published_state_dict(
            IMAGENET_WEIGHTS[backbone], f"ImageNet weights for {backbone}",
            f"pass --pretrained PATH (a torchvision {backbone} state dict) or --pretrained none (random initialisation)")
    return state_dict_file(spec, "--pretrained", f"'imagenet', 'none' or the path of a torchvision {backbone} state dict")
