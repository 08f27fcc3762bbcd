"""Learning proof: does the sequential model learn on the synthetic crowd world, and how does it
compare with AE* trained the same way?

1. Writes a synthetic crowd world (``cococrowd synth``), curates it (``cococrowd build``) for
   training, and a second world with another seed, curated and split (``cococrowd split``),
   whose ``test`` half is the held-out set.
2. For every seed in ``--seeds`` and (``--method ours``) every part-loss weight in
   ``--part-weights`` (the paper's lambda0 = 0.5 and its ablation 0): trains the method
   (ours: configs/seqpose_cpu_proof.toml, ResNet-18, 128 px, R = 3 output px; ae:
   configs/ae_cpu_proof.toml) for a fixed number of epochs set once from ``--minutes`` (CPU
   minutes of the training process, so other work on the machine does not change them) by a
   short probe of that method's step time, at full learning rate for the first ``--full-rate`` share of
   the epochs, then x0.1. Every run of a method has the same epochs.
3. At ``--evals`` points during each run (exact resume between them) predicts the held-out set
   through `bench run` and scores it: COCO keypoint AP, AP50 and counting (share of images whose
   predicted number of people equals the number of people with a labelled keypoint); at the end
   also with the flip test toggled, and with `bench analyze` (AP per people bucket with bootstrap
   intervals, swap share). For ours, the stop threshold is also chosen on the held-out world's
   *val* half (best counting) and the test half is scored at it beside the paper's 0.05.
4. Writes WORK/summary.json, WORK/summary.md and WORK/learning_curve.png.

    python scripts/learning_proof.py --epochs 16 --threads 1 --seeds 0 1 2 --evals 3 --work runs/learning_proof
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.engine import distributed  # noqa: E402
from benchmarks.engine.cpu_math import denormals_flushed  # noqa: E402
from benchmarks.engine.registry import get_method  # noqa: E402
from benchmarks.engine.train import Trainer, make_loader, train, training_dataset  # noqa: E402
from cococrowd.cocofile import write_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PAPER_AP = {("ours", 0.5): 0.433, ("ours", 0.0): 0.271, ("ae", None): 0.396}
CONFIGS = {"ours": REPO / "configs" / "seqpose_cpu_proof.toml", "ae": REPO / "configs" / "ae_cpu_proof.toml"}
THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.5)   # stop thresholds tried on the val half (ours)


def cococrowd(*args: str) -> None:
    from cococrowd.cli import main
    main(list(args), standalone_mode=False)


def apply_settings(config, settings: list[str]):
    """``SECTION.KEY=VALUE`` overrides (VALUE in TOML syntax), checked as a config file's."""
    import tomllib
    from benchmarks.engine.config import config_from_dict
    raw = config.to_dict()
    for spec in settings:
        key, _, value = spec.partition("=")
        section, _, name = key.partition(".")
        raw.setdefault(section, {})[name] = tomllib.loads(f"v = {value}")["v"]
    return config_from_dict(raw, type(config), "--set")


def make_world(work: Path, train_images: int, heldout_images: int, seed: int) -> tuple[Path, Path]:
    """(training COCO-crowd file, held-out COCO-crowd file); reused when already there."""
    train_gt = work / "crowd" / "annotations" / "crowd_train2014.json"
    heldout = work / "crowd" / "annotations" / "crowd_val2014_test.json"
    if train_gt.exists() and heldout.exists():
        return train_gt, heldout
    cococrowd("synth", "--out", str(work / "world"), "--split", "train2014", "--images", str(train_images),
              "--seed", str(seed), "--quiet")
    cococrowd("synth", "--out", str(work / "world"), "--split", "val2014", "--images", str(heldout_images),
              "--seed", str(seed + 1), "--quiet")
    for split in ("train2014", "val2014"):
        cococrowd("build", "--coco-root", str(work / "world"), "--split", split, "--out", str(work / "crowd"),
                  "--quiet")
    cococrowd("split", "--in", str(work / "crowd" / "annotations" / "crowd_val2014.json"), "--seed", str(seed))
    return train_gt, heldout


