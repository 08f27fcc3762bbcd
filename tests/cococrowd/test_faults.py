"""Issue 9, item 11: a read-only output folder or a full disk is one `error:` line naming the
output path and the system's reason, exit 2, and nothing partial: no output file, no staging.
The tests run as root here, where permissions do not bite, so the faults are injected where the
writers meet the OS (mkstemp/mkdtemp for read-only, writes for ENOSPC)."""
from __future__ import annotations

import errno

import pytest
from click.testing import CliRunner
from tests.helpers.faults import EACCES, ENOSPC, _all, _disk_full, _one_error, _read_only
from PIL import Image

from cococrowd.build import run_build
from cococrowd.cli import main
from tests.helpers.tinycoco import random_world, write_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    write_world(root / "coco", random_world(seed=3, n_images=10))
    run_build(split="train2014", coco_root=root / "coco", out=root / "base", progress=False, workers=1)
    return root


def _build(world, out, images=True):
    args = ["build", "--split", "train2014", "--coco-root", str(world / "coco"), "--out", str(out), "--quiet",
            "--workers", "1"]
    return CliRunner().invoke(main, args + ([] if images else ["--no-images"]))


@pytest.mark.parametrize("images", [True, False])
def test_build_read_only_output(world, tmp_path, monkeypatch, images):
    out = tmp_path / "out"
    out.mkdir()
    _read_only(monkeypatch, out)
    line = _one_error(_build(world, out, images), str(out), EACCES)
    assert "source image" not in line
    assert [p for p in _all(out) if (out / p).is_file() or p.name.startswith(".")] == []  # mkdir is not faked


def test_build_no_images_disk_full(world, tmp_path, monkeypatch):
    out = tmp_path / "out"
    _disk_full(monkeypatch)
    _one_error(_build(world, out, images=False), str(out / "annotations" / "crowd_train2014.json"), ENOSPC)
    assert [p for p in _all(out) if p.suffix] == []  # at most the empty annotations folder


def test_build_with_images_disk_full_blames_the_output_not_the_source(world, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real_save = Image.Image.save

    def save(self, fp, *a, **k):
        if str(fp).startswith(str(out)):
            raise OSError(errno.ENOSPC, ENOSPC)
        return real_save(self, fp, *a, **k)
    monkeypatch.setattr(Image.Image, "save", save)
    line = _one_error(_build(world, out), str(out / "train2014"), ENOSPC, "cannot write")
    assert "source image" not in line and "cannot read" not in line and "coco/train2014" not in line
    assert _all(out) == []


@pytest.mark.parametrize("which", ["manifest", "crowd_train2014.json"])
def test_build_disk_full_late_keeps_the_previous_build_whole(world, tmp_path, monkeypatch, which):
    out = tmp_path / "out"
    assert _build(world, out).exit_code == 0
    before = {p: (out / p).read_bytes() for p in _all(out) if (out / p).is_file()}
    _disk_full(monkeypatch, only=which)
    res = CliRunner().invoke(main, ["build", "--split", "train2014", "--coco-root", str(world / "coco"), "--out",
                                    str(out), "--quiet", "--workers", "1", "--margin", "3"])
    target = "manifest_train2014.json" if which == "manifest" else "annotations/crowd_train2014.json"
    _one_error(res, str(out / target), ENOSPC)
    assert {p: (out / p).read_bytes() for p in _all(out) if (out / p).is_file()} == before  # crops included
    assert not [p for p in _all(out) if p.name.startswith(".")]  # no temporary or staging left


def test_split_faults(world, tmp_path, monkeypatch):
    crowd = world / "base" / "annotations" / "crowd_train2014.json"
    out = tmp_path / "halves"
    out.mkdir()
    with monkeypatch.context() as m:
        _read_only(m, out)
        _one_error(CliRunner().invoke(main, ["split", "--in", str(crowd), "--out-dir", str(out)]), str(out), EACCES)
    assert _all(out) == []
    for half in ("val", "test"):  # either half: the other must not be left alone
        with monkeypatch.context() as m:
            _disk_full(m, only=f"_{half}.json")
            _one_error(CliRunner().invoke(main, ["split", "--in", str(crowd), "--out-dir", str(out)]),
                       str(out / f"crowd_train2014_{half}.json"), ENOSPC)
        assert _all(out) == []


def test_stats_disk_full_at_stats_md_leaves_no_csv(world, tmp_path, monkeypatch):
    crowd = world / "base" / "annotations" / "crowd_train2014.json"
    out = tmp_path / "stats"
    _disk_full(monkeypatch, only="stats.md")
    _one_error(CliRunner().invoke(main, ["stats", "--crowd", str(crowd), "--out", str(out)]), str(out / "stats.md"), ENOSPC)
    assert [p for p in _all(out) if (out / p).is_file()] == []
    monkeypatch.undo()
    res = CliRunner().invoke(main, ["stats", "--crowd", str(crowd), "--out", str(out)])
    assert res.exit_code == 0 and (out / "stats.md").is_file() and (out / "summary.csv").is_file()


def test_stats_read_only(world, tmp_path, monkeypatch):
    crowd = world / "base" / "annotations" / "crowd_train2014.json"
    out = tmp_path / "stats"
    out.mkdir()
    _read_only(monkeypatch, out)
    _one_error(CliRunner().invoke(main, ["stats", "--crowd", str(crowd), "--out", str(out)]), str(out), EACCES)
    assert _all(out) == []


@pytest.mark.parametrize("images", [True, False])
def test_jitter_faults(world, tmp_path, monkeypatch, images):
    crowd = world / "base" / "annotations" / "crowd_train2014.json"
    out = tmp_path / "jit"
    out.mkdir()
    args = ["jitter", "--in", str(crowd), "--px", "4", "--out-dir", str(out), "--quiet", "--workers", "1"]
    args += [] if images else ["--no-images"]
    with monkeypatch.context() as m:
        _read_only(m, out)
        _one_error(CliRunner().invoke(main, args), str(out), EACCES)
    assert _all(out) == []
    _disk_full(monkeypatch)
    _one_error(CliRunner().invoke(main, args), str(out / "crowd_train2014_jitter4.json"), ENOSPC)
    assert [p for p in _all(out) if (out / p).is_file() or p.name.startswith(".")] == []
