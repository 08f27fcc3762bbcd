"""Crowd-pose scoring of any COCO keypoint results file (``bench score``).

``score_files(gt, results, ...)`` returns every number as a JSON-serialisable
dict; ``score_and_report(gt, results, out_dir, ...)`` also writes
``out_dir/scores.json`` and ``out_dir/report.md`` with PNG plots.
"""
from __future__ import annotations

from .score import score_files


def score_and_report(gt_path, results_path, out_dir, **kw) -> dict:
    """:func:`score_files`, then ``out_dir/scores.json`` and ``out_dir/report.md`` (+ PNGs)."""
    from ..report import write_run  # matplotlib only when a report is wanted

    scores = score_files(gt_path, results_path, **kw)
    write_run(scores, out_dir)
    return scores


__all__ = ["score_files", "score_and_report"]
