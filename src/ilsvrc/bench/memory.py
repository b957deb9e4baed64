"""The memory suite: measured peak memory of one training step against the analysis estimate.

Estimate: `ilsvrc.summarize(train=True)` (weights, gradients, momentum, activations saved for backward).
Measured: `measure_training_step` (CUDA allocator peak, or the PyTorch profiler's live tensor bytes on CPU).
"""

from __future__ import annotations

from ilsvrc.bench.machine import describe

DEFAULT_CASES = [("resnet20", 32, 128), ("resnet18", 224, 32), ("vgg16", 224, 8), ("googlenet", 224, 16)]


def run_memory(cases: list[tuple[str, int, int]] | None = None, log=print) -> dict:
    from ilsvrc.analysis.summary import summarize
    from ilsvrc.models import create_model

    rows = []
    for name, size, batch in cases or DEFAULT_CASES:
        summary = summarize(create_model(name), size, batch, train=True, measure=True, name=name)
        estimate = summary.totals["training_bytes_estimate"]
        measured = summary.measured["peak_bytes"]
        row = {
            "model": name,
            "input_size": size,
            "batch_size": batch,
            "estimate_mb": estimate / 2**20,
            "measured_mb": measured / 2**20,
            "measured_over_estimate": measured / estimate,
            "method": summary.measured["method"],
        }
        rows.append(row)
        log(
            f"{name:>12s} @{size} batch {batch}: estimate {row['estimate_mb']:8.1f} MiB, measured "
            f"{row['measured_mb']:8.1f} MiB ({row['measured_over_estimate']:.2f}x)"
        )
    return {"suite": "memory", "machine": describe(), "rows": rows}
