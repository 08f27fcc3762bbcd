"""`cococrowd stats`: the three distributions and the summary, checked by hand and by brute force."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image
from pycocotools import mask as mask_utils

from cococrowd.build import run_build
from cococrowd.cli import main
from cococrowd.plots import fold_tail
from cococrowd.split import run_split
from tests.helpers.tinycoco import COCO_KP, random_world, write_world


def _ann(ann_id, image_id, bbox, iscrowd=0):
    x, y, w, h = bbox
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "bbox": bbox, "area": w * h,
            "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]], "iscrowd": iscrowd,
            "keypoints": [x + 1, y + 1, 2] + [0] * 48, "num_keypoints": 1}


def hand_world() -> dict:
    """Six images whose groups and overlaps are worked out in the comments."""
    boxes = {
        1: [[0, 0, 10, 10], [5, 0, 10, 10], [12, 5, 10, 10]],     # A-B pair (IoU 1/3); C misses both, reaches the crop
        2: [[0, 0, 10, 10], [0, 0, 10, 10], [9, 0, 10, 10], [8, 0, 10, 10]],  # D-E, D-G, E-G, F-G (F-D 0.05)
        3: [[40, 40, 10, 10]],                                     # alone
        4: [],                                                     # nobody
        5: [[0, 0, 10, 10], [50, 50, 10, 10]],                     # apart; plus an iscrowd region below
        6: [[0, 0, 10, 10], [2, 2, 10, 10], [50, 50, 10, 10], [52, 50, 10, 10]],  # two pairs
    }
    anns = []
    for image_id, bs in boxes.items():
        for b in bs:
            anns.append(_ann(len(anns) + 1, image_id, b))
    anns.append(_ann(len(anns) + 1, 5, [0, 0, 100, 100], iscrowd=1))
    images = [{"id": i, "file_name": f"{i:012d}.png", "width": 100, "height": 100} for i in boxes]
    return {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "person", "keypoints": COCO_KP, "skeleton": []}]}


# worked out by hand from hand_world()
HAND_PER_SOURCE = {1: 1, 2: 1, 3: 1, 4: 2}        # people -> images (image 4 has none)
HAND_PER_CROWD = {2: 3, 4: 1}                     # {A,B}, {D,E,F,G}, {L,M}, {N,O}
HAND_OVERLAPS = {1: 7, 2: 2, 3: 1}                # A1 B1 D2 E2 F1 G3 L1 M1 N1 O1


def _csv_counts(path) -> dict[int, int]:
    df = pd.read_csv(path)
    return dict(zip(df.iloc[:, 0].astype(int), df.iloc[:, 1].astype(int)))


def _summary(path) -> dict[str, str]:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    return dict(zip(df["quantity"], df["this run"]))


@pytest.fixture
def hand_root(tmp_path):
    write_world(tmp_path / "coco", hand_world(), split="train2014")
    return tmp_path / "coco"


def test_hand_world_from_coco_root(hand_root, tmp_path):
    out = tmp_path / "stats"
    res = CliRunner().invoke(main, ["stats", "--split", "train2014", "--coco-root", str(hand_root), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert _csv_counts(out / "people_per_source_image.csv") == HAND_PER_SOURCE
    assert _csv_counts(out / "people_per_crowd_image.csv") == HAND_PER_CROWD
    assert _csv_counts(out / "overlaps_per_person.csv") == HAND_OVERLAPS
    share = pd.read_csv(out / "people_per_crowd_image.csv")["share_pct"].tolist()
    assert share == [75.0, 25.0]
    s = _summary(out / "summary.csv")
    assert s["source images"] == "6" and s["source images with people"] == "5"
    assert s["source images without people"] == "1"
    assert s["source people (non-crowd person annotations)"] == "14"
    assert s["crowd regions (COCO-crowd images)"] == "4" and s["people in regions (instances)"] == "10"
    assert s["ignored annotations in regions (non-members, iscrowd)"] == "1"  # C reaches into A-B's crop
    assert s["source images with regions"] == "3"
    assert s["regions per source image with regions: mean"] == "1.33"
    assert s["regions per source image with regions: max"] == "2"
    assert s["group size: mean"] == "2.50" and s["group size: max"] == "4"
    assert s["overlaps per person: mean"] == "1.40"
    # the paper's train2014 figures sit beside ours, labelled as the paper's
    df = pd.read_csv(out / "summary.csv", dtype=str, keep_default_na=False)
    paper = dict(zip(df["quantity"], df["paper (train2014)"]))
    assert paper["crowd regions (COCO-crowd images)"] == "14,003"
    assert paper["people in regions (instances)"] == "35,148"
    assert "paper (train2014)" in res.output and "14,003" in res.output
    md = (out / "stats.md").read_text()
    assert "| crowd regions (COCO-crowd images)" in md and "35,148" in md
    for name in ("people_per_source_image", "people_per_crowd_image", "overlaps_per_person"):
        assert f"]({name}.png)" in md
        with Image.open(out / f"{name}.png") as im:
            im.verify()
        with Image.open(out / f"{name}.png") as im:
            assert im.format == "PNG" and im.size[0] > 600 and im.size[1] > 400


def test_crowd_file_with_and_without_source(hand_root, tmp_path):
    run_build(split="train2014", coco_root=hand_root, out=tmp_path / "cc", no_images=True, progress=False)
    crowd = tmp_path / "cc" / "annotations" / "crowd_train2014.json"
    src = hand_root / "annotations" / "person_keypoints_train2014.json"
    runner = CliRunner()
    res = runner.invoke(main, ["stats", "--crowd", str(crowd), "--source", str(src), "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    assert _csv_counts(tmp_path / "a" / "people_per_source_image.csv") == HAND_PER_SOURCE
    assert _csv_counts(tmp_path / "a" / "overlaps_per_person.csv") == HAND_OVERLAPS
    res = runner.invoke(main, ["stats", "--crowd", str(crowd), "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "b" / "people_per_source_image.csv").exists()
    assert "needs the source annotations" in res.output
    assert _csv_counts(tmp_path / "b" / "people_per_crowd_image.csv") == HAND_PER_CROWD
    assert _csv_counts(tmp_path / "b" / "overlaps_per_person.csv") == HAND_OVERLAPS
    # the file names its source split, so the paper column appears without --split
    assert "paper (train2014)" in (tmp_path / "b" / "stats.md").read_text()


def _brute_force(data, thr=0.1):
    """Group sizes and per-member overlap counts with pycocotools IoU and a plain graph walk."""
    sizes, degrees = [], []
    for im in data["images"]:
        people = [a for a in data["annotations"] if a["image_id"] == im["id"] and not a["iscrowd"]]
        if len(people) < 2:
            continue
        boxes = [p["bbox"] for p in people]
        adj = np.asarray(mask_utils.iou(boxes, boxes, [0] * len(boxes))) >= thr
        np.fill_diagonal(adj, False)
        seen = set()
        for start in range(len(people)):
            if start in seen or not adj[start].any():
                continue
            comp, todo = set(), [start]
            while todo:
                u = todo.pop()
                if u not in comp:
                    comp.add(u)
                    todo += list(np.flatnonzero(adj[u]))
            seen |= comp
            sizes.append(len(comp))
            degrees += [int(adj[u].sum()) for u in comp]
    return Counter(sizes), Counter(degrees)


@pytest.mark.parametrize("thr", [0.1, 0.3])
def test_random_world_matches_brute_force(tmp_path, thr):
    data = random_world(seed=7, n_images=40)
    write_world(tmp_path / "coco", data, split="val2017", with_images=False)
    out = tmp_path / "stats"
    res = CliRunner().invoke(main, ["stats", "--split", "val2017", "--coco-root", str(tmp_path / "coco"),
                                    "--out", str(out), "--iou", str(thr)])
    assert res.exit_code == 0, res.output
    sizes, degrees = _brute_force(data, thr)
    assert sum(sizes.values()) > 5
    assert _csv_counts(out / "people_per_crowd_image.csv") == dict(sizes)
    assert _csv_counts(out / "overlaps_per_person.csv") == dict(degrees)
    per_image = Counter(a["image_id"] for a in data["annotations"] if not a["iscrowd"])
    assert _csv_counts(out / "people_per_source_image.csv") == dict(Counter(per_image.values()))
    assert "paper" not in (out / "stats.md").read_text()  # val2017 is not a split the paper counted


def test_val2014_split_sizes_beside_paper(tmp_path):
    data = random_world(seed=11, n_images=60)
    write_world(tmp_path / "coco", data, split="val2014", with_images=False)
    run_build(split="val2014", coco_root=tmp_path / "coco", out=tmp_path / "cc", no_images=True, progress=False)
    crowd = tmp_path / "cc" / "annotations" / "crowd_val2014.json"
    halves = run_split(crowd, seed=1)
    out = tmp_path / "stats"
    res = CliRunner().invoke(main, ["stats", "--crowd", str(crowd), "--split-files", str(halves["val"]),
                                    "--split-files", str(halves["test"]), "--out", str(out)])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out / "summary.csv", dtype=str, keep_default_na=False).set_index("quantity")
    for name in ("val", "test"):
        half = json.loads(halves[name].read_text())
        assert df.loc[f"{name} images", "this run"] == f"{len(half['images']):,}"
        assert df.loc[f"{name} people", "this run"] == f"{sum(im['num_people'] for im in half['images']):,}"
        assert df.loc[f"{name} images", "paper (val2014)"] == "3,336"
    total = len(json.loads(crowd.read_text())["images"])
    assert int(df.loc["val images", "this run"]) + int(df.loc["test images", "this run"]) == total
    assert df.loc["crowd regions (COCO-crowd images)", "paper (val2014)"] == "6,672 (3,336 + 3,336)"


def test_one_half_reports_its_own_split(tmp_path):
    data = random_world(seed=11, n_images=30)
    write_world(tmp_path / "coco", data, split="val2014", with_images=False)
    run_build(split="val2014", coco_root=tmp_path / "coco", out=tmp_path / "cc", no_images=True, progress=False)
    halves = run_split(tmp_path / "cc" / "annotations" / "crowd_val2014.json", seed=1)
    out = tmp_path / "stats"
    res = CliRunner().invoke(main, ["stats", "--crowd", str(halves["test"]), "--out", str(out)])
    assert res.exit_code == 0, res.output
    s = _summary(out / "summary.csv")
    n = len(json.loads(halves["test"].read_text())["images"])
    assert s["test images"] == f"{n:,}" and s["crowd regions (COCO-crowd images)"] == f"{n:,}"
    assert s["val images"] == "\u2014"  # the paper's row stays, unmeasured here


def test_same_input_same_bytes(hand_root, tmp_path):
    for name in ("a", "b"):
        res = CliRunner().invoke(main, ["stats", "--split", "train2014", "--coco-root", str(hand_root),
                                        "--out", str(tmp_path / name)])
        assert res.exit_code == 0, res.output
    for f in sorted(p.name for p in (tmp_path / "a").iterdir()):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_fold_tail_keeps_totals_and_fills_gaps():
    counts = pd.Series({1: 50, 3: 7, 25: 1, 30: 2})
    bars = fold_tail(counts, max_bars=5)
    assert list(bars.index) == ["1", "2", "3", "4", "\u22655"]
    assert list(bars) == [50, 0, 7, 0, 3]
    assert fold_tail(pd.Series({2: 3, 4: 1})).to_dict() == {"2": 3, "3": 0, "4": 1}


# ---------------------------------------------------------------- bad inputs

def _fails(args, tmp_path, *needles):
    out = tmp_path / "stats_out"
    res = CliRunner().invoke(main, args + ["--out", str(out)])
    assert res.exit_code == 2, res.output
    for needle in needles:
        assert needle in res.output, res.output
    assert not out.exists()  # nothing written


def test_plain_coco_file_is_not_a_crowd_file(hand_root, tmp_path):
    src = hand_root / "annotations" / "person_keypoints_train2014.json"
    _fails(["stats", "--crowd", str(src)], tmp_path, str(src), "images[0].source_image_id", "cococrowd build")


def test_empty_crowd_file(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("")
    _fails(["stats", "--crowd", str(empty)], tmp_path, str(empty), "file is empty")


def test_unknown_split(hand_root, tmp_path):
    _fails(["stats", "--split", "train2015", "--coco-root", str(hand_root)], tmp_path, "unknown split 'train2015'")


def test_missing_coco_root_layout(tmp_path):
    _fails(["stats", "--split", "val2014", "--coco-root", str(tmp_path / "nothing")], tmp_path,
           "person_keypoints_val2014.json", "cococrowd download")


def test_split_without_coco_root(tmp_path):
    _fails(["stats", "--split", "val2014"], tmp_path, "--split and --coco-root go together")


def test_no_input_at_all(tmp_path):
    _fails(["stats"], tmp_path, "--crowd")


def test_iou_other_than_the_files(hand_root, tmp_path):
    run_build(split="train2014", coco_root=hand_root, out=tmp_path / "cc", no_images=True, progress=False)
    crowd = tmp_path / "cc" / "annotations" / "crowd_train2014.json"
    _fails(["stats", "--crowd", str(crowd), "--iou", "0.5"], tmp_path, "built with --iou 0.1")


def test_crowd_file_from_another_source(hand_root, tmp_path):
    run_build(split="train2014", coco_root=hand_root, out=tmp_path / "cc", no_images=True, progress=False)
    crowd = tmp_path / "cc" / "annotations" / "crowd_train2014.json"
    other = write_world(tmp_path / "other", random_world(seed=1, n_images=3), split="val2014", with_images=False)
    _fails(["stats", "--crowd", str(crowd), "--source", str(other)], tmp_path, "source_image_id",
           "was the file built from that source?")


def test_crowd_annotation_without_source_id(hand_root, tmp_path):
    run_build(split="train2014", coco_root=hand_root, out=tmp_path / "cc", no_images=True, progress=False)
    crowd = tmp_path / "cc" / "annotations" / "crowd_train2014.json"
    data = json.loads(crowd.read_text())
    del data["annotations"][1]["source_annotation_id"]
    crowd.write_text(json.dumps(data))
    src = hand_root / "annotations" / "person_keypoints_train2014.json"
    _fails(["stats", "--crowd", str(crowd), "--source", str(src)], tmp_path, "annotations[1].source_annotation_id")
