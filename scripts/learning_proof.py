"""Learning proof: does the sequential model learn on the synthetic crowd world on a CPU?

1. Writes a synthetic crowd world (``cococrowd synth``), curates it (``cococrowd build``) for
   training, and a second world with another seed, curated and split (``cococrowd split``),
   whose ``test`` half is the held-out set.
2. Trains the model (ResNet-18, small input; configs/seqpose_cpu_proof.toml) for at most
   ``--minutes`` of wall time: a short probe of the step time sets the number of epochs, the
   LR milestones at 60/130 and 90/130 of them (the paper's proportions), and a deadline stops
   training before an epoch that would not finish in time.
3. Predicts the held-out set (single scale, flip test) and scores it with the project's scorer:
   COCO keypoint AP and counting accuracy (share of images whose predicted number of people
   equals the annotated number).
4. Repeats 2-3 without the part loss (lambda0 = 0), the paper's ablation (0.271 vs 0.433 AP).

    python scripts/learning_proof.py --minutes 10 --work runs/learning_proof

Writes WORK/summary.json and WORK/summary.md and prints the figures.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.data import collate_people  # noqa: E402
from benchmarks.seqpose import distributed  # noqa: E402
from benchmarks.seqpose.config import Config, load_config  # noqa: E402
from benchmarks.seqpose.train import Trainer, make_loader, train, training_dataset  # noqa: E402
from cococrowd.cocofile import write_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PAPER = {"with part loss": 0.433, "without part loss": 0.271}


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
    trainer = Trainer(config, names, ctx)
    loader = make_loader(dataset, config, ctx, 0, collate_people)
    it = iter(loader)
    trainer.forward_backward(next(it), 2)   # warm-up
    trainer.optimizer_step()
    start, done = time.monotonic(), 0
    for batch in it:
        trainer.forward_backward(batch, 3)  # a little above M = 2: a conservative estimate
        trainer.optimizer_step()
        done += 1
        if done == steps:
            break
    if ctx.device.type == "cuda":
        torch.cuda.synchronize()
    return (time.monotonic() - start) / max(done, 1) * len(loader)


def heldout_scores(checkpoint: Path, heldout: Path, out_dir: Path, device: str) -> dict:
    from benchmarks.methods import run_method
    summary = run_method("ours", heldout, out_dir, checkpoint=checkpoint, progress=False, device=device)
    scores = summary["scores"]
    return {"AP": scores["table1"]["stats"]["AP"], "AP50": scores["table1"]["stats"]["AP.5"],
            "AR": scores["table1"]["stats"]["AR"], "counting_exact": scores["counting"]["exact"],
            "counting_mean_abs_error": scores["counting"]["mean_abs_error"],
            "predicted_people": scores["counting"]["predicted_people"], "gt_people": scores["counting"]["gt_people"],
            "images": scores["counting"]["images"]}


def one_run(name: str, config: Config, dataset, names, heldout: Path, work: Path, minutes: float,
            device: str) -> dict:
    out = work / name.replace(" ", "_")
    start = time.monotonic()
    summary = train(config, dataset, out, keypoint_names=names, collate_fn=collate_people, device=device,
                    deadline=start + 60 * minutes, progress=False)
    train_minutes = (time.monotonic() - start) / 60
    scores = heldout_scores(out / "checkpoints" / "last.pt", heldout, out / "heldout", device)
    print(f"{name}: AP {scores['AP']:.3f}, counting exact {scores['counting_exact']:.3f}", flush=True)
    return {"run": name, "part_weight": config.loss.part_weight, "epochs_run": summary["epoch"],
            "epochs_planned": config.optim.epochs, "final_max_people": summary.get("max_people"),
            "final_train_loss": summary.get("loss"), "train_minutes": round(train_minutes, 2), **scores}


def fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0, help="training wall-time budget per run")
    p.add_argument("--work", type=Path, default=REPO / "runs" / "learning_proof", help="working folder")
    p.add_argument("--config", type=Path, default=REPO / "configs" / "seqpose_cpu_proof.toml",
                   help="model/data/optimiser settings (epochs and milestones are set from the budget)")
    p.add_argument("--train-images", type=int, default=2000, help="synthetic source images for training")
    p.add_argument("--heldout-images", type=int, default=800,
                   help="synthetic source images for the held-out world (its test half is scored)")
    p.add_argument("--seed", type=int, default=0, help="world, split and training seed")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--skip-ablation", action="store_true", help="only the run with the part loss")
    p.add_argument("--device", default="cpu", help="cpu (the issue's proof), or cuda with configs/seqpose_gpu_proof.toml")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    train_gt, heldout = make_world(args.work, args.train_images, args.heldout_images, args.seed)

    config = load_config(args.config)
    config.train.seed = args.seed
    dataset = training_dataset(config, train_gt)
    names = dataset.keypoint_names
    per_epoch = probe_seconds_per_epoch(config, dataset, names, args.device)
    epochs = max(2, math.floor(60 * args.minutes / per_epoch))
    config.optim.epochs = epochs
    config.optim.milestones = sorted({max(1, round(epochs * 60 / 130)), max(2, round(epochs * 90 / 130))})
    config.curriculum.max_warmup_epochs = max(1, round(0.4 * epochs))
    print(f"train: {len(dataset)} regions, ~{per_epoch:.0f} s/epoch -> {epochs} epochs, "
          f"milestones {config.optim.milestones}; held-out: {heldout}", flush=True)

    rows = [one_run("with part loss", config, dataset, names, heldout, args.work, args.minutes, args.device)]
    if not args.skip_ablation:
        ablation = load_config(args.config)
        ablation.train.seed = args.seed
        ablation.optim, ablation.curriculum = config.optim, config.curriculum
        ablation.loss.part_weight = 0.0
        rows.append(one_run("without part loss", ablation, dataset, names, heldout, args.work, args.minutes,
                            args.device))

    command = "python scripts/learning_proof.py " + " ".join(argv if argv is not None else sys.argv[1:])
    result = {"command": command.strip(), "device": args.device, "minutes_per_run": args.minutes,
              "train_regions": len(dataset),
              "torch_threads": torch.get_num_threads(), "runs": rows}
    write_json(args.work / "summary.json", result, indent=True)
    lines = ["| run | lambda0 | epochs | train min | AP | AP50 | counting exact | paper AP |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['run']} | {r['part_weight']} | {r['epochs_run']}/{r['epochs_planned']} | "
                     f"{r['train_minutes']} | {fmt(r['AP'])} | {fmt(r['AP50'])} | {fmt(r['counting_exact'])} | "
                     f"{PAPER[r['run']]} |")
    table = "\n".join(lines)
    (args.work / "summary.md").write_text(f"`{result['command']}`\n\n{table}\n")
    print(table)
    print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
