"""Small COCO-crowd datasets written from a description, for tests and speed runs.

:func:`write_crowd_dataset` lays files out as ``cococrowd build`` does
(docs/coco-crowd-format.md): ``root/annotations/crowd_<split>.json``, the
crops as PNG in ``root/<split>/`` (cut losslessly from the decoded source),
the source images in ``root/source/``. People are given in source pixels and
moved into crop coordinates here. :func:`random_crowd_dataset` draws a
seeded random set of regions at COCO-like sizes.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from cococrowd.cocofile import write_json

COCO_KEYPOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                  "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
                  "left_knee", "right_knee", "left_ankle", "right_ankle")


@dataclass
class Person:
    """One annotation in source pixels. ``keypoints`` (K, 3); ``segmentation``
    polygons (source pixels) or None for the box."""

    keypoints: np.ndarray
    bbox: tuple[float, float, float, float]
    segmentation: list[list[float]] | None = None


@dataclass
class RegionSpec:
    """One crowd region: its source picture, crop box and people."""

    source: str                                   # key into the ``sources`` dict
    crop_box: tuple[int, int, int, int]
    members: list[Person]
    ignored: list[Person] = field(default_factory=list)


def _encode(pixels: np.ndarray, ext: str, quality: int) -> bytes:
    buf = io.BytesIO()
    if ext in (".jpg", ".jpeg"):
        Image.fromarray(pixels).save(buf, format="JPEG", quality=quality)
    else:
        Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def _to_crop(person: Person, crop: tuple[int, int, int, int], member: bool) -> dict:
    cx, cy, cw, ch = crop
    kps = np.asarray(person.keypoints, dtype=np.float64).copy()
    kps[:, :2] -= (cx, cy)
    inside = (kps[:, 2] > 0) & (kps[:, 0] >= 0) & (kps[:, 1] >= 0) & (kps[:, 0] <= cw) & (kps[:, 1] <= ch)
    kps[~inside] = 0
    x, y, w, h = person.bbox
    x0, y0 = max(x - cx, 0.0), max(y - cy, 0.0)
    x1, y1 = min(x + w - cx, cw), min(y + h - cy, ch)
    bbox = [x0, y0, x1 - x0, y1 - y0]
    segm = [] if person.segmentation is None else [
        (np.asarray(p, dtype=np.float64).reshape(-1, 2) - (cx, cy)).ravel().tolist() for p in person.segmentation]
    ann = {"category_id": 1, "bbox": bbox, "area": bbox[2] * bbox[3], "segmentation": segm,
           "keypoints": kps.ravel().tolist(), "num_keypoints": int(inside.sum()),
           "iscrowd": 0 if member else 1, "ignore": 0 if member else 1}
    if not member:
        ann["source_iscrowd"] = 0
    return ann


def write_crowd_dataset(root: str | Path, sources: dict[str, np.ndarray], regions: list[RegionSpec], *,
                        keypoint_names: tuple[str, ...] = COCO_KEYPOINTS, split: str = "toy",
                        source_ext: str = ".jpg", jpeg_quality: int = 90) -> Path:
    """Write sources, crops and the COCO-crowd JSON; returns the JSON path.
    ``sources`` maps a name (without extension) to an (H, W, 3) uint8 array."""
    root = Path(root)
    (root / "source").mkdir(parents=True, exist_ok=True)
    (root / split).mkdir(parents=True, exist_ok=True)
    decoded = {}
    for name, pixels in sources.items():
        data = _encode(np.asarray(pixels, dtype=np.uint8), source_ext, jpeg_quality)
        (root / "source" / f"{name}{source_ext}").write_bytes(data)
        decoded[name] = Image.open(io.BytesIO(data)).convert("RGB")
    images, annotations = [], []
    for n, spec in enumerate(regions, start=1):
        x, y, w, h = spec.crop_box
        file_name = f"{spec.source}_{n}.png"
        decoded[spec.source].crop((x, y, x + w, y + h)).save(root / split / file_name)
        images.append({"id": n, "file_name": file_name, "width": w, "height": h,
                       "source_image_id": n, "source_file_name": f"{spec.source}{source_ext}",
                       "crop_box": [x, y, w, h], "num_people": len(spec.members)})
        for person, member in [(p, True) for p in spec.members] + [(p, False) for p in spec.ignored]:
            ann = _to_crop(person, spec.crop_box, member)
            ann.update(id=len(annotations) + 1, image_id=n, source_annotation_id=len(annotations) + 1)
            annotations.append(ann)
    crowd = {
        "images": images, "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "supercategory": "person",
                        "keypoints": list(keypoint_names), "skeleton": []}],
        "crowd_info": {"tool": "benchmarks.data.fixtures", "source_annotations": None,
                       "source_images": str((root / "source").resolve()), "image_dir": f"../{split}",
                       "iou": 0.1, "margin": 0, "split": None, "jitter_px": 0},
    }
    return write_json(root / "annotations" / f"crowd_{split}.json", crowd)


def textured_image(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A photo-like picture: smooth colour fields plus fine grain (JPEG sizes
    and decode times close to COCO photos)."""
    coarse = Image.fromarray(rng.integers(0, 256, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8))
    smooth = np.asarray(coarse.resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
    grain = rng.normal(0, 12, (height, width, 1)).astype(np.int16)
    return np.clip(smooth + grain, 0, 255).astype(np.uint8)


def random_person(rng: np.random.Generator, box: tuple[float, float, float, float], k: int) -> Person:
    x, y, w, h = box
    kps = np.zeros((k, 3))
    kps[:, 0] = x + rng.uniform(0.05, 0.95, k) * w
    kps[:, 1] = y + rng.uniform(0.05, 0.95, k) * h
    kps[:, 2] = rng.choice([0, 1, 2], size=k, p=[0.25, 0.15, 0.6])
    kps[kps[:, 2] == 0, :2] = 0
    t = np.linspace(0, 2 * np.pi, 9)[:-1]
    poly = np.stack([x + w / 2 + 0.45 * w * np.cos(t), y + h / 2 + 0.45 * h * np.sin(t)], axis=1)
    return Person(keypoints=kps, bbox=(x, y, w, h), segmentation=[poly.ravel().tolist()])


def random_crowd_dataset(root: str | Path, *, num_sources: int = 8, regions_per_source: int = 2,
                         source_size: tuple[int, int] = (640, 480), people: tuple[int, int] = (2, 6),
                         keypoint_names: tuple[str, ...] = COCO_KEYPOINTS, seed: int = 0,
                         split: str = "toy") -> Path:
    """Seeded random COCO-crowd set: ``num_sources`` JPEG photos of
    ``source_size``, each with ``regions_per_source`` crowd regions of
    ``people`` members (uniform count) and up to two ignored people that reach
    into the crop."""
    rng = np.random.default_rng(seed)
    sw, sh = source_size
    k = len(keypoint_names)
    sources, regions = {}, []
    for s in range(num_sources):
        name = f"src{s:04d}"
        sources[name] = textured_image(rng, sw, sh)
        for _ in range(regions_per_source):
            n = int(rng.integers(people[0], people[1] + 1))
            cw, ch = int(rng.uniform(0.3, 0.8) * sw), int(rng.uniform(0.4, 0.9) * sh)
            cx, cy = int(rng.integers(0, sw - cw + 1)), int(rng.integers(0, sh - ch + 1))
            members = []
            for _ in range(n):
                pw, ph = rng.uniform(0.3, 0.6) * cw, rng.uniform(0.5, 0.9) * ch
                members.append(random_person(rng, (cx + rng.uniform(0, cw - pw), cy + rng.uniform(0, ch - ph),
                                                   pw, ph), k))
            boxes = np.array([p.bbox for p in members])
            x0, y0 = np.floor(boxes[:, :2].min(0)).astype(int)
            x1, y1 = np.ceil((boxes[:, :2] + boxes[:, 2:]).max(0)).astype(int)
            crop = (int(x0), int(y0), int(min(x1, sw) - x0), int(min(y1, sh) - y0))
            ignored = []
            for _ in range(int(rng.integers(0, 3))):
                pw, ph = rng.uniform(0.2, 0.4) * crop[2], rng.uniform(0.4, 0.8) * crop[3]
                px = crop[0] + crop[2] - 0.5 * pw if rng.random() < 0.5 else crop[0] - 0.5 * pw
                ignored.append(Person(keypoints=np.zeros((k, 3)), bbox=(px, crop[1] + 0.1 * crop[3], pw, ph)))
            regions.append(RegionSpec(source=name, crop_box=crop, members=members, ignored=ignored))
    return write_crowd_dataset(root, sources, regions, keypoint_names=keypoint_names, split=split)
