"""Where the time of a training step goes: torch.profiler's per-operator table for a few engine-style steps.

    python benchmarks/profile_step.py resnet18 --size 64 --batch-size 64 --out benchmarks/results/profile.txt

Each step is what the engine runs on CPU: uint8 batch -> batched augmentation -> channels_last forward ->
cross-entropy -> backward -> foreach SGD. The table (operators sorted by their own CPU time) goes to stdout
and to --out, with the share of the step spent in convolutions, matrix multiplies, normalisation and the rest.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

GROUPS = {
    "convolution": ("conv", "mkldnn_convolution", "convolution_backward"),
    "matmul": ("addmm", "mm", "bmm", "matmul", "linear"),
    "batch norm": ("batch_norm", "native_batch_norm"),
    "optimizer": ("_foreach",),
    "augmentation": ("grid_sampler", "index", "flip", "crop"),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--out", help="write the table here too")
    ap.add_argument("--rows", type=int, default=25)
    args = ap.parse_args(argv)

    from torch.profiler import ProfilerActivity, profile

    from ilsvrc.data import TrainAugment
    from ilsvrc.models import create_model

    torch.manual_seed(0)
    model = create_model(args.model, num_classes=10).to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, foreach=True)
    kind = "pad-crop-flip" if args.size <= 32 else "random-resized-crop"
    augment = TrainAugment(kind, args.size, (0.5,) * 3, (0.25,) * 3)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.batch_size, args.size, args.size, 3), dtype=torch.uint8)
    labels = torch.randint(0, 10, (args.batch_size,))

    def step() -> None:
        x = augment(images, gen).contiguous(memory_format=torch.channels_last)
        out = model(x)
        logits = out[0] if isinstance(out, tuple) else out
        F.cross_entropy(logits, labels).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()  # warm-up outside the profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            step()
    averages = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in averages)
    shares: dict[str, float] = dict.fromkeys([*GROUPS, "other"], 0.0)
    for e in averages:
        group = next((g for g, keys in GROUPS.items() if any(k in e.key for k in keys)), "other")
        shares[group] += e.self_cpu_time_total / max(total, 1)
    lines = [
        f"{args.model} @{args.size}, batch {args.batch_size}, {args.steps} steps, torch threads "
        f"{torch.get_num_threads()}: {total / args.steps / 1e3:.1f} ms of operator self time per step",
        "share of self CPU time: " + ", ".join(f"{g} {100 * s:.1f}%" for g, s in shares.items()),
        averages.table(sort_by="self_cpu_time_total", row_limit=args.rows),
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(f"$ python benchmarks/profile_step.py {' '.join(argv or sys.argv[1:])}\n{text}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
