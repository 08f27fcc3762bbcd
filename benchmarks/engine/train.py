"""The training loop of every learned method.

Adam (or the method's optimizer) with the LR multiplied by ``optim.gamma`` at the
``optim.milestones`` epochs, mixed precision on CUDA (``torch.autocast`` in bf16, or fp16 with
a GradScaler), one process or ``torchrun`` with DistributedDataParallel (gloo on CPU, NCCL on
GPU) and a DistributedSampler, a checkpoint after every epoch, exact ``resume``, TensorBoard +
CSV logs (one column per loss term, per hook value, e.g. the curriculum's ``max_people``, and per
diagnostic the method monitors, e.g. the sequential decoder's ``step1_peak`` and ``stop_peak``)
and a progress bar on rank 0. The method gives the model, the loss terms and its hooks
(:class:`benchmarks.engine.method.LearnedMethod`); under multi-GPU DDP BatchNorm becomes
SyncBatchNorm.

Run with several processes: ``torchrun --nproc_per_node N $(command -v bench) train ...``.
Resuming is bitwise exact on the CPU; on CUDA, cuDNN's autotuned (nondeterministic) kernels
make a resumed run close to, not bitwise equal to, an uninterrupted one.
"""
from __future__ import annotations

import csv
import math
import random
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler
from tqdm import tqdm

from . import checkpoint, distributed
from .cpu_math import denormals_flushed
from .config import config_from_dict


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class StepStats(dict):
    """The float value of each loss term of one step (``total`` first), ``images``, and
    ``monitor``: the method's non-loss diagnostics, NAME -> (sum, count) over the batch."""

    @property
    def loss(self) -> float:
        return self["total"]


def _has_batchnorm(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


class Trainer:
    """Owns model, optimizer, scheduler, scaler and the method's hooks for one process."""

    def __init__(self, method, config: Any, keypoint_names: Iterable[str], ctx: distributed.DistContext,
                 pretrained: str | None = None):
        self.method = method
        self.config = config
        self.keypoint_names = list(keypoint_names)
        self.ctx = ctx
        self.device = ctx.device
        seed_everything(config.train.seed)  # identical initial weights on every process
        model = method.build_model(config, self.keypoint_names, pretrained).to(self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick its kernels
        if ctx.distributed and self.device.type == "cuda" and _has_batchnorm(model):
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.model = model
        self.net = DistributedDataParallel(
            model, device_ids=[self.device.index] if self.device.type == "cuda" else None) \
            if ctx.distributed else model
        o = config.optim
        self.optimizer = method.optimizer(model, config)
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, milestones=list(o.milestones),
                                                              gamma=o.gamma)
        amp = config.train.amp
        self.amp_dtype = None
        if amp != "none":
            if self.device.type == "cuda":
                self.amp_dtype = torch.bfloat16 if amp == "bf16" else torch.float16
            elif ctx.is_main:
                warnings.warn(f"train.amp = {amp} applies to CUDA only; training in float32 on {self.device}",
                              stacklevel=2)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype is torch.float16)
        self.hooks = method.hooks(config)
        self.epoch = 0  # next epoch to run

    # ------------------------------------------------------------ one step

    def autocast(self):
        from .predict import amp_context
        return amp_context(self.device, self.amp_dtype)

    def epoch_values(self, epoch: int) -> dict[str, float]:
        return self.hooks.epoch_values(epoch) if self.hooks is not None else {}

    def forward_backward(self, batch: dict, values: dict | None = None) -> StepStats:
        """Loss of one batch and its gradients (accumulated into ``.grad``); ``values``: the
        hooks' values of this epoch (default: of the current epoch)."""
        values = self.epoch_values(self.epoch) if values is None else values
        batch = {k: v.to(self.device, non_blocking=True) if isinstance(v, torch.Tensor) else v
                 for k, v in batch.items()}
        with self.autocast():
            losses = dict(self.method.losses(self.net, batch, self.config, values))
        monitor = losses.pop("monitor", {})
        self.scaler.scale(losses["total"]).backward()
        stats = StepStats(total=float(losses["total"].detach()))
        stats.update((k, float(v.detach())) for k, v in losses.items() if k != "total")
        stats.images = int(batch["image"].shape[0])
        stats.monitor = monitor
        return stats

    def optimizer_step(self) -> None:
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)

    # ------------------------------------------------------------ state

    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "hooks": self.hooks.state_dict() if self.hooks is not None else {},
            "epoch": self.epoch,
            "method": self.method.method_name,
            "config": self.config.to_dict(),
            "keypoint_names": self.keypoint_names,
            "world_size": self.ctx.world_size,
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if self.hooks is not None:
            self.hooks.load_state_dict(state["hooks"])
        self.epoch = int(state["epoch"])


