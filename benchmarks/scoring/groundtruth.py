"""A ground-truth keypoint file as flat numpy arrays, in pycocotools' order.

Images are kept in sorted-id order (pycocotools evaluates ``np.unique(imgIds)``);
annotations keep file order, which decides ties in matching exactly as in
pycocotools. Only the person category is scored.

Reading: :func:`load_ground_truth` first tries :func:`_fast_ground_truth`
(everything but ``annotations`` through orjson and cocofile's validator, the
annotations read as arrays by :mod:`.fastjson` and checked by the same rules),
and at any doubt takes the plain path (orjson, ``validate_keypoint_dataset``,
:func:`ground_truth_from_dataset`), whose errors name the culprit. Both give
the same arrays bit for bit (tests/benchmarks/test_scoring_speed_paths.py).
On the 3,336-image set: 0.08 s instead of 0.5 s, and no ~100 MB of Python
objects for the annotations.
"""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from cococrowd.cocofile import CocoFormatError, ValidatedDataset, validate_keypoint_dataset
from cococrowd.cocofile import _parse as parse_json_bytes, _read_bytes as read_bytes  # the readers' own errors

from . import fastjson


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


def _fast_ground_truth(raw: bytes, source: str | os.PathLike) -> GroundTruth | None:
    """:func:`ground_truth_from_dataset` of the file without a Python object per annotation
    (:mod:`.fastjson`): everything but ``annotations`` goes through orjson and the usual
    validator, the annotations are read as arrays and checked by the same rules. None at
    any doubt (the caller then takes the usual path, which names the culprit)."""
    buf = np.frombuffer(raw, dtype=np.uint8)
    span = fastjson.top_key_span(buf, "annotations")
    if span is None:
        return None
    lo, hi = span
    try:
        rest = orjson.loads(raw[:lo] + b"[]" + raw[hi:])
        ds = validate_keypoint_dataset(rest, source)
    except (orjson.JSONDecodeError, CocoFormatError):
        return None
    k = ds.schema.num_keypoints
    S = fastjson.SCALAR
    rec = fastjson.parse_records(buf, lo, hi, {"id": S, "image_id": S, "category_id": S, "iscrowd": S,
                                               "ignore": S, "num_keypoints": S, "area": S,
                                               "bbox": 4, "keypoints": 3 * k})
    if rec is None:
        return None
    m = rec.n
    for key in ("id", "image_id", "category_id", "bbox", "keypoints"):
        if not rec.present(key).all():
            return None
    ids, ids_int = rec.ints("id")
    img, img_int = rec.ints("image_id")
    cat, cat_int = rec.ints("category_id")
    crowd, crowd_int = rec.ints("iscrowd")
    ign, ign_int = rec.ints("ignore")
    nkp, nkp_int = rec.ints("num_keypoints")
    has_crowd, has_ign, has_nkp, has_area = (rec.present(k_) for k_ in ("iscrowd", "ignore", "num_keypoints", "area"))
    bbox = rec.array("bbox")
    kps = rec.array("keypoints").reshape(m, k, 3)
    area_v = rec.floats("area")
    if not (ids_int and img_int and cat_int and crowd_int and ign_int and nkp_int):
        return None
    if (cat != ds.schema.category_id).any() or len(np.unique(ids)) != m:
        return None
    if (crowd[has_crowd] > 1).any() or (crowd[has_crowd] < 0).any() or (ign[has_ign] > 1).any() \
            or (ign[has_ign] < 0).any() or (nkp[has_nkp] < 0).any():
        return None
    if not (np.isfinite(bbox).all() and (bbox[:, 2:] > 0).all() and np.isfinite(kps).all()
            and np.isin(kps[..., 2], (0, 1, 2)).all() and np.isfinite(area_v).all() and (area_v >= 0).all()):
        return None
    box_area = bbox[:, 2] * bbox[:, 3]
    if (~has_area & (box_area >= 2.0 ** 53)).any():   # an int * int product Python would keep exact
        return None
    file_ids = np.asarray([im["id"] for im in ds.images], dtype=np.int64)
    order = np.argsort(file_ids, kind="stable")
    image_ids = file_ids[order]
    pos = np.searchsorted(image_ids, img)
    if m and ((pos >= len(image_ids)).any() or (image_ids[np.minimum(pos, len(image_ids) - 1)] != img).any()):
        return None
    notes: dict[str, int] = {}
    first = sorted((int(np.argmax(~flag)), rank, name) for rank, (flag, name) in
                   enumerate(((has_area, "area_from_bbox"), (has_nkp, "num_keypoints_from_flags")))
                   if not flag.all())
    for _, _, name in first:                 # in the order the per-annotation pass meets them
        notes[name] = int((~(has_area if name == "area_from_bbox" else has_nkp)).sum())
    iscrowd = has_crowd & (crowd != 0)
    data = ds.data
    return GroundTruth(
        source=str(source), keypoint_names=list(ds.schema.keypoints), category_id=ds.schema.category_id,
        image_ids=image_ids, image_records=[ds.images[i] for i in order], image_file_index=order,
        ann_image=pos.astype(np.int64), ann_ids=ids.copy(),
        keypoints=kps, bbox=bbox, area=np.where(has_area, area_v, box_area),
        iscrowd=iscrowd, num_keypoints=np.where(has_nkp, nkp, (kps[:, :, 2] > 0).sum(1)).astype(np.int64),
        ignore_flag=(has_ign & (ign == 1)) | iscrowd, notes=notes,
        crowd_info=data.get("crowd_info") if isinstance(data.get("crowd_info"), dict) else None,
    )


def sha256_beside(raw: bytes, work):
    """(sha256 of raw, ``work()``), the hash in a thread meanwhile (hashlib and the numba
    reader both release the GIL)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(lambda: hashlib.sha256(raw).hexdigest())
        out = work()
        return digest.result(), out


def read_with_sha256(path: str | os.PathLike, fast, slow, raw: bytes | None = None):
    """``fast(raw)`` or else ``slow(parsed JSON)``, and the file's sha256 from the same read.
    ``raw``: the file's bytes, read already."""
    p = Path(path)
    raw = read_bytes(p) if raw is None else raw

    def parse():
        out = fast(raw)
        return slow(parse_json_bytes(raw, p)) if out is None else out

    digest, out = sha256_beside(raw, parse)
    out.sha256 = digest
    return out


def load_ground_truth(path: str | os.PathLike) -> GroundTruth:
    """Read, validate and flatten a COCO person-keypoint ground-truth file."""
    return read_with_sha256(path, lambda raw: _fast_ground_truth(raw, path),
                            lambda data: ground_truth_from_dataset(validate_keypoint_dataset(data, path)))
