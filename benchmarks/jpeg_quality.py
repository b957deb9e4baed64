"""A copy of a CIFAR python-batches folder with every image re-encoded as JPEG at a given quality.

The bundled CIFAR-10 went through JPEG at quality 75 (4:2:0 chroma) before it reached us, and the speed-run
recipe tops out near 92% on it where airbench94 reaches 94% on the lossless images. With no lossless copy here,
the dose-response is the measurable part: re-encode the copy at lower qualities (train and test alike, as the
q75 copy was made), train the same recipe on each, and see what each step of JPEG loss costs. The distance each
copy moved from its source (mean absolute error in grey levels, PSNR) is printed and written beside it, on the
same scale as ../shared/data/README.md's lossless-to-q75 figures (MAE 5.8, PSNR 29.9 dB).

    python benchmarks/jpeg_quality.py ../shared/data/cifar10/cifar-10-batches-py runs/cifar-q50 --quality 50
    python benchmarks/time_to_accuracy.py --cifar runs/cifar-q50 ...
"""

from __future__ import annotations

import argparse
import io
import json
import math
import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from ilsvrc.data.sources import read_cifar_batch

BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def reencode(images: np.ndarray, quality: int) -> np.ndarray:
    """(N, 32, 32, 3) uint8 -> the same images after one JPEG round trip (Pillow/libjpeg, 4:2:0 chroma)."""
    out = np.empty_like(images)
    for i, img in enumerate(images):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=quality, subsampling="4:2:0")
        out[i] = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return out


def distance(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Mean absolute error (grey levels, 0-255), mean squared error and PSNR (dB) between two uint8 image stacks."""
    diff = a.astype(np.float64) - b.astype(np.float64)
    mse = float(np.mean(diff**2))
    psnr = 10 * math.log10(255**2 / mse) if mse else math.inf
    return {"mae": float(np.mean(np.abs(diff))), "mse": mse, "psnr_db": psnr}


def convert(src: Path, dst: Path, quality: int) -> dict:
    """Write dst/ (batches re-encoded, batches.meta copied); returns the distances per batch and overall."""
    dst.mkdir(parents=True, exist_ok=False)  # never overwrite a copy a run may be reading
    shutil.copy(src / "batches.meta", dst / "batches.meta")
    per_batch, sizes = {}, {}
    for name in BATCHES:
        d = read_cifar_batch(src / name)
        flat = np.asarray(d["data"], dtype=np.uint8)  # (N, 3072): R, G, B planes of 32x32
        images = flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        coded = reencode(images, quality)
        dist = per_batch[name] = distance(images, coded)
        sizes[name] = len(images)
        d["data"] = np.ascontiguousarray(coded.transpose(0, 3, 1, 2).reshape(len(coded), -1))
        with open(dst / name, "wb") as f:
            pickle.dump({k.encode("latin1"): v for k, v in d.items()}, f, protocol=2)
        print(f"{name}: {len(images)} images, MAE {dist['mae']:.2f}, PSNR {dist['psnr_db']:.1f} dB")
    total = sum(sizes.values())  # every image has the same number of pixels: weight the batches by images
    mae, mse = (sum(per_batch[n][k] * sizes[n] for n in BATCHES) / total for k in ("mae", "mse"))
    overall = {"mae": mae, "psnr_db": 10 * math.log10(255**2 / mse)}
    return {"quality": quality, "subsampling": "4:2:0", "overall": overall, "per_batch": per_batch}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path, help="CIFAR python batches folder (data_batch_1..5, test_batch, batches.meta)")
    ap.add_argument("dst", type=Path, help="new folder (must not exist)")
    ap.add_argument("--quality", type=int, required=True, help="JPEG quality 1-95")
    args = ap.parse_args(argv)
    if not 1 <= args.quality <= 95:
        print(f"--quality must be 1-95, got {args.quality}", file=sys.stderr)
        return 2
    if args.dst.exists():
        print(f"{args.dst} exists; choose a new folder (nothing was written)", file=sys.stderr)
        return 2
    missing = [n for n in [*BATCHES, "batches.meta"] if not (args.src / n).is_file()]
    if missing:
        print(f"{args.src}: not a CIFAR python batches folder (missing {', '.join(missing)})", file=sys.stderr)
        return 2
    report = convert(args.src, args.dst, args.quality)
    (args.dst / "reencode.json").write_text(json.dumps(report, indent=1) + "\n")
    o = report["overall"]
    print(f"quality {args.quality}: MAE {o['mae']:.2f} grey levels, PSNR {o['psnr_db']:.1f} dB from {args.src}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
