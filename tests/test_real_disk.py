"""Every writer on a real read-only file system and on a real full disk (tmpfs mounts; the test
skips where mounting is not allowed): one `error:` line that names the output (never a hidden
temporary path), exit 2, and nothing left behind, not even an empty folder.

The fault-injection tests fake the OS at one call; these let the kernel refuse every call."""
from __future__ import annotations

import subprocess

import pytest
from click.testing import CliRunner

from benchmarks.cli import main as bench
from cococrowd.cli import main as cococrowd


def _mount(target, options: str) -> None:
    target.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({res.stderr.decode().strip() or res.returncode})")


@pytest.fixture(scope="module")
def disks(tmp_path_factory):
    """A small world (source, COCO-crowd file, its test half, oracle results) and two mounts."""
    root = tmp_path_factory.mktemp("disks")
    read_only, full = root / "ro", root / "full"
    _mount(read_only, "ro,size=1m")
    try:
        _mount(full, "size=64k")
        try:
            subprocess.run(["dd", "if=/dev/zero", f"of={full / 'fill'}", "bs=1k", "count=1000"], capture_output=True)
            world, crowd = root / "world", root / "crowd"
            for cli, args in [(cococrowd, ["synth", "--out", world, "--images", "40", "--quiet"]),
                              (cococrowd, ["build", "--coco-root", world, "--split", "train2014", "--out", crowd,
                                           "--quiet"]),
                              (cococrowd, ["split", "--in", crowd / "annotations" / "crowd_train2014.json"]),
                              (bench, ["run", "--method", "oracle", "--gt",
                                       crowd / "annotations" / "crowd_train2014_test.json", "--out", root / "oracle",
                                       "--no-progress"])]:
                res = CliRunner().invoke(cli, [str(a) for a in args])
                assert res.exit_code == 0, res.output
            yield {"world": world, "crowd": crowd / "annotations", "oracle": root / "oracle",
                   "ro": read_only, "full": full}
        finally:
            subprocess.run(["umount", str(full)])
    finally:
        subprocess.run(["umount", str(read_only)])


def _commands(d, out):
    crowd, test = d["crowd"] / "crowd_train2014.json", d["crowd"] / "crowd_train2014_test.json"
    results = d["oracle"] / "results.json"
    return {
        "synth": (cococrowd, ["synth", "--out", out / "w", "--images", "5", "--quiet"]),
        "build": (cococrowd, ["build", "--coco-root", d["world"], "--split", "train2014", "--out", out / "c",
                              "--quiet"]),
        "split": (cococrowd, ["split", "--in", crowd, "--out-dir", out / "s"]),
        "jitter": (cococrowd, ["jitter", "--in", crowd, "--source-images", d["world"] / "train2014",
                               "--out-dir", out / "j", "--px", "8", "--quiet"]),
        "stats": (cococrowd, ["stats", "--crowd", crowd, "--out", out / "st"]),
        "show": (cococrowd, ["show", "--crowd", crowd, "--source-images", d["world"] / "train2014",
                             "--out", out / "sh"]),
        "crowd-index --out": (cococrowd, ["crowd-index", "--in", crowd, "--out", out / "ci.csv"]),
        "crowd-index --write": (cococrowd, ["crowd-index", "--in", crowd, "--write", out / "ci.json"]),
        "bench score": (bench, ["score", "--gt", test, "--results", results, "--out", out / "sc"]),
        "bench analyze": (bench, ["analyze", "--gt", test, "--results", results, "--out", out / "an"]),
        "bench run": (bench, ["run", "--method", "oracle", "--gt", test, "--out", out / "run", "--no-progress"]),
        "bench report": (bench, ["report", d["oracle"], "--out", out / "rep.md"]),
    }


COMMANDS = ["synth", "build", "split", "jitter", "stats", "show", "crowd-index --out", "crowd-index --write",
            "bench score", "bench analyze", "bench run", "bench report"]


@pytest.mark.parametrize("disk,reason", [("ro", "Read-only file system"), ("full", "No space left on device")])
@pytest.mark.parametrize("name", COMMANDS)
def test_every_writer_fails_cleanly_on_a_real_disk(disks, disk, reason, name):
    out = disks[disk]
    before = sorted(p.name for p in out.iterdir())
    cli, args = _commands(disks, out)[name]
    res = CliRunner().invoke(cli, [str(a) for a in args])
    lines = res.output.strip().splitlines()
    assert res.exit_code == 2 and lines and lines[-1].startswith("error: "), res.output
    assert "Traceback" not in res.output and not [ln for ln in lines[:-1] if ln.startswith("error")], res.output
    line = lines[-1]
    assert f"error: {out}/" in line and line.endswith(f": cannot write ({reason})"), line
    assert "/." not in line and ".part" not in line, line       # no hidden staging or temporary path
    assert sorted(p.name for p in out.iterdir()) == before      # nothing left, not even a folder
