"""One rule per COCO-crowd field, used by every reader (issue 19, item 2): each bad field, fed to
build, split, jitter, stats, show, `bench score`, `bench analyze` and the training dataset, gives
the same one `error:` line (file and JSON path), exit 2, and nothing written."""
import json
import math

import pytest
from click.testing import CliRunner
from tests.helpers.synthcrowd import build_synthetic_crowd

from benchmarks.cli import main as bench
from cococrowd.cli import main as cococrowd
from cococrowd.cocofile import CocoFormatError


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("fields")
    gt = build_synthetic_crowd(root, images=4, seed=3)
    data = json.loads(gt.read_text())
    res = root / "results.json"
    res.write_text(json.dumps([{"image_id": a["image_id"], "category_id": a["category_id"],
                                "keypoints": a["keypoints"], "score": 0.9}
                               for a in data["annotations"] if not a["ignore"]]))
    assert len(data["images"]) >= 2
    return gt, data, res


def _set(where, key, value):
    def change(d):
        d[where[0]][where[1]][key] = value(d[where[0]][where[1]]) if callable(value) else value
    return change


def _member(d):
    return next(n for n, a in enumerate(d["annotations"]) if not a["ignore"] and not a["iscrowd"])


def _some_crowd_index(d):
    if "crowdIndex" in d["images"][0]:
        del d["images"][0]["crowdIndex"]
    else:
        d["images"][1]["crowdIndex"] = 0.5


CASES = {  # name: (change of the good file, JSON path named)
    "ignore 2": (lambda d: d["annotations"][_member(d)].update(ignore=2), "annotations[{m}].ignore"),
    "ignore yes": (lambda d: d["annotations"][_member(d)].update(ignore="yes"), "annotations[{m}].ignore"),
    "num_keypoints string": (lambda d: d["annotations"][_member(d)].update(num_keypoints="3"),
                             "annotations[{m}].num_keypoints"),
    "num_keypoints past K": (lambda d: d["annotations"][_member(d)].update(num_keypoints=18),
                             "annotations[{m}].num_keypoints"),
    "crowdIndex NaN": (_set(("images", 0), "crowdIndex", math.nan), "images[0].crowdIndex"),
    "crowdIndex hard": (_set(("images", 0), "crowdIndex", "hard"), "images[0].crowdIndex"),
    "crowdIndex -1": (_set(("images", 0), "crowdIndex", -1), "images[0].crowdIndex"),
    "crowdIndex on some images only": (_some_crowd_index, "images[0].crowdIndex"),
    "crop_box NaN": (_set(("images", 0), "crop_box", lambda im: [math.nan] + im["crop_box"][1:]), "images[0].crop_box"),
    "crop_box negative": (_set(("images", 0), "crop_box", lambda im: [-1] + im["crop_box"][1:]), "images[0].crop_box"),
    "crop_box string": (_set(("images", 0), "crop_box", "abc"), "images[0].crop_box"),
    "crop_box 3 numbers": (_set(("images", 0), "crop_box", lambda im: im["crop_box"][:3]), "images[0].crop_box"),
    "crop_box not the image's size": (_set(("images", 0), "crop_box", lambda im: im["crop_box"][:3] + [im["height"] - 1]),
                                      "images[0].crop_box"),
    "crop_box outside the source": (_set(("images", 0), "crop_box",
                                         lambda im: [im["source_width"]] + im["crop_box"][1:]), "images[0].crop_box"),
    "base_crop_box string": (_set(("images", 0), "base_crop_box", "abc"), "images[0].base_crop_box"),
    "source_width 0": (_set(("images", 0), "source_width", 0), "images[0].source_width"),
    "source_height string": (_set(("images", 0), "source_height", lambda im: str(im["source_height"])),
                             "images[0].source_height"),
    "num_people string": (_set(("images", 0), "num_people", lambda im: str(im["num_people"])), "images[0].num_people"),
    "num_people not its members": (_set(("images", 0), "num_people", lambda im: im["num_people"] + 1),
                                   "images[0].num_people"),
    # segmentations: build's validator in every reader (scoring and analysis too)
    "segmentation string": (lambda d: d["annotations"][_member(d)].update(segmentation="abc"),
                            "annotations[{m}].segmentation"),
    "segmentation odd polygon": (lambda d: d["annotations"][_member(d)].update(segmentation=[[1, 2, 3]]),
                                 "annotations[{m}].segmentation[0]"),
    "segmentation NaN polygon": (lambda d: d["annotations"][_member(d)].update(segmentation=[[1, 2, math.nan, 4]]),
                                 "annotations[{m}].segmentation[0][2]"),
    "segmentation RLE of another size": (lambda d: d["annotations"][_member(d)].update(
        segmentation={"size": [3, 3], "counts": [9]}), "annotations[{m}].segmentation.size"),
    "duplicate file_name": (lambda d: d["images"][1].update(file_name=d["images"][0]["file_name"]),
                            "images[1].file_name"),
}


