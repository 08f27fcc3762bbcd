"""Score a results file and write its report: the orchestration above
:mod:`benchmarks.scoring` (numbers) and :mod:`benchmarks.report` (markdown, PNGs),
so the scoring layer never imports the report."""
from __future__ import annotations

from .report import write_run
from .scoring import score_files


def score_and_report(gt_path, results_path, out_dir, **kw) -> dict:
    """:func:`~benchmarks.scoring.score_files`, then ``out_dir/scores.json`` and ``out_dir/report.md`` (+ PNGs)."""
    scores = score_files(gt_path, results_path, **kw)
    write_run(scores, out_dir)
    return scores


__all__ = ["score_and_report"]
