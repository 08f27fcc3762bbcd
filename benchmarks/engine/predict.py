"""Batched prediction of every learned method (and the oracle) over a COCO-crowd file.

Single scale: the dataset's eval letterbox at the config's input size. With the flip test the
mirrored images go through the model too and the method's codec merges both passes. The
codec's people (map coordinates) are mapped to crop pixels by each sample's ``affine`` and
written as COCO results; mixed precision follows ``train.amp`` on CUDA.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from cococrowd.cocofile import CocoFormatError, load_keypoint_file

from . import checkpoint
from .cpu_math import denormals_flushed


def load_trained(method, path: str | Path, device: torch.device) -> tuple[torch.nn.Module, Any, list[str]]:
    """Model (eval mode, on ``device``), its config and keypoint names from a checkpoint of ``method``."""
    from .config import config_from_dict
    state = checkpoint.load(path, method.method_name)
    config = config_from_dict(state["config"], method.config_class, str(path))
    names = list(state["keypoint_names"])
    model = method.build_model(config, names, pretrained="none")
    model.load_state_dict(state["model"])
    return model.to(device).eval(), config, names


def eval_dataset(config, gt_path: str | Path, images: str | Path | None = None):
    """The data pipeline in eval mode at ``config.data.input_size``; ``images`` replaces the crops folder."""
    from benchmarks.data import CocoCrowdDataset
    if images is not None and not Path(images).is_dir():
        raise FileNotFoundError(f"--images {images}: no such folder")
    return CocoCrowdDataset(gt_path, input_size=config.data.input_size, output_stride=4, train=False,
                            use_source_images=False, crops_dir=images)


def person_category_id(gt_path: str | Path) -> int:
    return load_keypoint_file(gt_path).schema.category_id


def amp_context(device: torch.device, dtype: torch.dtype | None):
    """``torch.autocast`` in ``dtype`` on ``device``, or nothing when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def amp_dtype_for(config, device: torch.device) -> torch.dtype | None:
    if device.type == "cuda" and config.train.amp != "none":
        return torch.bfloat16 if config.train.amp == "bf16" else torch.float16
    return None


def check_keypoints(dataset, names: list[str], gt_path: str | Path) -> None:
    if list(dataset.keypoint_names) != names:
        raise CocoFormatError(gt_path, "categories[person].keypoints",
                              f"the model was trained on keypoints {names}, this file has "
                              f"{list(dataset.keypoint_names)}")


def to_crop_coordinates(xy: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine (output map -> crop pixels) to points (..., 2)."""
    return xy @ affine[:, :2].T + affine[:, 2]


def people_to_results(keypoints: np.ndarray, scores: np.ndarray, affine: np.ndarray, image_id: int,
                      category_id: int) -> list[dict]:
    """COCO results of one image's people: keypoints (N, K, 3) as map x, y, keypoint score."""
    if len(keypoints) == 0:
        return []
    keypoints = np.asarray(keypoints, dtype=np.float64)
    xy = to_crop_coordinates(keypoints[..., :2], np.asarray(affine, dtype=np.float64))
    results = []
    for person_xy, person_v, score in zip(xy, keypoints[..., 2], scores):
        kps = np.column_stack([person_xy, person_v]).round(3).ravel().tolist()
        results.append({"image_id": int(image_id), "category_id": int(category_id), "keypoints": kps,
                        "score": round(float(score), 6)})
    return results


@torch.no_grad()
@denormals_flushed()
def predict_dataset(infer: Callable[[dict, bool], list], dataset, codec, *, category_id: int,
                    flip_permutation: list[int], flip: bool = True, batch_size: int = 8, workers: int = 0,
                    progress: bool = True) -> list[dict]:
    """COCO results for every image of ``dataset`` (samples with ``image``, ``affine``, ``image_id``):
    ``infer`` gives each image's raw outputs (and the mirrored image's with the flip test) and
    ``codec.decode`` turns them into people."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                        collate_fn=codec.collate)
    results: list[dict] = []
    for batch in tqdm(loader, desc="predict", disable=not progress, dynamic_ncols=True):
        out = infer(batch, False)
        flipped = infer(batch, True) if flip else None
        for b in range(len(out)):
            keypoints, scores = codec.decode(out[b], None if flipped is None else flipped[b], flip_permutation)
            results += people_to_results(keypoints, scores, batch["affine"][b].numpy(), int(batch["image_id"][b]),
                                         category_id)
    return results
