"""Training-step time of a trained sequential model with denormals flushed vs not (issue 18).

A checkpoint trained at LR 3e-3 (`scripts/learning_proof.py --set optim.lr=3e-3`) took 1.8x the
CPU minutes of one at LR 1e-3 for the same steps. This times the same batches through the
engine's Trainer, one torch thread, first with float32 denormals computed (x86 microcode) and
then flushed to zero (`benchmarks.engine.cpu_math`, which `train()` and prediction now use),
and prints seconds a step and the ratio, for each checkpoint given and a fresh model:

    python perf/denormal_steps.py --gt W/crowd/annotations/crowd_train2014.json \
        W/lr3/lambda0.5_seed1/checkpoints/last.pt W/ours/lambda0.5_seed0/checkpoints/last.pt
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.engine import distributed  # noqa: E402
from benchmarks.engine.checkpoint import load  # noqa: E402
from benchmarks.engine.registry import get_method  # noqa: E402
from benchmarks.engine.train import Trainer, make_loader, training_dataset  # noqa: E402


def seconds_a_step(method, config, names, state, batches, values, flush: bool) -> float:
    torch.set_flush_denormal(flush)
    try:
        trainer = Trainer(method, config, names, distributed.DistContext(0, 1, 0, torch.device("cpu")))
        if state is not None:
            trainer.model.load_state_dict(state["model"])
            trainer.optimizer.load_state_dict(state["optimizer"])
        trainer.forward_backward(batches[0], values)   # warm-up
        trainer.optimizer_step()
        start = time.process_time()
        for batch in batches[1:]:
            trainer.forward_backward(batch, values)
            trainer.optimizer_step()
        return (time.process_time() - start) / (len(batches) - 1)
    finally:
        torch.set_flush_denormal(False)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="*", type=Path, help="trained `ours` checkpoints (last.pt)")
    p.add_argument("--gt", type=Path, required=True, help="the COCO-crowd training file the batches come from")
    p.add_argument("--config", type=Path, default=Path(__file__).resolve().parents[1] / "configs" /
                   "seqpose_cpu_proof.toml")
    p.add_argument("--steps", type=int, default=5, help="timed steps (after one warm-up)")
    p.add_argument("--max-people", type=int, default=6, help="curriculum cap of the timed steps")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    method = get_method("ours", progress=False)
    config = method.load_config(args.config)
    config.data.workers = 0
    dataset, codec = training_dataset(method, config, args.gt)
    torch.manual_seed(0)
    loader = iter(make_loader(dataset, config, distributed.DistContext(0, 1, 0, torch.device("cpu")), 0,
                              codec.collate))
    batches = [next(loader) for _ in range(args.steps + 1)]
    values = {"max_people": args.max_people}
    print("| model | s/step, denormals computed | s/step, flushed | ratio |\n|---|---|---|---|")
    for path in [None, *args.checkpoints]:
        state = None if path is None else load(path, "ours")
        slow, fast = (seconds_a_step(method, config, dataset.keypoint_names, state, batches, values, flush)
                      for flush in (False, True))
        print(f"| {path or 'fresh model'} | {slow:.3f} | {fast:.3f} | {slow / fast:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
