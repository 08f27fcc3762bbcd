"""Paths from input files and options stay inside their folders: one clear line otherwise, and
nothing written (issue 9, security 2)."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.data.crowdfile import load_crowd_file
from cococrowd.build import run_build
from cococrowd.cli import main
from cococrowd.cocofile import CocoFormatError, check_name, path_problem
from cococrowd.jitter import run_jitter
from tests.helpers.tinycoco import random_world, write_world


def files_under(root: Path) -> set[str]:
    """Every path below ``root`` (links not followed), as relative strings."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def one_error_line(result, *parts) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("value,bad", [
    ("a.jpg", False), ("seqA/000000.jpg", False), ("a..b.jpg", False), ("./x/y.png", False),
    ("../x.jpg", True), ("a/../../b.jpg", True), ("..", True), ("/etc/passwd", True),
    ("C:\\img.jpg", True), ("a\\..\\b.jpg", True), ("x\0y", True), ("", True), (7, True),
])
def test_path_problem(value, bad):
    assert (path_problem(value) is not None) == bad


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", ".", ".hidden", "", "x\\y"])
def test_check_name_refuses_anything_but_one_plain_part(name):
    with pytest.raises(ValueError, match="--names"):
        check_name(name, "--names")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("paths_world")
    write_world(root / "coco", random_world(seed=5, n_images=12), split="val2014")
    run_build(split="val2014", coco_root=root / "coco", out=root / "cc", progress=False)
    return root


@pytest.mark.parametrize("names", [("../../x", "test"), ("val", "a/b"), ("val", "..")])
def test_split_names_cannot_leave_out_dir(built, tmp_path, names):
    src = tmp_path / "work" / "in" / "crowd_val2014.json"
    src.parent.mkdir(parents=True)
    src.write_bytes((built / "cc" / "annotations" / "crowd_val2014.json").read_bytes())
    out = tmp_path / "work" / "in" / "out"
    before = files_under(tmp_path)
    result = CliRunner().invoke(main, ["split", "--in", str(src), "--out-dir", str(out), "--names", *names])
    one_error_line(result, "--names", "file name")
    assert files_under(tmp_path) == before


def _build_with(tmp_path, mutate, **kwargs):
    data = random_world(seed=5, n_images=12)
    root = tmp_path / "coco"
    write_world(root, data, split="val2014")
    # a real, readable image outside --images: the old code read it
    (tmp_path / "outside.png").write_bytes((root / "val2014" / data["images"][0]["file_name"]).read_bytes())
    mutate(data)
    (root / "annotations" / "person_keypoints_val2014.json").write_text(json.dumps(data))
    out = tmp_path / "out"
    args = ["build", "--annotations", str(root / "annotations" / "person_keypoints_val2014.json"),
            "--images", str(root / "val2014"), "--out", str(out), "--quiet", *kwargs.get("extra", [])]
    return CliRunner().invoke(main, args), out


@pytest.mark.parametrize("file_name,problem", [("../outside.png", "'..' part"), ("{abs}", "absolute path")])
@pytest.mark.parametrize("extra", [[], ["--no-images"]])
def test_build_refuses_a_file_name_leaving_images(tmp_path, file_name, problem, extra):
    name = file_name.format(abs=tmp_path / "outside.png")
    result, out = _build_with(tmp_path, lambda d: d["images"][3].__setitem__("file_name", name), extra=extra)
    one_error_line(result, "person_keypoints_val2014.json: images[3].file_name: ", problem)
    assert not out.exists()


def _crowd_copy(built, tmp_path, mutate) -> Path:
    data = json.loads((built / "cc" / "annotations" / "crowd_val2014.json").read_text())
    mutate(data)
    path = tmp_path / "annotations" / "crowd_val2014.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("field", ["source_file_name", "file_name"])
def test_crowd_file_paths_leaving_their_folder_are_refused_by_every_reader(built, tmp_path, field):
    path = _crowd_copy(built, tmp_path, lambda d: d["images"][1].__setitem__(field, "../../../etc/x.png"))
    before = files_under(tmp_path)
    expected = f"crowd_val2014.json: images[1].{field}: '../../../etc/x.png' has a '..' part"
    one_error_line(CliRunner().invoke(main, ["jitter", "--in", str(path), "--px", "4", "--quiet"]), expected)
    if field == "source_file_name":  # split copies file_name through; it reads source_file_name's rule
        one_error_line(CliRunner().invoke(main, ["split", "--in", str(path)]), expected)
    with pytest.raises(CocoFormatError, match=re.escape(expected)):
        load_crowd_file(path)
    assert files_under(tmp_path) == before


def test_symlinked_crops_folder_is_refused_before_any_work(tmp_path):
    data = random_world(seed=5, n_images=12)
    root = tmp_path / "coco"
    write_world(root, data, split="val2014")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(elsewhere, out / "val2014")
    result = CliRunner().invoke(main, ["build", "--split", "val2014", "--coco-root", str(root), "--out", str(out),
                                       "--quiet"])
    one_error_line(result, f"{out / 'val2014'}: is a symbolic link")
    assert files_under(out) == {"val2014"} and (out / "val2014").is_symlink()
    assert files_under(elsewhere) == {"keep.txt"}


def test_symlinked_jitter_crops_folder_is_refused_before_any_work(built, tmp_path):
    path = _crowd_copy(built, tmp_path, lambda d: None)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, tmp_path / "val2014_jitter4")
    before = files_under(tmp_path)
    result = CliRunner().invoke(main, ["jitter", "--in", str(path), "--px", "0", "--px", "4", "--quiet"])
    one_error_line(result, "val2014_jitter4: is a symbolic link")
    assert files_under(tmp_path) == before


def test_a_link_appearing_after_the_check_leaves_no_staging(tmp_path):
    # replace_dir checks again and removes its staging folder
    from cococrowd.crops import replace_dir
    from cococrowd.cocofile import staging_dir
    stage = staging_dir(tmp_path, "crops")
    (stage / "a.png").write_bytes(b"x")
    (tmp_path / "target").mkdir()
    os.symlink(tmp_path / "target", tmp_path / "crops")
    with pytest.raises(FileExistsError, match="is a symbolic link"):
        replace_dir(stage, tmp_path / "crops")
    assert files_under(tmp_path) == {"target", "crops"}


def test_build_output_name_from_the_file_must_be_a_folder_name(tmp_path):
    root = tmp_path / "coco"
    write_world(root, random_world(seed=1, n_images=4), split="val2014", with_images=False)
    odd = root / "annotations" / "...json"          # its stem is '..': crops would replace OUT/..
    (root / "annotations" / "person_keypoints_val2014.json").rename(odd)
    result = CliRunner().invoke(main, ["build", "--annotations", str(odd), "--out", str(tmp_path / "out"),
                                       "--no-images", "--quiet"])
    one_error_line(result, "...json: its name gives the outputs the name '..'", "--split NAME")
    assert not (tmp_path / "out").exists()
