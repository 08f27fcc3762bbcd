"""`cococrowd split` (and every reader of COCO-crowd files in cococrowd) checks its input with
the validator `build` uses: each bad value is one error line naming file and field, exit 2, and
no half is written (issue 9, item 4)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cococrowd.build import run_build
from cococrowd.cli import main
from tests.helpers.tinycoco import random_world, write_world


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("split_world")
    write_world(root / "coco", random_world(seed=5, n_images=20), split="val2014", with_images=False)
    run_build(split="val2014", coco_root=root / "coco", out=root / "cc", no_images=True, progress=False)
    data = json.loads((root / "cc" / "annotations" / "crowd_val2014.json").read_text())
    assert len(data["images"]) >= 3 and len(data["annotations"]) >= 5
    return data


def _set(*keys_value):
    *keys, value = keys_value

    def mutate(d):
        target = d
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return mutate


def _pop(*keys):
    def mutate(d):
        target = d
        for key in keys[:-1]:
            target = target[key]
        target.pop(keys[-1])
    return mutate


CASES = {
    "duplicate image id": (lambda d: d["images"][2].__setitem__("id", d["images"][0]["id"]),
                           "images[2].id: duplicate id"),
    "annotation of an unknown image": (_set("annotations", 0, "image_id", 99999),
                                       "annotations[0].image_id: refers to unknown image id 99999"),
    "NaN box": (_set("annotations", 1, "bbox", 0, float("nan")), "annotations[1].bbox: x is NaN"),
    "duplicate annotation id": (lambda d: d["annotations"][3].__setitem__("id", d["annotations"][0]["id"]),
                                "annotations[3].id: duplicate id"),
    "box of negative width": (_set("annotations", 2, "bbox", 2, -1), "annotations[2].bbox: width must be > 0"),
    "box too short": (_set("annotations", 2, "bbox", [1, 2, 3]), "annotations[2].bbox: must be a list"),
    "keypoint string": (_set("annotations", 4, "keypoints", 3, "7"),
                        "annotations[4].keypoints[3]: must be a finite number, got '7'"),
    "keypoint infinite": (_set("annotations", 0, "keypoints", 0, float("inf")),
                          "annotations[0].keypoints[0]: must be a finite number"),
    "visibility 5": (_set("annotations", 1, "keypoints", 2, 5),
                     "annotations[1].keypoints[2]: visibility flag must be 0, 1 or 2, got 5"),
    "visibility -1": (_set("annotations", 1, "keypoints", 5, -1),
                      "annotations[1].keypoints[5]: visibility flag must be 0, 1 or 2, got -1"),
    "keypoints short": (_set("annotations", 3, "keypoints", [0] * 6),
                        "annotations[3].keypoints: has 6 values, expected 3*K = 51"),
    "iscrowd 2": (_set("annotations", 1, "iscrowd", 2), "annotations[1].iscrowd: must be 0 or 1, got 2"),
    "missing image_id": (_pop("annotations", 0, "image_id"), "annotations[0].image_id: missing key"),
    "missing source_image_id": (_pop("images", 1, "source_image_id"),
                                "images[1].source_image_id: missing key: not a COCO-crowd file"),
    "source_image_id string": (_set("images", 1, "source_image_id", "7"),
                               "images[1].source_image_id: must be an integer, got '7'"),
    "num_people null": (_set("images", 0, "num_people", None), "images[0].num_people: must be an integer >= 0"),
    "crowd_info a list": (_set("crowd_info", [1]), "crowd_info: must be an object, got list"),
    "image_dir a number": (_set("crowd_info", "image_dir", 3), "crowd_info.image_dir: must name the crops folder (relative to the JSON's folder) or be null"),
    "image not an object": (_set("images", 0, 5), "images[0]: must be an object"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_crowd_file_is_one_error_line_and_writes_nothing(base, tmp_path, case):
    mutate, expected = CASES[case]
    data = json.loads(json.dumps(base))
    mutate(data)
    path = tmp_path / "crowd_val2014.json"
    path.write_text(json.dumps(data))             # json writes NaN/Infinity tokens: the reader accepts them
    before = sorted(p.name for p in tmp_path.iterdir())
    for command in (["split", "--in", str(path)], ["jitter", "--in", str(path), "--px", "4", "--no-images"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2, (command, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {path}: {expected}"), (command, result.output)
        assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_the_unmutated_file_splits_into_halves_that_keep_every_annotation(base, tmp_path):
    # the control: nothing above is refused for a reason the valid file shares
    path = tmp_path / "crowd_val2014.json"
    path.write_text(json.dumps(base))
    result = CliRunner().invoke(main, ["split", "--in", str(path)])
    assert result.exit_code == 0, result.output
    halves = [json.loads((tmp_path / f"crowd_val2014_{n}.json").read_text()) for n in ("val", "test")]
    assert sorted(a["id"] for h in halves for a in h["annotations"]) == sorted(a["id"] for a in base["annotations"])
    assert sorted(im["id"] for h in halves for im in h["images"]) == sorted(im["id"] for im in base["images"])
