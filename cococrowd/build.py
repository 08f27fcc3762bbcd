"""The COCO-crowd pipeline: COCO keypoint JSON in, COCO-crowd JSON + crops + manifest out.

``build_crowd`` is pure (a validated dataset in, a COCO-crowd dict out) so that
`cococrowd stats` can build in memory; ``run_build`` adds the files.
"""
from __future__ import annotations

import hashlib
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
import numpy as np

from . import SYNTH_CONTRIBUTOR, __version__
from .crowdinfo import check_crowd_fields
from .cocofile import (CocoFormatError, ValidatedDataset, annotation_paths, atomic_output, check_name,
                       removing_new_dirs,
                       check_replaceable_dir, check_segmentations, dump_json, gc_paused, image_size_of, keypoint_array,
                       load_keypoint_file, write_temp)
from .crops import cut_crops, missing_sources, replace_dir
from .crowdindex import CROWD_INDEX_BUCKETS, bucket, crowd_indices, published
from .overlap import components, crowd_pairs, expand_ranges
from .regions import (area_without_mask, boxes_to_crops, clip_polygon_sets, keypoints_to_crops, polygons_area,
                      polygons_to_crops, segmentation_to_crop, union_crop_boxes)

COCO_SPLITS = ("train2014", "val2014", "train2017", "val2017")


@dataclass
class BuildResult:
    crowd: dict
    counts: dict
    skipped: dict = field(default_factory=dict)


def _people_arrays(ds: ValidatedDataset):
    """Person annotations sorted by image (stable), with their ids, image
    positions, boxes and iscrowd flags as arrays."""
    p = ds.people
    order = np.argsort(p.image_pos, kind="stable")
    anns = [ds.annotations[k] for k in order.tolist()]
    return anns, p.ids[order], p.image_pos[order], p.boxes[order], p.iscrowd[order]


@dataclass
class RegionPlan:
    """Every crowd region at once, as arrays (R regions, A output annotations)."""

    image_pos: np.ndarray    # (R,) source image position
    crops: np.ndarray        # (R, 4) int crop boxes
    sizes: np.ndarray        # (R,) group sizes
    ann: np.ndarray          # (A,) annotation index, per region: members then extras, each by id
    owner: np.ndarray        # (A,) region of each output annotation
    member: np.ndarray       # (A,) bool, group member (else ignored extra)


def plan_regions(ds: ValidatedDataset, pos: np.ndarray, boxes: np.ndarray, ann_ids: np.ndarray,
                 flat: np.ndarray, sizes: np.ndarray, margin: float) -> RegionPlan:
    """Crop boxes, members and extras of all groups (``flat`` members, group
    ``sizes``), in output order: source image id, then smallest member
    annotation id (all vectorised: COCO has tens of thousands of regions)."""
    if not len(sizes):
        e = np.empty(0, np.int64)
        return RegionPlan(e, np.empty((0, 4), np.int64), e, e, e, np.empty(0, bool))
    gstart = np.cumsum(sizes) - sizes
    img = pos[flat[gstart]]
    image_ids = np.fromiter((im["id"] for im in ds.images), np.int64, count=len(ds.images))
    order = np.lexsort((np.minimum.reduceat(ann_ids[flat], gstart), image_ids[img]))
    g_of = np.repeat(np.arange(len(order)), sizes)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    region_of_member = rank[g_of]                       # region index of each flat member
    sizes, img = sizes[order], img[order]
    gstart = np.cumsum(sizes) - sizes
    flat = flat[np.lexsort((ann_ids[flat], region_of_member))]  # regions in order, members by id
    wh = np.array([[im["width"], im["height"]] for im in ds.images], dtype=np.float64)[img]
    crops = union_crop_boxes(boxes[flat], gstart, margin, wh)

    # extras: every other annotation of the region's image whose box reaches into the crop
    first = np.searchsorted(pos, img)
    count = np.searchsorted(pos, img, side="right") - first
    r, k = expand_ranges(first, count)
    region_of = np.full(len(pos), -1, np.int64)
    region_of[flat] = np.repeat(np.arange(len(sizes)), sizes)
    c, b = crops[r], boxes[k]
    reach = ((region_of[k] != r)
             & (np.minimum(b[:, 0] + b[:, 2], c[:, 0] + c[:, 2]) > np.maximum(b[:, 0], c[:, 0]))
             & (np.minimum(b[:, 1] + b[:, 3], c[:, 1] + c[:, 3]) > np.maximum(b[:, 1], c[:, 1])))
    r, k = r[reach], k[reach]
    owner = np.concatenate([np.repeat(np.arange(len(sizes)), sizes), r])
    ann = np.concatenate([flat, k])
    member = np.concatenate([np.ones(len(flat), bool), np.zeros(len(k), bool)])
    out = np.lexsort((ann_ids[ann], ~member, owner))
    return RegionPlan(img, crops, sizes, ann[out], owner[out], member[out])


