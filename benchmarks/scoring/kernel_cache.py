"""Where the scoring kernels' numba cache lives, and one line on stderr while they compile.

numba's own cache sits beside the sources (``__pycache__``) or, with ``NUMBA_CACHE_DIR``, under a
folder named after the sources' absolute path: a new checkout compiles again either way. The
kernels of this package are cached instead in one folder of the user's cache,
``$NUMBA_CACHE_DIR/cococrowd-scoring`` when that is set, else ``$XDG_CACHE_HOME/cococrowd/numba``
(``~/.cache/cococrowd/numba``), keyed by the content of the package's sources: any checkout of
the same code loads it, and a change to any file of the package compiles everything again (a
kernel's cache holds the kernels it calls, which may live in another file).
"""
from __future__ import annotations

import functools
import hashlib
import os
import sys
from pathlib import Path

from numba.core import caching, config, event

PACKAGE = Path(__file__).resolve().parent
COMPILE_LINE = "compiling the scoring kernels once (about 10 s; cached in {}) ..."


def cache_dir() -> Path:
    if config.CACHE_DIR:                      # numba's reading of NUMBA_CACHE_DIR
        return Path(config.CACHE_DIR) / "cococrowd-scoring"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cococrowd" / "numba"


@functools.lru_cache(maxsize=None)
def _package_stamp() -> str:
    h = hashlib.sha256()
    for f in sorted(PACKAGE.glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


class _PackageLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
    """numba's cache locator interface (the one its own locators implement)."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno

    def get_cache_path(self):
        return str(cache_dir())

    def get_source_stamp(self):
        return _package_stamp()

    @classmethod
    def from_function(cls, py_func, py_file):
        if Path(py_file).resolve().parent != PACKAGE:
            return None
        return super().from_function(py_func, py_file)   # None when the folder is not writable


class _AnnounceCompile(event.Listener):
    """Says once per process that a kernel of this package compiles (a cache miss)."""

    said = False

    def on_start(self, ev):
        module = getattr(ev.data["dispatcher"].py_func, "__module__", "") or ""
        if not self.said and module.startswith(__package__ + "."):
            self.said = True
            print(COMPILE_LINE.format(cache_dir()), file=sys.stderr, flush=True)

    def on_end(self, ev):
        pass


if _PackageLocator not in caching.CacheImpl._locator_classes:
    caching.CacheImpl._locator_classes.insert(0, _PackageLocator)
    event.register("numba:compile", _AnnounceCompile())
