"""Decode image files once into fixed-size uint8 RGB arrays: shorter side to `size`, then a centre crop.

Shared by `ilsvrc pack` and by loading an ImageFolder/ImageNet tree directly, so both give the same pixels.
Pillow releases the GIL while decoding and resizing, so a thread pool uses every core.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

# Files larger than this many pixels are refused before decoding (a decompression-bomb guard; Pillow's own
# limit only warns below twice its default). 16k x 16k is far above any ImageNet photo.
MAX_PIXELS = 16384 * 16384

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")


class DecodeError(Exception):
    """A file that could not be read as an image; the message says why."""


def decode_image(path: str | Path, size: int) -> np.ndarray:
    """One file -> uint8 (size, size, 3): grey/CMYK/palette to RGB, shorter side resized, centre-cropped."""
    from PIL import Image

    try:
        if os.path.getsize(path) == 0:
            raise DecodeError("empty file (0 bytes)")
        with Image.open(path) as img:
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise DecodeError(f"{w}x{h} pixels exceeds the decompression-bomb limit of {MAX_PIXELS}")
            if img.format == "JPEG":
                img.draft(
                    "RGB", (size, size)
                )  # let libjpeg decode at 1/2, 1/4 or 1/8 scale when that still covers size
            if img.mode.startswith("I;16") or img.mode == "I":  # 16-bit greyscale: keep the top 8 bits, not a clip
                wide = np.asarray(img, dtype=np.int64)
                img = Image.fromarray((wide >> 8 if wide.max() > 255 else wide).clip(0, 255).astype(np.uint8))
            elif img.mode == "F":
                img = Image.fromarray(np.asarray(img, dtype=np.float32).clip(0, 255).astype(np.uint8))
            img = img.convert("RGB")  # also forces the full decode, so truncated files fail here
            w, h = img.size
            s = min(w, h)
            box = ((w - s) / 2, (h - s) / 2, (w + s) / 2, (h + s) / 2)  # the centred square, in source pixels
            out = img.resize((size, size), Image.Resampling.BILINEAR, box=box)  # antialiased when shrinking
            return np.asarray(out, dtype=np.uint8)
    except DecodeError:
        raise
    except Exception as err:  # Pillow raises many types for bad files (OSError, SyntaxError, ValueError, ...)
        raise DecodeError(f"{type(err).__name__}: {err}".strip()) from None


def decode_many(
    paths: Sequence[str | Path],
    size: int,
    out: np.ndarray,
    *,
    workers: int | None = None,
    on_done: Callable[[int], None] | None = None,
) -> list[tuple[int, str]]:
    """Decode `paths` into `out[i]` (uint8 (N, size, size, 3)); return [(index, reason)] for files that failed.

    Failed rows are left as zeros. `on_done(k)` is called after every k finished files (for a progress bar).
    """
    workers = workers or min(8, os.cpu_count() or 1)
    failed: list[tuple[int, str]] = []

    def work(i: int) -> tuple[int, str | None]:
        try:
            out[i] = decode_image(paths[i], size)
            return i, None
        except DecodeError as err:
            out[i] = 0
            return i, str(err)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, reason in pool.map(work, range(len(paths))):
            if reason is not None:
                failed.append((i, reason))
            if on_done is not None:
                on_done(1)
    return failed