def _tree(root):
    return {p: p.stat().st_mtime_ns for p in root.rglob("*")}


def _readers(bad, res, out):
    """(name, CLI result) of every reader given the bad file."""
    c, b = CliRunner(), CliRunner()
    yield "build", c.invoke(cococrowd, ["build", "--annotations", str(bad), "--out", str(out / "b"), "--no-images",
                                        "--quiet"])
    yield "split", c.invoke(cococrowd, ["split", "--in", str(bad), "--out-dir", str(out / "s")])
    yield "jitter", c.invoke(cococrowd, ["jitter", "--in", str(bad), "--px", "4", "--out-dir", str(out / "j"),
                                         "--quiet"])
    yield "stats", c.invoke(cococrowd, ["stats", "--crowd", str(bad), "--out", str(out / "st")])
    yield "show", c.invoke(cococrowd, ["show", "--crowd", str(bad), "--out", str(out / "sh")])
    yield "score", b.invoke(bench, ["score", "--gt", str(bad), "--results", str(res), "--out", str(out / "sc"),
                                    "--bootstrap", "0"])
    yield "analyze", b.invoke(bench, ["analyze", "--gt", str(bad), "--results", str(res), "--out", str(out / "an"),
                                      "--bootstrap", "0"])


@pytest.mark.parametrize("case", list(CASES))
def test_each_bad_field_gives_every_reader_the_same_line(world, tmp_path, case):
    from benchmarks.data.dataset import CocoCrowdDataset

    gt, data, res = world
    change, where = CASES[case]
    bad_data = json.loads(json.dumps(data))
    change(bad_data)
    bad = gt.parent / f"bad_{case.replace(' ', '_').replace(chr(39), '')}.json"
    bad.write_text(json.dumps(bad_data))   # NaN as Python's json writes it
    where = where.format(m=_member(data))
    try:
        before = _tree(tmp_path), _tree(gt.parent.parent)
        lines = {}
        for name, r in _readers(bad, res, tmp_path):
            assert r.exit_code == 2, (name, r.output)
            out = r.output.strip().splitlines()
            assert len(out) == 1 and "Traceback" not in r.output, (name, r.output)
            lines[name] = out[0]
        with pytest.raises(CocoFormatError) as err:
            CocoCrowdDataset(bad, train=False)
        lines["dataset"] = f"error: {err.value}"
        assert len(set(lines.values())) == 1, lines
        assert lines["build"].startswith(f"error: {bad}: {where}: "), lines["build"]
        assert (_tree(tmp_path), _tree(gt.parent.parent)) == before    # nothing written
    finally:
        bad.unlink()


def test_ignore_0_iscrowd_1_is_ignored_by_stats_and_show(world, tmp_path):
    """One meaning: `ignore: 0, iscrowd: 1` is an iscrowd region, never a member."""
    from cococrowd.crowdinfo import is_member
    from cococrowd.stats import members

    gt, data, _ = world
    d = json.loads(json.dumps(data))
    ignored = next(a for a in d["annotations"] if a["ignore"])
    ignored["ignore"], ignored["iscrowd"] = 0, 1
    assert not is_member(ignored)
    assert ignored not in members(d)
    path = tmp_path / "crowd.json"
    path.write_text(json.dumps(d))
    r = CliRunner().invoke(cococrowd, ["stats", "--crowd", str(path), "--out", str(tmp_path / "st")])
    assert r.exit_code == 0, r.output