def crop_file_name(source_image_id: int, nth: int) -> str:
    """The crop of the ``nth`` region (from 0) of a source image: unique per region."""
    return f"{source_image_id:012d}_{nth}.png"


# fields a COCO-crowd record takes from its source (or makes new); the standard COCO image fields
# (license, coco_url, flickr_url, date_captured) describe the source image, which
# source_image_id names; anything else is an extra the build drops, with a warning and a count
_ANNOTATION_FIELDS = {"id", "image_id", "category_id", "bbox", "area", "segmentation", "keypoints",
                      "num_keypoints", "iscrowd", "ignore"}
_IMAGE_FIELDS = {"id", "file_name", "width", "height", "license", "coco_url", "flickr_url", "date_captured",
                 "crowdIndex"}


def dropped_fields(ds: ValidatedDataset, plan: "RegionPlan", anns: list[dict]) -> dict[str, int]:
    """``"annotations.KEY"`` / ``"images.KEY"`` -> how many records of the regions carried that
    extra field (e.g. a whole-body file's ``foot_kpts``), which COCO-crowd does not copy."""
    counts: dict[str, int] = {}
    used_images = {p: ds.images[p] for p in plan.image_pos.tolist()}
    for where, records, known in (("images", used_images.values(), _IMAGE_FIELDS),
                                  ("annotations", (anns[p] for p in plan.ann.tolist()), _ANNOTATION_FIELDS)):
        for rec in records:
            for key in rec.keys() - known:
                counts[f"{where}.{key}"] = counts.get(f"{where}.{key}", 0) + 1
    return dict(sorted(counts.items()))


def build_crowd(ds: ValidatedDataset, *, iou: float = 0.1, margin: float = 0,
                source_split: str | None = None, source_images: str | None = None,
                image_dir: str | None = None) -> BuildResult:
    """COCO-crowd from a validated COCO keypoint dataset (no files touched)."""
    if not 0 < iou <= 1:
        raise ValueError(f"--iou must be in (0, 1], got {iou}")
    if margin < 0:
        raise ValueError(f"--margin must be >= 0, got {margin}")
    anns, ann_ids, pos, boxes, is_crowd = _people_arrays(ds)
    people = np.flatnonzero(~is_crowd)  # iscrowd regions never pair
    i, j = crowd_pairs(pos[people], boxes[people], iou)
    flat, sizes = components(i, j)
    plan = plan_regions(ds, pos, boxes, ann_ids, people[flat], sizes, margin)

    images: list[dict] = []
    # crop names come from the unique source image id (12 digits, as COCO's own file names), never
    # the file name: seqA/000000.jpg and seqB/000000.jpg must not share a crop
    per_image_count: dict[int, int] = {}  # regions so far per source image, for file names
    for img_pos, crop, size in zip(plan.image_pos.tolist(), plan.crops.tolist(), plan.sizes.tolist()):
        src = ds.images[img_pos]
        nth = per_image_count.get(src["id"], 0)
        per_image_count[src["id"]] = nth + 1
        images.append({
            "id": len(images) + 1,
            "file_name": crop_file_name(src["id"], nth),
            "width": crop[2], "height": crop[3],
            "source_image_id": src["id"], "source_file_name": src["file_name"],
            "source_width": src["width"], "source_height": src["height"],
            "crop_box": crop, "num_people": size,
        })
    out_anns = _move_annotations(ds, anns, plan, images)
    recomputed = _recompute_crowd_index(ds, images, out_anns)
    dropped = dropped_fields(ds, plan, anns)
    if dropped:
        warnings.warn(f"{ds.source}: fields COCO-crowd does not copy were dropped ("
                      + ", ".join(f"{k} x{n}" for k, n in dropped.items())
                      + "; e.g. whole-body keypoint groups); counted in the manifest (counts.dropped_fields)",
                      stacklevel=2)
    crowd = {
        "info": {"description": f"COCO-crowd regions of {Path(ds.source).name} (IoU >= {iou})",
                 "version": __version__},
        "crowd_info": {"tool": f"cococrowd {__version__}", "source_annotations": Path(ds.source).name,
                       "source_split": source_split, "source_images": source_images,
                       "image_dir": image_dir, "iou": iou, "margin": margin, "split": None, "jitter_px": 0,
                       "synthetic": (ds.data.get("info") or {}).get("contributor") == SYNTH_CONTRIBUTOR},
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
        "crowd_index_recomputed": recomputed,
        "dropped_fields": dropped,
        **region_counts(crowd),
    }
    return BuildResult(crowd=crowd, counts=counts, skipped=dict(ds.skipped))


