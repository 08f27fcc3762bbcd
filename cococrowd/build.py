"""The COCO-crowd pipeline: COCO keypoint JSON in, COCO-crowd JSON + crops + manifest out.

``build_crowd`` is pure (a validated dataset in, a COCO-crowd dict out) so that
`cococrowd stats` can build in memory; ``run_build`` adds the files.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
import numpy as np

from . import __version__
from .cocofile import ValidatedDataset, check_keypoints, dump_json, load_keypoint_file, write_bytes, write_json
from .crops import missing_sources, write_crops
from .overlap import crowd_pairs, groups_from_pairs
from .regions import box_inside, clip_box, keypoints_to_crops, segmentation_to_crop, union_crop_box

COCO_SPLITS = ("train2014", "val2014", "train2017", "val2017")


@dataclass
class BuildResult:
    crowd: dict
    counts: dict
    skipped: dict = field(default_factory=dict)


def _people_arrays(ds: ValidatedDataset) -> tuple[list[dict], np.ndarray, np.ndarray, np.ndarray]:
    """Person annotations sorted by image (stable), with their image positions,
    boxes and iscrowd flags as arrays."""
    anns = ds.annotations
    pos = np.fromiter((ds.image_index[a["image_id"]] for a in anns), dtype=np.int64, count=len(anns))
    order = np.argsort(pos, kind="stable")
    anns = [anns[k] for k in order]
    pos = pos[order]
    boxes = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
    crowd = np.fromiter((a.get("iscrowd", 0) for a in anns), dtype=bool, count=len(anns))
    return anns, pos, boxes, crowd


def _regions(ds, anns, pos, boxes, groups, margin):
    """Yield (image, crop_box, member indices, extra indices) per crowd group,
    in the order: source image id, then smallest member annotation id."""
    # all annotations of each image, for the extras that reach into a crop
    starts = np.searchsorted(pos, np.arange(len(ds.images)))
    ends = np.searchsorted(pos, np.arange(len(ds.images)), side="right")
    ann_ids = np.fromiter((a["id"] for a in anns), dtype=np.int64, count=len(anns))
    keyed = []
    for g in groups:
        members = g[np.argsort(ann_ids[g], kind="stable")]
        img_pos = int(pos[members[0]])
        keyed.append((ds.images[img_pos]["id"], int(ann_ids[members[0]]), img_pos, members))
    keyed.sort(key=lambda t: (t[0], t[1]))
    for _, _, img_pos, members in keyed:
        img = ds.images[img_pos]
        crop = union_crop_box(boxes[members], margin, img["width"], img["height"])
        cx, cy, cw, ch = crop
        others = np.setdiff1d(np.arange(starts[img_pos], ends[img_pos]), members)
        b = boxes[others]
        reach = ((np.minimum(b[:, 0] + b[:, 2], cx + cw) > np.maximum(b[:, 0], cx))
                 & (np.minimum(b[:, 1] + b[:, 3], cy + ch) > np.maximum(b[:, 1], cy)))
        extras = others[reach]
        extras = extras[np.argsort(ann_ids[extras], kind="stable")]
        yield img, crop, members, extras


def build_crowd(ds: ValidatedDataset, *, iou: float = 0.1, margin: float = 0,
                source_split: str | None = None, source_images: str | None = None,
                image_dir: str | None = None) -> BuildResult:
    """COCO-crowd from a validated COCO keypoint dataset (no files touched)."""
    if not 0 < iou <= 1:
        raise ValueError(f"--iou must be in (0, 1], got {iou}")
    if margin < 0:
        raise ValueError(f"--margin must be >= 0, got {margin}")
    k = ds.schema.num_keypoints
    anns, pos, boxes, is_crowd = _people_arrays(ds)

    images: list[dict] = []
    picked: list[int] = []       # annotation index per output annotation
    owner: list[int] = []        # output image position per output annotation
    member_flag: list[bool] = []
    per_image_count: dict[int, int] = {}  # regions so far per source image, for file names
    people = np.flatnonzero(~is_crowd)  # iscrowd regions never pair
    i, j = crowd_pairs(pos[people], boxes[people], iou)
    groups = [people[g] for g in groups_from_pairs(i, j)]
    for img, crop, members, extras in _regions(ds, anns, pos, boxes, groups, margin):
        nth = per_image_count.get(img["id"], 0)
        per_image_count[img["id"]] = nth + 1
        images.append({
            "id": len(images) + 1,
            "file_name": f"{Path(img['file_name']).stem}_{nth}.png",
            "width": crop[2], "height": crop[3],
            "source_image_id": img["id"], "source_file_name": img["file_name"],
            "source_width": img["width"], "source_height": img["height"],
            "crop_box": list(crop), "num_people": int(len(members)),
        })
        for idx_list, is_member in ((members, True), (extras, False)):
            picked.extend(idx_list.tolist())
            owner.extend([len(images) - 1] * len(idx_list))
            member_flag.extend([is_member] * len(idx_list))

    out_anns = _move_annotations(ds, anns, picked, owner, member_flag, images, k)
    crowd = {
        "info": {"description": f"COCO-crowd regions of {Path(ds.source).name} (IoU >= {iou})",
                 "version": __version__},
        "crowd_info": {"tool": f"cococrowd {__version__}", "source_annotations": Path(ds.source).name,
                       "source_split": source_split, "source_images": source_images,
                       "image_dir": image_dir, "iou": iou, "margin": margin, "split": None, "jitter_px": 0},
        "images": images,
        "annotations": out_anns,
        "categories": ds.data["categories"],
    }
    if "licenses" in ds.data:
        crowd["licenses"] = ds.data["licenses"]
    counts = {
        "source_images": len(ds.images),
        "source_people": int((~is_crowd).sum()),
        "source_iscrowd_regions": int(is_crowd.sum()),
        "crowd_pairs": int(len(i)),
        **region_counts(crowd),
    }
    return BuildResult(crowd=crowd, counts=counts, skipped=dict(ds.skipped))


def region_counts(crowd: dict) -> dict:
    """Counts that describe the regions of a COCO-crowd dict."""
    images = crowd["images"]
    by_size = {str(n): 0 for n in range(2, 6)} | {"6+": 0}
    for im in images:
        by_size["6+" if im["num_people"] >= 6 else str(im["num_people"])] += 1
    return {
        "regions": len(images),
        "people_in_regions": int(sum(im["num_people"] for im in images)),
        "ignored_annotations_in_regions": int(sum(a.get("ignore", 0) for a in crowd["annotations"])),
        "source_images_with_regions": len({im["source_image_id"] for im in images}),
        "regions_by_people": by_size,
    }


def _move_annotations(ds, anns, picked, owner, member_flag, images, k) -> list[dict]:
    if not picked:
        return []
    src = [anns[p] for p in picked]
    try:
        kps = np.array([a["keypoints"] for a in src]).reshape(len(src), k, 3)
        ok = np.isfinite(kps).all() and np.isin(kps[..., 2], (0, 1, 2)).all()
    except (ValueError, TypeError):
        ok = False
    if not ok:  # name the culprit
        where = {id(a): i for i, a in enumerate(ds.data["annotations"])}
        for a in src:
            check_keypoints(a["keypoints"], k, f"annotations[{where[id(a)]}].keypoints", ds.source)
    crops = np.array([images[o]["crop_box"] for o in owner], dtype=np.int64)
    moved, nkp = keypoints_to_crops(kps, crops[:, :2], crops[:, 2:])
    moved = moved.reshape(len(src), 3 * k).tolist()
    out = []
    for n, (a, o, member) in enumerate(zip(src, owner, member_flag)):
        crop = tuple(images[o]["crop_box"])
        if box_inside(a["bbox"], crop):  # keep width/height exactly
            bbox = [a["bbox"][0] - crop[0], a["bbox"][1] - crop[1], a["bbox"][2], a["bbox"][3]]
        else:
            bbox = clip_box(a["bbox"], crop)
        bbox = [round(v, 10) for v in bbox]  # drop float noise of the subtraction
        segm, area = segmentation_to_crop(a.get("segmentation", []), crop, a.get("area", a["bbox"][2] * a["bbox"][3]))
        entry = {
            "id": n + 1, "image_id": images[o]["id"], "category_id": a["category_id"],
            "bbox": bbox, "area": area, "segmentation": segm,
            "keypoints": moved[n], "num_keypoints": int(nkp[n]),
            "iscrowd": 0 if member else 1, "ignore": 0 if member else 1,
            "source_annotation_id": a["id"],
        }
        if not member:
            entry["source_iscrowd"] = int(a.get("iscrowd", 0))
        out.append(entry)
    return out


# ---------------------------------------------------------------- files

def source_paths(split: str | None, coco_root: str | Path | None,
                 annotations: str | Path | None, images: str | Path | None) -> tuple[Path, Path | None, str]:
    """Resolve the input annotation file, image folder and split name from
    either ``--split/--coco-root`` (standard COCO layout) or ``--annotations/--images``."""
    if annotations is not None:
        if split is not None and split not in COCO_SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {', '.join(COCO_SPLITS)}")
        ann = Path(annotations)
        name = split or ann.stem.removeprefix("person_keypoints_")
        return ann, (Path(images) if images is not None else None), name
    if split is None or coco_root is None:
        raise ValueError("give --split and --coco-root (standard COCO layout), or --annotations FILE [--images DIR]")
    if split not in COCO_SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(COCO_SPLITS)}")
    root = Path(coco_root)
    ann = root / "annotations" / f"person_keypoints_{split}.json"
    if not ann.is_file():
        raise FileNotFoundError(f"{ann}: not found (expected the standard COCO layout under {root}; "
                                f"`cococrowd download --split {split} --root {root}` fetches it)")
    return ann, (Path(images) if images is not None else root / split), split


def drop_sources(crowd: dict, names: set[str]) -> dict:
    """The crowd dict without the regions cut from ``names``, ids renumbered."""
    keep = [im for im in crowd["images"] if im["source_file_name"] not in names]
    new_id = {im["id"]: n + 1 for n, im in enumerate(keep)}
    anns = [a for a in crowd["annotations"] if a["image_id"] in new_id]
    crowd = dict(crowd)
    crowd["images"] = [dict(im, id=new_id[im["id"]]) for im in keep]
    crowd["annotations"] = [dict(a, id=n + 1, image_id=new_id[a["image_id"]]) for n, a in enumerate(anns)]
    return crowd


def run_build(*, split: str | None = None, coco_root: str | Path | None = None,
              annotations: str | Path | None = None, images: str | Path | None = None,
              out: str | Path = "coco_crowd", iou: float = 0.1, margin: float = 0, workers: int = 1,
              no_images: bool = False, skip_missing_images: bool = False, progress: bool = True,
              command: str = "cococrowd build") -> dict:
    """Build COCO-crowd files; returns the manifest (also written to disk)."""
    ann_path, img_dir, name = source_paths(split, coco_root, annotations, images)
    if not no_images:
        if img_dir is None:
            raise ValueError("--images DIR is needed to cut crops (or pass --no-images)")
        if not img_dir.is_dir():
            raise FileNotFoundError(f"{img_dir}: image folder not found (or pass --no-images)")
    out = Path(out)
    ds = load_keypoint_file(ann_path)
    result = build_crowd(ds, iou=iou, margin=margin, source_split=name,
                         source_images=str(img_dir.resolve()) if img_dir is not None else None,
                         image_dir=f"../{name}")
    crowd, skipped = result.crowd, dict(result.skipped)
    if not no_images:
        missing = missing_sources(crowd["images"], img_dir)
        if missing and not skip_missing_images:
            first = sorted(missing)[0]
            raise FileNotFoundError(f"{img_dir / first}: source image not found ({len(missing)} of the "
                                    f"{len({im['source_file_name'] for im in crowd['images']})} needed are missing; "
                                    "--skip-missing-images drops their regions)")
        if missing:
            before = len(crowd["images"])
            crowd = drop_sources(crowd, missing)
            skipped["regions_without_source_image"] = before - len(crowd["images"])
            result.counts.update(region_counts(crowd))
        write_crops(crowd["images"], img_dir, out / name, workers=workers, progress=progress)
    encoded = dump_json(crowd)
    json_path = write_bytes(out / "annotations" / f"crowd_{name}.json", encoded)
    manifest = {
        "tool": f"cococrowd {__version__}",
        "command": command,
        "options": {"split": name, "iou": iou, "margin": margin, "no_images": no_images,
                    "skip_missing_images": skip_missing_images},
        "inputs": {"annotations": {"path": str(ann_path.resolve()), "sha256": ds.sha256},
                   "images": str(img_dir.resolve()) if img_dir is not None else None},
        "outputs": {"annotations": str(json_path.relative_to(out)), "sha256": hashlib.sha256(encoded).hexdigest(),
                    "crops": None if no_images else name, "regions": len(crowd["images"])},
        "counts": result.counts,
        "skipped": skipped,
    }
    write_json(out / f"manifest_{name}.json", manifest, indent=True)
    return manifest
