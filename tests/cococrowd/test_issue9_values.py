"""Issue 9, items 7, 8 and 10: kept people's segmentations and keypoint types are checked by one
rule (cocofile.check_segmentation), deep nesting is one error line in every reader, and the
unambiguous spellings public datasets use (iscrowd true/false, id 785.0) are accepted."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from pycocotools import mask as mask_utils

from cococrowd.cli import main
from cococrowd.cocofile import CocoFormatError, _rle_string_counts, read_json
from tests.helpers.tinycoco import random_world, write_world


def _two_people(d):
    """One image with two overlapping people: both are kept (a crowd group)."""
    d["images"] = d["images"][:1]
    d["annotations"] = [a for a in d["annotations"] if a["image_id"] == d["images"][0]["id"]][:2]
    d["annotations"][1]["bbox"] = list(d["annotations"][0]["bbox"])


def _world(tmp_path, mutate=None, raw=None, images=False):
    d = random_world(seed=1, n_images=12)
    if mutate:
        mutate(d)
    path = write_world(tmp_path / "coco", d, with_images=images)
    if raw is not None:
        path.write_bytes(raw)
    return path


def _files(folder):
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _fails_cleanly(res, *needles, out=None):
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    assert "Traceback" not in res.output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    if out is not None:
        assert _files(out) == [], _files(out)
        assert not [p for p in out.rglob("*") if p.name.startswith(".")] if out.exists() else True


def _build(path, out, *extra):
    return CliRunner().invoke(main, ["build", "--annotations", str(path), "--split", "train2014", "--out", str(out),
                                     "--quiet", *(extra or ("--no-images",))])


H, W = 120, 160  # tinycoco's image size

BAD_SEGMENTATIONS = {
    "string": ("abc", "annotations[1].segmentation: must be a list of polygons or an RLE object"),
    "RLE without size": ({"counts": [0, H * W]}, "annotations[1].segmentation.size: missing key"),
    "NaN in a polygon": ([[1.0, 2.0, float("nan"), 4.0, 5.0, 6.0]],
                         "annotations[1].segmentation[0][2]: must be a finite number, got nan"),
    "true in a polygon": ([[1.0, 2.0, True, 4.0, 5.0, 6.0]], "annotations[1].segmentation[0][2]: must be a finite number, got True"),
    "huge RLE counts": ({"size": [H, W], "counts": [0, 10 ** 12]},
                        f"annotations[1].segmentation.counts: run lengths sum to 1000000000000, but a {H}x{W} mask has {H * W}"),
    "RLE size not the image's": ({"size": [H + 1, W], "counts": [0, (H + 1) * W]},
                                 f"annotations[1].segmentation.size: must be [height, width] of its image, [{H}, {W}]"),
    "negative run": ({"size": [H, W], "counts": [-5, H * W + 5]}, "annotations[1].segmentation.counts: run lengths must be >= 0"),
    "bad RLE string": ({"size": [H, W], "counts": "~~~"}, "annotations[1].segmentation.counts: is not a valid compressed RLE"),
}


@pytest.mark.parametrize("case", sorted(BAD_SEGMENTATIONS))
def test_bad_segmentation_of_a_kept_person_is_one_line(tmp_path, case):
    segm, message = BAD_SEGMENTATIONS[case]

    def mutate(d):
        _two_people(d)
        d["annotations"][1]["segmentation"] = segm
    path = _world(tmp_path, mutate)
    _fails_cleanly(_build(path, tmp_path / "out"), "person_keypoints_train2014.json: " + message, out=tmp_path / "out")


def test_bad_segmentation_with_images_too(tmp_path):
    def mutate(d):
        _two_people(d)
        d["annotations"][1]["segmentation"] = {"size": [H, W], "counts": [0, 10 ** 12]}
    path = _world(tmp_path, mutate, images=True)
    res = _build(path, tmp_path / "out", "--images", str(tmp_path / "coco" / "train2014"))
    _fails_cleanly(res, "annotations[1].segmentation.counts: run lengths sum to", out=tmp_path / "out")


def test_true_as_keypoint_coordinate_is_refused(tmp_path):
    def mutate(d):
        _two_people(d)
        d["annotations"][1]["keypoints"][0] = True
    _fails_cleanly(_build(_world(tmp_path, mutate), tmp_path / "out"),
                   "annotations[1].keypoints[0]: must be a finite number, got True", out=tmp_path / "out")


def test_valid_rle_of_a_kept_person_is_cut(tmp_path):
    mask = np.zeros((H, W), np.uint8)
    mask[10:50, 20:70] = 1
    rle = mask_utils.encode(np.asfortranarray(mask))

    def mutate(d):
        _two_people(d)
        d["annotations"][1]["bbox"] = [20, 10, 50, 40]
        d["annotations"][0]["bbox"] = [25, 12, 40, 40]
        d["annotations"][1]["segmentation"] = {"size": [H, W], "counts": rle["counts"].decode()}
    res = _build(_world(tmp_path, mutate), tmp_path / "out")
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "out" / "annotations" / "crowd_train2014.json").read_text())
    seg = next(a for a in out["annotations"] if isinstance(a["segmentation"], dict))
    crop = out["images"][0]["crop_box"]
    cut = mask_utils.decode(seg["segmentation"])
    assert cut.sum() == mask.sum() == 2000
    assert (cut == mask[crop[1]:crop[1] + crop[3], crop[0]:crop[0] + crop[2]]).all()


@pytest.mark.parametrize("seed", range(5))
def test_compressed_rle_counts_match_the_mask_runs(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(1, 40, 2)
    mask = (rng.random((h, w)) < rng.random()).astype(np.uint8)
    runs = _rle_string_counts(mask_utils.encode(np.asfortranarray(mask))["counts"].decode())
    flat = mask.ravel(order="F")  # COCO runs are column-major, starting with a run of zeros
    change = np.flatnonzero(np.diff(flat)) + 1
    expected = np.diff(np.r_[0, change, flat.size]).tolist()
    if flat[0] == 1:
        expected = [0] + expected
    assert runs == expected and sum(runs) == h * w


# ---- item 8: deep nesting

DEEP = b"[" * 100000 + b"]" * 100000


def test_deep_nesting_is_one_line_in_the_reader(tmp_path):
    path = tmp_path / "deep.json"
    path.write_bytes(DEEP)
    with pytest.raises(CocoFormatError, match="deep.json: JSON nested"):
        read_json(path)  # bench score reads ground truth and results with it
    path.write_bytes(b'{"a": ' + b"[" * 1020 + b"NaN" + b"]" * 1020 + b"}")  # the stdlib fallback path
    with pytest.raises(CocoFormatError, match="deep.json: JSON nested too deeply"):
        read_json(path)


def test_deep_nesting_in_build_split_jitter_stats(tmp_path):
    deep = tmp_path / "crowd_x.json"
    deep.write_bytes(DEEP)
    r = CliRunner()
    _fails_cleanly(_build(deep, tmp_path / "b"), "crowd_x.json: JSON nested", out=tmp_path / "b")
    _fails_cleanly(r.invoke(main, ["split", "--in", str(deep), "--out-dir", str(tmp_path / "s")]),
                   "crowd_x.json: JSON nested", out=tmp_path / "s")
    _fails_cleanly(r.invoke(main, ["jitter", "--in", str(deep), "--px", "3", "--no-images", "--out-dir",
                                   str(tmp_path / "j")]), "crowd_x.json: JSON nested", out=tmp_path / "j")
    _fails_cleanly(r.invoke(main, ["stats", "--crowd", str(deep), "--out", str(tmp_path / "t")]),
                   "crowd_x.json: JSON nested", out=tmp_path / "t")


def test_value_too_deep_to_write_back_is_one_line(tmp_path):
    nested = []
    for _ in range(300):  # orjson reads 1024 levels but writes 254
        nested = [nested]
    path = _world(tmp_path, lambda d: d.__setitem__("licenses", nested))
    _fails_cleanly(_build(path, tmp_path / "out"), "person_keypoints_train2014.json: holds a value that cannot be written back",
                   out=tmp_path / "out")


# ---- item 10: unambiguous spellings

def test_boolean_iscrowd_and_integral_float_ids_build_as_ints(tmp_path):
    plain = random_world(seed=1, n_images=12)
    plain["annotations"][0]["iscrowd"] = 1
    spelled = json.loads(json.dumps(plain))
    for a in spelled["annotations"]:
        a["iscrowd"] = bool(a["iscrowd"])
        a["id"], a["image_id"], a["category_id"] = float(a["id"]), float(a["image_id"]), float(a["category_id"])
    for im in spelled["images"]:
        im["id"] = float(im["id"])
    spelled["categories"][0]["id"] = 1.0
    assert b"785.0" not in json.dumps(plain).encode() and "true" in json.dumps(spelled) and ".0," in json.dumps(spelled)
    a = write_world(tmp_path / "a", plain, with_images=False)
    b = write_world(tmp_path / "b", spelled, with_images=False)
    for path, out in ((a, tmp_path / "oa"), (b, tmp_path / "ob")):
        assert _build(path, out).exit_code == 0
    crowd = (tmp_path / "oa" / "annotations" / "crowd_train2014.json").read_bytes()
    assert crowd == (tmp_path / "ob" / "annotations" / "crowd_train2014.json").read_bytes()
    assert json.loads(crowd)["images"], "the world must have regions"


@pytest.mark.parametrize("field,value,message", [
    ("id", 785.5, "images[0].id: must be an integer, got 785.5"),
    ("id", 1e300, "images[0].id: must be an integer, got 1e+300"),
    ("id", True, "images[0].id: must be an integer, got True"),
])
def test_ambiguous_ids_are_refused(tmp_path, field, value, message):
    path = _world(tmp_path, lambda d: d["images"][0].__setitem__(field, value))
    _fails_cleanly(_build(path, tmp_path / "out"), message, out=tmp_path / "out")


def test_split_accepts_boolean_iscrowd(tmp_path):
    path = _world(tmp_path)
    assert _build(path, tmp_path / "o").exit_code == 0
    crowd = tmp_path / "o" / "annotations" / "crowd_train2014.json"
    d = json.loads(crowd.read_text())
    for a in d["annotations"]:
        a["iscrowd"] = bool(a["iscrowd"])
    crowd.write_text(json.dumps(d))
    res = CliRunner().invoke(main, ["split", "--in", str(crowd)])
    assert res.exit_code == 0, res.output
    half = json.loads((tmp_path / "o" / "annotations" / "crowd_train2014_val.json").read_text())
    assert {type(a["iscrowd"]) for a in half["annotations"]} == {int}


def test_not_utf8_and_huge_values_are_short_lines(tmp_path):
    path = tmp_path / "x.json"
    path.write_bytes('{"images": "\u00e9"}'.encode("latin-1"))
    assert len(b'{"images": "') == 12  # where the latin-1 byte sits
    with pytest.raises(CocoFormatError, match=r"x.json: not UTF-8 text \(byte 12: invalid continuation byte\)"):
        read_json(path)
    nested = 1
    for _ in range(900):
        nested = [nested]
    coco = _world(tmp_path, lambda d: d["images"][0].__setitem__("width", nested))
    res = _build(coco, tmp_path / "out")
    _fails_cleanly(res, "images[0].width: must be a positive number, got [[[[", out=tmp_path / "out")
    assert len(res.output) < 700
