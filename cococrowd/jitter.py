"""Jittered-box variants of a COCO-crowd file (the paper's Table 3 protocol).

At level ``px`` every side of every crop box moves by its own seeded uniform
integer offset in [-px, px], the box is clipped to its source image, and the
crop is cut again from the source image. The people keep their ids; their
geometry moves from the base crop into the jittered one (``to_crop``), and
``base_crop_box`` keeps the unjittered box, so that predictions made on a
jittered crop map back to the base crop by adding ``crop_box[:2] -
base_crop_box[:2]`` and are scored against the unjittered ground truth.
Level 0 is the input file itself, byte for byte.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .cocofile import CocoFormatError, atomic_output, check_replaceable_dir, dump_json, read_json, removing_new_dirs
from .crops import cut_crops, missing_sources, replace_dir
from .regions import to_crop
from .crowdinfo import read_crowd_info, rebased_image_dir
from .split import check_crowd_file


@dataclass
class JitterLevel:
    px: int
    json_path: Path
    crops_dir: Path | None
    images: int
    people_outside: int  # annotations with nothing left inside their jittered crop


# ---------------------------------------------------------------- boxes

def jitter_boxes(base: np.ndarray, source_size: np.ndarray, px: int, rng: np.random.Generator) -> np.ndarray:
    """Jittered xywh boxes: each side of each ``base`` box moves by an integer
    offset drawn uniformly from [-px, px], then the box is clipped to its
    source image (``source_size`` rows are width, height). A draw that would
    leave a box without area is drawn again, so every offset stays in range."""
    base = np.asarray(base, dtype=np.int64).reshape(-1, 4)
    w, h = source_size[:, 0].astype(np.int64), source_size[:, 1].astype(np.int64)
    sides = np.stack([base[:, 0], base[:, 1], base[:, 0] + base[:, 2], base[:, 1] + base[:, 3]], axis=1)
    limits = np.stack([w, h, w, h], axis=1)
    out = np.empty_like(sides)
    todo = np.arange(len(base))
    while len(todo):
        moved = np.clip(sides[todo] + rng.integers(-px, px, size=(len(todo), 4), endpoint=True), 0, limits[todo])
        out[todo] = moved
        todo = todo[(moved[:, 2] <= moved[:, 0]) | (moved[:, 3] <= moved[:, 1])]
    return np.stack([out[:, 0], out[:, 1], out[:, 2] - out[:, 0], out[:, 3] - out[:, 1]], axis=1)


def level_rng(seed: int, px: int) -> np.random.Generator:
    """One stream per (seed, level): a level's boxes do not depend on which other levels run."""
    return np.random.default_rng([seed, px])


# ---------------------------------------------------------------- annotations

def move_annotation(ann: dict, base: list[int], jittered: list[int], k: int) -> tuple[dict, bool]:
    """``ann`` (base-crop coordinates) in jittered-crop coordinates; True when
    nothing of it lies inside the jittered crop (then its keypoints are all
    unlabelled, its segmentation empty and its box only shifted)."""
    dx, dy = jittered[0] - base[0], jittered[1] - base[1]
    moved = to_crop(ann, (dx, dy, jittered[2], jittered[3]), k)
    out = dict(ann)
    if moved is None:
        x, y, bw, bh = ann["bbox"]
        out.update(keypoints=[0] * (3 * k), num_keypoints=0, segmentation=[],
                   bbox=[round(x - dx, 10), round(y - dy, 10), bw, bh])
        return out, True
    moved["bbox"] = [round(v, 10) for v in moved["bbox"]]  # drop float noise of the subtraction
    out.update(moved)
    return out, False


# ---------------------------------------------------------------- input

