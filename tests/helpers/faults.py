"""Faults injected where the writers meet the OS (the tests run as root, where permissions do
not bite): a read-only output folder (mkstemp/mkdtemp fail with EACCES) and a full disk (writes
of temporary output files fail with ENOSPC), and the checks of a clean failure."""
from __future__ import annotations

import errno
import pathlib
import tempfile

ENOSPC = "No space left on device"
EACCES = "Permission denied"


def _read_only(monkeypatch, folder):
    """Creating anything inside ``folder`` fails as a read-only folder would (EACCES)."""
    folder = str(folder)
    real_mkstemp, real_mkdtemp = tempfile.mkstemp, tempfile.mkdtemp

    def mkstemp(*a, dir=None, **k):
        if dir is not None and str(dir).startswith(folder):
            raise PermissionError(errno.EACCES, EACCES, str(dir))
        return real_mkstemp(*a, dir=dir, **k)

    def mkdtemp(*a, dir=None, **k):
        if dir is not None and str(dir).startswith(folder):
            raise PermissionError(errno.EACCES, EACCES, str(dir))
        return real_mkdtemp(*a, dir=dir, **k)
    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)


def _disk_full(monkeypatch, suffix=".part", only=None):
    """Writing a temporary output file, or a file in a staging folder, fails with ENOSPC
    (``only``: names containing it)."""
    real_bytes, real_text = pathlib.Path.write_bytes, pathlib.Path.write_text

    def full(self):
        staged = self.name.endswith(suffix) or self.parent.name.endswith(suffix)
        return staged and (only is None or only in self.name)

    def write_bytes(self, data):
        if full(self):
            raise OSError(errno.ENOSPC, ENOSPC)
        return real_bytes(self, data)

    def write_text(self, data, *a, **k):
        if full(self):
            raise OSError(errno.ENOSPC, ENOSPC)
        return real_text(self, data, *a, **k)
    monkeypatch.setattr(pathlib.Path, "write_bytes", write_bytes)
    monkeypatch.setattr(pathlib.Path, "write_text", write_text)


def _all(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*")) if folder.exists() else []


def _one_error(res, *needles):
    assert res.exit_code == 2, (res.exit_code, res.output)
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in res.output, res.output
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]
