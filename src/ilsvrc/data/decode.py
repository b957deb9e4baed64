"""Decode image files once into fixed-size uint8 RGB arrays: shorter side to `size`, then a centre crop.

Shared by `ilsvrc pack` and by loading an ImageFolder/ImageNet tree directly, so both give the same pixels.
Pillow decodes, resample.center_square resizes (the one decode-time resampler); both release the GIL, so a
thread pool uses every core.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ilsvrc.data.resample import center_square

# A per-image memory budget, checked from the header before any pixel is decoded (a decompression-bomb guard that
# counts bytes, not pixels: a 16-bit or RGBA image costs more per pixel). Decoding holds the source pixels plus
# one 4-byte-per-pixel RGB copy; 512 MiB admits an 8000 x 8000 RGB PNG, and JPEGs are first drafted down.
MAX_DECODE_BYTES = 512 << 20
MAX_PIXELS = 16384 * 16384  # and never more pixels than this, whatever the mode

# Bumped whenever decode_image's pixels change (2: EXIF orientation, 16-bit by declared depth; 3: resized by
# resample.center_square, the one decode-time resampler), so cached decoded trees of an older decoder are not reused.
DECODER_VERSION = 3

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")

_ONE_BYTE_MODES = {"1", "L", "P"}
_SIXTEEN_BIT = ("I;16",)  # I;16, I;16B, I;16L, I;16N: one 16-bit channel


class DecodeError(Exception):
    """A file that could not be read as an image; the message says why."""


def _pil():
    """PIL.Image, with its own bomb warning silenced once: `decode_image` enforces a stricter byte budget, and
    a warning would add a second line to a one-line report."""
    import warnings

    from PIL import Image

    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    return Image


def source_bytes_per_pixel(mode: str) -> int:
    """Bytes Pillow holds per pixel of an image in `mode` (multi-band modes are stored 4 bytes wide)."""
    if mode in _ONE_BYTE_MODES:
        return 1
    if mode.startswith(_SIXTEEN_BIT):
        return 2
    return 4


def _check_budget(w: int, h: int, mode: str) -> int:
    """The bytes decoding a w x h image in `mode` needs; DecodeError past the per-image budget."""
    if w * h > MAX_PIXELS:
        raise DecodeError(f"{w}x{h} pixels exceeds the decompression-bomb limit of {MAX_PIXELS} pixels")
    need = w * h * (source_bytes_per_pixel(mode) + 4)
    if need > MAX_DECODE_BYTES:
        raise DecodeError(
            f"{w}x{h} {mode} image needs {need / 2**20:,.0f} MiB to decode, over the decompression-bomb budget of "
            f"{MAX_DECODE_BYTES >> 20} MiB per image"
        )
    return need


class _InFlight:
    """Bytes being decoded at once across decoding threads, capped at MAX_DECODE_BYTES: eight threads on eight
    large images wait their turn instead of holding 8 x 512 MiB. Each image needs at most the whole cap, so a
    waiter always gets its turn."""

    def __init__(self, cap: int) -> None:
        self.cap, self.used = cap, 0
        self.cond = threading.Condition()

    @contextlib.contextmanager
    def hold(self, need: int):
        with self.cond:
            self.cond.wait_for(lambda: self.used + need <= self.cap or self.used == 0)
            self.used += need
        try:
            yield
        finally:
            with self.cond:
                self.used -= need
                self.cond.notify_all()


_IN_FLIGHT = _InFlight(MAX_DECODE_BYTES)


def _to_8bit(img):
    """16-bit and 32-bit greyscale to 8 bits by the declared depth (top 8 bits of 16), never by clipping."""
    Image = _pil()
    import numpy as np

    if img.mode.startswith(_SIXTEEN_BIT):
        wide = np.asarray(img)  # uint16, 2 bytes a pixel
        return Image.fromarray((wide >> 8).astype(np.uint8))
    if img.mode == "I":  # 32-bit integers: 16-bit data stored wide (old PNG/TIFF readers) unless it fits a byte
        wide = np.asarray(img)
        top = int(wide.max(initial=0))
        shift = 8 if top > 255 else 0
        return Image.fromarray((np.clip(wide, 0, 65535) >> shift).clip(0, 255).astype(np.uint8))
    if img.mode == "F":
        return Image.fromarray(np.asarray(img, dtype=np.float32).clip(0, 255).astype(np.uint8))
    return img


def decode_image(path: str | Path, size: int, channels: int = 3) -> np.ndarray:
    """One file -> uint8 (size, size, channels): EXIF orientation applied, 16-bit to 8-bit by depth, grey/CMYK/
    palette to RGB (or to grey for channels=1), shorter side resized (antialiased), centre-cropped.

    The one decoder behind packing, image-tree loading and `ilsvrc predict`, so all three see the same pixels.
    """
    import stat

    Image = _pil()
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block open() forever, /dev/zero never ends
            raise DecodeError("not a regular file")
        if st.st_size == 0:
            raise DecodeError("empty file (0 bytes)")
        with Image.open(path) as img:
            need = _check_budget(*img.size, img.mode)
            if img.format == "JPEG":  # libjpeg decodes at 1/2, 1/4 or 1/8 scale when that still covers size
                img.draft("RGB" if channels == 3 else "L", (size, size))
                need = _check_budget(*img.size, img.mode)
            with _IN_FLIGHT.hold(need):
                return _decode_opened(img, size, channels)
    except DecodeError:
        raise
    except Exception as err:  # Pillow raises many types for bad files (OSError, SyntaxError, ValueError, ...)
        text = " ".join(f"{type(err).__name__}: {err}".split())
        raise DecodeError(text) from None


def _decode_opened(img, size: int, channels: int) -> np.ndarray:
    """The pixels of an opened image, once its budget is reserved."""
    from PIL import ImageOps

    img = ImageOps.exif_transpose(img)  # camera photos stored sideways; also forces the full decode
    img = _to_8bit(img).convert("RGB" if channels == 3 else "L")  # truncated files fail here
    pixels = torch.from_numpy(np.array(img, dtype=np.uint8).reshape(img.size[1], img.size[0], -1))  # (H, W, C)
    square = center_square(pixels.permute(2, 0, 1), size)  # (C, size, size), antialiased when shrinking
    return np.ascontiguousarray(square.permute(1, 2, 0).numpy())  # writable: torch.from_numpy takes it silently


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
