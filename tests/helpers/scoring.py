"""Small COCO keypoint ground-truth / results builders and a pycocotools oracle
for the scoring tests (importable helper, not a test module)."""
from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

COCO17 = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
          "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
          "right_knee", "left_ankle", "right_ankle"]
CROWDPOSE14 = ["left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
               "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head", "neck"]

# a standing person, 17 COCO keypoints, unit height ~1.5 (x, y offsets from the centre)
_POSE17 = np.array([[0, -0.62], [-0.05, -0.66], [0.05, -0.66], [-0.1, -0.63], [0.1, -0.63],
                    [-0.2, -0.42], [0.2, -0.42], [-0.28, -0.16], [0.28, -0.16], [-0.3, 0.08],
                    [0.3, 0.08], [-0.12, 0.12], [0.12, 0.12], [-0.12, 0.48], [0.12, 0.48],
                    [-0.12, 0.85], [0.12, 0.85]])


def write_json(path: Path, obj) -> Path:
    path = Path(path)
    path.write_text(json.dumps(obj))
    return path


def pose(cx: float, cy: float, scale: float, k: int = 17) -> np.ndarray:
    """(k, 2) keypoints of a standing person centred at (cx, cy)."""
    base = np.resize(_POSE17, (k, 2))           # the 17 points again and again for larger k
    return base * scale + [cx, cy]


def gt_ann(ann_id, image_id, xy, vis=None, *, area=None, iscrowd=0, bbox=None, num_keypoints=None, **extra):
    """A ground-truth person annotation from (K, 2) points (v = 2 unless ``vis``)."""
    xy = np.asarray(xy, dtype=float)
    k = len(xy)
    v = np.full(k, 2) if vis is None else np.asarray(vis)
    kps = np.c_[np.where(v[:, None] > 0, xy, 0), v].ravel().tolist()
    if bbox is None:
        lab = xy[v > 0] if (v > 0).any() else xy
        x0, y0 = lab.min(0) - 4
        x1, y1 = lab.max(0) + 4
        bbox = [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]
    ann = {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": iscrowd, "bbox": bbox,
           "area": float(bbox[2] * bbox[3] * 0.6) if area is None else area, "keypoints": kps,
           "num_keypoints": int((v > 0).sum()) if num_keypoints is None else num_keypoints}
    ann.update(extra)
    return ann


def dt(image_id, xy, score, **extra):
    xy = np.asarray(xy, dtype=float)
    out = {"image_id": image_id, "category_id": 1, "score": score,
           "keypoints": np.c_[xy, np.ones(len(xy))].ravel().tolist()}
    out.update(extra)
    return out


def gt_file(images, anns, names=COCO17, **top):
    d = {"images": images, "annotations": anns,
         "categories": [{"id": 1, "name": "person", "supercategory": "person", "keypoints": list(names),
                         "skeleton": []}]}
    d.update(top)
    return d


def image(image_id, w=400, h=300, **extra):
    d = {"id": image_id, "file_name": f"{image_id}.png", "width": w, "height": h}
    d.update(extra)
    return d