def _recompute_crowd_index(ds: ValidatedDataset, images: list[dict], out_anns: list[dict]) -> int:
    """Every region gets CrowdPose's crowd index (cococrowd/crowdindex.py), whatever the source:
    its members are averaged over, and bystanders reaching into the crop (ignored, iscrowd 1) count
    as others, as CrowdPose counts every annotated person; a source's own value described the whole
    image, so it is never copied. The region's file read by `cococrowd crowd-index` gives the same
    value. Returns how many regions got one."""
    values = crowd_indices(images, out_anns, ds.schema.num_keypoints, ds.source)
    for im, v in zip(images, values):
        im["crowdIndex"] = published(v)
    return len(images)


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
        "crowd_index_buckets": {label: sum(bucket(im["crowdIndex"]) == label for im in images if "crowdIndex" in im)
                                for label, _, _ in CROWD_INDEX_BUCKETS},
    }


def _json_path(ds: ValidatedDataset, ann: dict) -> str:
    """``annotations[i]`` of an annotation in its file (for error messages only)."""
    return f"annotations[{next(i for i, a in enumerate(ds.data['annotations']) if a is ann)}]"


def _move_annotations(ds: ValidatedDataset, anns: list[dict], plan: RegionPlan, images: list[dict]) -> list[dict]:
    if not len(plan.ann):
        return []
    k = ds.schema.num_keypoints
    src = [anns[p] for p in plan.ann.tolist()]
    kps = keypoint_array(src, k, ds.source, lambda: annotation_paths(ds.data, src))
    # only kept people's masks are read (clipped, cut, copied), so only theirs must be sound
    check_segmentations(src, image_size_of(ds, src), ds.source, lambda: annotation_paths(ds.data, src))
    crops = plan.crops[plan.owner]
    moved, nkp = keypoints_to_crops(kps, crops[:, :2], crops[:, 2:])
    moved = moved.reshape(len(src), 3 * k).tolist()
    segs = polygons_to_crops([a.get("segmentation") for a in src], crops)
    boxes = boxes_to_crops(np.array([a["bbox"] for a in src]), crops).tolist()
    out = []
    image_ids = [images[o]["id"] for o in plan.owner.tolist()]
    # polygons that reach outside their crop: clipped together (shapely arrays), then areas
    to_clip = [n for n, (a, sg) in enumerate(zip(src, segs))
               if sg is None and a.get("segmentation") and type(a["segmentation"]) is list]
    try:
        clipped = clip_polygon_sets([src[n]["segmentation"] for n in to_clip], crops[to_clip])
    except (ValueError, TypeError):
        clipped = [None] * len(to_clip)  # the per-annotation path below names the culprit
    clipped_of = dict(zip(to_clip, clipped))
    for n, (a, crop, member, segm) in enumerate(zip(src, crops.tolist(), plan.member.tolist(), segs)):
        area = a.get("area", a["bbox"][2] * a["bbox"][3])
        if not a.get("segmentation"):
            segm, area = [], area_without_mask(area, a["bbox"], boxes[n])
        elif clipped_of.get(n) is not None:
            segm = clipped_of[n]
            area = polygons_area(segm, crop[2], crop[3])
        elif segm is None:  # RLE or malformed: the per-annotation path
            try:
                segm, area = segmentation_to_crop(a["segmentation"], tuple(crop), area)
            except (ValueError, TypeError, KeyError, IndexError) as err:
                raise CocoFormatError(ds.source, f"{_json_path(ds, a)}.segmentation",
                                      f"cannot be read as COCO polygons or RLE ({err})") from None
        entry = {
            "id": n + 1, "image_id": image_ids[n], "category_id": a["category_id"],
            "bbox": boxes[n], "area": area, "segmentation": segm,
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
        if coco_root is not None:
            raise ValueError("give either --coco-root (with --split) or --annotations (with --images), not both")
        ann = Path(annotations)
        if split is not None:
            check_name(split, "--split")  # with --annotations it names the outputs
        name = split or ann.stem.removeprefix("person_keypoints_")
        try:
            check_name(name, "--split")
        except ValueError:
            raise ValueError(f"{ann}: its name gives the outputs the name {name!r}, which cannot be a folder "
                             "name; pass --split NAME (letters, digits, '_', '-', '.')") from None
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


def check_outputs(out: Path, name: str, img_dir: Path | None, no_images: bool) -> None:
    """Refuse, before any work, outputs that cannot be written or would
    destroy inputs (``--out`` at the COCO root would replace SPLIT/ with crops)."""
    for path, what in ((out, "--out"), (out / "annotations", "its annotations folder")):
        if path.exists() and not path.is_dir():
            raise FileExistsError(f"{path}: is a file, but {what} must be a folder")
    if not no_images:
        check_replaceable_dir(out / name, "the crops folder")
    if img_dir is not None and not no_images:
        crops, src = (out / name).resolve(), img_dir.resolve()
        if crops == src or src.is_relative_to(crops) or crops.is_relative_to(src):
            raise ValueError(f"{out / name}: the crops folder would be the source image folder {img_dir}; "
                             "choose another --out (writing there would replace the source images)")


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
    check_outputs(out, name, img_dir, no_images)
    with gc_paused():
        return _run_build(ann_path, img_dir, name, out, iou, margin, workers, no_images, skip_missing_images,
                          progress, command)


def _run_build(ann_path, img_dir, name, out, iou, margin, workers, no_images, skip_missing_images, progress,
               command) -> dict:
    ds = load_keypoint_file(ann_path)
    check_crowd_fields(ds)   # a source's crowd fields (crowdIndex, ignore, ...) by the one rule
    result = build_crowd(ds, iou=iou, margin=margin, source_split=name,
                         source_images=str(img_dir.resolve()) if img_dir is not None else None,
                         image_dir=None if no_images else f"../{name}")
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
    elif (out / name).is_dir():
        warnings.warn(f"{out / name}: crops of an earlier build stay there; this build wrote none "
                      "(--no-images), so its file records image_dir: null and does not use them", stacklevel=2)
    encoded = dump_json(crowd, source=ann_path)
    json_path = out / "annotations" / f"crowd_{name}.json"
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
    manifest_bytes = dump_json(manifest, indent=True, source=ann_path)
    # all work is done before anything is replaced: crops staged, file and manifest written to
    # temporaries, then the crops folder, the file and its manifest go into place (a full disk
    # at any step leaves the previous outputs as they were)
    with removing_new_dirs(out):
        stage = None if no_images else cut_crops(crowd["images"], img_dir, out / name, workers, progress)
        try:
            with atomic_output(out / f"manifest_{name}.json") as tmp_manifest, atomic_output(json_path) as tmp_json:
                write_temp(tmp_json, encoded, json_path)
                write_temp(tmp_manifest, manifest_bytes, out / f"manifest_{name}.json")
                if stage is not None:
                    replace_dir(stage, out / name)
                    stage = None
        finally:
            if stage is not None:
                shutil.rmtree(stage, ignore_errors=True)
    return manifest
