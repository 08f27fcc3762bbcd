"""Write a synthetic world in COCO's layout:
OUT/annotations/person_keypoints_SPLIT.json and OUT/SPLIT/<12-digit id>.jpg.

All or none: the images are drawn into a hidden staging folder and the annotation file into a
temporary file, and both are renamed into place only once every image is drawn (the annotation
file last, so its presence means the world is complete). A failure (a full disk, Ctrl-C) leaves
the folder as it was."""
from __future__ import annotations

import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..cocofile import atomic_output, dump_json, output_error, staged_folder, write_temp
from .coco import file_name, to_coco
from .render import image_plan, render
from .world import Scenes, generate_scenes

JPEG_QUALITY = 90
_SPLIT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class SynthResult:
    annotations: Path
    image_dir: Path | None
    n_images: int
    n_people: int
    n_crowd_regions: int


def default_workers() -> int:
    return min(4, os.cpu_count() or 1)


def annotation_path(out: str | os.PathLike, split: str) -> Path:
    return Path(out) / "annotations" / f"person_keypoints_{split}.json"


def synthesize(out: str | os.PathLike, split: str, n_images: int, seed: int = 0,
               annotations_only: bool = False, workers: int | None = None,
               progress: bool = False) -> SynthResult:
    """Generate the first n_images of the world of `seed` and write them under `out`."""
    _check_options(out, split, n_images, workers)
    out = Path(out)
    scenes = generate_scenes(n_images, seed)
    path = annotation_path(out, split)
    encoded = dump_json(to_coco(scenes, split, seed))
    image_dir = None if annotations_only else out / split
    with atomic_output(path) as tmp:
        write_temp(tmp, encoded, path)     # first: a full disk shows before any image is drawn
        if image_dir is not None:
            with staged_folder(image_dir, split) as stage:
                _write_images(scenes, seed, stage, workers or default_workers(), progress)
    return SynthResult(annotations=path, image_dir=image_dir, n_images=n_images,
                       n_people=len(scenes.image), n_crowd_regions=len(scenes.crowd_image))


def write_world(out: str | os.PathLike, split: str, n_images: int, seed: int = 0,
                annotations_only: bool = False, workers: int | None = None,
                progress: bool = False) -> Path:
    """As `synthesize`; returns the annotation file's path."""
    return synthesize(out, split, n_images, seed, annotations_only, workers, progress).annotations


def _check_options(out, split: str, n_images: int, workers: int | None) -> None:
    if not isinstance(n_images, int) or n_images < 1:
        raise ValueError(f"number of images must be an integer >= 1, got {n_images!r}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    if not _SPLIT_NAME.match(split or ""):
        raise ValueError(f"split name {split!r} must be letters, digits, '_', '.' or '-' (e.g. train2014)")
    if Path(out).exists() and not os.access(out, os.W_OK | os.X_OK):   # before the world is drawn
        raise output_error(out, PermissionError(13, "Permission denied"))


def _render_one(task: tuple) -> None:
    plan, seed, path = task
    render(plan, seed).save(path, format="JPEG", quality=JPEG_QUALITY)   # into the staging folder


def _write_images(scenes: Scenes, seed: int, image_dir: Path, workers: int, progress: bool) -> None:
    tasks = ((image_plan(scenes, i), seed, image_dir / file_name(i + 1)) for i in range(scenes.n_images))
    bar = tqdm(total=scenes.n_images, desc="synth images", unit="img", disable=not progress)
    with bar:
        if workers == 1:
            for task in tasks:
                _render_one(task)
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for _ in pool.map(_render_one, tasks, chunksize=16):
                    bar.update()