def random_case(seed: int, n_images: int = 14, k: int = 17, names=COCO17, zero_id: bool = False):
    """Random GT + results that exercise every pycocotools rule: crowd regions,
    people without labelled keypoints, all area ranges, > 20 detections on an
    image, equal scores within and across images, images without gt or dets."""
    rng = np.random.default_rng(seed)
    images, anns, res = [], [], []
    aid = 0 if zero_id else 1
    for i in range(n_images):
        img_id = int(rng.integers(1, 10_000)) * 10 + i       # unsorted ids
        images.append(image(img_id, num_people=0))
        n_people = int(rng.integers(0, 6)) if i % 5 else 0
        people = []
        for _ in range(n_people):
            scale = float(rng.choice([15, 40, 90, 160]))
            xy = pose(rng.uniform(50, 350), rng.uniform(60, 240), scale, k)
            if rng.random() < 0.3:
                xy = np.round(xy)                              # integer coordinates, as in COCO
            vis = (rng.random(k) > rng.choice([0.0, 0.3, 0.7])).astype(int) * rng.integers(1, 3, k)
            kind = rng.random()
            if kind < 0.1:
                vis[:] = 0                                     # no labelled keypoint: ignored, bbox OKS path
            area = float(scale * scale * rng.uniform(0.3, 1.2))
            ann = gt_ann(aid, img_id, xy, vis, iscrowd=int(kind > 0.92), area=area)
            if kind > 0.92:
                ann["num_keypoints"] = 0
            aid += 1
            anns.append(ann)
            people.append(xy)
        images[-1]["num_people"] = sum(1 for a in anns if a["image_id"] == img_id and not a["iscrowd"])
        n_det = int(rng.integers(0, 26)) if i % 7 else 0
        for _ in range(n_det):
            if people and rng.random() < 0.7:
                xy = people[int(rng.integers(len(people)))]
                noise = rng.normal(0, rng.choice([0.5, 3, 10, 30]), xy.shape)
                pred = xy + noise
            else:
                pred = pose(rng.uniform(0, 400), rng.uniform(0, 300), float(rng.choice([15, 40, 90])), k)
            score = float(rng.choice([round(rng.random(), 1), rng.random()]))
            res.append(dt(img_id, pred, score))
    if res and rng.random() < 0.5:
        for r in res:                                         # pycocotools then takes areas from boxes
            xy = np.asarray(r["keypoints"]).reshape(-1, 3)[:, :2]
            r["bbox"] = [float(xy[:, 0].min()), float(xy[:, 1].min()),
                         float(np.ptp(xy[:, 0]) + 1), float(np.ptp(xy[:, 1]) + 1)]
    order = rng.permutation(len(res))
    return gt_file(images, anns, names), [res[i] for i in order]


def three_image_world():
    """image 10: 2 people, both hit; image 20: 3 people, no prediction;
    image 30: 6 people, a false alarm (0.95) above one hit (0.7)."""
    anns, res, aid = [], [], 1
    imgs = [image(10, num_people=2, crowdIndex=0.1), image(20, num_people=3, crowdIndex=0.2),
            image(30, w=900, num_people=6, crowdIndex=0.8)]
    people = {10: [pose(80 + 100 * j, 150, 60) for j in range(2)],
              20: [pose(80 + 100 * j, 150, 60) for j in range(3)],
              30: [pose(70 + 130 * j, 150, 60) for j in range(6)]}
    for img_id, ps in people.items():
        for xy in ps:
            anns.append(gt_ann(aid, img_id, xy, area=5000.0))
            aid += 1
    # an ignored non-group person far off in image 10 (COCO-crowd: iscrowd 1, ignore 1)
    anns.append(gt_ann(aid, 10, pose(380, 150, 40), iscrowd=1, ignore=1))
    res += [dt(10, people[10][0], 0.9), dt(10, people[10][1], 0.8)]
    res += [dt(30, people[30][0] + [0, 400], 0.95), dt(30, people[30][2], 0.7)]
    return gt_file(imgs, anns), res


@contextlib.contextmanager
def _quiet():
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def pycoco(gt_path, res, img_ids=None, sigmas=None) -> COCOeval:
    """A fresh pycocotools keypoint evaluation (evaluate + accumulate + summarize)."""
    with _quiet():
        gt = COCO(str(gt_path))
        dets = gt.loadRes(copy.deepcopy(res))
        ev = COCOeval(gt, dets, "keypoints")
        if sigmas is not None:
            ev.params.kpt_oks_sigmas = np.asarray(sigmas)
        if img_ids is not None:
            ev.params.imgIds = list(img_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def pycoco_multiset(ev: COCOeval, img_seq) -> COCOeval:
    """pycocotools' own accumulate + summarize over the per-image evaluations of
    ``img_seq`` (image ids, repeats allowed) of an evaluated ``ev``."""
    pos = {i: n for n, i in enumerate(ev._paramsEval.imgIds)}
    i0 = len(ev._paramsEval.imgIds)
    n_area = len(ev._paramsEval.areaRng)
    out = copy.copy(ev)
    out.evalImgs = [ev.evalImgs[a * i0 + pos[i]] for a in range(n_area) for i in img_seq]
    out._paramsEval = copy.deepcopy(ev._paramsEval)
    out._paramsEval.imgIds = list(img_seq)
    out.params = copy.deepcopy(ev.params)
    out.params.imgIds = list(img_seq)
    with _quiet():
        out.accumulate()
        out.summarize()
    return out


def stats_as_pycoco(stats) -> list[float]:
    """Our stats (None = n/a) in pycocotools' convention (-1 = n/a)."""
    values = stats.values() if isinstance(stats, dict) else stats
    return [-1.0 if v is None else v for v in values]
