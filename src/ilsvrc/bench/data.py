"""The data suite: torchvision's per-image training pipeline vs ilsvrc's packed data + batched augmentation.

(a) torchvision, as its reference classification scripts do it: ImageFolder + RandomResizedCrop +
    RandomHorizontalFlip + ToTensor + Normalize, DataLoader(num_workers=2, shuffle=True); images/s over whole
    epochs after the first batch.
(b) ilsvrc: `pack` once (timed separately), then the memory-mapped packed set + BatchLoader(shuffle=True) +
    TrainAugment("random-resized-crop") on the CPU, in the main process: images/s of finished, normalised
    float32 (B, 3, N, N) batches with the default backend (the native C kernel when a compiler exists), and
    with PyTorch ops only (what a machine without a C compiler, or a GPU batch, runs) for comparison.
(c) ilsvrc's JPEG-payload pack (the format for ImageNet-scale data): JPEG bytes in shards, decoded with
    torchvision.io.decode_jpeg over a thread pool, Inception crops from each whole image, flips, normalisation.
All produce what a training step consumes.
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


def jpeg_images_per_s(packed: Path, size: int, batch: int, seconds: float, mean, std) -> dict:
    from ilsvrc.data import TrainAugment
    from ilsvrc.data.jpeg_pack import JpegPack

    pack = JpegPack(packed)
    normalise = TrainAugment("none", size, mean, std)  # uint8 (B, S, S, 3) -> float32 (B, 3, S, S), no resampling
    g = torch.Generator().manual_seed(0)
    n, epoch, t0 = 0, 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        order = torch.randperm(len(pack), generator=torch.Generator().manual_seed(epoch)).tolist()
        for i in range(0, len(order) - batch + 1, batch):
            out = normalise(pack.random_resized_crops(sorted(order[i : i + batch]), size, g), g)
            n += out.shape[0]
        epoch += 1
    dt = time.perf_counter() - t0
    return {"images": n, "seconds": dt, "images_per_s": n / dt}


def _pack_jpeg_timed(data: str, out: Path, size: int) -> tuple[dict, float]:
    from ilsvrc.data.jpeg_pack import pack_jpeg
    from ilsvrc.data.layout import detect_format, image_tree_files

    paths, labels, classes, _ = image_tree_files(Path(data), detect_format(data), "train")
    t = time.perf_counter()
    meta = pack_jpeg(paths, labels, classes, out, max_side=size, quality=90, source=str(data))
    return meta, time.perf_counter() - t


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
        jmeta, jpack_s = _pack_jpeg_timed(data, tmp / "jpeg", size)
        jpeg = jpeg_images_per_s(tmp / "jpeg", size, batch, seconds, jmeta["mean"], jmeta["std"])
        raw_bytes = (tmp / "packed" / "images.npy").stat().st_size
        jpeg_bytes = sum(s["bytes"] for s in jmeta["shards"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "suite": "data",
        "baseline_images_per_s": round(tv["images_per_s"], 1),
        "ilsvrc_images_per_s": round(fused["images_per_s"], 1),
        "ratio": round(fused["images_per_s"] / tv["images_per_s"], 2),
        "ilsvrc_backend": "native C kernel" if native.available() else "PyTorch ops",
        "ilsvrc_torch_ops_images_per_s": round(eager["images_per_s"], 1),
        "jpeg_images_per_s": round(jpeg["images_per_s"], 1),
        "jpeg_ratio": round(jpeg["images_per_s"] / tv["images_per_s"], 2),
        "raw_pack_bytes": raw_bytes,
        "jpeg_pack_bytes": jpeg_bytes,
        "jpeg_pack_seconds": round(jpack_s, 2),
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
        "jpeg": "JPEG-payload pack (shorter side <= size, quality 90) + decode_jpeg on a thread pool + "
        "random-resized-crop of each whole image + flip + normalise, main process",
        "machine": describe(),
    }
    log(f"\n{'pipeline':<22}{'images/s':>12}{'x baseline':>12}   ({size}px, batch {batch})")
    rows = [("torchvision (a)", tv), ("ilsvrc raw (b)", fused), ("ilsvrc raw, torch ops", eager)]
    rows.append(("ilsvrc jpeg (c)", jpeg))
    for name, ips in rows:
        log(f"{name:<22}{ips['images_per_s']:>12.0f}{ips['images_per_s'] / tv['images_per_s']:>12.2f}")
    log(
        f"packing {meta['count']} images once: raw {pack_s:.1f} s, {raw_bytes / 1e6:.1f} MB; "
        f"jpeg {jpack_s:.1f} s, {jpeg_bytes / 1e6:.1f} MB"
    )
    log(f"ilsvrc backend: {result['ilsvrc_backend']}")
    return result
