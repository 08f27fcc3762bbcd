"""Memorisation proof: can the sequential model learn 16 regions by heart?

The quickest evidence that matching, stop steps, curriculum, read-out and prediction work
together: 16 regions of the learning proof's training world (the first 16 by id with at least
two people), no augmentation, every person supervised from the start (curriculum cap above the
largest group), constant learning rate. Every ``--eval-every`` epochs the same 16 regions are
predicted through `bench run --method ours` (flip test off: training never saw a mirror) and
scored; training stops once AP >= ``--target-ap`` and counting is exact on >= ``--target-count``
of the regions at the paper's stop threshold 0.05, or when ``--minutes`` are spent. Each point
also reports the best counting over a few other stop thresholds (a diagnostic: does the decoder
already separate its people from its stop step, only not yet below 0.05?). Writes
WORK/memorisation.json and .md.

    python scripts/memorisation_proof.py --minutes 20 --threads 1 --work runs/memorisation
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from benchmarks.engine.registry import get_method  # noqa: E402
from benchmarks.engine.train import train, training_dataset  # noqa: E402
from benchmarks.run import run_method  # noqa: E402
from cococrowd.cocofile import write_json  # noqa: E402
from learning_proof import THRESHOLDS, make_world  # noqa: E402


def first_regions(gt_path: Path, count: int, min_people: int, out: Path) -> Path:
    """A COCO-crowd file of the first ``count`` regions (by id) with >= ``min_people`` members."""
    data = json.loads(gt_path.read_text())
    members: dict[int, int] = {}
    for a in data["annotations"]:
        if not a.get("ignore", 0) and not a["iscrowd"]:
            members[a["image_id"]] = members.get(a["image_id"], 0) + 1
    keep = sorted(i["id"] for i in data["images"] if members.get(i["id"], 0) >= min_people)[:count]
    if len(keep) < count:
        raise SystemExit(f"{gt_path}: only {len(keep)} regions with >= {min_people} people")
    chosen = set(keep)
    subset = dict(data, images=[i for i in data["images"] if i["id"] in chosen],
                  annotations=[a for a in data["annotations"] if a["image_id"] in chosen])
    return write_json(out, subset)


def scores_of(summary: dict) -> dict:
    s = summary["scores"]
    return {"AP": s["ap_ar"]["stats"]["AP"], "AP50": s["ap_ar"]["stats"]["AP.5"],
            "counting_exact": s["counting"]["exact"], "predicted_people": s["counting"]["predicted_people"],
            "gt_people": s["counting"]["gt_people"]}


def markdown(result: dict) -> str:
    lines = [f"`{result['command']}`", "",
             f"{result['regions']} regions ({result['gt']}), {result['gt_people']} people; batch {result['batch_size']}, "
             f"LR {result['lr']} constant, no augmentation, flip test off, torch threads {result['threads']}. "
             f"Reached the target: **{'yes' if result['reached'] else 'no'}** "
             f"({result['curve'][-1]['epoch']} epochs, {result['curve'][-1]['minutes']} min).", "",
             "| epoch | minutes | loss | step-1 peak | stop peak | AP | AP50 | counting exact | predicted / GT | "
             "best counting (threshold) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for p in result["curve"]:
        b = p["best_threshold"]
        lines.append(f"| {p['epoch']} | {p['minutes']} | {p['loss']:.4f} | {p['step1_peak']:.3f} | "
                     f"{p['stop_peak']:.3f} | {p['AP']:.3f} | {p['AP50']:.3f} | {p['counting_exact']:.3f} | "
                     f"{p['predicted_people']} / {p['gt_people']} | {b['counting_exact']:.3f} ({b['threshold']:g}) |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=REPO / "runs" / "memorisation", help="working folder")
    p.add_argument("--world", type=Path, default=None,
                   help="a learning-proof work folder whose world (crowd/) to take the regions from "
                        "(default: make one in --work)")
    p.add_argument("--config", type=Path, default=REPO / "configs" / "seqpose_cpu_proof.toml",
                   help="model settings (augmentation, curriculum and schedule are overridden here)")
    p.add_argument("--regions", type=int, default=16, help="regions to memorise")
    p.add_argument("--min-people", type=int, default=2, help="fewest group members a chosen region has")
    p.add_argument("--batch-size", type=int, default=4, help="regions per step")
    p.add_argument("--minutes", type=float, default=20.0, help="training wall-clock budget")
    p.add_argument("--eval-every", type=int, default=40, help="epochs between evaluations")
    p.add_argument("--target-ap", type=float, default=0.9, help="stop once training AP reaches this ...")
    p.add_argument("--target-count", type=float, default=0.9, help="... and counting is exact on this share")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    train_gt, _ = make_world(args.world or args.work, 2000, 800, 0)
    # beside the training file, so the file's relative crops folder resolves
    gt = first_regions(train_gt, args.regions, args.min_people, train_gt.with_name(f"memorise_{args.regions}.json"))

    method = get_method("ours", progress=False)
    config = method.load_config(args.config)
    config.data.rotate, config.data.scale, config.data.flip = 0.0, [1.0, 1.0], False
    config.data.workers = 0
    config.optim.batch_size = args.batch_size
    config.optim.epochs, config.optim.milestones = 100_000, [100_000]   # the clock and the target decide
    config.curriculum.start_people = 50                                  # every person from the start
    config.train.seed = args.seed
    config.validate()
    dataset, codec = training_dataset(method, config, gt)
    out = args.work / "run"
    deadline = time.monotonic() + 60 * args.minutes
    start, done, curve, reached = time.monotonic(), 0, [], False
    while not reached and time.monotonic() < deadline:
        summary = train(method, config if done == 0 else None, dataset, out, keypoint_names=dataset.keypoint_names,
                        collate_fn=codec.collate, device=args.device, resume=done > 0, stop_after=args.eval_every,
                        deadline=deadline, progress=False)
        done = summary["epoch"]
        minutes = round((time.monotonic() - start) / 60, 2)
        run = run_method("ours", gt, out / "eval", checkpoint=out / "checkpoints" / "last.pt", flip=False,
                         progress=False, device=args.device, scoring={"bootstrap": 0})
        point = {"epoch": done, "minutes": minutes, "loss": summary["loss"], "step1_peak": summary["step1_peak"],
                 "stop_peak": summary["stop_peak"], **scores_of(run)}
        others = {t: scores_of(run_method("ours", gt, out / f"eval_{t:g}", checkpoint=out / "checkpoints" / "last.pt",
                                          flip=False, threshold=t, progress=False, device=args.device,
                                          scoring={"bootstrap": 0}))["counting_exact"]
                  for t in THRESHOLDS if t != 0.05}
        others[0.05] = point["counting_exact"]
        best = max(sorted(others), key=lambda t: others[t])
        point["best_threshold"] = {"threshold": best, "counting_exact": others[best]}
        curve.append(point)
        reached = point["AP"] >= args.target_ap and point["counting_exact"] >= args.target_count
        print(f"epoch {done} ({minutes} min): loss {point['loss']:.4f} step-1 peak {point['step1_peak']:.3f} "
              f"stop peak {point['stop_peak']:.3f} AP {point['AP']:.3f} AP50 {point['AP50']:.3f} "
              f"counting {point['counting_exact']:.3f} ({point['predicted_people']} / {point['gt_people']})",
              flush=True)
    command = "python scripts/memorisation_proof.py " + " ".join(argv if argv is not None else sys.argv[1:])
    result = {"command": command.strip(), "gt": str(gt), "regions": args.regions, "gt_people": curve[-1]["gt_people"],
              "batch_size": args.batch_size, "lr": config.optim.lr, "threads": torch.get_num_threads(),
              "target_ap": args.target_ap, "target_count": args.target_count, "reached": reached, "curve": curve}
    write_json(args.work / "memorisation.json", result, indent=True)
    (args.work / "memorisation.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
