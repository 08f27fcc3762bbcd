"""Crowd-pose scoring of any COCO keypoint results file (``bench score``).

``score_files(gt, results, ...)`` returns every number as a JSON-serialisable
dict. Writing scores.json and report.md is :func:`benchmarks.evaluate.score_and_report`,
one layer up.
"""
from __future__ import annotations

from .score import score_files


def __getattr__(name: str):
    # the old import path, for callers not yet moved to benchmarks.evaluate (benchmarks/methods.py);
    # resolved only when asked for, so importing scoring never loads the report
    if name == "score_and_report":
        from ..evaluate import score_and_report

        return score_and_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["score_files"]
