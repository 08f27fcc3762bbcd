"""`bench` command line: parses options and calls the library; no logic here."""
from __future__ import annotations

import sys
import warnings

import click


def _is_input_error(err: BaseException) -> bool:
    """Bad files, options or configs: reported as one line, not a traceback."""
    from cococrowd.cocofile import OutputError  # an output that cannot be written (read-only, disk full)
    if isinstance(err, (ValueError, FileNotFoundError, FileExistsError, OutputError)):  # CocoFormatError too
        return True
    weights = sys.modules.get("benchmarks.weights")  # only loaded (with torch) when used
    return weights is not None and isinstance(err, weights.PretrainedWeightsUnavailable)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"warning: {message}", err=True)  # one line, no Python source location


class _Group(click.Group):
    """Every command reports input errors as one line `error: ...` with exit code 2, and the
    library's warnings as one `warning: ...` line each (as `cococrowd`)."""

    def invoke(self, ctx):
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            try:
                return super().invoke(ctx)
            except Exception as err:  # noqa: BLE001 - filtered just below, the rest re-raised
                if not _is_input_error(err):
                    raise
                click.echo(f"error: {err}", err=True)
                sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__import__("cococrowd").__version__, prog_name="bench")
def main():
    """Train and score crowd pose methods on COCO-crowd files.

    `bench score` scores any COCO keypoint results file; `bench report` puts runs side by side;
    `bench train` / `bench run` train and run the registered methods (the paper's sequential model,
    Associative Embedding, Mask R-CNN, the oracle).
    """


# Commands register below.


