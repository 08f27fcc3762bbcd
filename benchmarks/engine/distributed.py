"""Process-group helpers: one code path for a single process and for ``torchrun``.

Under ``torchrun`` (``RANK``/``WORLD_SIZE`` in the environment, even with one process) the
default process group is started with NCCL when the process uses CUDA and gloo on the CPU,
and training wraps the model in DistributedDataParallel.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    started_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1 or self.started_group or dist.is_initialized()


def pick_device(preference: str | None, local_rank: int = 0) -> torch.device:
    """``None``/``"auto"``: CUDA when present, else CPU; otherwise the named device."""
    if preference in (None, "auto"):
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(preference)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {preference}: CUDA is not available on this machine")
        if device.index is None:
            device = torch.device(f"cuda:{local_rank}")
    return device


def setup(preference: str | None = None) -> DistContext:
    """Read torchrun's environment, pick the device, start the process group if needed."""
    launched = "RANK" in os.environ and "WORLD_SIZE" in os.environ   # torchrun sets both
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    device = pick_device(preference, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    started = False
    if launched and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world)
        started = True
    return DistContext(rank, world, local_rank, device, started)


def teardown(ctx: DistContext) -> None:
    if ctx.started_group and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_mean(values: list[float], ctx: DistContext) -> list[float]:
    """Mean of each value over processes (identity for one process)."""
    if not ctx.distributed:
        return [float(v) for v in values]
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return (t / ctx.world_size).tolist()


def all_gather_objects(obj, ctx: DistContext) -> list:
    """Every process's ``obj`` in rank order (``[obj]`` for one process)."""
    if not ctx.distributed:
        return [obj]
    out = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()
