"""A first `bench score` says that it compiles the numba kernels, and a new checkout of the same
code finds them in the cache (benchmarks/scoring/kernel_cache.py)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.scoring import three_image_world, write_json

ROOT = Path(__file__).resolve().parents[3]
LINE = "compiling the scoring kernels once"


def _score(checkout: Path, cache: Path, tmp: Path, out: str) -> subprocess.CompletedProcess:
    gt, res = three_image_world()
    gp, rp = write_json(tmp / "gt.json", gt), write_json(tmp / "res.json", res)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(checkout))
    return subprocess.run([sys.executable, "-m", "benchmarks.cli", "score", "--gt", str(gp), "--results", str(rp),
                           "--out", str(tmp / out), "--bootstrap", "20"],
                          cwd=tmp, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_a_first_run_says_it_compiles_and_a_new_checkout_finds_the_cache(tmp_path):
    cache = tmp_path / "numba cache"
    first = _score(ROOT, cache, tmp_path, "first")
    assert first.returncode == 0, first.stderr
    assert first.stderr.count(LINE) == 1, first.stderr
    assert any((cache / "cococrowd-scoring").glob("*.nbi"))
    again = _score(ROOT, cache, tmp_path, "again")
    assert again.returncode == 0 and LINE not in again.stderr, again.stderr
    clone = tmp_path / "clone"                        # another checkout of the same code, elsewhere
    for pkg in ("benchmarks", "cococrowd"):
        shutil.copytree(ROOT / pkg, clone / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    moved = _score(clone, cache, tmp_path, "clone")
    assert moved.returncode == 0 and LINE not in moved.stderr, moved.stderr
    assert (tmp_path / "clone" / "scores.json").exists()
