"""Checkpoints: everything needed to continue training exactly, written atomically, loaded
without running code.

A checkpoint holds the method's name, the model (unwrapped from DDP), optimizer, LR scheduler,
GradScaler, the method's hook state (the sequential model's curriculum), the next epoch to run,
every process's python/numpy/torch(/CUDA) RNG states, the config and the keypoint names (so
``bench run`` needs only the checkpoint).

Everything in it is a tensor or a plain list/tuple/dict/int/float/str/bool/None, so
``torch.load(weights_only=True)`` reads it: a file that needs any other class to unpickle
(a crafted ``__reduce__``, a numpy array) is refused before anything of it runs.
``python -m benchmarks.engine.checkpoint OLD NEW`` converts a sequential-model checkpoint of the
first format (numpy RNG arrays), reading it with a numpy-array-only allowlist: still no code
runs. Checkpoints of the second format (``seqpose-checkpoint/2``, before the engine) load as
``--method ours``.
"""
from __future__ import annotations

import pickle
import random
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from cococrowd.cocofile import atomic_output

FORMAT = "bench-checkpoint/3"
SEQPOSE_FORMAT = "seqpose-checkpoint/2"   # the sequential model's, before the engine: still read
# the only globals a first-format checkpoint needs: numpy's array rebuild (no code of the file's)
_NUMPY_ARRAY_GLOBALS = {"numpy.dtype", "numpy.ndarray", "numpy._core.multiarray._reconstruct",
                        "numpy.core.multiarray._reconstruct", "numpy.dtypes.UInt32DType"}


def rng_state() -> dict:
    """This process's RNG states as plain lists/ints/floats and tensors (weights_only-safe)."""
    version, internal, gauss = random.getstate()
    name, key, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state = {"python": [int(version), [int(v) for v in internal], gauss],
             "numpy": {"bit_generator": str(name), "key": [int(v) for v in key], "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((int(version), tuple(int(v) for v in internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["bit_generator"], np.asarray(n["key"], dtype=np.uint32), int(n["pos"]),
                         int(n["has_gauss"]), float(n["cached_gaussian"])))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: str | Path, state: dict) -> Path:
    """``torch.save`` through a temporary file, so a killed run never leaves half a checkpoint."""
    with atomic_output(path) as tmp:
        torch.save({**state, "format": FORMAT}, tmp)
    return Path(path)


def _globals_needed(path: Path) -> list[str] | None:
    """The globals the pickle names (read from its opcodes, nothing executed); None if unknown."""
    try:
        return torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # noqa: BLE001 - a legacy or broken file: we only lose the finer message
        return None


def _refusal(path: Path, err: Exception) -> ValueError:
    needed = _globals_needed(path)
    if needed and set(needed) <= _NUMPY_ARRAY_GLOBALS:
        return ValueError(f"{path}: a checkpoint of an older `bench train` (numpy RNG arrays), which is no "
                          f"longer loaded; convert it with `python -m benchmarks.engine.checkpoint {path} NEW.pt` "
                          f"(reads only numpy arrays, runs no code) or retrain")
    text = str(err)
    if "Unsupported global" in text or needed:
        what = ", ".join(needed) if needed else text.split("Unsupported global:", 1)[-1].split("\n")[0].strip()
        return ValueError(f"{path}: refused: not a checkpoint written by `bench train`; loading it would "
                          f"need {what or 'code'} (a checkpoint holds only tensors and plain values)")
    detail = text.split("WeightsUnpickler error:", 1)[-1].strip().splitlines()
    return ValueError(f"{path}: not a checkpoint written by `bench train` "
                      f"({type(err).__name__}: {detail[0] if detail else 'unreadable'})")


def _torch_load(path: Path, allow: list | None = None) -> object:
    with warnings.catch_warnings():  # the unpickler warns about protocols of files we refuse anyway
        warnings.simplefilter("ignore")
        if allow is None:
            return torch.load(path, map_location="cpu", weights_only=True)
        with torch.serialization.safe_globals(allow):
            return torch.load(path, map_location="cpu", weights_only=True)


def load(path: str | Path, method: str | None = None) -> dict:
    """A checkpoint's state (see the module doc); ``method``: it must be that method's."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        state = _torch_load(path)
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError, AttributeError, ImportError,
            TypeError, IndexError, KeyError) as err:
        # weights_only refuses any other global before it is called: nothing of the file has run
        raise _refusal(path, err) from None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a `bench train` checkpoint (a {type(state).__name__}, not a dict)")
    for key in ("model", "config", "keypoint_names"):
        if key not in state:
            raise ValueError(f"{path}: not a `bench train` checkpoint (missing {key!r})")
    if state.get("format") == SEQPOSE_FORMAT:  # the sequential model's format before the engine
        state = {**state, "format": FORMAT, "method": "ours", "hooks": state.get("curriculum", {})}
        state.pop("curriculum", None)
    if state.get("format") != FORMAT:
        raise ValueError(f"{path}: format {state.get('format')!r}, expected {FORMAT!r}: "
                         f"written by another version of `bench train`; retrain")
    if method is not None and state.get("method") != method:
        raise ValueError(f"{path}: a checkpoint of --method {state.get('method')}, not of --method {method}")
    return state


def convert(old: str | Path, new: str | Path) -> Path:
    """A first-format checkpoint (numpy RNG arrays) rewritten in this format, read with an
    allowlist of numpy's array rebuild only (a file needing anything else is refused)."""
    old = Path(old)
    if not old.is_file():
        raise FileNotFoundError(f"{old}: no such checkpoint")
    needed = _globals_needed(old)
    if needed is None or not set(needed) <= _NUMPY_ARRAY_GLOBALS:
        raise ValueError(f"{old}: not a first-format seqpose checkpoint (needs {needed or 'an unknown layout'})")
    core = getattr(np, "_core", None) or np.core  # numpy 2 names it numpy._core
    allow = [np.dtype, np.ndarray, type(np.dtype(np.uint32)), core.multiarray._reconstruct]
    state = _torch_load(old, allow)
    if not isinstance(state, dict) or "rng" not in state or "model" not in state:
        raise ValueError(f"{old}: not a `bench train` checkpoint (missing 'model' or 'rng')")
    rngs = []
    for rng in state["rng"]:
        version, internal, gauss = rng["python"]
        name, key, pos, has_gauss, cached = rng["numpy"]
        plain = {"python": [int(version), [int(v) for v in internal], gauss],
                 "numpy": {"bit_generator": str(name), "key": [int(v) for v in key], "pos": int(pos),
                           "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
                 "torch": rng["torch"]}
        if "cuda" in rng:
            plain["cuda"] = rng["cuda"]
        rngs.append(plain)
    state["rng"] = rngs
    state["method"] = "ours"
    state["hooks"] = state.pop("curriculum", {})
    return save(new, state)


if __name__ == "__main__":  # python -m benchmarks.engine.checkpoint OLD NEW
    if len(sys.argv) != 3:
        sys.exit("usage: python -m benchmarks.engine.checkpoint OLD.pt NEW.pt")
    try:
        print(convert(sys.argv[1], sys.argv[2]))
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
