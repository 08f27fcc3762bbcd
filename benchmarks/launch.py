"""The ``bench`` console entry point (see :mod:`cococrowd.launch`)."""
from __future__ import annotations

from cococrowd.launch import run


def bench() -> None:
    run("benchmarks.cli")
