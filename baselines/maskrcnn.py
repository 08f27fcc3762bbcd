"""`bench run --method maskrcnn`: torchvision's Keypoint R-CNN (ResNet-50-FPN) on COCO-crowd crops.

The paper ran Detectron's ResNeXt-101 Mask R-CNN; torchvision ships the ResNet-50-FPN keypoint
model (``KeypointRCNN_ResNet50_FPN_Weights.COCO_V1``, COCO val2017 keypoint AP 65.0 by its model
card). Any other detector's COCO results file is scored the same way by `bench score`.

Each crop is read whole (its own pixels, the record's width x height) and given to the detector,
which resizes internally (``min_size`` / ``max_size``) and returns boxes, scores and keypoints in
the crop's pixels; those are the results, unchanged. A person's score is its box score (as in
Detectron); each keypoint's ``v`` is 1 (COCO evaluation ignores it). The COCO-trained model
predicts the COCO-17 keypoints; a file with another schema is scored on the keypoints it shares
by name with COCO-17 and refused when it has any other (use ``--weights PATH`` with a model
trained on that schema).

Weights: ``coco`` (the torchvision enum: the torch hub cache, else downloaded there; offline,
the error names the file and the folder), a state-dict PATH (any number of keypoints: K is
read from the file's keypoint predictor), or ``none`` (random, for tests).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from benchmarks.engine.method import Method, option
from benchmarks.engine.registry import register

COCO17 = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
          "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
          "left_knee", "right_knee", "left_ankle", "right_ankle")
KEYPOINT_LOGITS = "roi_heads.keypoint_predictor.kps_score_lowres.weight"


def build_detector(weights: str, num_keypoints: int, *, min_size: int, max_size: int, score_threshold: float,
                   detections: int):
    """Keypoint R-CNN with ``weights`` ("coco", "none" or a state-dict path)."""
    from torchvision.models.detection import KeypointRCNN_ResNet50_FPN_Weights, keypointrcnn_resnet50_fpn

    from benchmarks.weights import PretrainedWeightsUnavailable, published_state_dict, state_dict_file
    state = None
    if weights == "coco":
        state = published_state_dict(KeypointRCNN_ResNet50_FPN_Weights.COCO_V1, "Keypoint R-CNN COCO weights",
                                     "pass --weights PATH (a keypointrcnn_resnet50_fpn state dict)")
        num_keypoints = len(COCO17)
    elif weights != "none":
        state = state_dict_file(weights, "--weights", "'coco', 'none' or a keypointrcnn_resnet50_fpn state dict")
        if KEYPOINT_LOGITS not in state:
            raise PretrainedWeightsUnavailable(f"{weights}: no {KEYPOINT_LOGITS}: not a keypointrcnn_resnet50_fpn "
                                               "state dict")
        num_keypoints = int(state[KEYPOINT_LOGITS].shape[1])
    model = keypointrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_keypoints=num_keypoints,
                                      min_size=min_size, max_size=max_size, box_score_thresh=score_threshold,
                                      box_detections_per_img=detections)
    if state is not None:
        own = model.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        reshaped = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
        if missing or unexpected or reshaped:
            raise PretrainedWeightsUnavailable(
                f"--weights {weights}: does not fit keypointrcnn_resnet50_fpn ({len(missing)} missing, e.g. "
                f"{missing[:2]}; {len(unexpected)} unexpected, e.g. {unexpected[:2]}; {len(reshaped)} of "
                f"another shape, e.g. {reshaped[:2]})")
        model.load_state_dict(state)
    return model.eval(), num_keypoints


def keypoint_columns(model_names: tuple[str, ...], file_names: tuple[str, ...], source: str) -> list[int]:
    """For each keypoint of the file, the model output channel that predicts it."""
    from cococrowd.cocofile import CocoFormatError
    index = {n: i for i, n in enumerate(model_names)}
    unknown = [n for n in file_names if n not in index]
    if unknown:
        raise CocoFormatError(source, "categories[person].keypoints",
                              f"the COCO-17 Keypoint R-CNN cannot predict {unknown}; use --weights PATH "
                              "(a model trained on this file's keypoints)")
    return [index[n] for n in file_names]


def detections_to_results(out: dict, columns: list[int], image_id: int, category_id: int) -> list[dict]:
    """COCO results from one image's detector output (keypoints already in crop pixels)."""
    kps = out["keypoints"].detach().cpu().numpy().astype(np.float64)[:, columns, :2]
    scores = out["scores"].detach().cpu().numpy().astype(np.float64)
    results = []
    for xy, score in zip(kps, scores):
        keypoints = np.column_stack([xy, np.ones(len(xy))]).round(3).ravel().tolist()
        results.append({"image_id": int(image_id), "category_id": int(category_id), "keypoints": keypoints,
                        "score": round(float(score), 6)})
    return results


