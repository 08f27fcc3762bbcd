"""A tiny hand-made COCO keypoint world for curation tests (importable helper)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

COCO_KP = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
           "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
           "right_knee", "left_ankle", "right_ankle"]


def person(ann_id, image_id, bbox, rng, k=17, iscrowd=0):
    x, y, w, h = bbox
    kps = []
    for _ in range(k):
        v = int(rng.integers(0, 3))
        # integer keypoints inside the box, as in COCO; a few just outside it
        px = int(rng.integers(int(x) - 2, int(x + w) + 3))
        py = int(rng.integers(int(y) - 2, int(y + h) + 3))
        kps += [px, py, v] if v else [0, 0, 0]
    poly = [x, y, x + w, y, x + w, y + h, x, y + h]
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "bbox": list(bbox), "area": w * h,
            "segmentation": [poly], "keypoints": kps, "num_keypoints": sum(1 for v in kps[2::3] if v),
            "iscrowd": iscrowd}


def random_world(seed=0, n_images=30, max_people=7, size=(160, 120)):
    rng = np.random.default_rng(seed)
    images, anns = [], []
    for i in range(1, n_images + 1):
        w, h = size
        images.append({"id": i * 10, "file_name": f"{i * 10:012d}.png", "width": w, "height": h})
        for _ in range(int(rng.integers(0, max_people + 1))):
            bw, bh = rng.uniform(8, 60), rng.uniform(8, 80)
            bx, by = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            anns.append(person(len(anns) + 1, i * 10, [round(bx, 2), round(by, 2), round(bw, 2), round(bh, 2)], rng))
    rng.shuffle(anns)  # annotation order must not matter
    return {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "person", "supercategory": "person", "keypoints": COCO_KP,
                            "skeleton": [[16, 14], [14, 12]]}]}


def write_world(root: Path, data: dict, split="train2014", with_images=True, seed=0) -> Path:
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    path = root / "annotations" / f"person_keypoints_{split}.json"
    path.write_text(json.dumps(data))
    if with_images:
        rng = np.random.default_rng(seed)
        (root / split).mkdir(parents=True, exist_ok=True)
        for im in data.get("images", []):
            px = rng.integers(0, 256, (max(1, im["height"]), max(1, im["width"]), 3), dtype=np.uint8)
            Image.fromarray(px).save(root / split / im["file_name"])
    return path
