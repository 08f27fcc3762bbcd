"""Training loop of the sequential pose model (section 5.1).

Adam (lr 1e-3) with the LR multiplied by ``gamma`` (0.1) at the ``milestones`` epochs
(60 and 90 of 130 for COCO-crowd; 40 and 60 for Immediacy), the people-count curriculum,
mixed precision on CUDA (``torch.autocast`` in bf16, or fp16 with a GradScaler), one process
or ``torchrun`` with DistributedDataParallel (gloo on CPU, NCCL on GPU) and a
DistributedSampler, a checkpoint after every epoch, exact ``resume``, TensorBoard + CSV logs
and a progress bar on rank 0.

Choices the paper leaves open: the curriculum is applied in the loss (the dataset yields every
annotated person; :mod:`.loss` matches at most M of them and adds stop steps only when
``P <= M``); the decoder runs, per batch, the largest number of steps any image needs;
under multi-GPU DDP with ``norm = "batch"`` BatchNorm becomes SyncBatchNorm.

Run with several processes: ``torchrun --nproc_per_node N $(command -v bench) train ...``.
Resuming is bitwise exact on the CPU; on CUDA, cuDNN's autotuned (nondeterministic) kernels
make a resumed run close to, not bitwise equal to, an uninterrupted one.
"""
from __future__ import annotations

import contextlib
import csv
import math
import random
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler
from tqdm import tqdm

from . import checkpoint, distributed
from .config import Config, config_from_dict
from .curriculum import Curriculum
from .loss import seqpose_loss, steps_needed
from .model import SeqPose

CSV_FIELDS = ("epoch", "lr", "max_people", "loss", "part_loss", "person_loss", "images", "seconds",
              "images_per_s")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model(config: Config, num_keypoints: int, pretrained: str | None = None) -> SeqPose:
    m = config.model
    return SeqPose(num_keypoints, m.backbone, m.pretrained if pretrained is None else pretrained,
                   m.norm, tuple(m.decoder_channels))


def batch_steps(people_valid: torch.Tensor, max_people: int, stop_steps: int) -> int:
    """Decoder steps for a batch: the most that any of its images needs."""
    counts = people_valid.sum(dim=1).tolist()
    return max(steps_needed(int(p), max_people, stop_steps) for p in counts)


@dataclass
class StepStats:
    loss: float
    part: float
    person: float
    images: int


