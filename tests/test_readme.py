"""The README's commands run as written.

Every fenced block marked ``<!-- runs as written: tests/test_readme.py -->`` (the venv's
activation and "Next, on the demo") runs here exactly as written, in one bash shell, in a folder
that holds the demo world of the README's first command made smaller (its curation commands as
written, with ``--images 60`` instead of 300) and the repository's configs. The other blocks need
a COCO download, a GPU or hours of training.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
MARK = "<!-- runs as written: tests/test_readme.py -->"
FENCE = re.compile(r"```bash\n(.*?)```", re.S)


def _blocks(text: str) -> list[str]:
    return [m.group(1) for m in FENCE.finditer(text)]


def _marked(text: str) -> list[str]:
    """The blocks right below a line that is the mark (the README also names the mark in prose)."""
    return re.findall(r"^" + re.escape(MARK) + r"\n```bash\n(.*?)```", text, re.S | re.M)


def test_the_marked_blocks_are_the_demo_ones_after_the_two_set_up_commands():
    blocks, marked = _blocks(README), _marked(README)
    assert len(marked) >= 2 and all(b in blocks[2:] for b in marked)
    assert marked[0].strip() == ". .venv/bin/activate"
    assert "next:" in blocks[0] and "bench run --method oracle" in blocks[0]   # the demo names what follows


@pytest.mark.slow                                     # a few minutes: the smoke trains its 10 epochs
@pytest.mark.skipif(sys.prefix == sys.base_prefix or not (Path(sys.prefix) / "bin" / "activate").exists(),
                    reason="runs the README's venv activation: needs the tests to run in a venv")
def test_the_readme_runs_as_written_on_a_small_demo(tmp_path):
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    demo = [c for c in _blocks(README)[0].split(" && ") if "cococrowd" in c and "echo" not in c]
    assert len(demo) == 4 and "--images 300" in demo[0]
    demo[0] = demo[0].replace("--images 300", "--images 60")
    script = "set -euo pipefail\n" + "\n".join(demo) + "\n" + "\n".join(_marked(README))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = "/usr/bin:/bin"                      # bench and cococrowd only through the activation
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=1800)   # the smoke trains 10 epochs; slow on a loaded machine
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "demo" / "report.md").is_file()
    assert (tmp_path / "demo" / "runs" / "oracle_rescored" / "scores.json").is_file()
