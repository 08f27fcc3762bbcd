"""Denormal floats flushed to zero while a model trains or predicts on the CPU.

Measured (issue 18, ``perf/denormal_steps.py``): a ResNet-18 sequential decoder trained at LR
3e-3 took 2.62 s a training step on one thread against 1.06 s with denormals flushed, same
batches and weights; its activations and gradients had drifted into the denormal range, which
x86 computes in slow microcode. Flushing changes only values below 1.2e-38, so results stay
deterministic for a seed.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

TINY = 1e-39   # a float32 denormal: reads back as 0.0 once flushing is on


def flushing() -> bool:
    """Whether the CPU now flushes denormals to zero (torch has no getter for the flag)."""
    return float(torch.tensor(TINY, dtype=torch.float32)) == 0.0


@contextmanager
def denormals_flushed() -> Iterator[None]:
    """Flush denormals inside the block and restore the caller's setting after it; a CPU
    without the flag (``set_flush_denormal`` returns False) runs as before."""
    before = flushing()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)
