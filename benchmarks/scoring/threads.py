"""The scoring layer's worker threads: numba kernels built with ``nogil=True`` (and
numpy's ufuncs) release the GIL, so independent parts of one evaluation (chunks of
images, groups of bootstrap resamples) run side by side on the machine's cores.
Every part writes its own rows of a shared output, so the numbers do not depend on
the number of threads or on their timing.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

MAX_THREADS = 4             # the evaluation's exp buffers and resample scratch grow with each
_pool: tuple[int, ThreadPoolExecutor] | None = None     # (pid that made it, pool)
_lock = threading.Lock()


def worker_threads() -> int:
    """Cores this process may use (taskset, cgroup cpusets), at most MAX_THREADS and at most
    NUMBA_NUM_THREADS when that is set (numba's own knob: 1 for many scorers side by side)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:               # not Linux
        n = os.cpu_count() or 1
    cap = os.environ.get("NUMBA_NUM_THREADS", "").strip()
    if cap.isdigit() and int(cap) > 0:
        n = min(n, int(cap))
    return max(1, min(MAX_THREADS, n))


def run_parts(fn, parts: list) -> None:
    """``fn(*part)`` for every part, on the worker threads when there are several of both."""
    global _pool
    if len(parts) < 2 or worker_threads() < 2:
        for part in parts:
            fn(*part)
        return
    with _lock:
        if _pool is None or _pool[0] != os.getpid():          # a forked child has none of the threads
            _pool = (os.getpid(), ThreadPoolExecutor(max_workers=worker_threads(), thread_name_prefix="scoring"))
    for future in [_pool[1].submit(fn, *part) for part in parts]:
        future.result()                  # the first failure is raised here


def row_ranges(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous (lo, hi) ranges covering range(n), none empty."""
    parts = max(1, min(parts, n))
    bounds = [n * i // parts for i in range(parts + 1)]
    return [(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]


__all__ = ["MAX_THREADS", "row_ranges", "run_parts", "worker_threads"]
