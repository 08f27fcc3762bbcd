"""Checkpoints: everything needed to continue training exactly, written atomically.

A checkpoint holds the model (unwrapped from DDP), optimizer, LR scheduler, GradScaler,
curriculum, the next epoch to run, every process's python/numpy/torch(/CUDA) RNG states,
the config and the keypoint names (so ``bench run`` needs only the checkpoint).
"""
from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import torch

from cococrowd.cocofile import atomic_output


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: str | Path, state: dict) -> Path:
    """``torch.save`` through a temporary file, so a killed run never leaves half a checkpoint."""
    with atomic_output(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def load(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    # our own files: they hold numpy RNG states and plain config dicts, not only tensors
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError, AttributeError, ImportError) as err:
        # any other file (JSON, text, a truncated copy) fails inside the unpickler
        raise ValueError(f"{path}: not a seqpose checkpoint written by `bench train` "
                         f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'unreadable'})") from None
    for key in ("model", "config", "keypoint_names"):
        if not isinstance(state, dict) or key not in state:
            raise ValueError(f"{path}: not a seqpose checkpoint (missing {key!r})")
    return state
