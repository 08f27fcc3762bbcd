"""`bench analyze`: errors injected at known keypoints are classified exactly, and correcting
them gives the AP pycocotools computes on the hand-corrected results."""
import copy
import json
import math

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from benchmarks.analysis import analyze_files
from benchmarks.analysis.errors import mirror_index
from benchmarks.scoring.sigmas import sigma_table

NAMES = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
         "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
         "right_knee", "left_ankle", "right_ankle"]
K = {n: i for i, n in enumerate(NAMES)}
SIGMAS = np.array([sigma_table()[n] for n in NAMES])
AREA = 6000.0


def person(x0: float, y0: float) -> np.ndarray:
    """A 17-keypoint person (x, y) around (x0, y0): left side at +x, right at -x, 20 px apart."""
    xy = np.zeros((17, 2))
    for i, n in enumerate(NAMES):
        side = 1 if n.startswith("left") else -1 if n.startswith("right") else 0
        xy[i] = (x0 + side * 20 + 0.5 * i, y0 + 10 * i)
    return xy


def annotation(aid: int, xy: np.ndarray, image_id: int = 1) -> dict:
    kps = np.column_stack([xy, np.full(17, 2)]).ravel().tolist()
    x, y = xy.min(0)
    w, h = xy.max(0) - xy.min(0)
    return {"id": aid, "image_id": image_id, "category_id": 1, "keypoints": kps, "num_keypoints": 17,
            "bbox": [float(x), float(y), float(w), float(h)], "area": AREA, "iscrowd": 0}


def detection(xy: np.ndarray, score: float, image_id: int = 1) -> dict:
    return {"image_id": image_id, "category_id": 1, "score": score,
            "keypoints": np.column_stack([xy, np.ones(17)]).ravel().tolist()}


def distance_for_ks(ks: float, k: int) -> float:
    """Offset that gives keypoint similarity ``ks`` on keypoint k of an AREA person."""
    return math.sqrt(-math.log(ks) * 2 * AREA * (2 * SIGMAS[k]) ** 2)


A, B, C = person(100, 50), person(400, 50), person(700, 50)


def write(tmp_path, anns, results):
    gt = {"images": [{"id": 1, "file_name": "a.png", "width": 900, "height": 300}], "annotations": anns,
          "categories": [{"id": 1, "name": "person", "keypoints": NAMES, "skeleton": []}]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(results))
    return tmp_path / "gt.json", tmp_path / "res.json"


def pycocotools_ap(gt_path, results, crowd_ids=()) -> float:
    data = json.loads(gt_path.read_text())
    for a in data["annotations"]:
        if a["id"] in crowd_ids:
            a["iscrowd"] = 1
    gt = COCO()
    gt.dataset = data
    gt.createIndex()
    ev = COCOeval(gt, gt.loadRes(copy.deepcopy(results)), "keypoints")
    ev.evaluate(), ev.accumulate(), ev.summarize()
    return float(ev.stats[0])


def test_mirror_pairs_come_from_the_names():
    m = mirror_index(NAMES)
    assert m[K["nose"]] == K["nose"] and m[K["left_wrist"]] == K["right_wrist"] and m[K["right_ankle"]] == K["left_ankle"]
    crowdpose = ["left_shoulder", "right_shoulder", "head", "neck"]
    assert mirror_index(crowdpose).tolist() == [1, 0, 2, 3]


@pytest.fixture
def injected(tmp_path):
    d1 = A.copy()                                               # A with its wrists inverted
    d1[[K["left_wrist"], K["right_wrist"]]] = A[[K["right_wrist"], K["left_wrist"]]]
    d2 = B.copy()
    d2[K["left_wrist"]] = A[K["left_wrist"]] + (1.0, 0)         # B's left wrist on A's: a swap
    jitter = distance_for_ks(0.7, K["nose"])
    d2[K["nose"]] = B[K["nose"]] + (jitter, 0)                  # ks 0.7: jitter
    d2[K["left_ankle"]] = B[K["left_ankle"]] + (0, 150)         # nowhere near anyone: a miss
    fp = person(100, 1000)[:, :] * 0 + (850, 290)               # one point far from everyone
    results = [detection(d1, 0.9), detection(d2, 0.8), detection(fp, 0.95)]
    gt_path, res_path = write(tmp_path, [annotation(1, A), annotation(2, B), annotation(3, C)], results)
    return gt_path, res_path, results


def test_injected_errors_are_counted_exactly(injected):
    gt_path, res_path, _ = injected
    out = analyze_files(gt_path, res_path, bootstrap=0)
    ke = out["overall"]["keypoint_errors"]
    assert ke["counts"] == {"good": 15 + 14, "jitter": 1, "inversion": 2, "swap": 1, "miss": 1}
    assert ke["per_keypoint"]["left_wrist"] == {"good": 0, "jitter": 0, "inversion": 1, "swap": 1, "miss": 0}
    assert ke["per_keypoint"]["nose"]["jitter"] == 1 and ke["per_keypoint"]["left_ankle"]["miss"] == 1
    bg = out["overall"]["background"]
    assert (bg["false_positives"], bg["detections"], bg["false_negatives"], bg["people"]) == (1, 3, 1, 3)
    assert out["false_negative_annotation_ids"] == [3]
    assert [d["matched_annotation_id"] for d in out["detections"]] == [1, 2, None]
    assert out["people_buckets"]["3"]["keypoint_errors"]["counts"] == ke["counts"]
    assert out["people_buckets"]["2"]["images"] == 0


