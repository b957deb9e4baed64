"""Keep freed CPU memory inside the process, so each training step reuses the pages of the step before.

glibc's malloc serves every block above its mmap threshold (32 MiB at most) with a fresh mmap and unmaps it
when freed. A training step allocates and frees the same activation and gradient buffers every step, so the
kernel maps, zeroes and faults in those pages again each time. Measured on a 2-core AMD EPYC VM (AVX2, fp32),
2026-12-07: speedrun_cifar at batch 1024 (cifar-fast) took 738,000 page faults and 1.9 s of kernel time per
5.8-s step, 175-178 images/s; with the pages kept, none and 211-221 images/s (+21-24%). Whole `ilsvrc train`
runs of the four-layer CIFAR net (batch 128, 25,000 images, 8 runs each, a noisy VM): median 1,218 -> 1,290
images/s; glibc alone swings between 0.2 and 3.4 million faults per run. Whole cifar-fast processes (20,000
images, 1 epoch, evaluated once): 215 and 211 s -> 155 and 174 s, 25.8 -> 0.75 million faults.
`mallopt(M_MMAP_MAX, 0)` makes malloc carve large blocks from the heap instead, and `mallopt(M_TRIM_THRESHOLD,
-1)` (glibc: "disables trimming completely") keeps freed heap for the next request. The price: memory freed after
the peak stays with the process (reusable, not returned) until it ends; peak RSS 1.24 -> 1.56 GB and 2.75 -> 3.25
GB in the runs above. ILSVRC_KEEP_MEMORY=0 keeps glibc's defaults. Other C libraries (musl, macOS, Windows) are
left alone.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc <malloc.h>
_applied: str | None = None


def keep_freed_memory() -> str:
    """Apply the two mallopt settings once per process; returns what this process uses, in words."""
    global _applied
    if _applied is None:
        _applied = _apply()
    return _applied


def _apply() -> str:
    if os.environ.get("ILSVRC_KEEP_MEMORY", "1") == "0":
        return "glibc default (ILSVRC_KEEP_MEMORY=0)"
    if not sys.platform.startswith("linux"):
        return "system default"
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 (raises AttributeError where the C library is not glibc)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return "system default (not glibc)"
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    if mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, -1) == 1:
        return "freed memory kept (glibc mallopt: no mmap, no trim)"
    return "glibc default (mallopt refused)"
