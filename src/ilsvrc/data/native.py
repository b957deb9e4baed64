"""A small C kernel for the CPU resampling in augment.py, compiled on first use and loaded with ctypes.

Why: on a CPU, per-output gathers written as PyTorch ops make several passes over a float32 batch and wake the
thread pool for each; this kernel does the whole crop + resize (bilinear, or antialiased when shrinking) + flip +
normalise + PCA shift in one pass per image, from uint8 straight to the float32 NCHW output (the job FFCV's and
DALI's native code does). It needs a C compiler (cc/gcc/clang) at first use; without one `available()` is False
and augment.py uses the PyTorch ops. The shared library is cached under $ILSVRC_CACHE or ~/.cache/ilsvrc, keyed
by the source and the CPU. Set ILSVRC_NO_NATIVE=1 to turn it off.
"""

from __future__ import annotations

import ctypes
import hashlib
import itertools
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

SOURCE = r"""
#include <stdint.h>
#include <stdlib.h>

/* For images b in [b_begin, b_end) of a uint8 (B, H, W, C) batch, separable filtering with per-output taps:
     out[b, c, i, j] = scale[c] * sum_s sum_t wy[b,i,s] wx[b,j,t] x[b, iy[b,i,s], ix[b,j,t], c] + shift[b, c]
   (ky taps per output row, kx per output column). Rows are blended first into a float buffer (contiguous,
   vectorised), then columns are gathered from it. */
int ilsvrc_resample(const uint8_t *x, int64_t H, int64_t W, int64_t C,
                    const int32_t *iy, const float *wy, int64_t ky, int64_t oh,
                    const int32_t *ix, const float *wx, int64_t kx, int64_t ow,
                    const float *scale, const float *shift, float *out, int64_t b_begin, int64_t b_end)
{
    const int64_t row = W * C;
    float *tmp = (float *)malloc(sizeof(float) * (size_t)(row + 16));
    int32_t *off = (int32_t *)malloc(sizeof(int32_t) * (size_t)(ow * kx * C));
    float *wgt = (float *)malloc(sizeof(float) * (size_t)(ow * kx * C));
    if (!tmp || !off || !wgt) { free(tmp); free(off); free(wgt); return 1; }
    for (int64_t b = b_begin; b < b_end; ++b) {
        const uint8_t *img = x + b * H * row;
        const int32_t *yb = iy + b * oh * ky, *xb = ix + b * ow * kx;
        const float *vb = wy + b * oh * ky, *hb = wx + b * ow * kx;
        for (int64_t c = 0; c < C; ++c)  /* per channel: column offsets and weights, scale folded in */
            for (int64_t j = 0; j < ow; ++j)
                for (int64_t t = 0; t < kx; ++t) {
                    off[(c * ow + j) * kx + t] = xb[j * kx + t] * (int32_t)C + (int32_t)c;
                    wgt[(c * ow + j) * kx + t] = hb[j * kx + t] * scale[c];
                }
        for (int64_t i = 0; i < oh; ++i) {
            const int32_t *ys = yb + i * ky;
            const float *vs = vb + i * ky;
            if (ky == 2) {  /* bilinear: one fused pass */
                const uint8_t *r0 = img + (int64_t)ys[0] * row, *r1 = img + (int64_t)ys[1] * row;
                const float p = vs[0], q = vs[1];
                for (int64_t k = 0; k < row; ++k) tmp[k] = p * (float)r0[k] + q * (float)r1[k];
            } else {
                const uint8_t *r = img + (int64_t)ys[0] * row;
                const float p = vs[0];
                for (int64_t k = 0; k < row; ++k) tmp[k] = p * (float)r[k];
            }
            for (int64_t s = (ky == 2 ? 2 : 1); s < ky; ++s) {
                const float p = vs[s];
                if (p == 0.0f) continue;
                const uint8_t *r = img + (int64_t)ys[s] * row;
                for (int64_t k = 0; k < row; ++k) tmp[k] += p * (float)r[k];
            }
            for (int64_t c = 0; c < C; ++c) {
                float *dst = out + ((b * C + c) * oh + i) * ow;
                const int32_t *o = off + c * ow * kx;
                const float *a = wgt + c * ow * kx;
                const float sh = shift[b * C + c];
                if (kx == 2) {
                    for (int64_t j = 0; j < ow; ++j)
                        dst[j] = a[2 * j] * tmp[o[2 * j]] + a[2 * j + 1] * tmp[o[2 * j + 1]] + sh;
                } else {
                    for (int64_t j = 0; j < ow; ++j) {
                        float acc = sh;
                        for (int64_t t = 0; t < kx; ++t) acc += a[j * kx + t] * tmp[o[j * kx + t]];
                        dst[j] = acc;
                    }
                }
            }
        }
    }
    free(tmp); free(off); free(wgt);
    return 0;
}
"""

