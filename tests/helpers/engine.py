"""Helpers of the engine's registry-wide tests, importable by name (torch.multiprocessing needs it)."""
from __future__ import annotations

import os
from pathlib import Path

import torch


def four_samples(method, config, gt_path: str) -> tuple[list[dict], object, list[str]]:
    """Four encoded samples of the data pipeline (each region plain and mirrored), the method's
    codec and the keypoint names."""
    from benchmarks.data import AugParams
    from benchmarks.engine.train import training_dataset
    dataset, codec = training_dataset(method, config, gt_path)
    samples = [dataset.sample(i % len(dataset), AugParams(flip=i >= len(dataset))) for i in range(4)]
    return samples, codec, list(dataset.keypoint_names)


def ddp_method_worker(rank: int, port: int, out_dir: str, name: str, raw_config: dict, gt_path: str) -> None:
    """Rank ``rank`` of 2 (gloo): one engine step of method ``name`` on its half of the four
    samples; saves the gradients."""
    from benchmarks.engine import distributed
    from benchmarks.engine.config import config_from_dict
    from benchmarks.engine.registry import get_method
    from benchmarks.engine.train import Trainer
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    ctx = distributed.setup("cpu")
    try:
        method = get_method(name, progress=False)
        config = config_from_dict(raw_config, method.config_class, "test")
        samples, codec, names = four_samples(method, config, gt_path)
        trainer = Trainer(method, config, names, ctx)
        trainer.forward_backward(codec.collate(samples[2 * rank: 2 * rank + 2]))
        grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}
        torch.save(grads, Path(out_dir) / f"grads{rank}.pt")
    finally:
        distributed.teardown(ctx)
