"""A ground-truth keypoint file as flat numpy arrays, in pycocotools' order.

Images are kept in sorted-id order (pycocotools evaluates ``np.unique(imgIds)``);
annotations keep file order, which decides ties in matching exactly as in
pycocotools. Only the person category is scored.

Reading: orjson, cococrowd's validator (its messages name the file and the JSON
path of any bad value), then :func:`ground_truth_from_dataset`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from cococrowd.cocofile import (CocoFormatError, ValidatedDataset, gc_paused, read_json_sha256,
                                validate_keypoint_dataset)


@dataclass
class GroundTruth:
    source: str
    keypoint_names: list[str]
    category_id: int
    image_ids: np.ndarray          # (I,) sorted
    image_records: list[dict]      # in image_ids order
    image_file_index: np.ndarray   # (I,) index of each image in the file's `images` list
    ann_image: np.ndarray          # (M,) position of the image in image_ids
    ann_ids: np.ndarray            # (M,)
    keypoints: np.ndarray          # (M, K, 3) float64
    bbox: np.ndarray               # (M, 4)
    area: np.ndarray               # (M,)
    iscrowd: np.ndarray            # (M,) bool
    num_keypoints: np.ndarray      # (M,) as in the file (pycocotools trusts it)
    ignore_flag: np.ndarray        # (M,) bool: the file's own `ignore` or iscrowd
    notes: dict = field(default_factory=dict)
    sha256: str = ""
    crowd_info: dict | None = None  # the COCO-crowd file's `crowd_info` (jitter checks read it)

    @property
    def num_images(self) -> int:
        return len(self.image_ids)

    @property
    def eval_ignore(self) -> np.ndarray:
        """pycocotools' keypoint ignore rule: iscrowd, or no labelled keypoint."""
        return self.iscrowd | (self.num_keypoints == 0)

    @property
    def people(self) -> np.ndarray:
        """Annotations that are people of the image (not ignore/iscrowd regions)."""
        return ~self.ignore_flag

    @property
    def countable(self) -> np.ndarray:
        """People a method can predict: not ignored, with at least one labelled keypoint
        (pycocotools ignores the others, and training drops them from the targets)."""
        return self.people & (self.keypoints[:, :, 2] > 0).any(axis=1)

    def position_of(self) -> dict[int, int]:
        return {int(i): n for n, i in enumerate(self.image_ids.tolist())}

    def image_path(self, pos: int, key: str) -> str:
        """JSON path of field ``key`` of the image at sorted position ``pos``."""
        return f"images[{int(self.image_file_index[pos])}].{key}"

    def image_field(self, name: str) -> list:
        return [img.get(name) for img in self.image_records]


def _annotation_paths(ds: ValidatedDataset) -> list[int]:
    """Index in the file's `annotations` list of each person annotation."""
    if len(ds.annotations) == len(ds.data["annotations"]):
        return list(range(len(ds.annotations)))
    where = {id(a): i for i, a in enumerate(ds.data["annotations"])}
    return [where[id(a)] for a in ds.annotations]


def _finite_keypoints(anns: list[dict], k: int, source: str, paths: list[int]) -> np.ndarray:
    """Every value checked by the curation's own rule (finite numbers, v in 0/1/2), as build does."""
    from cococrowd.cocofile import keypoint_array
    kps = keypoint_array(anns, k, source, lambda: [f"annotations[{i}]" for i in paths])
    return np.asarray(kps, dtype=np.float64)


def ground_truth_from_dataset(ds: ValidatedDataset) -> GroundTruth:
    from cococrowd.crowdinfo import check_whole_file
    check_whole_file(ds)   # segmentations by build's rule, each crowd field by the one rule of every reader
    source = ds.source
    k = ds.schema.num_keypoints
    anns = ds.annotations
    paths = _annotation_paths(ds)
    order = np.argsort(np.asarray([img["id"] for img in ds.images], dtype=np.int64), kind="stable")
    images = [ds.images[i] for i in order]
    image_ids = np.asarray([img["id"] for img in images], dtype=np.int64)
    pos = {int(i): n for n, i in enumerate(image_ids.tolist())}
    notes: dict[str, int] = {}
    m = len(anns)

    kps = _finite_keypoints(anns, k, source, paths) if m else np.zeros((0, k, 3))
    bbox = np.asarray([a["bbox"] for a in anns], dtype=np.float64).reshape(m, 4)
    area = np.empty(m)
    numkp = np.empty(m, dtype=np.int64)
    iscrowd = np.zeros(m, dtype=bool)
    ignore = np.zeros(m, dtype=bool)
    for j, (a, i) in enumerate(zip(anns, paths)):
        if "area" in a:
            v = a["area"]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
                raise CocoFormatError(source, f"annotations[{i}].area", f"must be a number >= 0, got {v!r}")
            area[j] = v
        else:
            # CrowdPose files carry no area; the box area is the usual stand-in
            area[j] = a["bbox"][2] * a["bbox"][3]
            notes["area_from_bbox"] = notes.get("area_from_bbox", 0) + 1
        if "num_keypoints" in a:
            v = a["num_keypoints"]
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise CocoFormatError(source, f"annotations[{i}].num_keypoints", f"must be an integer >= 0, got {v!r}")
            numkp[j] = v
        else:
            numkp[j] = int((kps[j, :, 2] > 0).sum())
            notes["num_keypoints_from_flags"] = notes.get("num_keypoints_from_flags", 0) + 1
        iscrowd[j] = bool(a.get("iscrowd", 0))
        flag = a.get("ignore", 0)
        if flag not in (0, 1):
            raise CocoFormatError(source, f"annotations[{i}].ignore", f"must be 0 or 1, got {flag!r}")
        ignore[j] = bool(flag) or iscrowd[j]
    return GroundTruth(
        source=source, keypoint_names=list(ds.schema.keypoints), category_id=ds.schema.category_id,
        image_ids=image_ids, image_records=images, image_file_index=order,
        ann_image=np.asarray([pos[a["image_id"]] for a in anns], dtype=np.int64),
        ann_ids=np.asarray([a["id"] for a in anns], dtype=np.int64),
        keypoints=kps, bbox=bbox, area=area, iscrowd=iscrowd, num_keypoints=numkp,
        ignore_flag=ignore, notes=notes,
        crowd_info=ds.data.get("crowd_info") if isinstance(ds.data.get("crowd_info"), dict) else None,
    )


def load_ground_truth(path: str | os.PathLike) -> GroundTruth:
    """Read, validate and flatten a COCO person-keypoint ground-truth file."""
    with gc_paused():                        # millions of acyclic containers: no collection frees any
        data, digest = read_json_sha256(path)
        gt = ground_truth_from_dataset(validate_keypoint_dataset(data, path))
    gt.sha256 = digest
    return gt
