"""Give freed array memory back to the system at once while scoring.

glibc's malloc serves blocks above a threshold with their own mmap and unmaps
them on free, but it raises that threshold to the size of each such block
freed (up to 32 MB). After scoring frees the raw bytes of a results file, every
later array up to that size comes from the heap, where a small object allocated
after it keeps the freed pages resident. On the paper-sized validation set that
kept about 24 MB of dead arrays resident under the report's plots: a fresh
`bench score` peaked at 226 MB with the moving threshold and 202 MB with a fixed
1 MiB one, at the same speed (perf/score_speed.py).

A process-wide setting, so only `bench score` (and perf/score_speed.py, which
measures it) turn it on; training keeps glibc's default, which suits torch's
repeated large tensors.
"""
from __future__ import annotations

import ctypes

M_MMAP_THRESHOLD = -3        # mallopt(3) parameter; setting it also ends the moving threshold
THRESHOLD = 1 << 20


def release_large_blocks_promptly(threshold: int = THRESHOLD) -> bool:
    """Serve every block above ``threshold`` bytes by mmap, so that freeing it returns its memory.
    True when the C library took the setting (glibc); False elsewhere, where nothing changes."""
    try:
        libc = ctypes.CDLL(None)             # the symbols this process already has: its C library
        mallopt = libc.mallopt
        libc.gnu_get_libc_version          # glibc only: other C libraries' mallopt differs or is a stub
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_THRESHOLD, int(threshold)))


__all__ = ["release_large_blocks_promptly"]
