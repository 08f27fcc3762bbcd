"""Split a COCO-crowd file in two by a seeded draw of source images.

Regions cut from one source image always land in the same half (they share
pixels and people's context), so the draw is over source images: shuffled
with the seed, then taken in that order into the first half until it holds
``fraction`` of the regions.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .cocofile import (CocoFormatError, ValidatedDataset, annotation_paths, atomic_output, check_inside_path, check_name,
                       dump_json, keypoint_array, read_json,
                       validate_keypoint_dataset, write_temp)
from .crowdinfo import check_whole_file, read_crowd_info, rebased_image_dir

REQUIRED_IMAGE_FIELDS = ("source_image_id", "crop_box", "num_people")


def check_crowd_file(data, source) -> ValidatedDataset:
    """A COCO-crowd file: a COCO keypoint file as `build` validates its input (every keypoint
    value too: all annotations are copied), plus the per-image crowd fields."""
    ds = validate_keypoint_dataset(data, source)
    keypoint_array(ds.annotations, ds.schema.num_keypoints, ds.source,
                   lambda: annotation_paths(data, ds.annotations))
    check_whole_file(ds)   # segmentations, crowd_info and each crowd field by its one rule
    for n, im in enumerate(data["images"]):
        for key in REQUIRED_IMAGE_FIELDS:
            if key not in im:
                raise CocoFormatError(source, f"images[{n}].{key}",
                                      "missing key: not a COCO-crowd file (make one with `cococrowd build`)")
        # split sorts by source_image_id and sums num_people
        if type(im["source_image_id"]) is not int:
            raise CocoFormatError(source, f"images[{n}].source_image_id", f"must be an integer, got {im['source_image_id']!r}")
        if "source_file_name" in im:  # read from the source image folder by jitter and training
            check_inside_path(im["source_file_name"], source, f"images[{n}].source_file_name")
    return ds


def split_crowd(data: dict, *, fraction: float = 0.5, seed: int = 0, names=("val", "test")) -> tuple[dict, dict]:
    if not 0 < fraction < 1:
        raise ValueError(f"--fraction must be in (0, 1), got {fraction}")
    sources = sorted({im["source_image_id"] for im in data["images"]})
    per_source: dict = {}
    for im in data["images"]:
        per_source[im["source_image_id"]] = per_source.get(im["source_image_id"], 0) + 1
    order = np.random.default_rng(seed).permutation(len(sources))
    target = round(fraction * len(data["images"]))
    first: set = set()
    taken = 0
    for k in order:
        if taken >= target:
            break
        first.add(sources[k])
        taken += per_source[sources[k]]
    halves = []
    for name, in_first in ((names[0], True), (names[1], False)):
        images = [dict(im, split=name) for im in data["images"] if (im["source_image_id"] in first) == in_first]
        ids = {im["id"] for im in images}
        half = dict(data)
        half["images"] = images
        half["annotations"] = [a for a in data["annotations"] if a["image_id"] in ids]
        half["crowd_info"] = dict(data.get("crowd_info") or {}, split=name)
        halves.append(half)
    return halves[0], halves[1]


def run_split(path: str | Path, *, fraction: float = 0.5, seed: int = 0, names=("val", "test"),
              out_dir: str | Path | None = None) -> dict[str, Path]:
    """Write ``<stem>_<name>.json`` for both halves; returns name -> path."""
    path = Path(path)
    if len(names) != 2 or names[0] == names[1]:
        raise ValueError(f"--names needs two different names, got {list(names)}")
    for name in names:
        check_name(name, "--names")
    data = read_json(path)
    check_crowd_file(data, path)
    halves = split_crowd(data, fraction=fraction, seed=seed, names=names)
    out_dir = Path(out_dir) if out_dir is not None else path.parent
    rebased = rebased_image_dir(read_crowd_info(data, path), path.parent, out_dir)
    if rebased is not None:  # keep crops reachable
        for half in halves:
            half["crowd_info"]["image_dir"] = rebased
    targets = {name: out_dir / f"{path.stem}_{name}.json" for name in names}
    encoded = [dump_json(half, source=path) for half in halves]  # before any file: a bad value leaves none
    # both halves or neither: the renames happen only once both are written
    with atomic_output(targets[names[0]]) as t0, atomic_output(targets[names[1]]) as t1:
        write_temp(t0, encoded[0], targets[names[0]])
        write_temp(t1, encoded[1], targets[names[1]])
    return targets
