"""`cococrowd jitter`: bounds, level 0, determinism, and exact mapping back to the base crop."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from pycocotools.coco import COCO

from cococrowd.build import run_build
from cococrowd.cli import main
from cococrowd.jitter import jitter_boxes, level_rng, run_jitter
from cococrowd.split import run_split
from tests.helpers.tinycoco import random_world, write_world


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A small world with images, built into COCO-crowd (shared, read-only)."""
    root = tmp_path_factory.mktemp("jitter_world")
    write_world(root / "coco", random_world(seed=5, n_images=30), split="val2014")
    run_build(split="val2014", coco_root=root / "coco", out=root / "cc", progress=False)
    return root


def _copy_base(built, tmp_path) -> Path:
    """The base file in a fresh folder (its crowd_info.source_images is absolute)."""
    dst = tmp_path / "annotations" / "crowd_val2014.json"
    dst.parent.mkdir(parents=True)
    dst.write_bytes((built / "cc" / "annotations" / "crowd_val2014.json").read_bytes())
    return dst


def _load(path):
    return json.loads(Path(path).read_text())


def _clip(v, hi):
    return min(max(v, 0), hi)


@pytest.mark.parametrize("px", [5, 10, 15])
def test_sides_move_within_px_and_stay_in_the_image(built, tmp_path, px):
    base_path = _copy_base(built, tmp_path)
    (lvl,) = run_jitter(base_path, [px], seed=1, no_images=True, progress=False)
    base, jit = _load(base_path), _load(lvl.json_path)
    assert len(base["images"]) == len(jit["images"]) > 10
    moved = 0
    for b, j in zip(base["images"], jit["images"]):
        W, H = b["source_width"], b["source_height"]
        bx, by, bw, bh = b["crop_box"]
        jx, jy, jw, jh = j["crop_box"]
        assert j["base_crop_box"] == b["crop_box"]
        assert 0 <= jx and 0 <= jy and jx + jw <= W and jy + jh <= H and jw > 0 and jh > 0
        for side, base_side, hi in ((jx, bx, W), (jy, by, H), (jx + jw, bx + bw, W), (jy + jh, by + bh, H)):
            assert _clip(base_side - px, hi) <= side <= _clip(base_side + px, hi)
        assert (j["width"], j["height"]) == (jw, jh)
        moved += j["crop_box"] != b["crop_box"]
    assert moved > len(base["images"]) // 2


def test_offsets_are_uniform_integers_in_range():
    n, px = 4000, 5
    base = np.tile([100, 100, 50, 50], (n, 1))
    sizes = np.tile([1000, 1000], (n, 1))  # far from the borders: nothing clipped
    boxes = jitter_boxes(base, sizes, px, level_rng(0, px))
    sides = np.stack([boxes[:, 0], boxes[:, 1], boxes[:, 0] + boxes[:, 2], boxes[:, 1] + boxes[:, 3]], axis=1)
    off = sides - np.array([100, 100, 150, 150])
    assert off.min() == -px and off.max() == px
    counts = np.stack([np.bincount(off[:, s] + px, minlength=2 * px + 1) for s in range(4)])
    expected = n / (2 * px + 1)
    assert (np.abs(counts - expected) < 5 * np.sqrt(expected)).all()  # every value about equally often
    assert abs(np.corrcoef(off[:, 0], off[:, 2])[0, 1]) < 0.1  # sides move independently


def test_tiny_box_redraws_instead_of_collapsing():
    base = np.array([[0, 0, 1, 1], [99, 99, 1, 1], [50, 50, 2, 1]])
    sizes = np.tile([100, 100], (3, 1))
    for seed in range(50):
        boxes = jitter_boxes(base, sizes, 15, level_rng(seed, 15))
        assert (boxes[:, 2:] > 0).all()
        assert (boxes[:, :2] >= 0).all() and (boxes[:, :2] + boxes[:, 2:] <= 100).all()
        sides = np.stack([boxes[:, 0], boxes[:, 1], boxes[:, 0] + boxes[:, 2], boxes[:, 1] + boxes[:, 3]], axis=1)
        base_sides = np.stack([base[:, 0], base[:, 1], base[:, 0] + base[:, 2], base[:, 1] + base[:, 3]], axis=1)
        assert (np.abs(sides - base_sides) <= 15).all()


