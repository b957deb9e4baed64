"""The data suite: torchvision's per-image training pipeline vs ilsvrc's packed data + batched augmentation.

(a) torchvision, as its reference classification scripts do it: ImageFolder + RandomResizedCrop +
    RandomHorizontalFlip + ToTensor + Normalize, DataLoader(num_workers=2, shuffle=True); images/s over whole
    epochs after the first batch.
(b) ilsvrc: `pack` once (timed separately), then the memory-mapped packed set + BatchLoader(shuffle=True) +
    TrainAugment("random-resized-crop") on the CPU, in the main process: images/s of finished, normalised
    float32 (B, 3, N, N) batches with the default backend (the native C kernel when a compiler exists), and
    with PyTorch ops only (what a machine without a C compiler, or a GPU batch, runs) for comparison.
Both produce what a training step consumes.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import torch

from ilsvrc.bench.machine import describe


def torchvision_images_per_s(data: str, size: int, batch: int, workers: int, epochs: int) -> dict:
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
    dt = time.perf_counter() - t0
    return {"images": n, "seconds": dt, "images_per_s": n / dt}


def ilsvrc_images_per_s(packed: Path, size: int, batch: int, seconds: float, backend: str) -> dict:
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


def run_data(
    data: str, size: int = 64, batch: int = 256, workers: int = 2, epochs: int = 2, seconds: float = 15.0, log=print
) -> dict:
    from ilsvrc.data import native, pack

    tv = torchvision_images_per_s(data, size, batch, workers, epochs)
    tmp = Path(tempfile.mkdtemp(prefix="ilsvrc-bench-"))
    try:
        t = time.perf_counter()
        meta = pack(data, tmp / "packed", size=size, progress=False)
        pack_s = time.perf_counter() - t
        fused = ilsvrc_images_per_s(tmp / "packed", size, batch, seconds, backend="auto")
        eager = ilsvrc_images_per_s(tmp / "packed", size, batch, seconds / 3, backend="torch")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "suite": "data",
        "baseline_images_per_s": round(tv["images_per_s"], 1),
        "ilsvrc_images_per_s": round(fused["images_per_s"], 1),
        "ratio": round(fused["images_per_s"] / tv["images_per_s"], 2),
        "ilsvrc_backend": "native C kernel" if native.available() else "PyTorch ops",
        "ilsvrc_torch_ops_images_per_s": round(eager["images_per_s"], 1),
        "warmup_s": round(fused["warmup_s"], 2),
        "pack_seconds": round(pack_s, 2),
        "pack_images_per_s": round(meta["count"] / pack_s, 1),
        "images": meta["count"],
        "size": size,
        "batch_size": batch,
        "baseline": "torchvision ImageFolder + RandomResizedCrop + RandomHorizontalFlip + ToTensor + Normalize, "
        f"DataLoader(num_workers={workers}, shuffle=True)",
        "ilsvrc": "ilsvrc pack (once) + memory-mapped load + BatchLoader(shuffle=True) + "
        "TrainAugment('random-resized-crop') on CPU, main process",
        "machine": describe(),
    }
    log(f"\n{'pipeline':<22}{'images/s':>12}{'x baseline':>12}   ({size}px, batch {batch})")
    for name, ips in [("torchvision (a)", tv), ("ilsvrc (b)", fused), ("ilsvrc, torch ops", eager)]:
        log(f"{name:<22}{ips['images_per_s']:>12.0f}{ips['images_per_s'] / tv['images_per_s']:>12.2f}")
    log(f"packing {meta['count']} images once: {pack_s:.1f} s ({meta['count'] / pack_s:.0f} images/s)")
    log(f"ilsvrc backend: {result['ilsvrc_backend']}")
    return result