class TrainLogger:
    """CSV (one row per epoch) and TensorBoard scalars, written by rank 0 only."""

    def __init__(self, out_dir: Path, enabled: bool):
        self.enabled = enabled
        self.out_dir = out_dir
        self.csv_path = out_dir / "log.csv"
        self.tb = None
        self._tb_tried = False

    def _writer(self):
        """The TensorBoard writer, made at the first scalar: a run that fails before its
        first step leaves no event file behind."""
        if self.enabled and not self._tb_tried:
            self._tb_tried = True
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.tb = SummaryWriter(str(self.out_dir / "tensorboard"))
            except ImportError:
                warnings.warn("tensorboard is not installed; logging to log.csv only", stacklevel=3)
        return self.tb

    def scalar(self, tag: str, value: float, step: int) -> None:
        if self._writer() is not None:
            self.tb.add_scalar(tag, value, step)

    def epoch_row(self, row: dict) -> None:
        """One CSV row; its columns are the row's keys (epoch, lr, hook values, loss and one
        ``TERM_loss`` per loss term, images, seconds, images/s), fixed by the first row."""
        if not self.enabled:
            return
        new = not self.csv_path.exists()
        with open(self.csv_path, "a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)
        for key, value in row.items():
            if key not in ("epoch", "images", "seconds"):
                self.scalar(f"epoch/{key}", value, row["epoch"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def make_loader(dataset: Dataset, config: Any, ctx: distributed.DistContext, epoch: int,
                collate_fn: Callable) -> DataLoader:
    """A fresh loader per epoch so workers see ``set_epoch``; its order depends only on
    (seed, epoch), which makes resumed runs draw the same batches."""
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    sampler = DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True,
                                 seed=config.train.seed)
    sampler.set_epoch(epoch)
    workers = config.data.workers
    return DataLoader(dataset, batch_size=config.optim.batch_size, sampler=sampler, num_workers=workers,
                      collate_fn=collate_fn, pin_memory=ctx.device.type == "cuda",
                      generator=torch.Generator().manual_seed(config.train.seed * 100003 + epoch))


# settings that may change on resume without changing the training trajectory
RESUME_FREE = {("optim", "epochs"), ("data", "workers"), ("train", "log_every"), ("train", "keep_every")}


def resume_config(method, saved: dict, given: Any | None, path: Path) -> Any:
    """The checkpoint's config; a given one must match it except for :data:`RESUME_FREE`
    settings (and ``infer``), which it may change."""
    config = config_from_dict(saved, method.config_class, str(path))
    if given is None:
        return config
    now, differ = given.to_dict(), []
    for section, values in saved.items():
        for key, value in values.items():
            free = (section, key) in RESUME_FREE or section == "infer"
            if free:
                setattr(getattr(config, section), key, now[section][key])
            elif now[section][key] != value:
                differ.append(f"{section}.{key}: checkpoint {value!r}, now {now[section][key]!r}")
    if differ:
        raise ValueError(f"{path}: cannot resume with a different config ({'; '.join(differ)}); "
                         "resume without --config to use the checkpoint's")
    return config.validate(str(path))


@denormals_flushed()   # from before the model exists, so torch's CPU worker threads inherit it
def train(method, config: Any | None, dataset: Dataset, out_dir: str | Path, *, keypoint_names: Iterable[str],
          collate_fn: Callable, resume: bool = False, device: str | None = None,
          stop_after: int | None = None, deadline: float | None = None, progress: bool = True,
          pretrained: str | None = None) -> dict:
    """Train ``method`` on ``dataset`` (samples as :class:`benchmarks.data.CocoCrowdDataset`
    gives them, encoded by the method's codec), writing ``out_dir/checkpoints/last.pt`` after
    every epoch, ``log.csv`` and TensorBoard events. ``stop_after`` ends this run after that
    many epochs and ``deadline`` (a ``time.monotonic()`` value) before an epoch that would not
    finish in time; ``resume`` continues from ``last.pt`` under its saved config (``config``
    None, or one that differs only in :data:`RESUME_FREE` settings). Returns a summary of the
    last epoch."""
    out_dir = Path(out_dir)
    ctx = distributed.setup(device)
    try:
        last = out_dir / "checkpoints" / "last.pt"
        state = None
        if resume:
            state = checkpoint.load(last, method.method_name)
            config = resume_config(method, state["config"], config, last)
            if state.get("world_size", 1) != ctx.world_size and ctx.is_main:
                warnings.warn(f"{last}: saved with {state.get('world_size')} processes, resuming with "
                              f"{ctx.world_size}; batches and RNG streams differ from the original run",
                              stacklevel=2)
        elif config is None:
            config = method.config_class().validate()
        trainer = Trainer(method, config, keypoint_names, ctx, pretrained="none" if state else pretrained)
        if state is not None:
            trainer.load_state_dict(state)
            rngs = state["rng"]
            checkpoint.set_rng_state(rngs[ctx.rank] if ctx.rank < len(rngs) else rngs[0])
        logger = TrainLogger(out_dir, ctx.is_main)
        summary = run_epochs(trainer, dataset, out_dir, logger, collate_fn, stop_after, deadline, progress)
        logger.close()
        return {**summary, "is_main": ctx.is_main}
    finally:
        distributed.teardown(ctx)


def run_epochs(trainer: Trainer, dataset: Dataset, out_dir: Path, logger: TrainLogger, collate_fn: Callable,
               stop_after: int | None, deadline: float | None, progress: bool) -> dict:
    config, ctx = trainer.config, trainer.ctx
    summary: dict = {"epoch": trainer.epoch}
    ran, last_seconds = 0, 0.0
    while trainer.epoch < config.optim.epochs:
        if stop_after is not None and ran >= stop_after:
            break
        if deadline is not None and ran:
            late = float(time.monotonic() + last_seconds > deadline)
            if distributed.all_reduce_mean([late], ctx)[0] > 0:  # every process stops together
                break
        epoch = trainer.epoch
        values = trainer.epoch_values(epoch)
        loader = make_loader(dataset, config, ctx, epoch, collate_fn)
        trainer.model.train()
        start = time.monotonic()
        sums: dict[str, float] = {}
        watched: dict[str, list[float]] = {}   # monitor NAME -> [sum, count] over the epoch
        images = 0
        shown = " ".join(f"{k}={v:g}" for k, v in values.items())
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.optim.epochs}" + (f" {shown}" if shown else ""),
                   disable=not (progress and ctx.is_main), leave=False, dynamic_ncols=True)
        for i, batch in enumerate(bar):
            stats = trainer.forward_backward(batch, values)
            trainer.optimizer_step()
            if not math.isfinite(stats.loss):
                raise FloatingPointError(f"epoch {epoch + 1} step {i + 1}: loss is {stats.loss}")
            for term, value in stats.items():
                sums[term] = sums.get(term, 0.0) + value * stats.images
            for name, (total, count) in stats.monitor.items():
                acc = watched.setdefault(name, [0.0, 0.0])
                acc[0], acc[1] = acc[0] + total, acc[1] + count
            images += stats.images
            bar.set_postfix(loss=f"{stats.loss:.4f}")
            if i % max(config.train.log_every, 1) == 0:
                global_step = epoch * len(loader) + i
                for term, value in stats.items():
                    logger.scalar("step/loss" if term == "total" else f"step/{term}_loss", value, global_step)
        bar.close()
        lr = trainer.optimizer.param_groups[0]["lr"]
        terms = list(sums)
        means = distributed.all_reduce_mean([sums[t] / max(images, 1) for t in terms], ctx)
        total_images = int(round(distributed.all_reduce_mean([images], ctx)[0] * ctx.world_size))
        names = list(watched)   # the same on every process: the method returns every name each step
        reduced = distributed.all_reduce_mean([v for n in names for v in watched[n]], ctx) if names else []
        monitored = {n: reduced[2 * i] / reduced[2 * i + 1] if reduced[2 * i + 1] else float("nan")
                     for i, n in enumerate(names)}
        last_seconds = time.monotonic() - start
        trainer.scheduler.step()
        loss = means[terms.index("total")] if terms else float("nan")
        if trainer.hooks is not None:
            trainer.hooks.end_epoch(epoch, loss)
        trainer.epoch = epoch + 1
        ran += 1
        summary = {"epoch": epoch + 1, "lr": lr, **values, "loss": loss,
                   **{f"{t}_loss": m for t, m in zip(terms, means) if t != "total"}, **monitored,
                   "images": total_images, "seconds": round(last_seconds, 3),
                   "images_per_s": round(total_images / max(last_seconds, 1e-9), 3)}
        save_epoch(trainer, out_dir)
        logger.epoch_row(summary)
    return summary