def test_level_zero_is_the_input_byte_for_byte(built, tmp_path):
    base_path = _copy_base(built, tmp_path)
    (lvl,) = run_jitter(base_path, [0], seed=9, progress=False)
    assert lvl.json_path == base_path.with_name("crowd_val2014_jitter0.json")
    assert lvl.json_path.read_bytes() == base_path.read_bytes()
    assert not any(p.name.endswith("_jitter0") for p in tmp_path.iterdir())  # level 0 reuses the base crops


def test_level_zero_elsewhere_still_finds_the_crops(built, tmp_path):
    base_path = built / "cc" / "annotations" / "crowd_val2014.json"
    (lvl,) = run_jitter(base_path, [0], out_dir=tmp_path / "elsewhere", progress=False)
    data, base = _load(lvl.json_path), _load(base_path)
    assert data["images"] == base["images"] and data["annotations"] == base["annotations"]
    crops = (lvl.json_path.parent / data["crowd_info"]["image_dir"]).resolve()
    assert crops == (built / "cc" / "val2014").resolve()


def test_same_seed_same_files_other_seed_other_boxes(built, tmp_path):
    runs = {}
    for name, seed in (("a", 4), ("b", 4), ("c", 5)):
        base_path = _copy_base(built, tmp_path / name)
        runs[name] = {lvl.px: lvl for lvl in run_jitter(base_path, [5, 15], seed=seed, progress=False)}
    for px in (5, 15):
        a, b = runs["a"][px], runs["b"][px]
        assert a.json_path.read_bytes() == b.json_path.read_bytes()
        names = sorted(p.name for p in a.crops_dir.iterdir())
        assert names == sorted(p.name for p in b.crops_dir.iterdir()) and names
        for n in names:
            assert (a.crops_dir / n).read_bytes() == (b.crops_dir / n).read_bytes()
        boxes = lambda lvl: [im["crop_box"] for im in _load(lvl.json_path)["images"]]  # noqa: E731
        assert boxes(runs["a"][px]) != boxes(runs["c"][px])


def test_a_level_does_not_depend_on_the_other_levels(built, tmp_path):
    alone = run_jitter(_copy_base(built, tmp_path / "one"), [10], seed=2, no_images=True, progress=False)[0]
    among = {lvl.px: lvl for lvl in run_jitter(_copy_base(built, tmp_path / "three"), [15, 5, 10], seed=2,
                                               no_images=True, progress=False)}
    assert alone.json_path.read_bytes() == among[10].json_path.read_bytes()


def test_people_ids_and_fields_unchanged(built, tmp_path):
    base_path = _copy_base(built, tmp_path)
    (lvl,) = run_jitter(base_path, [10], seed=3, progress=False)
    base, jit = _load(base_path), _load(lvl.json_path)
    keep = ("id", "image_id", "category_id", "iscrowd", "ignore", "source_annotation_id")
    assert [{k: a.get(k) for k in keep} for a in base["annotations"]] == \
           [{k: a.get(k) for k in keep} for a in jit["annotations"]]
    for b, j in zip(base["images"], jit["images"]):
        for k in ("id", "file_name", "source_image_id", "source_file_name", "num_people"):
            assert b[k] == j[k]
    assert jit["crowd_info"]["jitter_px"] == 10 and jit["crowd_info"]["jitter_seed"] == 3
    assert base["crowd_info"]["jitter_px"] == 0
    # crops are found through image_dir, one per image, of the jittered size
    crops = lvl.json_path.parent / jit["crowd_info"]["image_dir"]
    assert crops.resolve() == (tmp_path / "val2014_jitter10").resolve()
    for im in jit["images"]:
        with Image.open(crops / im["file_name"]) as c:
            assert c.size == (im["width"], im["height"])
    coco = COCO(str(lvl.json_path))  # pycocotools loads it
    assert len(coco.getImgIds()) == len(jit["images"])


