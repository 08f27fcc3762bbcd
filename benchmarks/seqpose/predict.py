"""Run a trained sequential model over a COCO-crowd file and write COCO keypoint results.

Single scale (the dataset's eval letterbox at the training input size); optional flip test
and decoding as described in :mod:`.decode`; a person's score is the mean of its keypoint
peak values. Mixed precision follows the checkpoint's ``train.amp`` on CUDA.
:func:`predict_dataset` is the one prediction path: the oracle (:mod:`benchmarks.oracle`)
feeds it the dataset's own targets instead of the model's maps.
"""
from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from cococrowd.cocofile import CocoFormatError, load_keypoint_file

from . import checkpoint
from .config import Config, config_from_dict
from .decode import merge_flip, people_to_results, unflip
from .distributed import pick_device
from .model import SeqPose
from .train import build_model


def load_trained(path: str | Path, device: torch.device) -> tuple[SeqPose, Config, list[str]]:
    """Model (eval mode, on ``device``), its config and keypoint names from a checkpoint."""
    state = checkpoint.load(path)
    config = config_from_dict(state["config"], str(path))
    names = list(state["keypoint_names"])
    model = build_model(config, len(names), pretrained="none")
    model.load_state_dict(state["model"])
    return model.to(device).eval(), config, names


def eval_dataset(config: Config, gt_path: str | Path, images: str | Path | None = None):
    """The data helper's dataset in eval mode; ``images`` replaces the crops folder."""
    from benchmarks.data import CrowdPoseDataset
    if images is not None and not Path(images).is_dir():
        raise FileNotFoundError(f"--images {images}: no such folder")
    # crops are read from images / file_name instead of json_dir / crowd_info.image_dir / file_name
    return CrowdPoseDataset(gt_path, input_size=config.data.input_size, output_stride=4, train=False,
                            radius=config.data.radius, use_source_images=False, crops_dir=images)


def person_category_id(gt_path: str | Path) -> int:
    return load_keypoint_file(gt_path).schema.category_id


# infer(images, flipped) -> one (n_i, K, H, W) tensor of person maps per image of the batch;
# ``flipped`` asks for the maps of the mirrored images (the flip test's second pass)
PeopleInfer = Callable[[dict, bool], list[torch.Tensor]]


def model_infer(model: SeqPose, max_steps: int, threshold: float,
                amp_dtype: torch.dtype | None = None) -> PeopleInfer:
    """The trained model's sequential inference as a :data:`PeopleInfer`."""
    device = next(model.parameters()).device
    autocast = (torch.autocast(device_type=device.type, dtype=amp_dtype) if amp_dtype is not None
                else contextlib.nullcontext())

    def infer(batch: dict, flipped: bool) -> list[torch.Tensor]:
        images = batch["image"].to(device)
        with autocast:
            return model.infer(images.flip(-1) if flipped else images, max_steps, threshold).people
    return infer


@torch.no_grad()
def predict_dataset(infer: PeopleInfer, dataset, *, category_id: int, flip_permutation: list[int],
                    radius: float, flip: bool = True, batch_size: int = 8, workers: int = 0,
                    collate_fn: Callable | None = None, progress: bool = True) -> list[dict]:
    """COCO results for every image of ``dataset`` (samples with ``image``, ``affine``, ``image_id``):
    the one prediction path of a trained model and of the oracle (flip test, read-out of disks of
    ``radius`` output pixels, mapping to crop pixels)."""
    from benchmarks.data import collate_people
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                        collate_fn=collate_fn or collate_people)
    results: list[dict] = []
    for batch in tqdm(loader, desc="predict", disable=not progress, dynamic_ncols=True):
        out = infer(batch, False)
        flipped = infer(batch, True) if flip else None
        for b in range(len(out)):
            people = out[b]
            if flipped is not None:
                people = merge_flip(people, unflip(flipped[b].to(people.device), flip_permutation))
            results += people_to_results(people, batch["affine"][b].numpy(), int(batch["image_id"][b]),
                                         category_id, radius)
    return results


def amp_dtype_for(config: Config, device: torch.device) -> torch.dtype | None:
    if device.type == "cuda" and config.train.amp != "none":
        return torch.bfloat16 if config.train.amp == "bf16" else torch.float16
    return None


def check_keypoints(dataset, names: list[str], gt_path: str | Path) -> None:
    if list(dataset.keypoint_names) != names:
        raise CocoFormatError(gt_path, "categories[person].keypoints",
                              f"the model was trained on keypoints {names}, this file has "
                              f"{list(dataset.keypoint_names)}")


def predict_file(checkpoint_path: str | Path, gt_path: str | Path, *, images: str | Path | None = None,
                 flip: bool | None = None, batch_size: int | None = None, workers: int = 0,
                 device: str | None = None, progress: bool = True) -> tuple[list[dict], dict]:
    """Results for a COCO-crowd file, and a summary of the run."""
    dev = pick_device(device)
    model, config, names = load_trained(checkpoint_path, dev)
    dataset = eval_dataset(config, gt_path, images)
    check_keypoints(dataset, names, gt_path)
    use_flip = config.infer.flip if flip is None else flip
    start = time.monotonic()
    infer = model_infer(model, config.infer.max_steps, config.infer.threshold, amp_dtype_for(config, dev))
    results = predict_dataset(infer, dataset, category_id=person_category_id(gt_path),
                              flip_permutation=[int(p) for p in dataset.flip_permutation],
                              radius=config.data.radius, flip=use_flip,
                              batch_size=batch_size or config.infer.batch_size, workers=workers,
                              progress=progress)
    seconds = time.monotonic() - start
    summary = {"method": "ours", "checkpoint": str(checkpoint_path), "gt": str(gt_path), "flip": use_flip,
               "images": len(dataset), "people": len(results), "device": str(dev),
               "seconds": round(seconds, 3), "images_per_s": round(len(dataset) / max(seconds, 1e-9), 3)}
    return results, summary
