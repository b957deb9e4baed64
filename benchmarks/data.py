"""Training-pipeline throughput: torchvision's per-image pipeline vs ilsvrc's packed data + batched augmentation.

    python benchmarks/data.py --data ../shared/data/imagenette224/train --size 64 --json benchmarks/results/data_64.json

(a) torchvision, as its reference classification scripts do it: ImageFolder + RandomResizedCrop + RandomHorizontalFlip
    + ToTensor + Normalize, DataLoader(num_workers=2, shuffle=True); images/s over whole epochs after the first batch.
(b) ilsvrc: `pack` once (timed separately), then the memory-mapped packed set + BatchLoader(shuffle=True) +
    TrainAugment("random-resized-crop") on the CPU, in the main process: images/s of finished, normalised
    float32 (B, 3, N, N) batches with the default backend (the native C kernel when a compiler exists), and with
    PyTorch ops only (what a machine without a C compiler, or a GPU batch, runs) for comparison.
Both produce the same thing a training step consumes. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch


def bench_torchvision(data: str, size: int, batch: int, workers: int, epochs: int) -> dict:
    import torchvision
    from torchvision import transforms as T

    tf = T.Compose(
        [
            T.RandomResizedCrop(size),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ]
    )
    ds = torchvision.datasets.ImageFolder(data, transform=tf)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=batch, shuffle=True, num_workers=workers, persistent_workers=workers > 0
    )
    n, t0 = 0, None
    for _ in range(epochs):
        for x, _y in loader:
            if t0 is None:  # start the clock after the first batch: worker start-up is not throughput
                t0 = time.perf_counter()
                continue
            n += x.shape[0]
    return {"images": n, "seconds": time.perf_counter() - t0, "images_per_s": n / (time.perf_counter() - t0)}


def bench_ilsvrc(packed: Path, size: int, batch: int, seconds: float, backend: str) -> dict:
    from ilsvrc.data import BatchLoader, TrainAugment, load_dataset

    ds = load_dataset(packed)
    loader = BatchLoader(ds, batch, shuffle=True, seed=0, drop_last=True)
    aug = TrainAugment("random-resized-crop", size, ds.mean, ds.std, backend=backend)
    g = torch.Generator().manual_seed(0)
    t = time.perf_counter()
    x, _ = next(iter(loader))
    aug(x, g)  # warm-up (and building the native kernel if it is not cached yet)
    warmup = time.perf_counter() - t
    n, epoch, t0 = 0, 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        loader.set_epoch(epoch)
        for x, _y in loader:
            out = aug(x, g)
            n += out.shape[0]
        epoch += 1
    dt = time.perf_counter() - t0
    return {"images": n, "seconds": dt, "images_per_s": n / dt, "warmup_s": warmup}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="an ImageFolder tree (class folders of JPEGs)")
    ap.add_argument("--size", type=int, default=64, help="training crop size in pixels (also the packed size)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--workers", type=int, default=2, help="torchvision DataLoader workers (its reference default)")
    ap.add_argument("--epochs", type=int, default=2, help="torchvision epochs to time")
    ap.add_argument("--seconds", type=float, default=15.0, help="how long to time the ilsvrc pipeline")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)

    from ilsvrc.data import pack

    print(f"torch threads: {torch.get_num_threads()}, cores: {os.cpu_count()}", file=sys.stderr)
    load_start = os.getloadavg()[0]
    tv = bench_torchvision(args.data, args.size, args.batch_size, args.workers, args.epochs)
    tmp = Path(tempfile.mkdtemp(prefix="ilsvrc-bench-"))
    try:
        t = time.perf_counter()
        meta = pack(args.data, tmp / "packed", size=args.size, progress=False)
        pack_s = time.perf_counter() - t
        fused = bench_ilsvrc(tmp / "packed", args.size, args.batch_size, args.seconds, backend="auto")
        eager = bench_ilsvrc(tmp / "packed", args.size, args.batch_size, args.seconds / 3, backend="torch")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    from ilsvrc.data import native

    best = fused  # what TrainAugment does by default on this machine
    result = {
        "baseline_images_per_s": round(tv["images_per_s"], 1),
        "ilsvrc_images_per_s": round(best["images_per_s"], 1),
        "ratio": round(best["images_per_s"] / tv["images_per_s"], 2),
        "ilsvrc_backend": "native C kernel" if native.available() else "PyTorch ops",
        "ilsvrc_torch_ops_images_per_s": round(eager["images_per_s"], 1),
        "warmup_s": round(fused["warmup_s"], 2),
        "pack_seconds": round(pack_s, 2),
        "pack_images_per_s": round(meta["count"] / pack_s, 1),
        "images": meta["count"],
        "size": args.size,
        "batch_size": args.batch_size,
        "baseline": "torchvision ImageFolder + RandomResizedCrop + RandomHorizontalFlip + ToTensor + Normalize, "
        f"DataLoader(num_workers={args.workers}, shuffle=True)",
        "ilsvrc": "ilsvrc pack (once) + memory-mapped load + BatchLoader(shuffle=True) + "
        "TrainAugment('random-resized-crop') on CPU, main process",
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torchvision": __import__("torchvision").__version__,
            "platform": platform.platform(),
        },
        "load_average_1min": {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)},
        "note": "the machine is shared: other processes' load (the 1-minute load average) slows both pipelines",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python benchmarks/data.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    rows = [
        ("torchvision (a)", tv["images_per_s"], 1.0),
        ("ilsvrc (b)", fused["images_per_s"], fused["images_per_s"] / tv["images_per_s"]),
        ("ilsvrc, torch ops", eager["images_per_s"], eager["images_per_s"] / tv["images_per_s"]),
    ]
    print(f"\n{'pipeline':<22}{'images/s':>12}{'x baseline':>12}   ({args.size}px, batch {args.batch_size})")
    for name, ips, r in rows:
        print(f"{name:<22}{ips:>12.0f}{r:>12.2f}")
    print(f"packing {meta['count']} images once: {pack_s:.1f} s ({meta['count'] / pack_s:.0f} images/s)")
    print(f"ilsvrc backend: {result['ilsvrc_backend']}; load average {load_start:.2f} -> {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
