"""`cococrowd build` end to end: groups, coordinates, pixels, pycocotools, determinism."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from cococrowd.build import build_crowd, run_build
from cococrowd.cli import main
from cococrowd.cocofile import load_keypoint_file
from tests.helpers.tinycoco import person, random_world, write_world


def brute_force_groups(data, thr=0.1):
    """Source annotation id sets of every crowd group, by pycocotools IoU and union-find."""
    out = set()
    for im in data["images"]:
        people = [a for a in data["annotations"] if a["image_id"] == im["id"] and not a.get("iscrowd")]
        parent = list(range(len(people)))

        def find(u):
            while parent[u] != u:
                u = parent[u]
            return u
        if len(people) < 2:
            continue
        iou = np.asarray(mask_utils.iou([p["bbox"] for p in people], [p["bbox"] for p in people], [0] * len(people)))
        for a in range(len(people)):
            for b in range(a + 1, len(people)):
                if iou[a, b] >= thr:
                    parent[find(a)] = find(b)
        comps = {}
        for a in range(len(people)):
            comps.setdefault(find(a), set()).add(people[a]["id"])
        out |= {frozenset(c) for c in comps.values() if len(c) >= 2}
    return out


def built_groups(crowd):
    members = {}
    for a in crowd["annotations"]:
        if not a["ignore"]:
            members.setdefault(a["image_id"], set()).add(a["source_annotation_id"])
    return {frozenset(v) for v in members.values()}


@pytest.fixture
def world(tmp_path):
    data = random_world(seed=3, n_images=25)
    # one iscrowd region overlapping image 10's people
    data["annotations"].append(person(9999, 10, [0, 0, 150, 110], np.random.default_rng(0), iscrowd=1))
    data["annotations"][-1]["keypoints"] = [0] * 51
    data["annotations"][-1]["num_keypoints"] = 0
    write_world(tmp_path / "coco", data)
    return tmp_path / "coco", data


def test_groups_equal_brute_force(world):
    root, data = world
    result = build_crowd(load_keypoint_file(root / "annotations" / "person_keypoints_train2014.json"))
    expected = brute_force_groups(data)
    assert len(expected) > 5  # the world has real crowds
    assert built_groups(result.crowd) == expected
    for im in result.crowd["images"]:
        members = [a for a in result.crowd["annotations"] if a["image_id"] == im["id"] and not a["ignore"]]
        assert im["num_people"] == len(members) >= 2
    assert result.counts["regions"] == len(expected)
    assert result.counts["people_in_regions"] == sum(len(g) for g in expected)


def test_crop_box_is_union_on_pixel_grid(world):
    root, data = world
    crowd = build_crowd(load_keypoint_file(root / "annotations" / "person_keypoints_train2014.json"),
                        margin=3).crowd
    by_id = {a["id"]: a for a in data["annotations"]}
    for im in crowd["images"]:
        boxes = np.array([by_id[a["source_annotation_id"]]["bbox"] for a in crowd["annotations"]
                          if a["image_id"] == im["id"] and not a["ignore"]])
        x0 = max(0, int(np.floor(boxes[:, 0].min() - 3)))
        y0 = max(0, int(np.floor(boxes[:, 1].min() - 3)))
        x1 = min(im["source_width"], int(np.ceil((boxes[:, 0] + boxes[:, 2]).max() + 3)))
        y1 = min(im["source_height"], int(np.ceil((boxes[:, 1] + boxes[:, 3]).max() + 3)))
        assert im["crop_box"] == [x0, y0, x1 - x0, y1 - y0]
        assert (im["width"], im["height"]) == (x1 - x0, y1 - y0)


def test_keypoints_move_by_crop_offset(world):
    root, data = world
    crowd = build_crowd(load_keypoint_file(root / "annotations" / "person_keypoints_train2014.json")).crowd
    by_id = {a["id"]: a for a in data["annotations"]}
    images = {im["id"]: im for im in crowd["images"]}
    kept = dropped = 0
    for a in crowd["annotations"]:
        src = np.array(by_id[a["source_annotation_id"]]["keypoints"]).reshape(-1, 3)
        out = np.array(a["keypoints"]).reshape(-1, 3)
        x, y, w, h = images[a["image_id"]]["crop_box"]
        for (sx, sy, sv), (ox, oy, ov) in zip(src, out):
            inside = sv > 0 and x <= sx < x + w and y <= sy < y + h
            if inside:
                assert (ox, oy, ov) == (sx - x, sy - y, sv)
                kept += 1
            else:
                assert (ox, oy, ov) == (0, 0, 0)
                dropped += sv > 0
        assert a["num_keypoints"] == int((out[:, 2] > 0).sum())
    assert kept > 100 and dropped > 0  # both branches exercised


def test_non_group_people_and_crowd_regions_are_ignored(world):
    root, data = world
    crowd = build_crowd(load_keypoint_file(root / "annotations" / "person_keypoints_train2014.json")).crowd
    ignored = [a for a in crowd["annotations"] if a["ignore"]]
    assert ignored and all(a["iscrowd"] == 1 for a in ignored)
    assert any(a["source_annotation_id"] == 9999 and a["source_iscrowd"] == 1 for a in ignored)
    for a in ignored:  # clipped into the crop
        im = next(i for i in crowd["images"] if i["id"] == a["image_id"])
        x, y, w, h = a["bbox"]
        assert 0 <= x and 0 <= y and x + w <= im["width"] + 1e-9 and y + h <= im["height"] + 1e-9


def test_pycocotools_ignores_detections_of_ignored_people(world, tmp_path):
    root, _ = world
    run_build(split="train2014", coco_root=root, out=tmp_path / "out", progress=False)
    gt = COCO(str(tmp_path / "out" / "annotations" / "crowd_train2014.json"))
    # perfect detections of everyone in the crops, ignored people included: AP must be 1
    dets = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
            for a in gt.dataset["annotations"] if a["num_keypoints"] > 0]
    ev = COCOeval(gt, gt.loadRes(dets), "keypoints")
    ev.evaluate(), ev.accumulate(), ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)


def assert_crops_equal_source(crowd, crops_dir, source_dir):
    assert crowd["images"]
    for im in crowd["images"]:
        crop = np.asarray(Image.open(crops_dir / im["file_name"]))
        src = np.asarray(Image.open(source_dir / im["source_file_name"]))
        x, y, w, h = im["crop_box"]
        assert crop.shape[:2] == (im["height"], im["width"])
        assert np.array_equal(crop, src[y:y + h, x:x + w])


def test_crop_pixels_equal_source_pixels(world, tmp_path):
    root, _ = world
    run_build(split="train2014", coco_root=root, out=tmp_path / "out", workers=2, progress=False)
    crowd = json.loads((tmp_path / "out" / "annotations" / "crowd_train2014.json").read_text())
    assert_crops_equal_source(crowd, tmp_path / "out" / "train2014", root / "train2014")


def test_outputs_are_byte_identical_and_loadable(world, tmp_path):
    root, _ = world
    outs = []
    for n, workers in enumerate((1, 2)):
        out = tmp_path / f"out{n}"
        run_build(split="train2014", coco_root=root, out=out, workers=workers, progress=False)
        outs.append(out)
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert len(files) > 5
    for rel in files:
        assert (outs[0] / rel).read_bytes() == (outs[1] / rel).read_bytes(), rel
    coco = COCO(str(outs[0] / "annotations" / "crowd_train2014.json"))
    assert len(coco.getImgIds()) == len(coco.dataset["images"])
    manifest = json.loads((outs[0] / "manifest_train2014.json").read_text())
    assert manifest["counts"]["regions"] == len(coco.dataset["images"])
    assert len(manifest["inputs"]["annotations"]["sha256"]) == 64


def build_real_sample(src, name, out):
    """Build a real sample folder; returns (source data, COCO-crowd data)."""
    data = json.loads((src / f"{name}.json").read_text())
    run_build(annotations=src / f"{name}.json", images=src, out=out, progress=False)
    crowd = COCO(str(out / "annotations" / f"crowd_{name}.json")).dataset
    assert built_groups(crowd) == brute_force_groups(data)
    assert_crops_equal_source(crowd, out / name, src)
    return data, crowd


def test_real_coco_sample_has_two_groups_of_two(real_data, tmp_path):
    _, crowd = build_real_sample(real_data / "coco_kp_sample", "test_coco", tmp_path)
    assert [im["source_image_id"] for im in crowd["images"]] == [197388, 197388]
    assert [im["num_people"] for im in crowd["images"]] == [2, 2]


def test_real_crowdpose_sample_with_14_keypoints(real_data, tmp_path):
    _, crowd = build_real_sample(real_data / "crowdpose_sample", "test_crowdpose", tmp_path)
    assert all(len(a["keypoints"]) == 42 for a in crowd["annotations"])


def test_cli_build_and_split(world, tmp_path):
    root, _ = world
    runner = CliRunner()
    res = runner.invoke(main, ["build", "--split", "train2014", "--coco-root", str(root),
                               "--out", str(tmp_path / "o"), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "crowd regions" in res.output
    res = runner.invoke(main, ["split", "--in", str(tmp_path / "o" / "annotations" / "crowd_train2014.json")])
    assert res.exit_code == 0, res.output
    for name in ("val", "test"):
        COCO(str(tmp_path / "o" / "annotations" / f"crowd_train2014_{name}.json"))


def test_synthetic_worlds_are_marked_and_stats_leave_out_the_paper(tmp_path):
    from cococrowd.stats import compute_stats
    from cococrowd.synth import write_world as write_synth

    ann = write_synth(tmp_path / "w", "train2014", 40, seed=1, annotations_only=True)
    ds = load_keypoint_file(ann)
    crowd = build_crowd(ds, source_split="train2014").crowd
    assert crowd["crowd_info"]["synthetic"] is True
    stats = compute_stats(crowd=crowd, source=ds, source_split="train2014")
    assert not any(c.startswith("paper") for c in stats.summary.columns)
    data = random_world(seed=0, n_images=3)  # not synthetic by our generator: the paper column shows
    real_like = build_crowd(load_keypoint_file(write_world(tmp_path / "r", data, with_images=False)),
                            source_split="train2014").crowd
    assert real_like["crowd_info"]["synthetic"] is False
    stats = compute_stats(crowd=real_like, source=None, source_split="train2014")
    assert "paper (train2014)" in stats.summary.columns


def test_groups_equal_brute_force_on_the_synthetic_world(tmp_path):
    from cococrowd.synth import write_world as write_synth

    ann = write_synth(tmp_path / "w", "train2014", 150, seed=4, annotations_only=True)
    data = json.loads(ann.read_text())
    crowd = build_crowd(load_keypoint_file(ann)).crowd
    expected = brute_force_groups(data)
    assert len(expected) > 20 and max(len(g) for g in expected) >= 4
    assert built_groups(crowd) == expected


def _video_world(root):
    """Two sequences whose frames share basenames (seqA/000000.png, seqB/000000.png), each frame
    with overlapping pairs of people placed differently, so every crop has its own box."""
    rng = np.random.default_rng(11)
    images, anns = [], []
    boxes = {1: [[[10, 10, 40, 60], [20, 15, 40, 60]]],                    # seqA/000000: one pair
             2: [[[50, 20, 30, 50], [55, 25, 30, 50]], [[5, 70, 20, 30], [8, 72, 20, 30]]],  # seqB/000000: two
             3: [[[90, 40, 50, 70], [95, 45, 45, 60]]]}                     # seqB/000001
    names = {1: "seqA/000000.png", 2: "seqB/000000.png", 3: "seqB/000001.png"}
    for image_id, groups in boxes.items():
        images.append({"id": image_id, "file_name": names[image_id], "width": 160, "height": 120})
        for pair in groups:
            for box in pair:
                anns.append(person(len(anns) + 1, image_id, box, rng))
    data = {"images": images, "annotations": anns, "categories": random_world(n_images=1)["categories"]}
    (root / "images" / "seqA").mkdir(parents=True)
    (root / "images" / "seqB").mkdir()
    for im in images:
        Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(root / "images" / im["file_name"])
    (root / "video.json").write_text(json.dumps(data))
    return root / "video.json", root / "images"


def test_repeated_basenames_in_subfolders_give_one_crop_per_region(tmp_path):
    ann, images = _video_world(tmp_path)
    outs = []
    for workers in (1, 3):
        out = tmp_path / f"out{workers}"
        run_build(annotations=ann, images=images, out=out, workers=workers, progress=False)
        outs.append(out)
        crowd = json.loads((out / "annotations" / "crowd_video.json").read_text())
        assert len(crowd["images"]) == 4                                   # 1 + 2 + 1 pairs
        names = [im["file_name"] for im in crowd["images"]]
        assert len(set(names)) == 4 and sorted(p.name for p in (out / "video").iterdir()) == sorted(names)
        # the documented name: source image id in 12 digits, then the region's number in that image
        assert names == ["000000000001_0.png", "000000000002_0.png", "000000000002_1.png", "000000000003_0.png"]
        sizes = {(im["width"], im["height"]) for im in crowd["images"]}
        assert len(sizes) == 4                                             # a collision would show here
        assert_crops_equal_source(crowd, out / "video", images)
    for rel in sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file()):
        assert (outs[0] / rel).read_bytes() == (outs[1] / rel).read_bytes(), rel
