"""Score a results file and write its report: the orchestration above
:mod:`benchmarks.scoring` (numbers) and :mod:`benchmarks.scores_report` (markdown, PNGs),
so the scoring layer never imports the report.

A run's outputs (scores.json, report.md and its PNGs) appear all or none: they
are written into a hidden staging folder inside the output folder and renamed
into place only once every one of them is complete, so a report that fails
halfway (a plot that raises, a full disk) leaves the folder as it was, with no
scores.json that has no report beside it.
"""
from __future__ import annotations

from pathlib import Path

from cococrowd.cocofile import dump_json, staged_folder, write_temp

from .scores_report import REPORT_FIGURES, render
from .scoring import score_files


def write_run(scores: dict, out_dir) -> Path:
    """``out_dir/scores.json`` and ``out_dir/report.md`` (+ PNGs beside it), all or none.
    Returns the report's path."""
    out_dir = Path(out_dir)
    encoded = dump_json(scores, indent=True)          # a value JSON cannot hold fails before any file
    # figures first, then the report that links them, scores.json (what `bench report` reads) last
    with staged_folder(out_dir, "scores", last=("report.md", "scores.json"), stale=REPORT_FIGURES) as stage:
        text = render([(scores["method"], scores)], stage, f"Scores: {scores['method']}")
        write_temp(stage / "report.md", text.encode(), out_dir / "report.md")
        write_temp(stage / "scores.json", encoded, out_dir / "scores.json")
    return out_dir / "report.md"


def score_and_report(gt_path, results_path, out_dir, **kw) -> dict:
    """:func:`~benchmarks.scoring.score_files`, then ``out_dir/scores.json`` and ``out_dir/report.md`` (+ PNGs)."""
    scores = score_files(gt_path, results_path, **kw)
    write_run(scores, out_dir)
    return scores


__all__ = ["score_and_report", "write_run"]
