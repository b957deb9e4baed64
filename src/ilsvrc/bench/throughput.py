"""Training and inference throughput of one model on synthetic batches, and its MFU.

MFU = (6 x multiply-adds per image x images/s) / the measured fp32 GEMM ceiling: a training step
costs about 3 forward passes and a multiply-add is 2 FLOPs.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _make(name: str, device: torch.device, channels_last: bool) -> nn.Module:
    from ilsvrc.models import create_model

    model = create_model(name).to(device)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def train_images_per_s(
    name: str,
    input_size: int,
    batch_size: int,
    steps: int = 5,
    warmup: int = 2,
    device: str = "cpu",
    channels_last: bool = True,
    compile: bool = False,
    amp: bool = False,
) -> float:
    """Median images/s of full SGD training steps (forward, loss, backward, update) on random data."""
    dev = torch.device(device)
    model = _make(name, dev, channels_last).train()
    step_model = torch.compile(model) if compile else model
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, foreach=True)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(batch_size, 3, input_size, input_size, device=dev).to(memory_format=fmt)
    y = torch.randint(0, model.num_classes, (batch_size,), device=dev)
    times = []
    for i in range(warmup + steps):
        _sync(dev)
        t = time.perf_counter()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            out = step_model(x)
            logits = out[0] if isinstance(out, tuple) else out
            loss = nn.functional.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        _sync(dev)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return batch_size / statistics.median(times)


def inference_images_per_s(
    model: nn.Module,
    input_size: int,
    batch_size: int,
    steps: int = 5,
    device: str = "cpu",
    channels_last: bool = True,
    inference_mode: bool = False,
) -> float:
    """Median images/s of eval-mode forward passes on random data (works for any nn.Module).

    Runs under `torch.no_grad`, or `torch.inference_mode` when asked (as the toolkit serves its own models)."""
    dev = torch.device(device)
    model = model.to(dev).eval()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    x = torch.randn(batch_size, 3, input_size, input_size, device=dev).to(memory_format=fmt)
    times = []
    with torch.inference_mode() if inference_mode else torch.no_grad():
        model(x)  # warm-up: weight prepacking, thread pool, cuDNN autotuning
        for _ in range(steps):
            _sync(dev)
            t = time.perf_counter()
            model(x)
            _sync(dev)
            times.append(time.perf_counter() - t)
    return batch_size / statistics.median(times)


def mfu(name: str, input_size: int, images_per_s: float, ceiling_gflops: float) -> float:
    """Model FLOPs utilisation of a training run at `images_per_s`."""
    from ilsvrc.models.costs import model_costs

    macs = model_costs(name, input_size)["macs"]
    return 6 * macs * images_per_s / (ceiling_gflops * 1e9)
