"""Learning proof: does the sequential model learn on the synthetic crowd world?

1. Writes a synthetic crowd world (``cococrowd synth``), curates it (``cococrowd build``) for
   training, and a second world with another seed, curated and split (``cococrowd split``),
   whose ``test`` half is the held-out set.
2. For every seed in ``--seeds`` and every part-loss weight in ``--part-weights`` (the paper's
   lambda0 = 0.5 and its ablation 0): trains the model (configs/seqpose_cpu_proof.toml: ResNet-18,
   128 px, R = 0.75 output px) for a fixed number of epochs set once from ``--minutes`` by a short
   probe of the step time, at full learning rate for the first ``--full-rate`` share of the
   epochs, then x0.1. Every run has the same epochs, so runs differ only in seed and lambda0.
3. At ``--evals`` points during each run (exact resume between them) predicts the held-out set
   through `bench run --method ours` and scores it: COCO keypoint AP, AP50 and counting (share of
   images whose predicted number of people equals the number of people with a labelled keypoint);
   at the end also with the flip test toggled, so the flip test is kept only where it helps.
4. Writes WORK/summary.json, WORK/summary.md and WORK/learning_curve.png.

    python scripts/learning_proof.py --minutes 9 --seeds 0 1 2 --work runs/learning_proof
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

from benchmarks.data import collate_people  # noqa: E402
from benchmarks.engine import distributed  # noqa: E402
from benchmarks.seqpose.config import Config, load_config  # noqa: E402
from benchmarks.engine.train import Trainer, make_loader, train, training_dataset  # noqa: E402
from benchmarks.seqpose.method import SeqPoseMethod  # noqa: E402
from cococrowd.cocofile import write_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OURS = SeqPoseMethod(progress=False)
PAPER_AP = {0.5: 0.433, 0.0: 0.271}


def cococrowd(*args: str) -> None:
    from cococrowd.cli import main
    main(list(args), standalone_mode=False)


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


def probe_seconds_per_epoch(config: Config, dataset, names, device: str = "cpu", steps: int = 6) -> float:
    """Time a few real training steps (data loading included) and scale to one epoch."""
    ctx = distributed.DistContext(0, 1, 0, torch.device(device))
    trainer = Trainer(OURS, config, names, ctx)
    loader = make_loader(dataset, config, ctx, 0, collate_people)
    it = iter(loader)
    trainer.forward_backward(next(it), {"max_people": 2})   # warm-up
    trainer.optimizer_step()
    start, done = time.monotonic(), 0
    for batch in it:
        trainer.forward_backward(batch, {"max_people": 3})  # a little above M = 2: a conservative estimate
        trainer.optimizer_step()
        done += 1
        if done == steps:
            break
    if ctx.device.type == "cuda":
        torch.cuda.synchronize()
    return (time.monotonic() - start) / max(done, 1) * len(loader)


def heldout_scores(checkpoint: Path, heldout: Path, out_dir: Path, device: str, flip: bool | None = None) -> dict:
    from benchmarks.run import run_method
    summary = run_method("ours", heldout, out_dir, checkpoint=checkpoint, progress=False, device=device, flip=flip,
                         scoring={"bootstrap": 0})
    scores = summary["scores"]
    return {"AP": scores["ap_ar"]["stats"]["AP"], "AP50": scores["ap_ar"]["stats"]["AP.5"],
            "AR": scores["ap_ar"]["stats"]["AR"], "counting_exact": scores["counting"]["exact"],
            "counting_mean_abs_error": scores["counting"]["mean_abs_error"],
            "predicted_people": scores["counting"]["predicted_people"], "gt_people": scores["counting"]["gt_people"],
            "images": scores["counting"]["images"], "flip": summary["flip"]}


def one_run(config: Config, dataset, names, heldout: Path, out: Path, evals: int, device: str) -> dict:
    """Train ``config`` in ``evals`` chunks, scoring the held-out set after each."""
    epochs = config.optim.epochs
    marks = sorted({max(1, round(epochs * (i + 1) / evals)) for i in range(evals)})
    curve, done, minutes, summary = [], 0, 0.0, {}
    last = out / "checkpoints" / "last.pt"
    for mark in marks:
        start = time.monotonic()
        summary = train(OURS, config if done == 0 else None, dataset, out, keypoint_names=names,
                        collate_fn=collate_people, device=device, resume=done > 0, stop_after=mark - done,
                        progress=False)
        minutes += (time.monotonic() - start) / 60
        done = mark
        point = heldout_scores(last, heldout, out / f"heldout_e{mark:03d}", device)
        curve.append({"epoch": mark, "train_minutes": round(minutes, 2), "train_loss": summary.get("loss"),
                      "max_people": summary.get("max_people"), **point})
        print(f"  epoch {mark}/{epochs} ({minutes:.1f} min): AP {point['AP']:.3f} AP50 {point['AP50']:.3f} "
              f"counting {point['counting_exact']:.3f}", flush=True)
    toggled = heldout_scores(last, heldout, out / "heldout_flip_toggled", device, flip=not config.infer.flip)
    return {"part_weight": config.loss.part_weight, "seed": config.train.seed, "epochs": epochs,
            "milestones": config.optim.milestones, "train_minutes": round(minutes, 2), "curve": curve,
            "final": curve[-1], "flip_toggled": toggled}


def fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def spread(values: list[float]) -> str:
    if len(values) < 2:
        return fmt(values[0]) if values else "n/a"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def plot_curves(runs: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    colours = {0.5: "tab:blue", 0.0: "tab:orange"}
    for r in runs:
        e = [p["epoch"] for p in r["curve"]]
        label = f"lambda0={r['part_weight']} seed {r['seed']}"
        for ax, key in zip(axes, ("AP", "AP50", "counting_exact")):
            ax.plot(e, [p[key] for p in r["curve"]], marker="o", color=colours.get(r["part_weight"], "k"),
                    alpha=0.8, label=label)
    for ax, title in zip(axes, ("held-out AP", "held-out AP50", "counting exact")):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary_markdown(result: dict) -> str:
    runs = result["runs"]
    lines = [f"`{result['command']}`", "",
             f"{result['train_regions']} training regions; held-out: {result['heldout_images']} regions, "
             f"{result['heldout_people']} people with a labelled keypoint; {result['epochs']} epochs per run "
             f"(LR x0.1 at epoch {result['milestones']}), torch threads {result['torch_threads']}.", "",
             "| lambda0 | seed | epochs | train min | AP | AP50 | AR | counting exact | predicted / GT people | "
             "AP with flip toggled |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        f, t = r["final"], r["flip_toggled"]
        lines.append(f"| {r['part_weight']} | {r['seed']} | {r['epochs']} | {r['train_minutes']} | {fmt(f['AP'])} | "
                     f"{fmt(f['AP50'])} | {fmt(f['AR'])} | {fmt(f['counting_exact'])} | "
                     f"{f['predicted_people']} / {f['gt_people']} | {fmt(t['AP'])} (flip {t['flip']}) |")
    lines += ["", "| lambda0 | seeds | AP mean ± sd | AP50 mean ± sd | counting exact mean ± sd | paper AP |",
              "|---|---|---|---|---|---|"]
    for w in sorted({r["part_weight"] for r in runs}, reverse=True):
        rs = [r for r in runs if r["part_weight"] == w]
        lines.append(f"| {w} | {len(rs)} | {spread([r['final']['AP'] for r in rs])} | "
                     f"{spread([r['final']['AP50'] for r in rs])} | "
                     f"{spread([r['final']['counting_exact'] for r in rs])} | {PAPER_AP.get(w, 'n/a')} |")
    lines += ["", "Learning curves (held-out, each point after the epoch shown):", "",
              "| lambda0 | seed | " + " | ".join(f"epoch {p['epoch']}: AP / AP50 / count" for p in runs[0]["curve"])
              + " |", "|---|---|" + "---|" * len(runs[0]["curve"])]
    for r in runs:
        lines.append(f"| {r['part_weight']} | {r['seed']} | " + " | ".join(
            f"{fmt(p['AP'])} / {fmt(p['AP50'])} / {fmt(p['counting_exact'])}" for p in r["curve"]) + " |")
    return "\n".join(lines) + "\n"


def merge(works: list[Path], out: Path) -> int:
    """One summary of several finished runs of this script with the same world and epochs."""
    parts = [json.loads((w / "summary.json").read_text()) for w in works]
    keys = ("epochs", "milestones", "train_regions", "heldout_images", "heldout_people")
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
    p.add_argument("--minutes", type=float, default=9.0, help="training wall-time budget of one run (sets epochs)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per run (instead of the --minutes probe)")
    p.add_argument("--work", type=Path, default=REPO / "runs" / "learning_proof", help="working folder")
    p.add_argument("--config", type=Path, default=REPO / "configs" / "seqpose_cpu_proof.toml",
                   help="model/data/optimiser settings (epochs and milestones are set here)")
    p.add_argument("--train-images", type=int, default=2000, help="synthetic source images for training")
    p.add_argument("--heldout-images", type=int, default=800,
                   help="synthetic source images for the held-out world (its test half is scored)")
    p.add_argument("--world-seed", type=int, default=0, help="seed of the worlds and the split")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    p.add_argument("--part-weights", type=float, nargs="+", default=[0.5, 0.0],
                   help="lambda0 values to train (0.5 the paper's, 0 its ablation)")
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

    base = load_config(args.config)
    dataset = training_dataset(OURS, base, train_gt)[0]
    names = dataset.keypoint_names
    if args.epochs is None:
        per_epoch = probe_seconds_per_epoch(base, dataset, names, args.device)
        epochs = max(2, math.floor(60 * args.minutes / per_epoch))
        print(f"probe: ~{per_epoch:.0f} s/epoch -> {epochs} epochs", flush=True)
    else:
        epochs = args.epochs
    milestones = [max(1, round(epochs * args.full_rate))]
    print(f"train: {len(dataset)} regions, {epochs} epochs, LR x0.1 at {milestones}; held-out: {heldout}", flush=True)

    runs = []
    for seed in args.seeds:
        for weight in args.part_weights:
            config = load_config(args.config)
            config.train.seed = seed
            config.loss.part_weight = weight
            config.optim.epochs, config.optim.milestones = epochs, milestones
            config.curriculum.max_warmup_epochs = max(1, round(0.3 * epochs))
            print(f"run lambda0={weight} seed={seed}", flush=True)
            out = args.work / f"lambda{weight:g}_seed{seed}"
            runs.append(one_run(config, training_dataset(OURS, config, train_gt)[0], names, heldout, out, args.evals,
                                args.device))
            partial = {"runs": runs}
            write_json(args.work / "summary.partial.json", partial, indent=True)

    command = "python scripts/learning_proof.py " + " ".join(argv if argv is not None else sys.argv[1:])
    final = runs[0]["final"]
    result = {"command": command.strip(), "device": args.device, "epochs": epochs, "milestones": milestones,
              "train_regions": len(dataset), "heldout_images": final["images"], "heldout_people": final["gt_people"],
              "torch_threads": torch.get_num_threads(), "runs": runs}
    write_json(args.work / "summary.json", result, indent=True)
    plot_curves(runs, args.work / "learning_curve.png")
    (args.work / "summary.md").write_text(summary_markdown(result))
    print(summary_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