def scoring_options(f):
    """The scoring options of every command that scores (`bench score`, `bench run`): one declaration."""
    options = [
        click.option("--protocol", type=click.Choice(["coco", "crowdpose"]), default="coco", show_default=True,
                     help="coco: pycocotools keypoint evaluation. crowdpose: CrowdPose's own (crowdposetools): "
                          "ground-truth area 0.53 x box w x h, official AP/AR and AP easy/medium/hard by the "
                          "images' crowdIndex (< 0.2, 0.2-0.8, >= 0.8), printed as crowdposetools prints them."),
        click.option("--jitter", "jitter", multiple=True, metavar="LEVEL=GT,RESULTS",
                     help="Table 3: results on a jittered ground-truth variant (repeat per level, e.g. "
                          "5=crowd_val_jitter5.json,res5.json); mapped back to the --gt crops and scored there (default: none)."),
        click.option("--sigmas", default=None, metavar="S1,..,SK|FILE.json",
                     help="OKS sigmas: K comma-separated numbers in the file's keypoint order, or a JSON file "
                          "name -> sigma (default: COCO-17 / CrowdPose-14 values matched by keypoint name)."),
        click.option("--bootstrap", type=click.IntRange(min=0), default=1000, show_default=True,
                     help="Bootstrap resamples (over images) for the 95% confidence intervals; 0 = none."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap resampling."),
        click.option("--count-threshold", "count_threshold", type=float, default=0.0, show_default=True,
                     help="Predictions with score >= this count as people (counting matrix and PCK; AP and AR "
                          "read every prediction)."),
        click.option("--score-threshold", "old_count_threshold", type=float, default=None, hidden=True,
                     help="The former name of --count-threshold."),
        click.option("--count-max", "count_cap", type=click.IntRange(min=1), default=10, show_default=True,
                     help="Counts at or above this share the last row/column of the counting matrix."),
        click.option("--pck-alpha", type=click.FloatRange(min=0, min_open=True), default=0.2, show_default=True,
                     help="PCK threshold as a fraction of max(width, height) of the ground-truth box."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def gt_and_results(f):
    """--gt and --results of the commands that read a results file (`bench score`, `bench analyze`)."""
    f = click.option("--results", "results_path", required=True, type=click.Path(dir_okay=False),
                     help="The method's COCO keypoint results file (a JSON list of detections).")(f)
    return click.option("--gt", "gt_path", required=True, type=click.Path(dir_okay=False),
                        help="Ground-truth COCO keypoint file (COCO-crowd, CrowdPose or plain COCO).")(f)


SCORING_PARAMS = ("protocol", "jitter", "sigmas", "bootstrap", "seed", "count_threshold", "old_count_threshold",
                  "count_cap", "pck_alpha")   # the parameters scoring_options adds


def _scoring_kwargs(protocol, jitter, sigmas, bootstrap, seed, count_threshold, count_cap, pck_alpha,
                    old_count_threshold=None) -> dict:
    if old_count_threshold is not None:          # --score-threshold, kept for old scripts
        count_threshold = old_count_threshold
    return {"protocol": protocol, "jitter": list(jitter), "sigmas": sigmas, "bootstrap": bootstrap, "seed": seed,
            "count_threshold": count_threshold, "count_cap": count_cap, "pck_alpha": pck_alpha}


# ---------------------------------------------------------------- train / run: the registered methods

class _MethodCommand(click.Command):
    """A command whose per-method parts come from the registry when it is parsed or its help is
    shown (the methods are imported then, never for `bench --help` or `bench score`)."""

    def __init__(self, *args, complete=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._complete = complete

    def get_params(self, ctx):
        if self._complete is not None:
            complete, self._complete = self._complete, None
            complete(self)
        return super().get_params(ctx)


def _click_type(f):
    """The click type of a method option, from its annotation and :func:`option` metadata."""
    import typing
    if "choices" in f.metadata:
        return click.Choice(f.metadata["choices"]())
    hint = f.type if not isinstance(f.type, str) else f.type.replace(" ", "")
    kinds = set(typing.get_args(hint)) or {hint} if not isinstance(hint, str) else set(hint.split("|"))
    kinds -= {type(None), "None"}
    lo, hi = f.metadata.get("min"), f.metadata.get("max")
    if kinds <= {int, "int"}:
        return click.IntRange(lo, hi) if lo is not None or hi is not None else click.INT
    if kinds <= {float, "float"}:
        return click.FloatRange(lo, hi) if lo is not None or hi is not None else click.FLOAT
    return bool if kinds <= {bool, "bool"} else click.STRING


def method_options() -> list[click.Option]:
    """One flag per method option (a field shared by several methods is one flag, its help per
    method), default None = not given, so each method's own default applies."""
    import dataclasses

    from benchmarks.engine.registry import available, method_class, option_fields, option_flag

    merged: dict[str, tuple] = {}
    for name in available():
        for f in option_fields(method_class(name)):
            merged.setdefault(f.name, (f, []))[1].append((name, f))
    out = []
    for field_name, (f, owners) in merged.items():
        flag, kind = option_flag(f), _click_type(f)
        helps: dict[str, list[str]] = {}     # one help per text, naming the methods that share it
        for name, g in owners:
            default = "" if g.default in (None, dataclasses.MISSING) else f" (default {g.default})"
            helps.setdefault(g.metadata.get("help", "") + default, []).append(name)
        help_text = "; ".join(f"--method {', '.join(names)}: {text}" for text, names in helps.items())
        if kind is bool:
            out.append(click.Option([f"{flag}/--no-{flag[2:]}", field_name], default=None, help=help_text))
        else:
            out.append(click.Option([flag, field_name], type=kind, default=None, help=help_text))
    return out


def _add_method_options(command: click.Command) -> None:
    from benchmarks.engine.registry import available, method_class, option_fields, option_flag
    options, taken = method_options(), {p.name for p in command.params}
    clash = [o.opts[0] for o in options if o.name in taken]
    if clash:
        raise ValueError(f"{', '.join(clash)}: a method option named like an option of `bench run` itself")
    at = next(i for i, p in enumerate(command.params) if p.name == "method") + 1
    command.params[at:at] = options
    lines = [f"{n} ({', '.join(option_flag(f) for f in option_fields(method_class(n))) or 'no options'})"
             for n in available()]
    command.params[at - 1].help = "Registered method: " + "; ".join(lines) + "."


def _list_learned(command: click.Command) -> None:
    from benchmarks.engine.registry import learned_methods, method_class
    lines = [f"{n} (config {method_class(n).config_class.__name__}; e.g. configs/{method_class(n).default_config})"
             for n in learned_methods()]
    command.params[0].help = "Method to train: " + "; ".join(lines) + "."


@main.command("train", cls=_MethodCommand, complete=_list_learned)
@click.option("--method", default="ours", show_default=True, help="Method to train (a learned one).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="The method's TOML/JSON config (e.g. configs/seqpose_coco_crowd.toml, configs/ae_coco_crowd.toml); "
                   "default: the method's paper settings. With --resume the checkpoint's config is used and a "
                   "given one must match it.")
@click.option("--gt", "gt_path", required=True, type=click.Path(dir_okay=False),
              help="COCO-crowd training file from `cococrowd build`.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Run folder: checkpoints/last.pt, log.csv, tensorboard/.")
@click.option("--resume", is_flag=True, help="Continue exactly from OUT/checkpoints/last.pt.")
@click.option("--pretrained", default=None,
              help="--method ours: backbone weights 'imagenet' (torchvision, cached or downloaded), 'none', or a "
                   "state-dict PATH (default: the config's model.pretrained).")
@click.option("--device", default=None, help="cpu, cuda or cuda:N; default CUDA when present "
                                              "(under torchrun each process takes cuda:LOCAL_RANK).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Epochs to train (default: the config's optim.epochs).")
@click.option("--stop-after", type=click.IntRange(min=1), default=None,
              help="End this invocation after N epochs (resume later with --resume; default: train to the end).")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="DataLoader worker processes (default: the config's data.workers).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on rank 0.")
def train_command(method, config_path, gt_path, out_dir, resume, pretrained, device, epochs, stop_after,
                  workers, progress):
    """Train a method on a COCO-crowd file (multi-GPU: torchrun --nproc_per_node N $(command -v bench) train ...)."""
    from benchmarks.engine.registry import get_method, learned_methods
    from benchmarks.engine.train import config_for_run, train_on_file
    if method not in learned_methods():
        raise ValueError(f"--method {method}: not a method `bench train` trains (those: "
                         f"{', '.join(learned_methods())})")
    learner = get_method(method)
    config = config_for_run(learner, config_path, out_dir, resume, epochs=epochs, workers=workers)
    summary = train_on_file(learner, config, gt_path, out_dir, resume=resume, device=device,
                            stop_after=stop_after, progress=progress, pretrained=pretrained)
    if summary.get("is_main", True):
        click.echo(f"epoch {summary['epoch']}: loss {summary.get('loss', float('nan')):.4f} -> "
                   f"{out_dir}/checkpoints/last.pt")


@main.command("run", cls=_MethodCommand, complete=_add_method_options)
@click.option("--method", default="ours", show_default=True, help="Registered method.")
@click.option("--gt", "gt_path", required=True, type=click.Path(dir_okay=False),
              help="COCO-crowd file to predict and score (e.g. crowd_val2014_test.json).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for results.json, run.json, scores.json and report.md.")
@click.option("--images", type=click.Path(file_okay=False), default=None,
              help="Crops folder (default: the file's crowd_info.image_dir).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Images per forward pass (default: the method's; the config's infer.batch_size; maskrcnn 4).")
@click.option("--workers", type=click.IntRange(min=0), default=None, help="DataLoader worker processes (default 0).")
@click.option("--device", default=None, help="cpu, cuda or cuda:N; default CUDA when present.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on).")
@click.option("--name", default=None, help="Method name in scores.json and reports (default: --method).")
@click.option("--analyze/--no-analyze", "analyze", default=True, show_default=True,
              help="Also write `bench analyze`'s error diagnosis (analysis.json, analysis.md, galleries) into --out.")
@click.option("--gallery", type=click.IntRange(min=0), default=4, show_default=True,
              help="With --analyze: worst and best images per people-count bucket in the galleries; 0 = none.")
@scoring_options
def run_command(method, gt_path, out_dir, images, name, analyze, gallery, **options):
    """Predict a COCO-crowd file with a method, write COCO results and score them.

    Besides the options of every method (--batch-size, --workers, --device, --progress), each
    method takes its own (see --method); another method's option is refused."""
    from benchmarks.run import run_method
    scoring = {k: options.pop(k) for k in SCORING_PARAMS}
    summary = run_method(method, gt_path, out_dir, images=images,
                         scoring={"method": name or method, **_scoring_kwargs(**scoring)},
                         analyze={"sigmas": scoring["sigmas"], "bootstrap": scoring["bootstrap"],
                                  "seed": scoring["seed"], "gallery": gallery} if analyze else None,
                         method_options=options)
    click.echo(f"{summary['people']} people in {summary['images']} images -> {summary['results']}")
    _echo_scores(summary["scores"], out_dir)
    if analyze:
        click.echo(f"wrote {out_dir}/analysis.json and {out_dir}/analysis.md")


@main.command("score")
@gt_and_results
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for scores.json, report.md and its PNG plots.")
@click.option("--name", "method", default=None, help="Method name in reports (default: the results file name).")
@scoring_options
def score_command(gt_path, results_path, out_dir, method, **scoring):
    """Score a keypoint results file: AP/AR, AP per people count, jitter, counting, PCK, CIs."""
    from benchmarks.evaluate import score_and_report

    s = score_and_report(gt_path, results_path, out_dir, method=method, **_scoring_kwargs(**scoring))
    _echo_scores(s, out_dir)


def _echo_scores(s: dict, out_dir) -> None:
    """The short AP summary `bench score` and `bench run` print."""
    t1, ci = s["ap_ar"]["stats"], s["ap_ar"]["ap_ci"]
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    if s.get("crowdpose"):
        click.echo("crowdposetools summary (--protocol crowdpose):")
        for line in s["crowdpose"]["summary"]:
            click.echo(line)
        if s["crowdpose"]["buckets_note"]:
            click.echo(s["crowdpose"]["buckets_note"])
    click.echo(f"{s['method']}: AP {fmt(t1['AP'])}" + (f" [{ci['low']:.3f}, {ci['high']:.3f}]" if ci else "")
               + f"  AP.5 {fmt(t1['AP.5'])}  AP.75 {fmt(t1['AP.75'])}  AR {fmt(t1['AR'])}"
               + f"  (protocol {s.get('protocol', 'coco')})")
    click.echo("AP by people: " + "  ".join(f"{b['label']}: {fmt(b['stats']['AP'])}" for b in s["ap_by_people"]["buckets"]))
    click.echo(f"wrote {out_dir}/scores.json and {out_dir}/report.md")


@main.command("report")
@click.option("--runs", "runs", multiple=True, type=click.Path(file_okay=False, exists=True),
              help="Run folders holding scores.json (from `bench score` or `bench run`): --runs A B C.")
@click.argument("more_runs", nargs=-1, type=click.Path(file_okay=False, exists=True))
@click.option("--out", "out_md", required=True, type=click.Path(dir_okay=False),
              help="Markdown file to write, e.g. reports/NAME.md (plots go to reports/NAME_figures/).")
@click.option("--title", default=None, help="Report title (default: lists the methods).")
@click.option("--protocol", type=click.Choice(["coco", "crowdpose"]), default=None,
              help="Require every run to have been scored with this protocol (default: any; the report names "
                   "the protocol of every number).")
def report_command(runs, more_runs, out_md, title, protocol):
    """Put several scored runs side by side in the paper's table layouts, with the paper's own rows.

    MORE_RUNS: more run folders, as for --runs (bench report --runs A B C reads all three)."""
    from benchmarks.scores_report import write_comparison

    dirs = list(runs) + list(more_runs)
    if not dirs:
        raise click.UsageError("give at least one run folder: --runs DIR [DIR ...]")
    path = write_comparison(dirs, out_md, title, protocol)
    click.echo(f"wrote {path}")


@main.command("analyze")
@gt_and_results
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for analysis.json, analysis.md and its PNGs (error bars, galleries).")
@click.option("--images", default=None, type=click.Path(file_okay=False),
              help="Folder of the images the galleries draw on (default: a COCO-crowd file's own crops folder).")
@click.option("--name", "method", default=None, help="Method name in the report (default: the results file name).")
@click.option("--sigmas", default=None, metavar="S1,..,SK|FILE.json",
              help="OKS sigmas, as for `bench score` (default: COCO-17 / CrowdPose-14 values by keypoint name).")
@click.option("--bootstrap", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Bootstrap resamples (over images) for the intervals of the error-type shares; 0 = none.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap resampling.")
@click.option("--gallery", type=click.IntRange(min=0), default=4, show_default=True,
              help="Worst and best images per people-count bucket in the galleries; 0 = no galleries.")
def analyze_command(gt_path, results_path, out_dir, images, method, sigmas, bootstrap, seed, gallery):
    """Which errors a method makes (good / jitter / inversion / swap / miss keypoints, background
    false positives and negatives, scoring), per people-count and crowd-index bucket, the AP each
    costs, and galleries of the worst and best images."""
    from benchmarks.analysis.writer import write_analysis

    a = write_analysis(gt_path, results_path, out_dir, images=images, sigmas=sigmas, bootstrap=bootstrap,
                       seed=seed, method=method, gallery=gallery)
    f = a["overall"]["keypoint_errors"]["fractions"]
    pct = lambda v: "n/a" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    click.echo(f"{a['method']}: " + "  ".join(f"{t} {pct(v)}" for t, v in f.items()))
    b = a["overall"]["background"]
    click.echo(f"false positives {b['false_positives']}/{b['detections']}  false negatives "
               f"{b['false_negatives']}/{b['people']}")
    click.echo(f"wrote {out_dir}/analysis.json and {out_dir}/analysis.md")


if __name__ == "__main__":      # python -m benchmarks.cli ...
    main()
