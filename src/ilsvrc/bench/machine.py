"""What machine a benchmark ran on, and its fp32 matrix-multiply ceiling (the MFU denominator)."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from datetime import datetime, timezone

import torch


def cpu_name() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def cpu_capability() -> str | None:
    """PyTorch's CPU kernel level on this machine (e.g. "AVX2", "AVX512"), None where torch cannot say."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):
        return None


def describe() -> dict:
    """Machine, versions and commit, stored with every benchmark result."""
    cpu = cpu_name()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "cpu": cpu,
        # the widest vector ISA PyTorch dispatches to ("AVX2", "AVX512"): one CPU model name ("AMD EPYC") covers
        # VMs that differ 2x in speed, so results say which kernels ran
        "cpu_capability": cpu_capability(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "commit": commit,
        "load_average_1min": round(os.getloadavg()[0], 2),  # other processes slow every number here
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def gemm_ceiling_gflops(
    sizes: tuple[int, ...] = (2048, 3072, 4096), repeats: int = 5, device: str = "cpu", dtype=torch.float32
) -> float:
    """Best fp32 GFLOP/s of square matrix multiplies over `sizes`: the practical ceiling MFU is measured against.

    A ceiling is a best case, so it takes the fastest of `repeats` timings at the best size (a median would let a
    busy machine lower the bar)."""
    best = 0.0
    for n in sizes:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        torch.mm(a, b)  # warm-up: thread pool, caches
        for _ in range(repeats):
            if device == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            torch.mm(a, b)
            if device == "cuda":
                torch.cuda.synchronize()
            best = max(best, 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best
