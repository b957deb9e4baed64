"""Builders of small hostile files, shared by the reliability table and the resource-limited run.

Each builder writes into a folder it is given and returns the path to hand to `ilsvrc`. Nothing here is large on
disk: the point of most of them is that a few hundred bytes claim gigabytes or never end.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ilsvrc.safety import checksum

CLASSES = ["ant", "bee", "cow"]


# ---------------------------------------------------------------------------------------------- CIFAR


def cifar(root: Path, data: object = None, labels: object = None, names: object = None) -> Path:
    """A CIFAR-10 folder of 3 images; `data`, `labels`, `names` replace the train batch's fields when given."""
    root.mkdir(parents=True, exist_ok=True)
    good = {"labels": [0, 1, 2], "data": np.zeros((3, 3072), dtype=np.uint8)}
    with open(root / "test_batch", "wb") as f:
        pickle.dump(good, f)
    batch = {"labels": good["labels"] if labels is None else labels, "data": good["data"] if data is None else data}
    with open(root / "data_batch_1", "wb") as f:
        pickle.dump(batch, f)
    with open(root / "batches.meta", "wb") as f:
        pickle.dump({"label_names": CLASSES if names is None else names}, f)
    return root


def self_referencing_list(depth: int = 10, width: int = 10) -> list:
    """A list whose pickle is a few hundred bytes but which holds width**depth elements (shared references)."""
    x: list = [0] * width
    for _ in range(depth - 1):
        x = [x] * width
    return x


def cifar_nested(root: Path) -> Path:
    return cifar(root, data=self_referencing_list())


def cifar_symlink(root: Path, target: str) -> Path:
    cifar(root)
    (root / "data_batch_2").symlink_to(target)
    return root


def cifar_fifo(root: Path) -> Path:
    cifar(root)
    os.mkfifo(root / "data_batch_2")
    return root


class _HugeReconstruct:
    """Pickles as numpy's own `_reconstruct(ndarray, (10**10,), 'b')`: a shape that allocates 10 GB if obeyed."""

    def __reduce__(self):
        try:
            from numpy._core.multiarray import _reconstruct  # numpy 2
        except ImportError:
            from numpy.core.multiarray import _reconstruct  # numpy 1

        return (_reconstruct, (np.ndarray, (10**10,), b"b"))


def cifar_huge_reconstruct(root: Path) -> Path:
    return cifar(root, data=_HugeReconstruct())


# ---------------------------------------------------------------------------------------------- IDX


def idx_folder(root: Path, images: bytes | None = None, gz: bool = False) -> Path:
    """A Fashion-MNIST-style folder of 3 images of 6x6; `images` replaces the train images file's bytes (stored
    as given: with gz=True they are the .gz file's bytes, already compressed)."""
    root.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    good = bytes([0, 0, 8, 3]) + struct.pack(">3i", 3, 6, 6) + bytes(108)
    labels = bytes([0, 0, 8, 1]) + struct.pack(">i", 3) + bytes([0, 1, 2])
    for split in ("train", "t10k"):
        img, lab = (gzip.compress(good), gzip.compress(labels)) if gz else (good, labels)
        if images is not None and split == "train":
            img = images
        (root / f"{split}-images-idx3-ubyte{suffix}").write_bytes(img)
        (root / f"{split}-labels-idx1-ubyte{suffix}").write_bytes(lab)
    return root


def idx_header(*dims: int, ndim: int | None = None, data: bytes = b"") -> bytes:
    return bytes([0, 0, 8, len(dims) if ndim is None else ndim]) + struct.pack(f">{len(dims)}i", *dims) + data


def gzip_bomb(header: bytes, gigabytes: int = 4) -> bytes:
    """A .gz of a few MB whose stream, after `header`, decompresses to `gigabytes` GB of zeros (many members)."""
    member = gzip.compress(bytes(64 << 20), compresslevel=9)  # 64 MiB of zeros -> ~65 KB
    return gzip.compress(header) + member * (gigabytes * 16)


# ---------------------------------------------------------------------------------------------- images


def png(path: Path, w: int, h: int, depth: int = 8, color: int = 2, rows: bool = False) -> Path:
    """A PNG that claims w x h pixels at `depth` bits (color 0 grey, 2 RGB); rows=True stores real zero rows."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0)
    body = b""
    if rows:
        row = bytes(1 + w * (depth // 8) * (3 if color == 2 else 1))
        comp = zlib.compressobj(1)
        body = b"".join(comp.compress(row) for _ in range(h)) + comp.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def exif_rotated(path: Path) -> Path:
    """A JPEG stored 8 wide x 16 tall, top half red, with EXIF orientation 6: shown upright it is 16 x 8 with the
    red half on the right."""
    arr = np.zeros((16, 8, 3), dtype=np.uint8)
    arr[:8] = (255, 0, 0)
    img = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    img.save(path, "JPEG", exif=exif.tobytes(), quality=95)
    return path


def ppm_maxval_zero(path: Path) -> Path:
    path.write_bytes(b"P6 4 4 0\n" + bytes(48))
    return path


# ---------------------------------------------------------------------------------------------- checkpoints


def reseal(ckpt: dict) -> dict:
    """Recompute the content checksum after an edit (what anyone editing a file can do: it is no signature)."""
    ckpt["checksum"] = checksum({k: v for k, v in ckpt.items() if k != "checksum"})
    return ckpt


def edited_checkpoint(src: Path, dst: Path, edit: Callable[[dict], None], seal: bool = True) -> Path:
    ckpt = torch.load(src, weights_only=True)
    edit(ckpt)
    if seal:
        reseal(ckpt)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 30_000))  # pickling 5,000-deep nesting recurses in the pickler
    try:
        torch.save(ckpt, dst)
    finally:
        sys.setrecursionlimit(old)
    return dst


def stride_zero(ckpt: dict) -> None:
    """4 bytes on disk that claim 2^30 elements (expand gives stride 0); the checksum is left stale on purpose:
    the size check must come before anything hashes the tensor."""
    ckpt["model"]["fc.bias"] = torch.zeros(1).expand(1 << 30)


def nested(depth: int) -> list:
    x: list = []
    for _ in range(depth):
        x = [x]
    return x


def nan_weight(ckpt: dict) -> None:
    w = ckpt["model"]["fc.weight"].clone()
    w[0, 0] = float("nan")
    ckpt["model"]["fc.weight"] = w


# ---------------------------------------------------------------------------------------------- packed


def packed_meta_edit(folder: Path, edit: Callable[[dict], object]) -> Path:
    meta = json.loads((folder / "meta.json").read_text())
    replaced = edit(meta)
    (folder / "meta.json").write_text(replaced if isinstance(replaced, str) else json.dumps(meta))
    return folder


def deep_json(depth: int = 100_000) -> str:
    return '{"format": "ilsvrc-packed", "x": ' + "[" * depth + "]" * depth + "}"


def npy_claiming(path: Path, shape: tuple[int, ...], dtype: str = "<i8") -> Path:
    """A .npy whose header declares `shape` but holds no data."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    path.write_bytes(buf.getvalue())
    return path