def test_mapping_back_gives_the_base_coordinates_exactly(built, tmp_path):
    base_path = _copy_base(built, tmp_path)
    (lvl,) = run_jitter(base_path, [15], seed=8, progress=False)
    base, jit = _load(base_path), _load(lvl.json_path)
    boxes = {im["id"]: im for im in jit["images"]}
    checked = 0
    for b, j in zip(base["annotations"], jit["annotations"]):
        im = boxes[j["image_id"]]
        dx = im["crop_box"][0] - im["base_crop_box"][0]
        dy = im["crop_box"][1] - im["base_crop_box"][1]
        w, h = im["width"], im["height"]
        bk = np.array(b["keypoints"]).reshape(-1, 3)
        jk = np.array(j["keypoints"]).reshape(-1, 3)
        for (bx, by, bv), (jx, jy, jv) in zip(bk, jk):
            inside = bv > 0 and 0 <= bx - dx < w and 0 <= by - dy < h  # pixel j covers [j, j+1)
            if inside:  # a labelled point inside the jittered crop maps back to the base point exactly
                assert (jx + dx, jy + dy, jv) == (bx, by, bv)
                checked += 1
            else:
                assert (jx, jy, jv) == (0, 0, 0)
        assert j["num_keypoints"] == int((jk[:, 2] > 0).sum())
        x, y, bw, bh = b["bbox"]
        if x - dx >= 0 and y - dy >= 0 and x - dx + bw <= w and y - dy + bh <= h:
            assert [j["bbox"][0] + dx, j["bbox"][1] + dy] == pytest.approx([x, y], abs=1e-9)
            assert j["bbox"][2:] == pytest.approx([bw, bh], abs=1e-9)
    assert checked > 50


def test_crop_pixels_are_the_source_pixels_of_the_jittered_box(built, tmp_path):
    base_path = _copy_base(built, tmp_path)
    (lvl,) = run_jitter(base_path, [10], seed=6, progress=False)
    jit = _load(lvl.json_path)
    src_dir = built / "coco" / "val2014"
    base_crops = built / "cc" / "val2014"
    for im in jit["images"]:
        x, y, w, h = im["crop_box"]
        bx, by, bw, bh = im["base_crop_box"]
        src = np.asarray(Image.open(src_dir / im["source_file_name"]))
        crop = np.asarray(Image.open(lvl.crops_dir / im["file_name"]))
        assert np.array_equal(crop, src[y:y + h, x:x + w])
        # where the two crops overlap, jittered pixel (u, v) is base pixel (u + dx, v + dy)
        base = np.asarray(Image.open(base_crops / im["file_name"]))
        x0, y0, x1, y1 = max(x, bx), max(y, by), min(x + w, bx + bw), min(y + h, by + bh)
        if x1 > x0 and y1 > y0:
            assert np.array_equal(crop[y0 - y:y1 - y, x0 - x:x1 - x], base[y0 - by:y1 - by, x0 - bx:x1 - bx])


def test_split_halves_get_their_own_crop_folders(built, tmp_path):
    base_path = _copy_base(built, tmp_path)
    halves = run_split(base_path, seed=0)
    dirs = [run_jitter(halves[n], [5], seed=0, progress=False)[0].crops_dir for n in ("val", "test")]
    assert [d.name for d in dirs] == ["val2014_val_jitter5", "val2014_test_jitter5"]
    for n, d in zip(("val", "test"), dirs):
        assert sorted(p.name for p in d.iterdir()) == sorted(im["file_name"] for im in _load(halves[n])["images"])


def test_source_size_read_from_image_header_when_absent(built, tmp_path):
    base_path = _copy_base(built, tmp_path / "with")
    data = _load(base_path)
    for im in data["images"]:
        del im["source_width"], im["source_height"]
    bare = tmp_path / "without" / "annotations" / "crowd_val2014.json"
    bare.parent.mkdir(parents=True)
    bare.write_text(json.dumps(data))
    with_sizes = run_jitter(base_path, [15], seed=2, no_images=True, progress=False)[0]
    from_header = run_jitter(bare, [15], seed=2, no_images=True, progress=False)[0]
    boxes = lambda p: [im["crop_box"] for im in _load(p)["images"]]  # noqa: E731
    assert boxes(with_sizes.json_path) == boxes(from_header.json_path)


def test_cli_lists_levels(built, tmp_path):
    base_path = _copy_base(built, tmp_path)
    res = CliRunner().invoke(main, ["jitter", "--in", str(base_path), "--px", "0", "5", "10", "15", "--seed", "3",
                                    "--quiet"])
    assert res.exit_code == 0, res.output
    for px in (0, 5, 10, 15):
        assert f"\u00b1{px} px" in res.output
        assert base_path.with_name(f"crowd_val2014_jitter{px}.json").is_file()
    for px in (5, 10, 15):
        assert (tmp_path / f"val2014_jitter{px}").is_dir()