class Trainer:
    """Owns model, optimizer, scheduler, scaler and curriculum for one process."""

    def __init__(self, config: Config, keypoint_names: Iterable[str], ctx: distributed.DistContext,
                 pretrained: str | None = None):
        self.config = config
        self.keypoint_names = list(keypoint_names)
        self.ctx = ctx
        self.device = ctx.device
        seed_everything(config.train.seed)  # identical initial weights on every process
        model = build_model(config, len(self.keypoint_names), pretrained).to(self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick its kernels
        if ctx.distributed and self.device.type == "cuda" and config.model.norm == "batch":
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.model = model
        self.net = DistributedDataParallel(
            model, device_ids=[self.device.index] if self.device.type == "cuda" else None) \
            if ctx.distributed else model
        o = config.optim
        self.optimizer = torch.optim.Adam(model.parameters(), lr=o.lr)
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
        self.curriculum = Curriculum(config.curriculum)
        self.epoch = 0  # next epoch to run

    # ------------------------------------------------------------ one step

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def forward_backward(self, batch: dict, max_people: int) -> StepStats:
        """Loss of one batch and its gradients (accumulated into ``.grad``)."""
        batch = {k: v.to(self.device, non_blocking=True) if isinstance(v, torch.Tensor) else v
                 for k, v in batch.items()}
        steps = batch_steps(batch["people_valid"], max_people, self.config.loss.stop_steps)
        with self.autocast():
            out = self.net(batch["image"], steps)
        losses = seqpose_loss(out.part_logits, out.person_logits, batch, max_people,
                              self.config.loss.part_weight, self.config.loss.stop_steps)
        self.scaler.scale(losses.total).backward()
        return StepStats(float(losses.total.detach()), float(losses.part), float(losses.person),
                         int(batch["image"].shape[0]))

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
            "curriculum": self.curriculum.state_dict(),
            "epoch": self.epoch,
            "config": self.config.to_dict(),
            "keypoint_names": self.keypoint_names,
            "world_size": self.ctx.world_size,
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.curriculum.load_state_dict(state["curriculum"])
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
        if not self.enabled:
            return
        new = not self.csv_path.exists()
        with open(self.csv_path, "a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
            if new:
                writer.writeheader()
            writer.writerow(row)
        for key in ("loss", "part_loss", "person_loss", "lr", "max_people", "images_per_s"):
            self.scalar(f"epoch/{key}", row[key], row["epoch"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def make_loader(dataset: Dataset, config: Config, ctx: distributed.DistContext, epoch: int,
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


def resume_config(saved: dict, given: Config | None, path: Path) -> Config:
    """The checkpoint's config; a given one must match it except for :data:`RESUME_FREE`
    settings (and ``infer``), which it may change."""
    config = config_from_dict(saved, str(path))
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


def train(config: Config | None, dataset: Dataset, out_dir: str | Path, *, keypoint_names: Iterable[str],
          collate_fn: Callable, resume: bool = False, device: str | None = None,
          stop_after: int | None = None, deadline: float | None = None, progress: bool = True,
          pretrained: str | None = None) -> dict:
    """Train on ``dataset`` (samples as :class:`benchmarks.data.CrowdPoseDataset` gives them),
    writing ``out_dir/checkpoints/last.pt`` after every epoch, ``log.csv`` and TensorBoard
    events. ``stop_after`` ends this run after that many epochs and ``deadline`` (a
    ``time.monotonic()`` value) before an epoch that would not finish in time; ``resume``
    continues from ``last.pt`` under its saved config (``config`` None, or one that differs only
    in :data:`RESUME_FREE` settings). Returns a summary of the last epoch."""
    out_dir = Path(out_dir)
    ctx = distributed.setup(device)
    try:
        last = out_dir / "checkpoints" / "last.pt"
        state = None
        if resume:
            state = checkpoint.load(last)
            config = resume_config(state["config"], config, last)
            if state.get("world_size", 1) != ctx.world_size and ctx.is_main:
                warnings.warn(f"{last}: saved with {state.get('world_size')} processes, resuming with "
                              f"{ctx.world_size}; batches and RNG streams differ from the original run",
                              stacklevel=2)
        elif config is None:
            config = Config()
        trainer = Trainer(config, keypoint_names, ctx, pretrained="none" if state else pretrained)
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
        max_people = trainer.curriculum.max_people(epoch)
        loader = make_loader(dataset, config, ctx, epoch, collate_fn)
        trainer.model.train()
        start = time.monotonic()
        sums, images = np.zeros(3), 0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.optim.epochs} M={max_people}",
                   disable=not (progress and ctx.is_main), leave=False, dynamic_ncols=True)
        for i, batch in enumerate(bar):
            stats = trainer.forward_backward(batch, max_people)
            trainer.optimizer_step()
            if not math.isfinite(stats.loss):
                raise FloatingPointError(f"epoch {epoch + 1} step {i + 1}: loss is {stats.loss}")
            sums += np.array([stats.loss, stats.part, stats.person]) * stats.images
            images += stats.images
            bar.set_postfix(loss=f"{stats.loss:.4f}")
            if i % max(config.train.log_every, 1) == 0:
                global_step = epoch * len(loader) + i
                logger.scalar("step/loss", stats.loss, global_step)
                logger.scalar("step/part_loss", stats.part, global_step)
                logger.scalar("step/person_loss", stats.person, global_step)
        bar.close()
        lr = trainer.optimizer.param_groups[0]["lr"]
        loss, part, person = distributed.all_reduce_mean(list(sums / max(images, 1)), ctx)
        total_images = int(round(distributed.all_reduce_mean([images], ctx)[0] * ctx.world_size))
        last_seconds = time.monotonic() - start
        trainer.scheduler.step()
        trainer.curriculum.end_epoch(epoch, loss)
        trainer.epoch = epoch + 1
        ran += 1
        summary = {"epoch": epoch + 1, "lr": lr, "max_people": max_people, "loss": loss, "part_loss": part,
                   "person_loss": person, "images": total_images, "seconds": round(last_seconds, 3),
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


def training_dataset(config: Config, gt_path: str | Path):
    """The data helper's dataset with this config's augmentation (every person kept:
    the curriculum acts in the loss)."""
    from benchmarks.data import CrowdPoseDataset
    d = config.data
    return CrowdPoseDataset(gt_path, input_size=d.input_size, output_stride=4, train=True, radius=d.radius,
                            rotate=d.rotate, scale=tuple(d.scale), flip=d.flip,
                            use_source_images=d.use_source_images, seed=config.train.seed)


def train_on_file(config: Config | None, gt_path: str | Path, out_dir: str | Path, **kwargs) -> dict:
    """:func:`train` on a COCO-crowd file through :class:`benchmarks.data.CrowdPoseDataset`."""
    from benchmarks.data import collate_people
    data_config = config or Config()
    if kwargs.get("resume"):  # the dataset follows the checkpoint's data settings
        last = Path(out_dir) / "checkpoints" / "last.pt"
        data_config = resume_config(checkpoint.load(last)["config"], config, last)
    dataset = training_dataset(data_config, gt_path)
    dataset.check_files()  # a missing image fails now, before OUT gets any file
    return train(config, dataset, out_dir, keypoint_names=dataset.keypoint_names, collate_fn=collate_people,
                 **kwargs)


def config_for_run(config_path: str | Path | None, out_dir: str | Path, resume: bool, *,
                   epochs: int | None = None, workers: int | None = None) -> Config | None:
    """The config `bench train` asks for: the file (or the defaults; with ``resume``, the
    checkpoint's) with ``epochs``/``workers`` overrides."""
    from .config import load_config
    if config_path is not None:
        config = load_config(config_path)
    elif resume:
        last = Path(out_dir) / "checkpoints" / "last.pt"
        config = config_from_dict(checkpoint.load(last)["config"], str(last))
    else:
        config = Config()
    if epochs is not None:
        config.optim.epochs = epochs
    if workers is not None:
        config.data.workers = workers
    return config.validate()
