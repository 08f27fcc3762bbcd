"""The methods behind `bench run --method NAME`: one small interface for all of them.

A method is built from its options (``checkpoint``, ``device``, ...) and has
``predict(gt_path, images=None) -> (results, summary)``: COCO keypoint results (a list of
``{"image_id", "category_id", "keypoints", "score"}``) for every image of a COCO-crowd file,
and a small dict describing the run. Entries are "module:attribute" strings imported only
when used, so `bench` starts without loading every method's dependencies.
"""
from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class Method(Protocol):
    def predict(self, gt_path: str | Path, images: str | Path | None = None) -> tuple[list[dict], dict]:
        ...


REGISTRY: dict[str, str] = {
    "ours": "benchmarks.methods:SeqPoseMethod",
    "oracle": "benchmarks.oracle:OracleMethod",
    "maskrcnn": "baselines.maskrcnn:MaskRCNNMethod",
}


def register(name: str, target: str) -> None:
    """Add a method: ``target`` is "module:attribute" of a class or factory taking the
    method's options as keyword arguments."""
    REGISTRY[name] = target


def available() -> list[str]:
    return sorted(REGISTRY)


def get_method(name: str, **options) -> Method:
    if name not in REGISTRY:
        raise ValueError(f"--method {name}: unknown method (known: {', '.join(available())})")
    module, attr = REGISTRY[name].split(":")
    factory = getattr(importlib.import_module(module), attr)
    takes = {f.name for f in dataclasses.fields(factory)} if dataclasses.is_dataclass(factory) else set(options)
    # an option the user gave (not None) that this method has no use for is refused, not dropped
    refused = sorted(k for k, v in options.items() if v is not None and k not in takes)
    if refused:
        flags = ", ".join("--" + k.replace("_", "-") for k in refused)
        raise ValueError(f"{flags}: not an option of --method {name}")
    return factory(**{k: v for k, v in options.items() if k in takes and v is not None})


@dataclass
class SeqPoseMethod:
    """The paper's sequential model from a `bench train` checkpoint."""

    checkpoint: str | Path | None = None
    flip: bool | None = None          # None: the checkpoint's ``infer.flip``
    batch_size: int | None = None
    workers: int = 0
    device: str | None = None
    progress: bool = True

    def predict(self, gt_path: str | Path, images: str | Path | None = None) -> tuple[list[dict], dict]:
        from benchmarks.seqpose.predict import predict_file
        if self.checkpoint is None:
            raise ValueError("--method ours needs --checkpoint (a `bench train` checkpoint, e.g. RUN/checkpoints/last.pt)")
        return predict_file(self.checkpoint, gt_path, images=images, flip=self.flip,
                            batch_size=self.batch_size, workers=self.workers, device=self.device,
                            progress=self.progress)


def run_method(name: str, gt_path: str | Path, out_dir: str | Path, *, images: str | Path | None = None,
               score: bool = True, scoring: dict | None = None, analyze: dict | None = None, **options) -> dict:
    """Predict with method ``name``, write ``out_dir/results.json`` (COCO results) and
    ``out_dir/run.json`` (what ran), then score them into ``out_dir`` (scores.json, report.md)
    and, with ``analyze`` (keyword arguments of ``write_analysis``), diagnose their errors there.
    ``scoring``: keyword arguments of :func:`benchmarks.scoring.score_files` (``method`` names
    the run in the reports and defaults to ``name``; ``bootstrap``, ``seed``, ``sigmas``, ...)."""
    from cococrowd.cocofile import write_json
    out_dir = Path(out_dir)
    results, summary = get_method(name, **options).predict(gt_path, images=images)
    results_path = write_json(out_dir / "results.json", results)
    summary = {"method": name, **summary, "results": str(results_path)}
    write_json(out_dir / "run.json", summary, indent=True)
    if score:
        from benchmarks.evaluate import score_and_report
        kw = {"method": name, **(scoring or {})}
        kw["method"] = kw["method"] or name
        summary["scores"] = score_and_report(str(gt_path), str(results_path), str(out_dir), **kw)
    if analyze is not None:  # `bench analyze` into the same folder (analysis.json, analysis.md)
        from benchmarks.analysis.report import write_analysis
        kw = {"method": (scoring or {}).get("method") or name, "images": images, **analyze}
        summary["analysis"] = write_analysis(str(gt_path), str(results_path), str(out_dir), **kw)
    return summary


class cli_errors:
    """Turn input errors into one clear line on stderr and exit status 2 (as `cococrowd`)."""

    def __enter__(self):
        return self

    def __exit__(self, kind, err, tb):
        from cococrowd.cocofile import CocoFormatError
        from benchmarks.seqpose.config import ConfigError
        from benchmarks.weights import PretrainedWeightsUnavailable
        if err is not None and isinstance(err, (CocoFormatError, ConfigError, PretrainedWeightsUnavailable,
                                                FileNotFoundError, ValueError)):
            import sys
            import click
            click.echo(f"error: {err}", err=True)
            sys.exit(2)
        return False
