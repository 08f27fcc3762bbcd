"""Side by side on the same data: learned methods trained on one synthetic training world for the
same wall-clock budget, scored on the same held-out set (the paper's central comparison, ours vs
AE*, on data we control).

1. The worlds of scripts/learning_proof.py (training world curated; a second world curated and
   split, its ``test`` half held out), reused when WORK already has them.
2. For each ``--method NAME=CONFIG``: `bench train` through the engine with ``--minutes`` of
   training (the engine stops before an epoch that would not finish in time; the learning rate
   stays constant, since the number of epochs is not known in advance), then `bench run` on the
   held-out set with `bench analyze` (AP overall and per people bucket, error types).
3. Writes WORK/comparison.json and WORK/comparison.md.

Run the methods as separate processes side by side (one torch thread each) so they share the
machine alike, then ``--merge``:

    python scripts/compare_methods.py --method ours=configs/seqpose_cpu_proof.toml --minutes 25 --work W/ours
    python scripts/compare_methods.py --method ae=configs/ae_cpu_proof.toml --minutes 25 --work W/ae
    python scripts/compare_methods.py --merge W/ours W/ae --work W
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
from benchmarks.engine.train import train_on_file  # noqa: E402
from benchmarks.run import run_method  # noqa: E402
from cococrowd.cocofile import write_json  # noqa: E402
from learning_proof import apply_settings, make_world  # noqa: E402


def one_method(name: str, config_path: Path, train_gt: Path, heldout: Path, work: Path, minutes: float,
               seed: int, device: str, settings: list[str]) -> dict:
    method = get_method(name, progress=False)
    config = apply_settings(method.load_config(config_path), settings)
    config.train.seed = seed
    config.optim.epochs, config.optim.milestones = 10_000, [10_000]   # the clock decides
    out = work / f"{name}_seed{seed}"
    start = time.monotonic()
    summary = train_on_file(method, config, train_gt, out, device=device, progress=False,
                            deadline=start + 60 * minutes)
    trained = (time.monotonic() - start) / 60
    print(f"{name}: {summary['epoch']} epochs in {trained:.1f} min, loss {summary['loss']:.4f}", flush=True)
    run = run_method(name, heldout, out / "heldout", checkpoint=out / "checkpoints" / "last.pt", device=device,
                     progress=False, scoring={"bootstrap": 1000, "seed": 0},
                     analyze={"bootstrap": 200, "seed": 0, "gallery": 3})
    s = run["scores"]
    a = run["analysis"]
    return {"method": name, "config": str(config_path), "settings": settings, "seed": seed, "epochs": summary["epoch"],
            "train_minutes": round(trained, 2), "train_loss": summary["loss"],
            "AP": s["ap_ar"]["stats"]["AP"], "AP50": s["ap_ar"]["stats"]["AP.5"], "AR": s["ap_ar"]["stats"]["AR"],
            "ap_ci": s["ap_ar"]["ap_ci"],
            "ap_by_people": {b["label"]: b["stats"]["AP"] for b in s["ap_by_people"]["buckets"]},
            "counting_exact": s["counting"]["exact"],
            "error_fractions": a["overall"]["keypoint_errors"]["fractions"],
            "swap_by_people": {label: b["keypoint_errors"]["fractions"]["swap"]
                               for label, b in (a.get("people_buckets") or {}).items()},
            "run_dir": str(out / "heldout")}


def fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def markdown(result: dict) -> str:
    rows = result["runs"]
    labels = list(rows[0]["ap_by_people"])
    lines = [f"`{result['command']}`", "",
             f"Training world: {result['train_regions']} regions; held-out: {result['heldout']}; "
             f"{result['minutes']} min of training per method, torch threads {result['threads']}.", "",
             "| method | seed | config | epochs | train min | AP [95% CI] | AP50 | AR | " + " | ".join(
                 f"AP {lab}" for lab in labels) + " | counting exact |",
             "|---|---|---|---|---|---|---|---|" + "---|" * len(labels) + "---|"]
    for r in rows:
        ci = r["ap_ci"]
        ci_text = f" [{ci['low']:.3f}, {ci['high']:.3f}]" if ci else ""
        config = Path(r["config"]).name + "".join(f" {s}" for s in r.get("settings", []))
        lines.append(f"| {r['method']} | {r['seed']} | {config} | {r['epochs']} | {r['train_minutes']} | "
                     f"{fmt(r['AP'])}{ci_text} | {fmt(r['AP50'])} | {fmt(r['AR'])} | "
                     + " | ".join(fmt(r["ap_by_people"][lab]) for lab in labels) + f" | {fmt(r['counting_exact'])} |")
    types = list(rows[0]["error_fractions"])
    lines += ["", "Keypoint error types of matched detections (`bench analyze`), overall:", "",
              "| method | seed | " + " | ".join(types) + " |", "|---|---|" + "---|" * len(types)]
    for r in rows:
        lines.append(f"| {r['method']} | {r['seed']} | " + " | ".join(fmt(r["error_fractions"][t]) for t in types)
                     + " |")
    if rows[0]["swap_by_people"]:
        blabels = list(rows[0]["swap_by_people"])
        lines += ["", "Share of swap errors per people bucket:", "",
                  "| method | seed | " + " | ".join(blabels) + " |", "|---|---|" + "---|" * len(blabels)]
        for r in rows:
            lines.append(f"| {r['method']} | {r['seed']} | "
                         + " | ".join(fmt(r["swap_by_people"].get(b)) for b in blabels) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", action="append", default=[], metavar="NAME=CONFIG",
                   help="a learned method and its config (repeat)")
    p.add_argument("--minutes", type=float, default=25.0, help="training wall-clock budget per method")
    p.add_argument("--work", type=Path, required=True, help="working folder (worlds, runs, comparison.*)")
    p.add_argument("--world", type=Path, default=None, help="folder holding an existing world (crowd/) to reuse")
    p.add_argument("--train-images", type=int, default=2000)
    p.add_argument("--heldout-images", type=int, default=800)
    p.add_argument("--world-seed", type=int, default=0)
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config setting (TOML value), e.g. curriculum.max_warmup_epochs=3")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--merge", type=Path, nargs="+", default=None, metavar="WORK",
                   help="only combine the comparison.json of these finished work folders into --work")
    args = p.parse_args(argv)
    command = "python scripts/compare_methods.py " + " ".join(argv if argv is not None else sys.argv[1:])
    args.work.mkdir(parents=True, exist_ok=True)
    if args.merge:
        parts = [json.loads((w / "comparison.json").read_text()) for w in args.merge]
        result = dict(parts[0], runs=[r for part in parts for r in part["runs"]],
                      command=" ; ".join(part["command"] for part in parts))
    else:
        torch.set_num_threads(args.threads)
        train_gt, heldout = make_world(args.world or args.work, args.train_images, args.heldout_images,
                                       args.world_seed)
        runs = []
        for spec in args.method:
            name, _, config = spec.partition("=")
            runs.append(one_method(name, Path(config), train_gt, heldout, args.work, args.minutes, args.seed,
                                   args.device, args.settings))
        result = {"command": command.strip(), "minutes": args.minutes, "threads": args.threads,
                  "train_regions": len(json.loads(train_gt.read_text())["images"]),
                  "heldout": str(heldout), "runs": runs}
    write_json(args.work / "comparison.json", result, indent=True)
    (args.work / "comparison.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
