"""Orchestration of `bench run`: a registered method's prediction -> results.json -> scores and
analysis in one folder. Methods register themselves (:mod:`benchmarks.engine.registry`)."""
from __future__ import annotations

from pathlib import Path

from benchmarks.engine.registry import get_method


def run_method(name: str, gt_path: str | Path, out_dir: str | Path, *, images: str | Path | None = None,
               score: bool = True, scoring: dict | None = None, analyze: dict | None = None,
               method_options: dict | None = None, **options) -> dict:
    """Predict with method ``name`` (``options`` and ``method_options``, for a field named like one of
    these keywords: its fields, see :mod:`benchmarks.engine.method`),
    write ``out_dir/results.json`` (COCO results) and ``out_dir/run.json`` (what ran), then score them into ``out_dir`` (scores.json, report.md)
    and, with ``analyze`` (keyword arguments of ``write_analysis``), diagnose their errors there.
    ``scoring``: keyword arguments of :func:`benchmarks.scoring.score_files` (``method`` names
    the run in the reports and defaults to ``name``; ``bootstrap``, ``seed``, ``sigmas``, ...)."""
    from cococrowd.cocofile import load_keypoint_file, write_json
    out_dir = Path(out_dir)
    got = get_method(name, **options, **(method_options or {})).predict(gt_path, images=images)
    results, about = got if isinstance(got, tuple) else (got, {})  # the method's summary is optional
    results_path = write_json(out_dir / "results.json", results)
    summary = {"method": name, **about, "images": len(load_keypoint_file(gt_path).images),
               "people": len(results), "results": str(results_path)}
    write_json(out_dir / "run.json", summary, indent=True)
    if score:
        from benchmarks.evaluate import score_and_report
        kw = {"method": name, **(scoring or {})}
        kw["method"] = kw["method"] or name
        summary["scores"] = score_and_report(str(gt_path), str(results_path), str(out_dir), **kw)
    if analyze is not None:  # `bench analyze` into the same folder (analysis.json, analysis.md)
        from benchmarks.analysis.writer import write_analysis
        kw = {"method": (scoring or {}).get("method") or name, "images": images, **analyze}
        summary["analysis"] = write_analysis(str(gt_path), str(results_path), str(out_dir), **kw)
    return summary
