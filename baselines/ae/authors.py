"""Load pose-ae-train checkpoints into ``StackedHourglass``.

Their train.py saves ``{'state_dict', 'optimizer', 'epoch'}`` with ``torch.save``; the state dict
is that of ``Trainer(DataParallel(PoseNet))`` (task/pose.py), so every key reads
``model.module.<PoseNet key>`` (``Trainer.model`` holds the DataParallel, whose ``.module`` is
the PoseNet). PoseNet's keys are ours verbatim (same module names, no BatchNorm in their COCO
config, the loss submodules hold no tensors), so mapping is stripping that prefix. Their COCO
network is ``StackedHourglass(**AUTHORS_COCO)`` (68 output channels, see hourglass.py). A bare state
dict, or one saved from ``DataParallel(PoseNet)`` only (``module.``), loads too.

Files are read with ``torch.load(weights_only=True)``: a file whose pickle needs any code beyond
tensors and plain containers is refused before anything in it runs.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import torch

from .hourglass import StackedHourglass

PREFIX = "model.module."
# task/pose.py's COCO network: PoseNet(nstack=4, inp_dim=256, oup_dim=68, increase=128)
AUTHORS_COCO = {"num_keypoints": 17, "stacks": 4, "width": 256, "increase": 128, "tag_dim": 1,
                "out_channels": 68}
_PREFIXES = (PREFIX, "module.")
_SHOW = 5


def authors_state_dict(model: StackedHourglass) -> dict[str, torch.Tensor]:
    """Our weights under their key names (``model.module.`` + PoseNet key)."""
    return {PREFIX + key: value for key, value in model.state_dict().items()}


def _read(path: Path) -> dict:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # keep torch's reason (e.g. the blocked global), not its advice to turn the check off
        lines = [line.strip() for line in str(exc).splitlines() if "WeightsUnpickler error" in line]
        reason = lines[0].split(" Please use")[0].rstrip(".") if lines else str(exc).splitlines()[0]
        if "Unsupported global" in reason:
            raise ValueError(f"{path}: refused, loading it needs code beyond tensors and plain "
                             f"containers (torch.load weights_only=True): {reason}") from None
        raise ValueError(f"{path}: not a readable torch checkpoint: {reason}") from None
    except (RuntimeError, EOFError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable torch checkpoint: {exc}") from None
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a state dict of tensors (or a dict with 'state_dict'), "
                         f"got {type(obj).__name__}")
    for prefix in _PREFIXES:
        if state and all(str(k).startswith(prefix) for k in state):
            return {str(k)[len(prefix):]: v for k, v in state.items()}
    return {str(k): v for k, v in state.items()}


def _listing(name: str, items: list[str]) -> str:
    more = f", ... ({len(items) - _SHOW} more)" if len(items) > _SHOW else ""
    return f"{len(items)} {name}: {', '.join(items[:_SHOW])}{more}"


def load_authors_checkpoint(path, model: StackedHourglass) -> None:
    """Load a pose-ae-train checkpoint into ``model`` or raise ValueError naming every difference."""
    path = Path(path)
    theirs = _read(path)
    ours = model.state_dict()
    missing = sorted(set(ours) - set(theirs))
    unexpected = sorted(set(theirs) - set(ours))
    shapes = sorted(f"{k} {tuple(theirs[k].shape)} vs ours {tuple(ours[k].shape)}"
                    for k in set(ours) & set(theirs) if theirs[k].shape != ours[k].shape)
    if missing or unexpected or shapes:
        parts = [_listing(n, i) for n, i in (("missing keys", missing), ("unexpected keys", unexpected),
                                             ("shape mismatches", shapes)) if i]
        raise ValueError(f"{path}: does not fit StackedHourglass(num_keypoints={model.num_keypoints}, "
                         f"stacks={model.stacks}, tag_dim={model.tag_dim}, out_channels={model.out_channels}) "
                         f"(their COCO model is StackedHourglass(**AUTHORS_COCO)): " + "; ".join(parts))
    model.load_state_dict(theirs)