_LOCK = threading.Lock()
_STATE: dict = {}


def _cache_dir() -> Path:
    return Path(os.environ.get("ILSVRC_CACHE") or Path.home() / ".cache" / "ilsvrc") / "native"


def _cpu_key() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            info = "".join(line for line in f if line.startswith(("model name", "flags")))[:4000]
    except OSError:
        info = platform.processor()
    return platform.machine() + info


def _build() -> ctypes.CDLL | None:
    if os.environ.get("ILSVRC_NO_NATIVE") or sys.platform == "win32":
        return None
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        return None
    flags = ["-O3", "-march=native", "-fPIC", "-shared", "-fno-math-errno"]
    key = hashlib.sha256((SOURCE + " ".join(flags) + _cpu_key()).encode()).hexdigest()[:16]
    lib_path = _cache_dir() / f"resample-{key}.so"
    if not lib_path.exists():
        try:
            lib_path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=lib_path.parent) as tmp:
                src, so = Path(tmp) / "resample.c", Path(tmp) / "resample.so"
                src.write_text(SOURCE)
                subprocess.run([cc, *flags, str(src), "-o", str(so)], check=True, capture_output=True, timeout=120)
                os.replace(so, lib_path)  # atomic: concurrent builders (DDP ranks) never see a partial file
        except (OSError, subprocess.SubprocessError):
            return None
    try:
        lib = ctypes.CDLL(str(lib_path))
    except OSError:
        return None
    fn = lib.ilsvrc_resample
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    fn.argtypes = [ptr, i64, i64, i64, ptr, ptr, i64, i64, ptr, ptr, i64, i64, ptr, ptr, ptr, i64, i64]
    fn.restype = ctypes.c_int
    return lib


def available() -> bool:
    """Whether the compiled kernel can be used on this machine (builds it on the first call)."""
    with _LOCK:
        if "lib" not in _STATE:
            _STATE["lib"] = _build()
    return _STATE["lib"] is not None


def _pool(n: int) -> ThreadPoolExecutor:
    """A thread pool of n workers, recreated after a fork (a forked child inherits the pool but not its threads)."""
    with _LOCK:
        if _STATE.get("pool_key") != (n, os.getpid()):
            _STATE["pool"] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="ilsvrc-resample")
            _STATE["pool_key"] = (n, os.getpid())
        return _STATE["pool"]


def resample(x, iy, wy, ix, wx, scale, shift, out=None) -> torch.Tensor:
    """The kernel on CPU tensors (same arguments as augment._sample_separable); splits the batch over threads.

    iy, wy: (B, oh, ky) int32 row indices and float32 weights; ix, wx: (B, ow, kx); scale (C,); shift (B, C).
    out: an optional float32 (B, C, oh, ow) contiguous tensor to write into.
    """
    if not available():
        raise RuntimeError("the native resampling kernel is not available")
    x = x.contiguous()
    B, H, W, C = x.shape
    oh, ky = iy.shape[1], iy.shape[2]
    ow, kx = ix.shape[1], ix.shape[2]
    iy, ix = (t.to(torch.int32).contiguous() for t in (iy, ix))
    wy, wx, scale, shift = (t.to(torch.float32).contiguous() for t in (wy, wx, scale, shift))
    if out is None or out.shape != (B, C, oh, ow) or out.dtype != torch.float32 or not out.is_contiguous():
        out = torch.empty((B, C, oh, ow), dtype=torch.float32)
    fn = _STATE["lib"].ilsvrc_resample
    args = (
        x.data_ptr(), H, W, C,
        iy.data_ptr(), wy.data_ptr(), ky, oh,
        ix.data_ptr(), wx.data_ptr(), kx, ow,
        scale.data_ptr(), shift.data_ptr(), out.data_ptr(),
    )  # fmt: skip
    threads = max(1, min(torch.get_num_threads(), B))
    bounds = [B * k // threads for k in range(threads + 1)]
    if threads == 1:
        codes = [fn(*args, 0, B)]
    else:  # ctypes releases the GIL during the call, so the slices run in parallel
        futures = [_pool(threads).submit(fn, *args, lo, hi) for lo, hi in itertools.pairwise(bounds)]
        codes = [f.result() for f in futures]
    if any(codes):
        raise MemoryError("native resampling kernel could not allocate its buffers")
    return out
