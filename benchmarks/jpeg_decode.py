"""Decode throughput of the JPEG-payload pack: CPU thread pool vs batched nvJPEG on CUDA.

Packs an image folder into a temporary JPEG pack (or reads an existing one), then times, per device, whole
batches of (a) decode_jpeg only and (b) decode + Inception crop + flip, images/s after one warm-up batch.
usage: python benchmarks/jpeg_decode.py --data ../shared/data/imagenette224/train [--pack DIR] [--json F]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

from ilsvrc.bench.data import _pack_jpeg_timed
from ilsvrc.bench.machine import describe
from ilsvrc.data.jpeg_pack import JpegPack


def images_per_s(step, n_images: int, batch: int, seconds: float) -> float:
    step(list(range(batch)))  # warm-up: thread pool, CUDA context, nvJPEG handles
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for start in range(0, n_images - batch + 1, batch):
            step(list(range(start, start + batch)))
            done += batch
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return done / (time.perf_counter() - t0)


def measure(pack: JpegPack, device: str, size: int, batch: int, seconds: float) -> dict:
    g = torch.Generator().manual_seed(0)

    def decode(idx):
        return pack.decode(idx, device=device)

    def decode_crop(idx):  # what training on a JPEG pack runs per batch (jpeg_dataset.JpegDataset.read_batch)
        return pack.random_resized_crops(idx, size, g, device=device)

    return {
        "device": device,
        "decode_images_per_s": round(images_per_s(decode, len(pack), batch, seconds), 1),
        "decode_crop_images_per_s": round(images_per_s(decode_crop, len(pack), batch, seconds), 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="an ImageFolder (class folders of images) to pack first")
    p.add_argument("--pack", help="an existing JPEG-payload pack instead of --data")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--json")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ilsvrc-jpeg-"))
    try:
        folder = Path(args.pack) if args.pack else tmp / "pack"
        if not args.pack:
            _pack_jpeg_timed(args.data, folder, round(args.size / 0.875))
        pack = JpegPack(folder)
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        rows = [measure(pack, d, args.size, args.batch_size, args.seconds) for d in devices]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {"suite": "jpeg-decode", "images": len(pack), "size": args.size, "batch_size": args.batch_size,
              "rows": rows, "machine": describe()}  # fmt: skip
    for r in rows:
        print(f"{r['device']:>5}: decode {r['decode_images_per_s']:>9.0f} images/s, "
              f"decode + crop {r['decode_crop_images_per_s']:>9.0f} images/s")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
