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

import shutil
from pathlib import Path

from cococrowd.cocofile import dump_json, publish_stage, staging_dir, write_temp

from .scores_report import render
from .scoring import score_files


# the report's figures: one of an earlier run that this run does not draw goes (a stale
# counting_1_<old name>.png would sit beside a report that no longer links it)
REPORT_FIGURES = ("bucket_ap.png", "crowd_index_ap.png", "jitter_ap.png", "pck.png", "counting_*.png")


def write_run(scores: dict, out_dir) -> Path:
    """``out_dir/scores.json`` and ``out_dir/report.md`` (+ PNGs beside it), all or none.
    Returns the report's path."""
    out_dir = Path(out_dir)
    encoded = dump_json(scores, indent=True)          # a value JSON cannot hold fails before any file
    stage = staging_dir(out_dir, "scores")
    try:
        text = render([(scores["method"], scores)], stage, stage, f"Scores: {scores['method']}")
        write_temp(stage / "report.md", text.encode(), out_dir / "report.md")
        write_temp(stage / "scores.json", encoded, out_dir / "scores.json")
        # figures first, then the report that links them, scores.json (what `bench report` reads) last
        publish_stage(stage, out_dir, last=("report.md", "scores.json"), stale=REPORT_FIGURES)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out_dir / "report.md"


def score_and_report(gt_path, results_path, out_dir, **kw) -> dict:
    """:func:`~benchmarks.scoring.score_files`, then ``out_dir/scores.json`` and ``out_dir/report.md`` (+ PNGs)."""
    scores = score_files(gt_path, results_path, **kw)
    write_run(scores, out_dir)
    return scores


__all__ = ["score_and_report", "write_run"]
