"""The fast-by-default choices: numeric precision and memory format, from what the device computes natively.

`--precision auto` is bf16 autocast where the hardware has bf16 arithmetic (CUDA compute capability >= 8.0;
CPUs with AVX512-BF16 or AMX), else fp32: emulated bf16 is slower than fp32, so it is never chosen blindly.
`--channels-last auto` is on for convolutional nets (oneDNN and cuDNN run NHWC convolutions faster) and off
for nets that are mostly matrix products (ViT, MLP), where the format only adds copies.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """The chosen precision: name ('fp32', 'bf16', 'fp16'), why it was chosen, and its autocast context."""

    name: str
    reason: str
    device_type: str

    @property
    def dtype(self) -> torch.dtype | None:
        return _DTYPES.get(self.name)

    def autocast(self) -> Any:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def scaler(self) -> torch.amp.GradScaler | None:
        """fp16 needs loss scaling (its range is small); bf16 has fp32's range and does not."""
        return torch.amp.GradScaler(self.device_type) if self.name == "fp16" else None


def cpu_bf16_native(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """True when this CPU has bf16 dot-product instructions (AVX512-BF16 or AMX-BF16)."""
    capability = torch.backends.cpu.get_cpu_capability()  # 'AVX512', 'AVX2', ..., 'AMX' on some builds
    if "AMX" in capability.upper():
        return True
    try:
        flags = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def cuda_bf16_native(device: torch.device) -> bool:
    """True for CUDA devices of compute capability 8.0 or newer (Ampere on), which have bf16 tensor cores."""
    return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8


def choose_precision(requested: str, device: torch.device, cpu_probe: Callable[[], bool] | None = None) -> Precision:
    """Resolve 'auto' (or a requested precision the device cannot run) to the one that will be used."""
    native = cuda_bf16_native(device) if device.type == "cuda" else (cpu_probe or cpu_bf16_native)()
    where = "this GPU" if device.type == "cuda" else "this CPU"
    if requested == "auto":
        if native:
            return Precision("bf16", f"auto: {where} computes bf16 natively", device.type)
        return Precision("fp32", f"auto: {where} has no native bf16", device.type)
    if requested == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return Precision("fp16", "bf16 asked for; this GPU has none, fp16 with a grad scaler instead", device.type)
    return Precision(requested, "asked for", device.type)


def is_convolutional(model: nn.Module) -> bool:
    """A net whose compute is mostly convolutions: more than one spatial Conv2d (a ViT has one, its patch
    embedding; an MLP has none)."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    return len(convs) > 1


def choose_channels_last(requested: str, model: nn.Module, device: torch.device) -> tuple[bool, str]:
    """(use channels_last, why)."""
    if requested != "auto":
        return requested == "on", "asked for"
    if not is_convolutional(model):
        return False, "auto: not a convolutional net"
    if device.type == "cuda" and torch.cuda.get_device_capability(device)[0] < 7:
        return False, "auto: this GPU has no tensor cores"
    return True, "auto: convolutional net"
