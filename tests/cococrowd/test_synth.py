"""`cococrowd synth`: COCO layout and validity, flags, groups, iscrowd RLE,
drawing vs labels, determinism, bad options. Expectations come from
pycocotools, shapely, networkx and the rendered pixels, not from synth code."""
import json
from collections import Counter

import networkx as nx
import numpy as np
import pytest
import shapely
from click.testing import CliRunner
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from cococrowd.build import build_crowd
from cococrowd.cli import main
from cococrowd.cocofile import OutputError, load_keypoint_file
from cococrowd.synth import generate_scenes, make_world, synthesize, write_world

# COCO's person category, copied from person_keypoints_val2017.json
COCO_PERSON = {
    "supercategory": "person", "id": 1, "name": "person",
    "keypoints": ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                  "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
                  "left_knee", "right_knee", "left_ankle", "right_ankle"],
    "skeleton": [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9],
                 [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]],
}
N_IMAGES, SEED = 24, 3
# pycocotools' mask.decode trips a numpy 2 deprecation warning
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def world():
    return make_world(1000, seed=11)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The same small world with images, drawn by one and by two processes."""
    one, two = tmp_path_factory.mktemp("one"), tmp_path_factory.mktemp("two")
    write_world(one, "train2014", N_IMAGES, seed=SEED, workers=1)
    write_world(two, "train2014", N_IMAGES, seed=SEED, workers=2)
    return one, two


def people(data):
    return [a for a in data["annotations"] if not a["iscrowd"]]


def by_image(data):
    out = {im["id"]: [] for im in data["images"]}
    for a in data["annotations"]:
        out[a["image_id"]].append(a)
    return out


# ---------------------------------------------------------------- layout and validity

def test_coco_layout_loads_in_pycocotools_and_validator(written):
    root = written[0]
    path = root / "annotations" / "person_keypoints_train2014.json"
    coco = COCO(str(path))
    assert len(coco.getImgIds()) == N_IMAGES
    assert coco.loadCats(1)[0] == COCO_PERSON
    ds = load_keypoint_file(path)
    assert ds.schema.num_keypoints == 17 and not ds.skipped
    for im in coco.loadImgs(coco.getImgIds()):
        assert im["file_name"] == f"{im['id']:012d}.jpg"
        with Image.open(root / "train2014" / im["file_name"]) as img:
            assert img.format == "JPEG" and img.size == (im["width"], im["height"])
    assert len(list((root / "train2014").iterdir())) == N_IMAGES


def test_same_arguments_give_identical_bytes_whatever_the_workers(written):
    one, two = written
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert len(files) == N_IMAGES + 1
    for rel in files:
        assert (one / rel).read_bytes() == (two / rel).read_bytes(), rel


def test_annotations_only_writes_the_same_json_and_no_images(written, tmp_path):
    path = write_world(tmp_path, "train2014", N_IMAGES, seed=SEED, annotations_only=True)
    assert path.read_bytes() == (written[0] / "annotations" / "person_keypoints_train2014.json").read_bytes()
    assert not (tmp_path / "train2014").exists()


def test_seed_changes_the_world_and_smaller_worlds_are_prefixes():
    a, b = make_world(300, seed=1), make_world(300, seed=2)
    assert a["annotations"] != b["annotations"]
    # 300 images cross a generation block boundary; 100 and 260 images are prefixes of it
    for n in (100, 260):
        small = make_world(n, seed=1)
        assert small["images"] == a["images"][:n]
        assert small["annotations"] == [x for x in a["annotations"] if x["image_id"] <= n]


# ---------------------------------------------------------------- keypoints, boxes, polygons

def test_keypoint_flags_lie_in_the_image_and_in_the_box(world):
    size = {im["id"]: (im["width"], im["height"]) for im in world["images"]}
    counts = Counter()
    for a in people(world):
        w, h = size[a["image_id"]]
        k = np.array(a["keypoints"]).reshape(17, 3)
        v = k[:, 2]
        assert set(v) <= {0, 1, 2}
        assert (k[v == 0] == 0).all()
        x, y = k[v > 0, 0], k[v > 0, 1]
        assert ((x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)).all()
        bx, by, bw, bh = a["bbox"]
        assert ((x >= bx) & (x <= bx + bw) & (y >= by) & (y <= by + bh)).all()
        assert a["num_keypoints"] == int((v > 0).sum())
        counts.update(v.tolist())
        counts["few"] += 0 < a["num_keypoints"] <= 5
        counts["none"] += a["num_keypoints"] == 0
    assert counts[1] > 0.01 * counts[2]  # occluded joints
    assert counts["few"] > 20 and counts["none"] > 20


def test_boxes_and_polygons_are_inside_the_image_and_agree(world):
    size = {im["id"]: (im["width"], im["height"]) for im in world["images"]}
    for a in people(world):
        w, h = size[a["image_id"]]
        bx, by, bw, bh = a["bbox"]
        assert bw > 0 and bh > 0 and bx >= 0 and by >= 0 and bx + bw <= w + 0.01 and by + bh <= h + 0.01
        assert a["iscrowd"] == 0 and a["category_id"] == 1
        (flat,) = a["segmentation"]
        poly = shapely.Polygon(np.reshape(flat, (-1, 2)))
        assert poly.is_valid and poly.area == pytest.approx(a["area"], rel=0.01, abs=0.05)
        assert np.allclose(poly.bounds, [bx, by, bx + bw, by + bh], atol=0.011)
        # labelled joints lie inside the person's own outline too (up to rounding to whole pixels)
        k = np.array(a["keypoints"]).reshape(17, 3)
        lab = k[k[:, 2] > 0]
        assert shapely.contains_xy(poly.buffer(np.sqrt(0.5)), lab[:, 0], lab[:, 1]).all()


def test_occluded_joints_lie_under_a_person_drawn_later(world):
    for anns in by_image(world).values():
        persons = [a for a in anns if not a["iscrowd"]]
        outlines = [shapely.Polygon(np.reshape(a["segmentation"][0], (-1, 2))).buffer(1.5) for a in persons]
        for i, a in enumerate(persons):
            k = np.array(a["keypoints"]).reshape(17, 3)
            for x, y in k[k[:, 2] == 1, :2]:
                assert any(o.contains(shapely.Point(x, y)) for o in outlines[i + 1:])


def test_iscrowd_regions_are_uncompressed_rle_that_pycocotools_decodes(world):
    size = {im["id"]: (im["width"], im["height"]) for im in world["images"]}
    crowds = [a for a in world["annotations"] if a["iscrowd"]]
    assert len(crowds) >= 10
    for a in crowds:
        w, h = size[a["image_id"]]
        seg = a["segmentation"]
        assert seg["size"] == [h, w] and all(isinstance(c, int) for c in seg["counts"])
        assert sum(seg["counts"]) == w * h
        m = mask_utils.decode(mask_utils.frPyObjects(seg, h, w))
        ys, xs = np.nonzero(m)
        assert m.sum() == a["area"] > 0
        assert a["bbox"] == [xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]
        assert a["keypoints"] == [0] * 51 and a["num_keypoints"] == 0 and a["category_id"] == 1


# ---------------------------------------------------------------- groups and counts

def test_isolated_people_and_overlapping_groups_of_2_to_8(world):
    sizes, isolated, n_people, images_with_groups = Counter(), 0, 0, 0
    for anns in by_image(world).values():
        boxes = [a["bbox"] for a in anns if not a["iscrowd"]]
        n_people += len(boxes)
        g = nx.Graph()
        g.add_nodes_from(range(len(boxes)))
        if len(boxes) > 1:
            iou = np.asarray(mask_utils.iou(boxes, boxes, [0] * len(boxes)))
            g.add_edges_from((i, j) for i, j in zip(*np.nonzero(np.triu(iou >= 0.1, 1))))
        comps = [len(c) for c in nx.connected_components(g)]
        isolated += comps.count(1)
        sizes.update(c for c in comps if c > 1)
        images_with_groups += any(c > 1 for c in comps)
    assert max(sizes) <= 8 and {2, 3, 4, 5} <= set(sizes) and max(sizes) >= 7
    assert isolated > 0.6 * n_people
    in_groups = sum(s * c for s, c in sizes.items()) / n_people
    assert 0.15 < in_groups < 0.32
    assert 0.15 < images_with_groups / len(world["images"]) < 0.45


def test_annotations_only_at_2000_images(tmp_path):
    path = write_world(tmp_path, "val2017", 2000, seed=5, annotations_only=True)
    assert path == tmp_path / "annotations" / "person_keypoints_val2017.json"
    data = json.loads(path.read_bytes())
    per_image = Counter(a["image_id"] for a in people(data))
    counts = np.array([per_image[im["id"]] for im in data["images"]])
    assert 3.5 < counts.mean() < 4.6
    assert counts.min() >= 1 and counts.max() <= 15
    assert (counts == 1).mean() > 0.25  # many single-person images, as in COCO
    assert {im["width"] * 1000 + im["height"] for im in data["images"]} >= {640480, 480640, 640427}


def reaches_into(box, union):
    """Whether xywh box has positive-area overlap with x0 y0 x1 y1 union."""
    x, y, w, h = box
    return min(x + w, union[2]) > max(x, union[0]) and min(y + h, union[3]) > max(y, union[1])


def test_bystanders_stay_isolated_and_reach_into_a_groups_box(world):
    scenes = generate_scenes(1000, seed=11)
    anns = people(world)
    assert len(anns) == len(scenes.image)
    n_bystanders = reaching = n_groups = 0
    # people of an image are contiguous in the file, in the scenes' order
    starts = np.searchsorted(scenes.image, np.arange(1001))
    for i in range(1000):
        lo, hi = starts[i], starts[i + 1]
        boxes = [a["bbox"] for a in anns[lo:hi]]
        assert all(a["image_id"] == i + 1 for a in anns[lo:hi])
        if len(boxes) < 2:
            assert not scenes.bystander[lo:hi].any()
            continue
        iou = np.asarray(mask_utils.iou(boxes, boxes, [0] * len(boxes)))
        np.fill_diagonal(iou, 0)
        g = nx.Graph()
        g.add_edges_from(zip(*np.nonzero(iou >= 0.1)))
        unions = [np.r_[np.min([boxes[k][:2] for k in c], 0),
                        np.max([np.add(boxes[k][:2], boxes[k][2:]) for k in c], 0)]
                  for c in nx.connected_components(g)]
        n_groups += len(unions)
        for k in np.flatnonzero(scenes.bystander[lo:hi]):
            n_bystanders += 1
            assert iou[k].max() < 0.1, (i + 1, k)  # pairs with nobody, so joins no group
            reaching += any(reaches_into(boxes[k], u) for u in unions)
    assert 0.25 < n_bystanders / n_groups < 0.45
    assert reaching > 0.9 * n_bystanders


def test_built_world_has_ignored_annotations_in_a_fair_share_of_regions(tmp_path):
    path = write_world(tmp_path, "train2014", 1000, seed=11, annotations_only=True)
    ds = load_keypoint_file(path)
    crowd = build_crowd(ds).crowd
    ignored = Counter(a["image_id"] for a in crowd["annotations"] if a.get("ignore"))
    from_crowds = sum(1 for a in crowd["annotations"] if a.get("ignore") and a["source_iscrowd"])
    n_regions = len(crowd["images"])
    assert n_regions > 200
    assert 0.2 < len(ignored) / n_regions < 0.6
    assert 0.2 < sum(ignored.values()) / n_regions < 0.8
    assert from_crowds >= 5  # iscrowd regions that reach into a group's crop


# ---------------------------------------------------------------- drawing matches labels

def test_visible_joints_show_their_persons_colour(written):
    scenes = generate_scenes(N_IMAGES, SEED)
    data = json.loads((written[0] / "annotations" / "person_keypoints_train2014.json").read_bytes())
    anns = people(data)
    assert len(anns) == len(scenes.image)
    checked = 0
    for a, color, r in zip(anns, scenes.color.astype(float), scenes.r):
        if r < 2.5:  # strokes under 5 px blur too much in JPEG
            continue
        img = np.asarray(Image.open(written[0] / "train2014" / f"{a['image_id']:012d}.jpg"), float)
        k = np.array(a["keypoints"]).reshape(17, 3)
        for x, y in k[k[:, 2] == 2, :2]:
            patch = img[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2].reshape(-1, 3)
            assert np.linalg.norm(patch - color, axis=1).min() < 40, (a["id"], x, y)
            checked += 1
    assert checked > 100


# ---------------------------------------------------------------- bad options, atomic output

def test_bad_options_fail_clearly_without_output(tmp_path):
    with pytest.raises(ValueError, match="images must be an integer >= 1"):
        write_world(tmp_path / "a", "train2014", 0)
    with pytest.raises(ValueError, match="split name"):
        write_world(tmp_path / "b", "../x", 2)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match=r"file/out/annotations/person_keypoints_train2014.json: cannot write \(Not a directory\)"):
        write_world(blocker / "out", "train2014", 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_cli_errors_name_the_option(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["synth", "--out", str(tmp_path / "w"), "--images", "0"])
    assert res.exit_code == 2 and "--images" in res.output
    (tmp_path / "f").write_text("")
    res = runner.invoke(main, ["synth", "--out", str(tmp_path / "f" / "w"), "--images", "2"])
    assert res.exit_code == 2 and res.output == f"error: {tmp_path / 'f' / 'w' / 'annotations'}/person_keypoints_train2014.json: cannot write (Not a directory)\n"


def test_cli_writes_coco_layout(tmp_path):
    res = CliRunner().invoke(main, ["synth", "--out", str(tmp_path), "--images", "3", "--seed", "4",
                                    "--workers", "1", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "3 images" in res.output
    assert sorted(p.name for p in (tmp_path / "train2014").iterdir()) == [f"{i:012d}.jpg" for i in (1, 2, 3)]
    assert (tmp_path / "annotations" / "person_keypoints_train2014.json").is_file()


def test_failure_while_drawing_leaves_the_folder_as_it_was(tmp_path, monkeypatch):
    import cococrowd.synth.writer as writer

    real, calls = writer.render, []

    def failing_render(plan, seed):
        calls.append(plan.index)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return real(plan, seed)

    monkeypatch.setattr(writer, "render", failing_render)
    with pytest.raises(RuntimeError, match="disk full"):
        synthesize(tmp_path, "train2014", 5, workers=1)
    assert list(tmp_path.iterdir()) == []   # no annotation file, no images, no folders it made