@denormals_flushed()   # as train() runs
def probe_seconds_per_epoch(method, config, dataset, names, collate, device: str = "cpu", steps: int = 6) -> float:
    """CPU seconds of a few real training steps, scaled to one epoch: the training process's own
    time, so a machine loaded by other work does not change the epochs (with one torch thread
    and data-loading workers it is the compute of one thread)."""
    ctx = distributed.DistContext(0, 1, 0, torch.device(device))
    trainer = Trainer(method, config, names, ctx)
    loader = make_loader(dataset, config, ctx, 0, collate)
    values = trainer.epoch_values(0)
    if "max_people" in values:   # a little above the curriculum's start: a conservative estimate
        values = dict(values, max_people=values["max_people"] + 1)
    it = iter(loader)
    trainer.forward_backward(next(it), values)   # warm-up
    trainer.optimizer_step()
    start, done = time.process_time(), 0
    for batch in it:
        trainer.forward_backward(batch, values)
        trainer.optimizer_step()
        done += 1
        if done == steps:
            break
    if ctx.device.type == "cuda":
        torch.cuda.synchronize()
    return (time.process_time() - start) / max(done, 1) * len(loader)


def heldout_scores(name: str, checkpoint: Path, heldout: Path, out_dir: Path, device: str, flip: bool | None = None,
                   threshold: float | None = None, analyze: bool = False) -> dict:
    from benchmarks.run import run_method
    options = {"threshold": threshold} if threshold is not None else {}
    summary = run_method(name, heldout, out_dir, checkpoint=checkpoint, progress=False, device=device, flip=flip,
                         scoring={"bootstrap": 1000 if analyze else 0, "seed": 0},
                         analyze={"bootstrap": 200, "seed": 0, "gallery": 3} if analyze else None, **options)
    scores = summary["scores"]
    point = {"AP": scores["ap_ar"]["stats"]["AP"], "AP50": scores["ap_ar"]["stats"]["AP.5"],
             "AR": scores["ap_ar"]["stats"]["AR"], "counting_exact": scores["counting"]["exact"],
             "counting_mean_abs_error": scores["counting"]["mean_abs_error"],
             "predicted_people": scores["counting"]["predicted_people"], "gt_people": scores["counting"]["gt_people"],
             "images": scores["counting"]["images"], "flip": summary["flip"]}
    if analyze:
        a = summary["analysis"]
        point.update(
            ap_ci=scores["ap_ar"]["ap_ci"],
            ap_by_people={b["label"]: {"AP": b["stats"]["AP"], "ap_ci": b["ap_ci"], "people": b["people"]}
                          for b in scores["ap_by_people"]["buckets"]},
            error_fractions=a["overall"]["keypoint_errors"]["fractions"],
            swap_by_people={label: b["keypoint_errors"]["fractions"]["swap"]
                            for label, b in (a.get("people_buckets") or {}).items()},
            run_dir=str(out_dir))
    return point


def calibrate_threshold(name: str, checkpoint: Path, val: Path, out: Path, device: str) -> dict:
    """The stop threshold with the best counting on the val half (ties: the paper's 0.05 side)."""
    tried = {}
    for t in THRESHOLDS:
        tried[t] = heldout_scores(name, checkpoint, val, out / f"val_threshold_{t:g}", device, threshold=t)
    best = max(THRESHOLDS, key=lambda t: (tried[t]["counting_exact"], -abs(t - 0.05)))
    return {"chosen": best, "val_counting_exact": {f"{t:g}": tried[t]["counting_exact"] for t in THRESHOLDS},
            "val_AP": {f"{t:g}": tried[t]["AP"] for t in THRESHOLDS}}


def one_run(name: str, config, dataset, names, collate, heldout: Path, val: Path, out: Path, evals: int,
            device: str) -> dict:
    """Train ``config`` in ``evals`` chunks, scoring the held-out set after each."""
    epochs = config.optim.epochs
    marks = sorted({max(1, round(epochs * (i + 1) / evals)) for i in range(evals)})
    method = get_method(name, progress=False)
    curve, done, minutes, cpu_minutes, summary = [], 0, 0.0, 0.0, {}
    last = out / "checkpoints" / "last.pt"
    for mark in marks:
        start, cpu = time.monotonic(), time.process_time()
        summary = train(method, config if done == 0 else None, dataset, out, keypoint_names=names,
                        collate_fn=collate, device=device, resume=done > 0, stop_after=mark - done,
                        progress=False)
        minutes += (time.monotonic() - start) / 60
        cpu_minutes += (time.process_time() - cpu) / 60
        done = mark
        final = mark == marks[-1]
        point = heldout_scores(name, last, heldout, out / f"heldout_e{mark:03d}", device, analyze=final)
        curve.append({"epoch": mark, "train_minutes": round(minutes, 2), "train_cpu_minutes": round(cpu_minutes, 2),
                      "train_loss": summary.get("loss"),
                      "max_people": summary.get("max_people"), "step1_peak": summary.get("step1_peak"),
                      "stop_peak": summary.get("stop_peak"), **point})
        print(f"  epoch {mark}/{epochs} ({minutes:.1f} min): AP {point['AP']:.3f} AP50 {point['AP50']:.3f} "
              f"counting {point['counting_exact']:.3f}", flush=True)
    toggled = heldout_scores(name, last, heldout, out / "heldout_flip_toggled", device, flip=not config.infer.flip)
    run = {"method": name, "part_weight": getattr(getattr(config, "loss", None), "part_weight", None),
           "seed": config.train.seed, "epochs": epochs, "milestones": config.optim.milestones,
           "train_minutes": round(minutes, 2), "train_cpu_minutes": round(cpu_minutes, 2), "curve": curve,
           "final": curve[-1], "flip_toggled": toggled}
    if name == "ours":   # the stop threshold chosen on the val half, then the test half scored at it
        run["threshold"] = calibrate_threshold(name, last, val, out, device)
        chosen = run["threshold"]["chosen"]
        run["at_chosen_threshold"] = heldout_scores(name, last, heldout, out / f"heldout_threshold_{chosen:g}",
                                                    device, threshold=chosen)
    return run


def fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def spread(values: list[float | None]) -> str:
    values = [v for v in values if v is not None]   # a bucket a run had no people in
    if len(values) < 2:
        return fmt(values[0]) if values else "n/a"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def plot_curves(runs: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    colours = {"ours lambda0=0.5": "tab:blue", "ours lambda0=0": "tab:orange", "ae": "tab:green"}
    for r in runs:
        e = [p.get("train_cpu_minutes", p["train_minutes"]) for p in r["curve"]]
        group = run_label(r)
        for ax, key in zip(axes, ("AP", "AP50", "counting_exact")):
            ax.plot(e, [p[key] for p in r["curve"]], marker="o", color=colours.get(group, "k"),
                    alpha=0.8, label=f"{group} seed {r['seed']}")
    for ax, title in zip(axes, ("held-out AP", "held-out AP50", "counting exact")):
        ax.set_title(title)
        ax.set_xlabel("training CPU minutes")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_label(r: dict) -> str:
    name = r.get("method", "ours")
    label = f"{name} lambda0={r['part_weight']:g}" if name == "ours" else name
    variant = ([Path(r["config"]).stem] if r.get("config") else []) + list(r.get("settings") or [])
    # runs of another length are another experiment: their own group in every table
    return label + (f" ({', '.join(variant)})" if variant else "") + f", {r['epochs']} epochs"


def ci_text(ci: dict | None) -> str:
    return f" [{ci['low']:.3f}, {ci['high']:.3f}]" if ci else ""


def summary_markdown(result: dict) -> str:
    runs = result["runs"]
    lines = [f"`{result['command']}`", "",
             f"{result['train_regions']} training regions; held-out test half: {result['heldout_images']} regions, "
             f"{result['heldout_people']} people with a labelled keypoint; torch threads {result['torch_threads']}; "
             "epochs per method from its own probe of --minutes, LR x0.1 for the last epochs.", "",
             "| run | seed | epochs (LR drop) | train min (CPU) | AP [95% CI] | AP50 | AR | counting exact | "
             "predicted / GT people | AP with flip toggled | step-1 / stop peak |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        f, t = r["final"], r["flip_toggled"]
        lines.append(f"| {run_label(r)} | {r['seed']} | {r['epochs']} ({r['milestones']}) | {r['train_minutes']} "
                     f"({r.get('train_cpu_minutes', 'n/a')}) | "
                     f"{fmt(f['AP'])}{ci_text(f.get('ap_ci'))} | {fmt(f['AP50'])} | {fmt(f['AR'])} | "
                     f"{fmt(f['counting_exact'])} | {f['predicted_people']} / {f['gt_people']} | "
                     f"{fmt(t['AP'])} (flip {t['flip']}) | {fmt(f.get('step1_peak'))} / {fmt(f.get('stop_peak'))} |")
    groups = list(dict.fromkeys(run_label(r) for r in runs))
    lines += ["", "| run | seeds | AP mean ± sd | AP50 mean ± sd | counting exact mean ± sd | paper AP |",
              "|---|---|---|---|---|---|"]
    for g in groups:
        rs = [r for r in runs if run_label(r) == g]
        paper = PAPER_AP.get((rs[0].get("method", "ours"), rs[0]["part_weight"]), "n/a")
        lines.append(f"| {g} | {len(rs)} | {spread([r['final']['AP'] for r in rs])} | "
                     f"{spread([r['final']['AP50'] for r in rs])} | "
                     f"{spread([r['final']['counting_exact'] for r in rs])} | {paper} |")
    calibrated = [r for r in runs if r.get("threshold")]
    if calibrated:
        lines += ["", "Stop threshold: counting on the test half at the paper's 0.05 and at the threshold with the "
                  "best counting on the val half (chosen there, never on the test half):", "",
                  "| run | seed | counting exact @0.05 | predicted @0.05 | chosen on val | counting exact @chosen | "
                  "predicted @chosen | AP @0.05 | AP @chosen |", "|---|---|---|---|---|---|---|---|---|"]
        for r in calibrated:
            f, c = r["final"], r["at_chosen_threshold"]
            lines.append(f"| {run_label(r)} | {r['seed']} | {fmt(f['counting_exact'])} | {f['predicted_people']} | "
                         f"{r['threshold']['chosen']:g} | {fmt(c['counting_exact'])} | {c['predicted_people']} | "
                         f"{fmt(f['AP'])} | {fmt(c['AP'])} |")
    buckets = list(runs[0]["final"].get("ap_by_people") or {})
    if buckets:
        lines += ["", "AP per people bucket (test half, bootstrap 95% intervals) and share of swap errors "
                  "among matched keypoint errors (`bench analyze`):", "",
                  "| run | seed | " + " | ".join(f"AP {b}" for b in buckets) + " | "
                  + " | ".join(f"swap {b}" for b in buckets) + " |", "|---|---|" + "---|" * (2 * len(buckets))]
        for r in runs:
            f = r["final"]
            lines.append(f"| {run_label(r)} | {r['seed']} | " + " | ".join(
                fmt(f["ap_by_people"][b]["AP"]) + ci_text(f["ap_by_people"][b]["ap_ci"]) for b in buckets) + " | "
                + " | ".join(fmt(f["swap_by_people"].get(b)) for b in buckets) + " |")
        lines += ["", "Per method, mean ± sd over its seeds (the side-by-side table of method_comparison.md):", "",
                  "| run | seeds | AP | " + " | ".join(f"AP {b}" for b in buckets) + " | counting exact @0.05 | "
                  "counting exact @val-chosen | swap share all | " + " | ".join(f"swap {b}" for b in buckets) + " |",
                  "|---|---|---|" + "---|" * (2 * len(buckets) + 3)]
        for g in groups:
            fs = [r["final"] for r in runs if run_label(r) == g]
            chosen = [r["at_chosen_threshold"]["counting_exact"] for r in runs
                      if run_label(r) == g and r.get("at_chosen_threshold")]
            lines.append(f"| {g} | {len(fs)} | {spread([f['AP'] for f in fs])} | "
                         + " | ".join(spread([f["ap_by_people"][b]["AP"] for f in fs]) for b in buckets)
                         + f" | {spread([f['counting_exact'] for f in fs])} | "
                         f"{spread(chosen) if chosen else 'n/a (no stop step)'} | "
                         f"{spread([f['error_fractions'].get('swap') for f in fs])} | "
                         + " | ".join(spread([f["swap_by_people"].get(b) for f in fs]) for b in buckets) + " |")
    lines += ["", "Learning curves (held-out test half, each point after the epoch shown):", ""]
    for r in runs:
        lines.append(f"- {run_label(r)} seed {r['seed']}: " + "; ".join(
            f"epoch {p['epoch']} ({p['train_minutes']} min) AP {fmt(p['AP'])} / AP50 {fmt(p['AP50'])} / "
            f"count {fmt(p['counting_exact'])}" for p in r["curve"]))
    return "\n".join(lines) + "\n"


def merge(works: list[Path], out: Path) -> int:
    """One summary of several finished runs of this script on the same world."""
    parts = [json.loads((w / "summary.json").read_text()) for w in works]
    keys = ("train_regions", "heldout_images", "heldout_people")
    for part, w in zip(parts[1:], works[1:]):
        if any(part[k] != parts[0][k] for k in keys):
            raise SystemExit(f"{w}: {', '.join(keys)} differ from {works[0]}; not one experiment")
    result = dict(parts[0], runs=[r for part in parts for r in part["runs"]],
                  command=" ; ".join(part["command"] for part in parts))
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "summary.json", result, indent=True)
    plot_curves(result["runs"], out / "learning_curve.png")
    (out / "summary.md").write_text(summary_markdown(result))
    print(summary_markdown(result))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=9.0,
                   help="training budget of one run in CPU minutes of the training process (sets epochs)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per run (instead of the --minutes probe)")
    p.add_argument("--work", type=Path, default=REPO / "runs" / "learning_proof", help="working folder")
    p.add_argument("--method", choices=sorted(CONFIGS), default="ours", help="the learned method to train")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one config value (TOML syntax), e.g. curriculum.start_people=12; repeatable")
    p.add_argument("--config", type=Path, default=None,
                   help="model/data/optimiser settings (default: configs/seqpose_cpu_proof.toml for ours, "
                        "configs/ae_cpu_proof.toml for ae; epochs and milestones are set here)")
    p.add_argument("--train-images", type=int, default=2000, help="synthetic source images for training")
    p.add_argument("--heldout-images", type=int, default=800,
                   help="synthetic source images for the held-out world (its test half is scored)")
    p.add_argument("--world-seed", type=int, default=0, help="seed of the worlds and the split")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    p.add_argument("--part-weights", type=float, nargs="+", default=[0.5, 0.0],
                   help="--method ours: lambda0 values to train (0.5 the paper's, 0 its ablation)")
    p.add_argument("--full-rate", type=float, default=0.85, help="share of epochs before the single x0.1 step")
    p.add_argument("--evals", type=int, default=4, help="held-out evaluations per run (learning-curve points)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--device", default="cpu", help="cpu, or cuda with configs/seqpose_gpu_proof.toml")
    p.add_argument("--merge", type=Path, nargs="+", default=None, metavar="WORK",
                   help="only combine the summary.json of these finished work folders (e.g. one per lambda0, "
                        "run side by side) into --work's summary.md and learning_curve.png")
    args = p.parse_args(argv)
    if args.merge:
        return merge(args.merge, args.work)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    train_gt, heldout = make_world(args.work, args.train_images, args.heldout_images, args.world_seed)

    val = heldout.with_name(heldout.name.replace("_test.json", "_val.json"))
    method = get_method(args.method, progress=False)
    config_path = args.config or CONFIGS[args.method]
    base = apply_settings(method.load_config(config_path), args.settings)
    dataset, codec = training_dataset(method, base, train_gt)
    names = dataset.keypoint_names
    if args.epochs is None:
        per_epoch = probe_seconds_per_epoch(method, base, dataset, names, codec.collate, args.device)
        epochs = max(2, math.floor(60 * args.minutes / per_epoch))
        print(f"probe: ~{per_epoch:.0f} s/epoch -> {epochs} epochs", flush=True)
    else:
        epochs = args.epochs
    milestones = [max(1, round(epochs * args.full_rate))]
    print(f"train: {len(dataset)} regions, {epochs} epochs, LR x0.1 at {milestones}; held-out: {heldout}", flush=True)

    runs = []
    weights = args.part_weights if args.method == "ours" else [None]
    for seed in args.seeds:
        for weight in weights:
            config = apply_settings(method.load_config(config_path), args.settings)
            config.train.seed = seed
            config.optim.epochs, config.optim.milestones = epochs, milestones
            if weight is not None:
                config.loss.part_weight = weight
                config.curriculum.max_warmup_epochs = max(1, round(0.3 * epochs))
            label = f"lambda0={weight:g}" if weight is not None else args.method
            print(f"run {label} seed={seed}", flush=True)
            out = args.work / (f"lambda{weight:g}_seed{seed}" if weight is not None else f"{args.method}_seed{seed}")
            runs.append(one_run(args.method, config, training_dataset(method, config, train_gt)[0], names,
                                codec.collate, heldout, val, out, args.evals, args.device))
            if args.config is not None:   # a variant of the method's own config: its runs are a group of their own
                runs[-1]["config"] = args.config.name
            if args.settings:
                runs[-1]["settings"] = args.settings
            partial = {"runs": runs}
            write_json(args.work / "summary.partial.json", partial, indent=True)

    command = "python scripts/learning_proof.py " + " ".join(argv if argv is not None else sys.argv[1:])
    final = runs[0]["final"]
    result = {"command": command.strip(), "device": args.device, "minutes": args.minutes, "epochs": epochs,
              "milestones": milestones,
              "train_regions": len(dataset), "heldout_images": final["images"], "heldout_people": final["gt_people"],
              "torch_threads": torch.get_num_threads(), "runs": runs}
    write_json(args.work / "summary.json", result, indent=True)
    plot_curves(runs, args.work / "learning_curve.png")
    (args.work / "summary.md").write_text(summary_markdown(result))
    print(summary_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
