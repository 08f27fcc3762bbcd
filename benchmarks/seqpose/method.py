"""`--method ours`: the paper's sequential model as an engine method.

Its codec is the disks of Eq. 1-2 (the data pipeline's :class:`~benchmarks.data.targets.DiskTargets`)
and the read-out of :mod:`.decode`; its loss is Eq. 3 under the people-count curriculum (the
engine hook :class:`.curriculum.Curriculum`); the decoder runs, per batch, the largest number of
steps any image needs.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from benchmarks.engine.method import LearnedMethod, option
from benchmarks.engine.registry import register, register_codec

from .config import Config


def decoder_peaks(person_logits: torch.Tensor, people_valid: torch.Tensor, max_people: int,
                  stop_steps: int) -> dict[str, tuple[float, int]]:
    """(sum, count) of the peak probability of decoder step 1 over images with a person, and of
    the first stop step over images that have one: whether the decoder says "here", then "done"."""
    with torch.no_grad():
        peaks = torch.sigmoid(person_logits.detach().float().flatten(2).amax(dim=2))   # (B, T)
        counts = people_valid.sum(dim=1).tolist()
        first = [peaks[b, 0].item() for b, p in enumerate(counts) if p >= 1 and peaks.shape[1]]
        stop = [peaks[b, int(p)].item() for b, p in enumerate(counts)
                if stop_steps and p <= max_people and int(p) < peaks.shape[1]]
    return {"step1_peak": (sum(first), len(first)), "stop_peak": (sum(stop), len(stop))}


def batch_steps(people_valid: torch.Tensor, max_people: int, stop_steps: int) -> int:
    """Decoder steps for a batch: the most that any of its images needs."""
    from .loss import steps_needed
    counts = people_valid.sum(dim=1).tolist()
    return max(steps_needed(int(p), max_people, stop_steps) for p in counts)


@register_codec("disks", "ours")
@dataclass
class DiskCodec:
    """Disks of ``radius`` output pixels (encode) and their centres (decode); flip test as in
    :mod:`.decode` (maps unflipped, people matched and averaged)."""

    radius: float
    map_size: int

    config_class: ClassVar[type] = Config

    @classmethod
    def from_config(cls, config: Config, keypoint_names: list[str]) -> "DiskCodec":
        return cls(config.data.radius, config.data.input_size // 4)

    def encode(self, sample: dict) -> dict:
        from benchmarks.data.targets import DiskTargets
        return DiskTargets(self.radius, self.map_size)(sample)

    def collate(self, samples: list[dict]) -> dict:
        from benchmarks.data import collate_people
        return collate_people(samples)

    def decode(self, raw: torch.Tensor, raw_flipped: torch.Tensor | None,
               flip_permutation: list[int]) -> tuple[np.ndarray, np.ndarray]:
        from .decode import decode_people, merge_flip, unflip
        people = raw
        if raw_flipped is not None:
            people = merge_flip(people, unflip(raw_flipped.to(people.device), flip_permutation))
        return decode_people(people, self.radius)

    def oracle(self, sample: dict) -> torch.Tensor:
        return sample["people"]


@register("ours")
@dataclass
class SeqPoseMethod(LearnedMethod):
    """The paper's sequential model from a `bench train` checkpoint; ``threshold`` overrides the
    checkpoint's ``infer.threshold`` (a step whose peak is below it ends the sequence)."""

    threshold: float | None = option(None, "stop threshold: a decoder step whose peak probability is below it ends "
                                     "the image's people (default: the checkpoint's infer.threshold, 0.05)",
                                     min=0, max=1)

    config_class = Config
    default_config = "seqpose_coco_crowd.toml"
    smoke_config = "seqpose_cpu_smoke.toml"

    def build_model(self, config: Config, keypoint_names: list[str], pretrained: str | None = None):
        from .model import SeqPose
        m = config.model
        return SeqPose(len(keypoint_names), m.backbone, m.pretrained if pretrained is None else pretrained,
                       m.norm, tuple(m.decoder_channels))

    def codec(self, config: Config, keypoint_names: list[str]) -> DiskCodec:
        return DiskCodec.from_config(config, keypoint_names)

    def hooks(self, config: Config):
        from .curriculum import Curriculum
        return Curriculum(config.curriculum)

    def losses(self, net, batch: dict, config: Config, values: dict) -> dict:
        from .loss import seqpose_loss
        max_people = int(values["max_people"])
        steps = batch_steps(batch["people_valid"], max_people, config.loss.stop_steps)
        out = net(batch["image"], steps)
        with torch.autocast(device_type=batch["image"].device.type, enabled=False):  # the loss in float32
            losses = seqpose_loss(out.part_logits, out.person_logits, batch, max_people, config.loss.part_weight,
                                  config.loss.stop_steps)
        return {"total": losses.total, "part": losses.part, "person": losses.person,
                "monitor": decoder_peaks(out.person_logits, batch["people_valid"], max_people, config.loss.stop_steps)}

    def infer(self, model, config: Config, amp_dtype):
        """Sequential inference until a step's maximum falls below the stop threshold; remembers
        the largest step-1 peak, so a run that predicts nobody can say how far it was."""
        from benchmarks.engine.predict import amp_context
        device = next(model.parameters()).device
        self.used_threshold = config.infer.threshold if self.threshold is None else self.threshold
        self.largest_first_peak = 0.0

        def run(batch: dict, flipped: bool) -> list[torch.Tensor]:
            images = batch["image"].to(device)
            with amp_context(device, amp_dtype):
                out = model.infer(images.flip(-1) if flipped else images, config.infer.max_steps,
                                  self.used_threshold)
            if len(out.first_peaks):
                self.largest_first_peak = max(self.largest_first_peak, float(out.first_peaks.max()))
            return out.people
        return run

    def predict(self, gt_path, images=None) -> tuple[list[dict], dict]:
        results, summary = super().predict(gt_path, images)
        summary.update(threshold=self.used_threshold, largest_first_peak=round(self.largest_first_peak, 4))
        if not results and summary["images"]:
            warnings.warn(f"--method ours predicted nobody in {summary['images']} images: the largest step-1 peak "
                          f"was {self.largest_first_peak:.3f}, below the stop threshold {self.used_threshold:g} "
                          "(a decoder that has not learned to say 'here': train longer, or set --threshold)")
        return results, summary