def load_base(path: Path) -> tuple[dict, int]:
    """A COCO-crowd file that has not been jittered yet, and its K."""
    data = read_json(path)
    k = check_crowd_file(data, path).schema.num_keypoints
    dump_json(data, source=path)  # what cannot be written back fails here, before any level is written
    info = read_crowd_info(data, path)
    if info.jittered:
        raise CocoFormatError(path, "crowd_info.jitter_px",
                              f"is {info.jitter_px:g}: this file is already jittered; jitter the base file")
    for n, im in enumerate(data["images"]):
        if "base_crop_box" in im:
            raise CocoFormatError(path, f"images[{n}].base_crop_box", "already jittered; jitter the base file")
        box = im["crop_box"]
        if (not isinstance(box, list) or len(box) != 4 or not all(type(v) is int for v in box)
                or box[2] <= 0 or box[3] <= 0):
            raise CocoFormatError(path, f"images[{n}].crop_box", f"must be 4 integers [x, y, w, h] with w, h > 0, got {box!r}")
        if "source_file_name" not in im:
            raise CocoFormatError(path, f"images[{n}].source_file_name", "missing key")
    return data, k


def source_sizes(data: dict, path: Path, source_dir: Path | None) -> np.ndarray:
    """(N, 2) source image width/height: from ``source_width``/``source_height``
    (written by `cococrowd build`), else read from the source image header."""
    sizes = np.zeros((len(data["images"]), 2), dtype=np.int64)
    for n, im in enumerate(data["images"]):
        if "source_width" in im and "source_height" in im:
            sizes[n] = im["source_width"], im["source_height"]
        elif source_dir is not None:
            try:
                with Image.open(source_dir / im["source_file_name"]) as src:
                    sizes[n] = src.size
            except (FileNotFoundError, UnidentifiedImageError, OSError) as err:
                raise CocoFormatError(path, f"images[{n}].source_width",
                                      f"missing, and the source image cannot be read for its size ({err})") from None
        else:
            raise CocoFormatError(path, f"images[{n}].source_width",
                                  "missing key: the source image size is needed to clip the box "
                                  "(build again, or pass --source-images to read it from the images)")
        x, y, w, h = im["crop_box"]
        if x < 0 or y < 0 or x + w > sizes[n, 0] or y + h > sizes[n, 1]:
            raise CocoFormatError(path, f"images[{n}].crop_box",
                                  f"{im['crop_box']} reaches outside its {sizes[n, 0]}x{sizes[n, 1]} source image")
    return sizes


# ---------------------------------------------------------------- one level

def jitter_crowd(data: dict, k: int, sizes: np.ndarray, px: int, seed: int, image_dir: str | None) -> tuple[dict, int]:
    """The level-``px`` variant of a COCO-crowd dict, and how many
    annotations ended up with nothing inside their jittered crop."""
    base = np.array([im["crop_box"] for im in data["images"]], dtype=np.int64).reshape(-1, 4)
    boxes = jitter_boxes(base, sizes, px, level_rng(seed, px)).tolist()
    images, by_id = [], {}
    for im, box in zip(data["images"], boxes):
        images.append(dict(im, width=box[2], height=box[3], crop_box=box, base_crop_box=im["crop_box"]))
        by_id[im["id"]] = (im["crop_box"], box)
    anns, outside = [], 0
    for ann in data["annotations"]:
        moved, gone = move_annotation(ann, *by_id[ann["image_id"]], k)
        anns.append(moved)
        outside += gone
    info = dict(data.get("crowd_info") or {}, jitter_px=px, jitter_seed=seed, image_dir=image_dir)
    return dict(data, crowd_info=info, images=images, annotations=anns), outside


def _crops_root(out_dir: Path) -> Path:
    # build's layout keeps JSON in OUT/annotations/ and crops in OUT/<name>/
    return out_dir.parent if out_dir.name == "annotations" else out_dir