def test_two_people_with_exchanged_wrists_are_two_swaps(tmp_path):
    d1, d2 = A.copy(), B.copy()
    d1[K["left_wrist"]], d2[K["left_wrist"]] = B[K["left_wrist"]], A[K["left_wrist"]]
    gt_path, res_path = write(tmp_path, [annotation(1, A), annotation(2, B)], [detection(d1, 0.9), detection(d2, 0.8)])
    counts = analyze_files(gt_path, res_path, bootstrap=0)["overall"]["keypoint_errors"]["counts"]
    assert counts == {"good": 32, "jitter": 0, "inversion": 0, "swap": 2, "miss": 0}


def test_small_offsets_are_good_or_jitter_at_the_thresholds(tmp_path):
    d = A.copy()
    d[K["left_knee"]] += (distance_for_ks(0.86, K["left_knee"]), 0)    # just good
    d[K["right_knee"]] += (distance_for_ks(0.84, K["right_knee"]), 0)  # just jitter
    d[K["left_hip"]] += (distance_for_ks(0.51, K["left_hip"]), 0)      # still jitter
    d[K["right_hip"]] += (0, distance_for_ks(0.49, K["right_hip"]))    # a miss
    gt_path, res_path = write(tmp_path, [annotation(1, A)], [detection(d, 0.9)])
    counts = analyze_files(gt_path, res_path, bootstrap=0)["overall"]["keypoint_errors"]["counts"]
    assert counts == {"good": 14, "jitter": 2, "inversion": 0, "swap": 0, "miss": 1}


def test_correcting_the_errors_gives_pycocotools_ap_of_the_corrected_results(injected):
    gt_path, res_path, results = injected
    impact = analyze_files(gt_path, res_path, bootstrap=0)["overall"]["ap_impact"]
    assert impact["baseline"] == pytest.approx(pycocotools_ap(gt_path, results), abs=1e-12)
    fixed = copy.deepcopy(results)
    # by hand: inverted and swapped wrists back on their own keypoint (their ks was 1, or near),
    # the jitter at ks 0.85, the miss at ks 0.5, each displaced along x from the right keypoint
    a = np.asarray(fixed[0]["keypoints"]).reshape(17, 3)
    a[[K["left_wrist"], K["right_wrist"]], :2] = A[[K["left_wrist"], K["right_wrist"]]]
    b = np.asarray(fixed[1]["keypoints"]).reshape(17, 3)
    ks_swap = math.exp(-1.0 / ((2 * SIGMAS[K["left_wrist"]]) ** 2) / (AREA + np.spacing(1)) / 2)
    b[K["left_wrist"], :2] = B[K["left_wrist"]] + (distance_for_ks(ks_swap, K["left_wrist"]), 0)
    b[K["nose"], :2] = B[K["nose"]] + (distance_for_ks(0.85, K["nose"]), 0)
    b[K["left_ankle"], :2] = B[K["left_ankle"]] + (distance_for_ks(0.5, K["left_ankle"]), 0)
    fixed[0]["keypoints"], fixed[1]["keypoints"] = a.ravel().tolist(), b.ravel().tolist()
    steps = {c["step"]: c["AP"] for c in impact["cumulative"]}
    assert steps["miss"] == pytest.approx(pycocotools_ap(gt_path, fixed), abs=1e-9)
    without_fp = fixed[:2]
    assert steps["background_fp"] == pytest.approx(pycocotools_ap(gt_path, without_fp), abs=1e-9)
    assert steps["false_negatives"] == pytest.approx(pycocotools_ap(gt_path, without_fp, crowd_ids={3}), abs=1e-9)
    assert steps["false_negatives"] == pytest.approx(1.0)
    # the FP outranks both real detections; ranking by best OKS puts it last
    assert impact["alone"]["score"] > impact["baseline"]


def test_oracle_ranking_puts_each_persons_best_detection_first(tmp_path):
    """A poor duplicate of A outranks A's good detection: AP < 1; ranked by the oracle, 1.0."""
    poor = A + (8.0, 0)
    results = [detection(A + (0.5, 0), 0.2), detection(poor, 0.9), detection(B, 0.5)]
    gt_path, res_path = write(tmp_path, [annotation(1, A), annotation(2, B)], results)
    out = analyze_files(gt_path, res_path, bootstrap=0)
    base = pycocotools_ap(gt_path, results)
    assert out["overall"]["ap_impact"]["baseline"] == pytest.approx(base, abs=1e-12) and base < 0.9
    reranked = [dict(results[0], score=0.95), dict(results[1], score=0.1), results[2]]
    assert out["overall"]["ap_impact"]["alone"]["score"] == pytest.approx(pycocotools_ap(gt_path, reranked), abs=1e-12)
    assert out["overall"]["ap_impact"]["alone"]["score"] == pytest.approx(1.0)
    bg = out["overall"]["background"]
    assert (bg["false_positives"], bg["duplicates"]) == (0, 1)