def test_real_coco_sample(real_data, tmp_path):
    src = real_data / "coco_kp_sample"
    run_build(annotations=src / "test_coco.json", images=src, out=tmp_path / "cc", progress=False)
    crowd = tmp_path / "cc" / "annotations" / "crowd_test_coco.json"
    (lvl,) = run_jitter(crowd, [15], seed=0, progress=False)
    jit = _load(lvl.json_path)
    assert len(jit["images"]) >= 2
    for im in jit["images"]:
        x, y, w, h = im["crop_box"]
        with Image.open(src / im["source_file_name"]) as s:
            expected = np.asarray(s.convert("RGB"))[y:y + h, x:x + w]
        assert np.array_equal(np.asarray(Image.open(lvl.crops_dir / im["file_name"])), expected)


# ---------------------------------------------------------------- bad inputs

def _fails(args, *needles, out_root: Path):
    before = sorted(p for p in out_root.rglob("*"))
    res = CliRunner().invoke(main, ["jitter", "--quiet"] + args)
    assert res.exit_code == 2, res.output
    for needle in needles:
        assert needle in res.output, res.output
    assert sorted(p for p in out_root.rglob("*")) == before  # nothing written


def test_plain_coco_file_rejected(built, tmp_path):
    src = tmp_path / "person_keypoints_val2014.json"
    src.write_bytes((built / "coco" / "annotations" / "person_keypoints_val2014.json").read_bytes())
    _fails(["--in", str(src), "--px", "5"], str(src), "images[0].source_image_id", "cococrowd build", out_root=tmp_path)


def test_empty_file_rejected(tmp_path):
    empty = tmp_path / "crowd.json"
    empty.write_text("  \n")
    _fails(["--in", str(empty), "--px", "5"], "file is empty", out_root=tmp_path)


def test_already_jittered_file_rejected(built, tmp_path):
    base_path = _copy_base(built, tmp_path)
    (lvl,) = run_jitter(base_path, [5], seed=0, no_images=True, progress=False)
    _fails(["--in", str(lvl.json_path), "--px", "5", "--no-images"], "crowd_info.jitter_px", "already jittered",
           out_root=tmp_path)


def test_missing_source_size_without_images_rejected(built, tmp_path):
    data = _load(built / "cc" / "annotations" / "crowd_val2014.json")
    del data["images"][0]["source_width"]
    data["crowd_info"]["source_images"] = None
    path = tmp_path / "crowd_val2014.json"
    path.write_text(json.dumps(data))
    _fails(["--in", str(path), "--px", "5", "--no-images"], "images[0].source_width", "--source-images",
           out_root=tmp_path)


def test_missing_source_image_rejected_before_writing(built, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for p in (built / "coco" / "val2014").iterdir():
        (src / p.name).write_bytes(p.read_bytes())
    first = _load(built / "cc" / "annotations" / "crowd_val2014.json")["images"][-1]["source_file_name"]
    (src / first).unlink()
    base_path = _copy_base(built, tmp_path / "run")
    _fails(["--in", str(base_path), "--px", "5", "10", "--source-images", str(src)], first, "source image not found",
           out_root=tmp_path / "run")


def test_crop_box_outside_its_source_rejected(built, tmp_path):
    data = _load(built / "cc" / "annotations" / "crowd_val2014.json")
    data["images"][1]["crop_box"] = [150, 100, 20, 30]
    path = tmp_path / "crowd_val2014.json"
    path.write_text(json.dumps(data))
    _fails(["--in", str(path), "--px", "5", "--no-images"], "images[1].crop_box", "reaches outside",
           out_root=tmp_path)


def test_negative_level_rejected(built, tmp_path):
    base_path = _copy_base(built, tmp_path)
    res = CliRunner().invoke(main, ["jitter", "--in", str(base_path), "--px", "-5"])
    assert res.exit_code == 2 and "-5" in res.output


def test_a_level_that_fails_leaves_no_level_written(built, tmp_path, monkeypatch):
    """Levels are all or nothing: the second level's crops fail, so the first one's file and
    crops (already made) are not put in place either, and no staging stays."""
    import cococrowd.jitter as jitter_module
    base_path = _copy_base(built, tmp_path)
    real = jitter_module.cut_crops
    calls = []

    def failing(images, src, crops_dir, **kw):
        calls.append(crops_dir.name)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(images, src, crops_dir, **kw)

    monkeypatch.setattr(jitter_module, "cut_crops", failing)
    with pytest.raises(OSError):
        run_jitter(base_path, [0, 5, 10], seed=1, progress=False)
    assert calls == ["val2014_jitter5", "val2014_jitter10"]
    root = base_path.parent.parent
    assert sorted(p.name for p in base_path.parent.iterdir()) == ["crowd_val2014.json"]
    assert [p.name for p in root.iterdir()] == ["annotations"]   # no crops folder, no staging