def save_epoch(trainer: Trainer, out_dir: Path) -> None:
    """Rank 0 writes last.pt (and every ``keep_every`` epochs a numbered copy) with the
    RNG states of every process."""
    rngs = distributed.all_gather_objects(checkpoint.rng_state(), trainer.ctx)
    if trainer.ctx.is_main:
        state = trainer.state_dict()
        state["rng"] = rngs
        ckpt_dir = out_dir / "checkpoints"
        checkpoint.save(ckpt_dir / "last.pt", state)
        keep = trainer.config.train.keep_every
        if keep and (trainer.epoch % keep == 0 or trainer.epoch == trainer.config.optim.epochs):
            checkpoint.save(ckpt_dir / f"epoch_{trainer.epoch:04d}.pt", state)
    distributed.barrier(trainer.ctx)


def training_dataset(method, config: Any, gt_path: str | Path):
    """The data pipeline with this config's augmentation, encoding targets with the method's
    codec (every person kept: a method that caps people does it in its loss)."""
    from benchmarks.data import CocoCrowdDataset
    d = config.data
    dataset = CocoCrowdDataset(gt_path, input_size=d.input_size, output_stride=4, train=True,
                               rotate=d.rotate, scale=tuple(d.scale), flip=d.flip,
                               use_source_images=d.use_source_images, seed=config.train.seed)
    codec = method.codec(config, list(dataset.keypoint_names))
    dataset.encoder = codec.encode
    return dataset, codec