def _as_lists(batch):
    return tuple(zip(*batch))


class CropImages:
    """(image tensor in [0, 1], image id) of every crop of a COCO-crowd file."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        from torchvision.transforms.functional import pil_to_tensor
        img = self.dataset.crop_pixels(index).convert("RGB")
        return pil_to_tensor(img).float().div_(255.0), self.dataset.crowd.images[index].id


@register("maskrcnn")
@dataclass
class MaskRCNNMethod(Method):
    """torchvision Keypoint R-CNN ResNet-50-FPN over the crops of a COCO-crowd file (batch size
    None: 4 crops per forward pass)."""

    weights: str = option("coco", "'coco' (torchvision's KeypointRCNN_ResNet50_FPN_Weights.COCO_V1 from the torch "
                          "hub cache, else downloaded), a state-dict PATH, or 'none' (random)")
    min_size: int = option(800, "shorter side, in pixels, the detector resizes each crop to", min=32)
    max_size: int = option(1333, "longest side after the resize, in pixels, at most", min=32)
    score_threshold: float = option(0.05, "detections with a lower box score are dropped", flag="--box-threshold",
                                    min=0, max=1)
    detections: int = option(20, "people per crop at most (COCO keypoint evaluation reads 20)", min=1)

    test_options: ClassVar[dict] = {"weights": "none", "min_size": 64, "max_size": 128, "score_threshold": 0.0}

    def predict(self, gt_path: str | Path, images: str | Path | None = None) -> tuple[list[dict], dict]:
        import torch
        from torch.utils.data import DataLoader
        from tqdm import tqdm

        from benchmarks.data import CocoCrowdDataset
        from benchmarks.engine.distributed import pick_device
        from benchmarks.engine.predict import person_category_id
        if images is not None and not Path(images).is_dir():
            raise FileNotFoundError(f"--images {images}: no such folder")
        dataset = CocoCrowdDataset(gt_path, train=False, use_source_images=False, crops_dir=images)
        names = tuple(dataset.keypoint_names)
        dev = pick_device(self.device)
        model, k = build_detector(self.weights, len(names), min_size=self.min_size, max_size=self.max_size,
                                  score_threshold=self.score_threshold, detections=self.detections)
        model_names = COCO17 if self.weights == "coco" else names
        if self.weights != "coco" and k != len(names):
            from cococrowd.cocofile import CocoFormatError
            raise CocoFormatError(gt_path, "categories[person].keypoints",
                                  f"has {len(names)} keypoints, the --weights model predicts {k}")
        columns = keypoint_columns(model_names, names, str(gt_path))
        model.to(dev)
        category = person_category_id(gt_path)
        loader = DataLoader(CropImages(dataset), batch_size=self.batch_size or 4, shuffle=False,
                            num_workers=self.workers, collate_fn=_as_lists)
        results: list[dict] = []
        start = time.monotonic()
        with torch.no_grad():
            for pics, ids in tqdm(loader, desc="maskrcnn", disable=not self.progress, dynamic_ncols=True):
                outs = model([p.to(dev) for p in pics])
                for out, image_id in zip(outs, ids):
                    results += detections_to_results(out, columns, image_id, category)
        seconds = time.monotonic() - start
        summary = {"method": "maskrcnn", "model": "keypointrcnn_resnet50_fpn", "weights": self.weights,
                   "gt": str(gt_path), "min_size": self.min_size, "max_size": self.max_size,
                   "score_threshold": self.score_threshold, "images": len(dataset), "people": len(results),
                   "device": str(dev), "seconds": round(seconds, 3),
                   "images_per_s": round(len(dataset) / max(seconds, 1e-9), 3)}
        return results, summary
