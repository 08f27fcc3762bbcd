"""Issue 9, item 12: a `cococrowd build` or `cococrowd jitter` with images killed by SIGKILL mid-way
leaves no live pool worker (they die with their parent: PR_SET_PDEATHSIG), and a rerun removes the
killed run's hidden staging folder and writes what a clean run writes, byte for byte."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cococrowd.cocofile import remove_stale

CLI = str(Path(sys.executable).with_name("cococrowd"))
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != b"Z"  # a zombie has ended; only its exit status waits to be collected


def _children(pid: int) -> set[int]:
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_bytes().rsplit(b")", 1)[1].split()
        except (FileNotFoundError, IndexError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _staging(out: Path) -> list[Path]:
    return [p for p in out.glob(".train2014.*.part")] if out.exists() else []


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("killworld")
    subprocess.run([CLI, "synth", "--out", str(root / "W"), "--split", "train2014", "--images", "300", "--seed", "0",
                    "--quiet", "--workers", "2"], check=True, capture_output=True)
    return root


def _build_cmd(world: Path, out: Path) -> list[str]:
    return [CLI, "build", "--split", "train2014", "--coco-root", str(world / "W"), "--out", str(out),
            "--workers", "2", "--quiet"]


def test_sigkill_mid_build_leaves_no_worker_and_a_rerun_equals_a_clean_run(world, tmp_path):
    out = tmp_path / "out"
    subprocess.run(_build_cmd(world, out), check=True, capture_output=True)
    clean = _tree(out)
    assert any(k.endswith(".png") for k in clean) and "annotations/crowd_train2014.json" in clean
    shutil.rmtree(out)

    workers = _kill_mid_way(_build_cmd(world, out), lambda: _staging(out))
    assert _staging(out), "the kill must land mid-way, with staging on disk"
    assert "annotations/crowd_train2014.json" not in _tree(out)  # nothing final was written
    _no_survivors(workers)

    subprocess.run(_build_cmd(world, out), check=True, capture_output=True)
    assert _staging(out) == [] and not [p for p in out.rglob(".*")]
    assert _tree(out) == clean


def _kill_mid_way(cmd: list[str], staged) -> set[int]:
    """Start ``cmd``, SIGKILL it once ``staged()`` holds a staging folder with 3+ PNGs while it
    has 2+ pool workers; returns those workers."""
    for _attempt in range(5):  # the crop phase is short: catch it while staging fills
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        workers: set[int] = set()
        while proc.poll() is None:
            stages = staged()
            if stages and len(list(stages[0].glob("*.png"))) >= 3:
                workers = _children(proc.pid)
                if len(workers) >= 2:
                    break
            time.sleep(0.002)
        if proc.poll() is None and workers:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return workers
        proc.wait()
    pytest.fail("never caught the run while it cut crops")


def _no_survivors(workers: set[int]) -> None:
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [p for p in workers if _alive(p)]
    for p in survivors:  # do not leave them behind even when the test fails
        os.kill(p, signal.SIGKILL)
    assert survivors == [], f"pool workers outlived their killed parent: {survivors}"


def test_sigkill_mid_jitter_leaves_no_worker_and_a_rerun_equals_a_clean_run(world, tmp_path):
    built = tmp_path / "built"
    subprocess.run(_build_cmd(world, built), check=True, capture_output=True)
    base = built / "annotations" / "crowd_train2014.json"

    def jitter_cmd(out: Path) -> list[str]:
        return [CLI, "jitter", "--in", str(base), "--px", "5", "--px", "10", "--workers", "2", "--quiet",
                "--out-dir", str(out / "annotations")]

    clean_dir = tmp_path / "clean"
    subprocess.run(jitter_cmd(clean_dir), check=True, capture_output=True)
    clean = _tree(clean_dir)
    assert "annotations/crowd_train2014_jitter10.json" in clean and any(k.endswith(".png") for k in clean)

    out = tmp_path / "out"
    staged = lambda: sorted(out.glob(".train2014_jitter*.part")) if out.exists() else []  # noqa: E731
    workers = _kill_mid_way(jitter_cmd(out), staged)
    assert staged(), "the kill must land mid-way, with staging on disk"
    assert not list(out.glob("annotations/*.json"))  # no level was written
    _no_survivors(workers)

    subprocess.run(jitter_cmd(out), check=True, capture_output=True)
    assert staged() == [] and not [p for p in out.rglob(".*")]
    assert _tree(out) == clean


def test_remove_stale_spares_live_writers(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / f".train2014.{dead.pid}-abc.part").mkdir()
    (tmp_path / f".train2014.{os.getppid()}-xyz.part").mkdir()  # a live process: maybe a concurrent build
    (tmp_path / f".crowd_train2014.json.{dead.pid}-q1.part").write_text("partial")
    (tmp_path / f".other.{dead.pid}-abc.part").mkdir()  # another output's: not ours to remove
    assert [p.name for p in remove_stale(tmp_path, "train2014")] == [f".train2014.{dead.pid}-abc.part"]
    assert [p.name for p in remove_stale(tmp_path, "crowd_train2014.json")] == [f".crowd_train2014.json.{dead.pid}-q1.part"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f".train2014.{os.getppid()}-xyz.part",
                                                                 f".other.{dead.pid}-abc.part"])