def train_on_file(method, config: Any | None, gt_path: str | Path, out_dir: str | Path, **kwargs) -> dict:
    """:func:`train` of ``method`` on a COCO-crowd file through the data pipeline."""
    data_config = config or method.config_class().validate()
    if kwargs.get("resume"):  # the dataset follows the checkpoint's data settings
        last = Path(out_dir) / "checkpoints" / "last.pt"
        data_config = resume_config(method, checkpoint.load(last, method.method_name)["config"], config, last)
    dataset, codec = training_dataset(method, data_config, gt_path)
    dataset.check_files()  # a missing image fails now, before OUT gets any file
    return train(method, config, dataset, out_dir, keypoint_names=dataset.keypoint_names,
                 collate_fn=codec.collate, **kwargs)


def config_for_run(method, config_path: str | Path | None, out_dir: str | Path, resume: bool, *,
                   epochs: int | None = None, workers: int | None = None) -> Any:
    """The config `bench train` asks for: the file (or the method's defaults; with ``resume``,
    the checkpoint's) with ``epochs``/``workers`` overrides."""
    if config_path is not None:
        config = method.load_config(config_path)
    elif resume:
        last = Path(out_dir) / "checkpoints" / "last.pt"
        config = config_from_dict(checkpoint.load(last, method.method_name)["config"], method.config_class, str(last))
    else:
        config = method.config_class()
    if epochs is not None:
        config.optim.epochs = epochs
    if workers is not None:
        config.data.workers = workers
    return config.validate()