def run_jitter(in_file: str | os.PathLike, levels: list[int], *, seed: int = 0,
               source_images: str | os.PathLike | None = None, no_images: bool = False,
               out_dir: str | os.PathLike | None = None, workers: int = 1, progress: bool = True) -> list[JitterLevel]:
    """Write ``<stem>_jitter<px>.json`` (and crops ``<name>_jitter<px>/``) per level."""
    path = Path(in_file)
    levels = sorted(set(levels))
    if any(px < 0 for px in levels):
        raise ValueError(f"--px levels must be >= 0, got {levels}")
    data, k = load_base(path)
    info = read_crowd_info(data, path)
    src_dir = Path(source_images) if source_images is not None else (
        Path(info.source_images) if info.source_images else None)
    if not no_images and any(levels):
        if src_dir is None:
            raise ValueError(f"{path}: crowd_info.source_images is null; pass --source-images DIR (or --no-images)")
        if not src_dir.is_dir():
            raise FileNotFoundError(f"{src_dir}: source image folder not found (pass --source-images DIR or --no-images)")
        missing = missing_sources(data["images"], src_dir)
        if missing:
            raise FileNotFoundError(f"{src_dir / sorted(missing)[0]}: source image not found "
                                    f"({len(missing)} missing; nothing was written)")
    sizes = source_sizes(data, path, src_dir)
    out_dir = Path(out_dir) if out_dir is not None else path.parent
    name = path.stem.removeprefix("crowd_")
    if not no_images:  # before any work: each level's crops folder is replaced whole
        for px in levels:
            if px:
                check_replaceable_dir(_crops_root(out_dir) / f"{name}_jitter{px}", "the crops folder")
    # every level is made (files encoded, crops staged) before any goes into place: a failure or a
    # kill part-way leaves no level written, and staging of a killed run goes at the next run
    results, staged = [], []
    with removing_new_dirs(out_dir):   # a failure leaves no empty folder it made
        try:
            for px in levels:
                json_path = out_dir / f"{path.stem}_jitter{px}.json"
                if px == 0:
                    staged.append((json_path, _level_zero_bytes(path, data, json_path), None, None))
                    results.append(JitterLevel(0, json_path, None, len(data["images"]), 0))
                    continue
                crops_dir = _crops_root(out_dir) / f"{name}_jitter{px}"
                image_dir = None if no_images else os.path.relpath(crops_dir, out_dir)  # no crops, no folder
                variant, outside = jitter_crowd(data, k, sizes, px, seed, image_dir)
                encoded = dump_json(variant, source=path)
                stage = None
                if not no_images:
                    with_sizes = [dict(im, source_width=int(w), source_height=int(h))
                                  for im, (w, h) in zip(variant["images"], sizes)]
                    stage = cut_crops(with_sizes, src_dir, crops_dir, workers=workers, progress=progress)
                staged.append((json_path, encoded, stage, crops_dir))
                results.append(JitterLevel(px, json_path, None if no_images else crops_dir, len(variant["images"]),
                                           outside))
            for n, (json_path, encoded, stage, crops_dir) in enumerate(staged):
                # the crops go into place only once the file is written, so neither is left alone
                with atomic_output(json_path) as tmp:
                    if isinstance(encoded, Path):
                        shutil.copyfile(encoded, tmp)
                    else:
                        tmp.write_bytes(encoded)
                    if stage is not None:
                        replace_dir(stage, crops_dir)
                        staged[n] = (json_path, encoded, None, crops_dir)
        finally:
            for _, _, stage, _ in staged:
                if stage is not None:
                    shutil.rmtree(stage, ignore_errors=True)
    return results


def _level_zero_bytes(path: Path, data: dict, json_path: Path) -> bytes | Path:
    """Level 0 is the input itself: a byte copy (the input's path) when written beside it;
    elsewhere only ``crowd_info.image_dir`` changes, so that the crops are still found."""
    rebased = rebased_image_dir(read_crowd_info(data, path), path.parent, json_path.parent)
    if rebased is None:
        return path
    return dump_json(dict(data, crowd_info=dict(data["crowd_info"], image_dir=rebased)))
