"""The JPEG-payload packed format: resized JPEG bytes in shards with an index, for ImageNet-scale data.

The raw packed format stores decoded uint8 squares, which is fastest for small data but costs S*S*3 bytes per
image: ImageNet-1k at 256 px would be 252 GB. This format stores each image re-encoded as a JPEG whose shorter
side is at most `max_side` (never upscaled), the approach FFCV takes; ImageNet-1k at 256 px, quality 90, should be
about 25 KB per image, 32 GB in all (0.288 bytes a pixel measured on Imagenette; the README has the sums). A
folder holds

  meta.json          {"format": "ilsvrc-packed", "version": 2, "payload": "jpeg", "split", "count", "max_side",
                      "quality", "classes", "mean", "std", "shards": [{"name", "bytes", "sha256"}], "skipped"};
                      written last and atomically, so a folder with meta.json is complete
  index.npy          int64 (N, 4): shard number, byte offset, byte length, label
  sizes.npy          int32 (N, 2): stored height and width in pixels
  shard-00000.jpgs   the JPEG files of about SHARD_BYTES, back to back
  skipped.txt        files that could not be decoded, "path<TAB>reason" a line

Packing runs in chunks of CHUNK images over a thread pool (Pillow decodes and encodes, resample.py resizes; both
release the GIL); `pack-state.json` records the finished chunks and shard lengths, so an interrupted pack resumes
and ends byte-identical. Reading decodes with torchvision.io.decode_jpeg: on the CPU over a thread pool, on CUDA as one
batched nvJPEG call per batch. Training and evaluation read a pack through jpeg_dataset.JpegDataset.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ilsvrc.data.decode import MAX_PIXELS, DecodeError
from ilsvrc.data.packed import file_sha256, write_text_atomic
from ilsvrc.data.resample import center_square, resize_shorter
from ilsvrc.errors import UserError

FORMAT_NAME = "ilsvrc-packed"
FORMAT_VERSION = 2
CHUNK = 256  # images encoded and committed per resumable step
SHARD_BYTES = 1 << 30  # a new shard starts once the current one passes this size


def encode_image(path: str | Path, max_side: int, quality: int) -> tuple[bytes, np.ndarray]:
    """One file -> (JPEG bytes with the shorter side <= max_side, its uint8 (H, W, 3) pixels).

    EXIF orientation is applied, grey/CMYK/palette become RGB, and the pixel count is checked before decoding.
    """
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as img:
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise DecodeError(f"{w}x{h} pixels exceeds the decompression-bomb limit of {MAX_PIXELS}")
            scale = min(1.0, max_side / min(w, h))
            # An RGB JPEG that needs neither shrinking nor rotation is stored as it is: no second lossy encode.
            keep = img.format == "JPEG" and img.mode == "RGB" and scale == 1.0 and img.getexif().get(0x0112, 1) == 1
            if img.format == "JPEG":  # let libjpeg decode at 1/2, 1/4 or 1/8 scale when that still covers it
                img.draft("RGB", (max(1, round(w * scale)), max(1, round(h * scale))))
            img = ImageOps.exif_transpose(img).convert("RGB")  # also forces the decode: truncated files fail here
            pixels = np.asarray(img, dtype=np.uint8)
            if keep:
                return Path(path).read_bytes(), pixels
            if scale < 1.0:  # the one decode-time resampler (resample.py), as every reader of the pack uses
                chw = resize_shorter(torch.from_numpy(pixels.copy()).permute(2, 0, 1), min(max_side, *pixels.shape[:2]))
                pixels = np.ascontiguousarray(chw.permute(1, 2, 0).numpy())
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
            return buffer.getvalue(), pixels
    except DecodeError:
        raise
    except Exception as err:  # Pillow raises many types for bad files (OSError, SyntaxError, ValueError, ...)
        raise DecodeError(f"{type(err).__name__}: {err}".strip()) from None


def _atomic_json(path: Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=1) + "\n")


ROW = np.dtype([("shard", "<i8"), ("offset", "<i8"), ("length", "<i8"), ("label", "<i8"), ("h", "<i8"), ("w", "<i8")])


class _Writer:
    """Appends encoded images to shards and their rows to `rows.partial`; keeps pixel sums and resumable state.

    Rows go to an append-only file (not into the JSON state) so that a pack of a million images rewrites only a
    few hundred bytes of state per chunk.
    """

    def __init__(self, out: Path, state: dict) -> None:
        self.out, self.state = out, state
        self.sums = np.asarray(state["sums"], dtype=np.float64)  # rows: pixel count, sum, sum of squares; per RGB

    def shard_path(self, k: int) -> Path:
        return self.out / f"shard-{k:05d}.jpgs"

    def add_chunk(self, results: list[tuple[bytes, np.ndarray] | None], labels: Sequence[int]) -> None:
        shard = self.state["shard_bytes"]
        k = len(shard) - 1
        rows = []
        with open(self.shard_path(k), "ab") as f:
            for item, label in zip(results, labels, strict=True):
                if item is None:
                    continue
                data, pixels = item
                rows.append((k, f.tell(), len(data), int(label), pixels.shape[0], pixels.shape[1]))
                f.write(data)
                flat = pixels.reshape(-1, 3).astype(np.float64) / 255.0
                self.sums += np.stack([np.full(3, len(flat)), flat.sum(0), (flat * flat).sum(0)])
            f.flush()
            os.fsync(f.fileno())
            shard[k] = f.tell()
        with open(self.out / "rows.partial", "ab") as f:
            f.write(np.asarray(rows, dtype=ROW).tobytes())
            f.flush()
            os.fsync(f.fileno())
        self.state["rows"] += len(rows)
        if shard[k] >= SHARD_BYTES:
            shard.append(0)

    def commit(self, chunks_done: int, skipped: list[list[str]]) -> None:
        self.state.update(chunks=chunks_done, sums=self.sums.tolist(), skipped=skipped)
        _atomic_json(self.out / "pack-state.json", self.state)

    def read_rows(self) -> np.ndarray:
        return np.fromfile(self.out / "rows.partial", dtype=ROW, count=self.state["rows"])


def _start_state(out: Path, identity: dict) -> dict:
    """The saved state of an interrupted pack of the same files, or a fresh one (old shards removed)."""
    state_path = out / "pack-state.json"
    if state_path.is_file():
        state = json.loads(state_path.read_text())
        if state.get("identity") == identity:
            truncate = [(out / f"shard-{k:05d}.jpgs", n) for k, n in enumerate(state["shard_bytes"])]
            for path, length in [*truncate, (out / "rows.partial", state["rows"] * ROW.itemsize)]:
                with open(path, "ab") as f:  # drop bytes written after the last commit
                    f.truncate(length)
            return state
    for stale in [*out.glob("shard-*.jpgs"), out / "rows.partial", out / "meta.json"]:
        stale.unlink(missing_ok=True)
    return {"identity": identity, "chunks": 0, "shard_bytes": [0], "rows": 0, "sums": [[0.0] * 3] * 3, "skipped": []}


def pack_jpeg(
    paths: Sequence[str],
    labels: Sequence[int],
    classes: Sequence[str],
    out: str | Path,
    *,
    max_side: int = 256,
    quality: int = 90,
    split: str = "train",
    source: str = "",
    workers: int | None = None,
    on_done=None,
) -> dict:
    """Pack the image files `paths` (with `labels`) into the JPEG-payload folder `out`; returns meta.json's dict.

    `on_done(k)` is called after every k finished files (for a progress bar).
    """
    if not 1 <= quality <= 95:
        raise UserError(f"--quality must be in 1..95 (Pillow's useful range), got {quality}")
    if max_side < 8:
        raise UserError(f"--size must be at least 8 pixels, got {max_side}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    identity = {
        "files": hashlib.sha256("\n".join(map(str, paths)).encode()).hexdigest(),
        "max_side": max_side,
        "quality": quality,
        "labels": hashlib.sha256(np.asarray(labels, np.int64).tobytes()).hexdigest(),
    }
    state = _start_state(out, identity)
    writer, skipped = _Writer(out, state), state["skipped"]

    def work(i: int):
        try:
            return encode_image(paths[i], max_side, quality)
        except DecodeError as err:
            return str(err)

    with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
        for c in range(state["chunks"], -(-len(paths) // CHUNK)):
            span = range(c * CHUNK, min(len(paths), (c + 1) * CHUNK))
            results = list(pool.map(work, span))
            skipped += [[str(paths[i]), r] for i, r in zip(span, results, strict=True) if isinstance(r, str)]
            writer.add_chunk([None if isinstance(r, str) else r for r in results], [labels[i] for i in span])
            writer.commit(c + 1, skipped)
            if on_done is not None:
                on_done(len(span))
    return _finish(out, writer, classes, split, source, max_side, quality, skipped)


def _finish(
    out: Path, writer: _Writer, classes, split: str, source: str, max_side: int, quality: int, skipped: list[list[str]]
) -> dict:
    (out / "skipped.txt").write_text("".join(f"{p}\t{r}\n" for p, r in skipped))
    rows = writer.read_rows()
    if not len(rows):
        raise UserError(f"none of the images could be decoded (see {out / 'skipped.txt'})")
    np.save(out / "index.npy", np.stack([rows[k] for k in ("shard", "offset", "length", "label")], axis=1))
    np.save(out / "sizes.npy", np.stack([rows["h"], rows["w"]], axis=1).astype(np.int32))
    n, total, squares = writer.sums
    mean = total / n
    std = np.sqrt(np.maximum(squares / n - mean * mean, 1e-12))  # as pixel_stats: a one-colour set gets 1e-6, not 0
    shards = [
        {"name": writer.shard_path(k).name, "bytes": b, "sha256": file_sha256(writer.shard_path(k))}
        for k, b in enumerate(writer.state["shard_bytes"])
        if b > 0
    ]
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "payload": "jpeg",
        "source": source,
        "split": split,
        "count": len(rows),
        "max_side": max_side,
        "quality": quality,
        "channels": 3,
        "classes": list(classes),
        "mean": mean.round(6).tolist(),
        "std": std.round(6).tolist(),
        "shards": shards,
        "skipped": [p for p, _ in skipped],
    }
    _atomic_json(out / "meta.json", meta)
    (out / "pack-state.json").unlink(missing_ok=True)
    (out / "rows.partial").unlink(missing_ok=True)
    return meta


class JpegPack:
    """A JPEG-payload folder: random access to each image's bytes, decoded one batch at a time.

    `take(indices, size)` gives what the raw format stores: uint8 (B, size, size, 3), shorter side resized to
    `size` and centre-cropped, so a JPEG pack drops in wherever a raw pack's batches go. `decode(indices)` gives
    the stored images at their own sizes (uint8 (3, H, W) each), for crops taken from the whole image.
    """

    def __init__(self, folder: str | Path, workers: int | None = None) -> None:
        self.folder = Path(folder)
        try:
            self.meta = json.loads((self.folder / "meta.json").read_text())
            self.index = np.load(self.folder / "index.npy")
        except (OSError, ValueError) as err:
            raise UserError(f"{self.folder}: not a readable JPEG pack ({err})") from None
        shards = self.meta.get("shards")
        if self.meta.get("payload") != "jpeg" or not isinstance(shards, list) or self.index.ndim != 2:
            raise UserError(f"{self.folder}: meta.json does not describe a JPEG-payload pack")
        self.shards = [np.memmap(self.folder / s["name"], dtype=np.uint8, mode="r") for s in shards]
        ends = self.index[:, 1] + self.index[:, 2]
        for k, shard in enumerate(self.shards):  # every indexed byte range lies inside its shard
            rows = self.index[:, 0] == k
            if rows.any() and (ends[rows].max() > len(shard) or self.index[rows, 1].min() < 0):
                raise UserError(f"{self.folder}: index.npy points past the end of {shards[k]['name']}")
        self.labels = torch.from_numpy(self.index[:, 3].copy())
        self.classes = list(self.meta["classes"])
        self.pool = ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1))

    def __len__(self) -> int:
        return len(self.index)

    def payload(self, i: int) -> torch.Tensor:
        """The JPEG bytes of image `i` as a uint8 1-D tensor."""
        k, offset, length, _ = self.index[i]
        return torch.from_numpy(np.array(self.shards[k][offset : offset + length]))

    def decode(self, indices: Sequence[int], device: str | torch.device = "cpu") -> list[torch.Tensor]:
        """The images at `indices` as uint8 (3, H, W) tensors on `device` (CUDA: one batched nvJPEG call)."""
        from torchvision.io import ImageReadMode, decode_jpeg

        data = [self.payload(int(i)) for i in indices]
        if torch.device(device).type == "cuda":
            return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
        return list(self.pool.map(lambda d: decode_jpeg(d, mode=ImageReadMode.RGB), data))

    def take(self, indices: Sequence[int], size: int, device: str | torch.device = "cpu") -> torch.Tensor:
        """uint8 (B, size, size, 3) on `device`: each image's shorter side resized to `size`, then the centred square.

        resample.center_square, the resampler image trees and raw packs are decoded with.
        """
        images = self.decode(indices, device)
        if torch.device(device).type == "cuda":  # small kernels per image; the GPU queues them
            squares = [center_square(img, size) for img in images]
        else:
            squares = list(self.pool.map(lambda img: center_square(img, size), images))
        return torch.stack(squares).permute(0, 2, 3, 1).contiguous()

    def random_resized_crops(
        self,
        indices: Sequence[int],
        size: int,
        generator: torch.Generator,
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        flip: bool = True,
        device: str | torch.device = "cpu",
    ) -> torch.Tensor:
        """uint8 (B, size, size, 3) on `device`: Inception crops drawn from each whole stored image, random flips.

        The boxes (augment.random_resized_crop_boxes) and flips are drawn in the calling thread from `generator`
        (reproducible); the resampling (crops.crop_images: augment.resample_windows, the raw path's resampler, one
        call per image shape) runs in the pool on the CPU, on the GPU after one batched nvJPEG decode. Follow
        with `TrainAugment("none", size, ...)` (or any normalisation) to get float batches.
        """
        from ilsvrc.data.augment import random_resized_crop_boxes
        from ilsvrc.data.crops import crop_images

        images = self.decode(indices, device)
        boxes = [random_resized_crop_boxes(1, img.shape[1], img.shape[2], generator, scale, ratio) for img in images]
        flips = (torch.rand(len(images), generator=generator) < 0.5).numpy() & flip
        cpu = torch.device(device).type == "cpu"
        return crop_images(images, boxes, flips, size, self.pool if cpu else None)
