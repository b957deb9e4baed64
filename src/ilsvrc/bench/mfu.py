"""The MFU suite: training throughput of each model at its ImageNet size against the GEMM ceiling."""

from __future__ import annotations

from ilsvrc.bench.machine import describe, gemm_ceiling_gflops
from ilsvrc.bench.throughput import mfu, train_images_per_s

DEFAULT_MODELS = ["resnet50", "vgg16"]


def run_mfu(
    models: list[str] | None = None,
    input_size: int | None = None,
    batch_size: int = 16,
    steps: int = 3,
    device: str = "cpu",
    channels_last: bool = True,
    compile: bool = False,
    amp: bool = False,
    log=print,
) -> dict:
    from ilsvrc.models import get_card

    ceiling = gemm_ceiling_gflops(device=device)
    log(f"fp32 GEMM ceiling: {ceiling:.1f} GFLOP/s ({device})")
    results = {}
    for name in models or DEFAULT_MODELS:
        size = input_size or get_card(name).input_size
        ips = train_images_per_s(
            name, size, batch_size, steps=steps, device=device, channels_last=channels_last, compile=compile, amp=amp
        )
        results[name] = {
            "mfu": mfu(name, size, ips, ceiling),
            "images_per_s": ips,
            "gflops_ceiling": ceiling,
            "input_size": size,
            "batch_size": batch_size,
        }
        log(f"{name:>16s} @{size}: {ips:8.2f} images/s, MFU {results[name]['mfu']:.2f}")
    return {
        "suite": "mfu",
        "machine": describe(),
        "device": device,
        "channels_last": channels_last,
        "compile": compile,
        "amp": amp,
        "models": results,
    }
