"""Crowd-pose scoring of any COCO keypoint results file (``bench score``).

``score_files(gt, results, ...)`` returns every number as a JSON-serialisable
dict. Writing scores.json and report.md is :func:`benchmarks.evaluate.score_and_report`,
one layer up.
"""
from __future__ import annotations

from . import kernel_cache  # noqa: F401 - before any kernel is defined: where numba caches them
from .score import score_files


__all__ = ["score_files"]
