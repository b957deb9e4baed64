"""The packed format and `ilsvrc pack`: decode once, store uint8 NHWC arrays that are memory-mapped at load time.

A packed folder holds
  images.npy    uint8 (N, S, S, C), row i = sample i
  labels.npy    int64 (N,)
  meta.json     {"format": "ilsvrc-packed", "version", "source", "source_format", "split", "count", "size",
                 "channels", "classes", "mean", "std", "pca_eigval", "pca_eigvec", "checksums", "skipped"};
                written last and atomically, so a folder with meta.json is complete
  skipped.txt   files that could not be decoded, one "path<TAB>reason" a line (empty when none)
While packing, images.partial.npy and pack-state.json record finished chunks, so a rerun after an interruption
continues where it stopped and produces byte-identical output.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ilsvrc.data.dataset import ArrayDataset, align_labels, check_labels, pixel_stats
from ilsvrc.data.decode import decode_many
from ilsvrc.data.layout import SPLIT_ALIASES, image_tree_files, pick_split, split_dirs
from ilsvrc.data.progress import progress_bar
from ilsvrc.errors import UserError
from ilsvrc.locks import LOCK_NAME, folder_lock
from ilsvrc.safety import regular_file

if TYPE_CHECKING:
    from ilsvrc.data.jpeg_dataset import JpegDataset

FORMAT_NAME = "ilsvrc-packed"
FORMAT_VERSION = 1
CHUNK = 512  # images decoded and committed per resumable step
SHARD_NAME = re.compile(r"shard-\d{5}\.jpgs")  # a JPEG pack's shard files (jpeg_pack.py names them)


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------- pack


def pack_tree(
    src: Path,
    fmt: str,
    split: str,
    size: int,
    out: Path,
    *,
    workers: int | None = None,
    progress: bool = True,
    chunk: int = CHUNK,
) -> dict:
    """Decode one split of an image tree (ImageFolder/ImageNet layout) at `size` px into the packed folder `out`."""
    with folder_lock(out, "pack folder"):  # a second `ilsvrc pack` into OUT is refused, not interleaved
        paths, labels, classes, _ = image_tree_files(src, fmt, split)
        _refuse_mixing(out, src, fmt, split, size)
        return _pack_files(src, fmt, split, paths, labels, classes, size, out, workers, progress, chunk)


def pack_arrays(ds: ArrayDataset, src: Path, fmt: str, split: str, out: Path) -> dict:
    """Write an already-decoded data set (CIFAR, IDX, a resized pack) into the packed folder `out`."""
    with folder_lock(out, "pack folder"):
        _refuse_mixing(out, src, fmt, split, ds.image_size[0])
        return _write_arrays(ds, src, fmt, split, out)


OWN_FILES = {
    "images.npy",
    "labels.npy",
    "meta.json",
    "skipped.txt",
    "images.partial.npy",
    "images.compact.npy",
    "pack-state.json",
    "meta.json.tmp",
    "pack-state.json.tmp",
    LOCK_NAME,
}


def _refuse_mixing(out: Path, src: Path, fmt: str, split: str, size: int) -> None:
    """UserError unless OUT is empty, a pack of this same source/split/size (rebuilt), or an interrupted one.

    Packing into a folder of other files, or over a different pack, would overwrite them or mix two data sets."""
    theirs = sorted(e.name for e in os.scandir(out) if e.name not in OWN_FILES and not e.name.startswith(".write-test"))
    if theirs:
        shown = ", ".join(theirs[:3]) + (f" (+{len(theirs) - 3} more)" if len(theirs) > 3 else "")
        raise UserError(f"{out} holds other files ({shown}); pack into an empty folder or an earlier pack of {src}")
    mine = {"source": str(src.resolve()), "source_format": fmt, "split": split, "size": size}
    for name in ("meta.json", "pack-state.json"):
        try:
            recorded = json.loads((out / name).read_text()) if (out / name).is_file() else None
        except (OSError, ValueError, RecursionError):
            recorded = {}
        if recorded is None:
            continue
        recorded = recorded if isinstance(recorded, dict) else {}
        differ = [k for k, v in mine.items() if k in recorded and recorded[k] != v]  # older states lack some
        if differ:
            was = ", ".join(f"{k} {recorded.get(k)!r}" for k in differ)
            raise UserError(
                f"{out} already holds a different pack ({name}: {was}); choose another folder or delete it first"
            )


def _begin(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if (out / "meta.json").exists():  # about to replace a finished pack: it is no longer complete from here on
        (out / "meta.json").unlink()


def _new_array(path: Path, shape: tuple[int, ...]) -> np.memmap:
    """A uint8 .npy memmap whose blocks are allocated now: writing pixels through a sparse file's pages on a full
    disk kills the process with SIGBUS; allocating first turns that into an OSError (ENOSPC) at once."""
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    _allocate(path)
    return arr


def _allocate(path: Path) -> None:
    fd = os.open(path, os.O_RDWR)
    try:
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
    finally:
        os.close(fd)


def _finish(
    out: Path, images_path: Path, labels: np.ndarray, classes, meta: dict, skipped: list[tuple[str, str]]
) -> dict:
    np.save(out / "labels.npy", labels.astype(np.int64))
    text = "".join(f"{p}\t{r}\n" for p, r in skipped)  # non-UTF-8 file names go back to their own bytes
    (out / "skipped.txt").write_text(text, encoding="utf-8", errors="surrogateescape")
    images = np.load(images_path, mmap_mode="r")
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        **meta,
        "count": len(labels),
        "size": int(images.shape[1]),
        "channels": int(images.shape[3]),
        "classes": list(classes),
        **pixel_stats(images),
        "skipped": [p for p, _ in skipped],
        "checksums": {"images.npy": file_sha256(images_path), "labels.npy": file_sha256(out / "labels.npy")},
    }
    del images
    write_text_atomic(out / "meta.json", json.dumps(meta, indent=1) + "\n")
    return meta


def _write_arrays(ds: ArrayDataset, src: Path, fmt: str, split: str, out: Path) -> dict:
    _begin(out)
    tmp = out / "images.partial.npy"
    arr = _new_array(tmp, tuple(ds.images.shape))
    for i in range(0, len(ds), 8192):
        arr[i : i + 8192] = ds.images[i : i + 8192].numpy()
    arr.flush()
    del arr
    os.replace(tmp, out / "images.npy")
    meta = {"source": str(src.resolve()), "source_format": fmt, "split": split, "created": time.strftime("%Y-%m-%d")}
    return _finish(out, out / "images.npy", ds.labels.numpy(), ds.classes, meta, [])


def _pack_files(src, fmt, split, paths, labels, classes, size, out, workers, progress, chunk) -> dict:
    """Decode files chunk by chunk into a memmap, committing progress after each chunk (resumable)."""
    _begin(out)
    key = hashlib.sha256(json.dumps([fmt, size, chunk, paths, labels]).encode()).hexdigest()
    state_path, partial = out / "pack-state.json", out / "images.partial.npy"
    n = len(paths)
    state = {
        "key": key,
        "source": str(Path(src).resolve()),
        "source_format": fmt,
        "split": split,
        "size": size,
        "done": [],
        "skipped": {},
    }
    if state_path.is_file() and partial.is_file():
        try:
            old = json.loads(state_path.read_text())
            if isinstance(old, dict) and old.get("key") == key and isinstance(old.get("done"), list):
                state = old
        except (OSError, ValueError):
            pass
    if state["done"]:
        _allocate(partial)  # a partial file from an older ilsvrc may still be sparse
        images = np.lib.format.open_memmap(partial, mode="r+")
    else:
        images = _new_array(partial, (n, size, size, 3))
    done = set(state["done"])
    todo = [c for c in range(0, n, chunk) if c not in done]
    already = n - sum(min(chunk, n - c) for c in todo)
    with progress_bar(progress, n, f"packing {Path(src).name} ({split}, {size}px)") as advance:
        advance(already)
        for c in todo:
            failed = decode_many(paths[c : c + chunk], size, images[c : c + chunk], workers=workers, on_done=advance)
            for i, reason in failed:
                state["skipped"][str(c + i)] = reason
                sys.stderr.write(f"ilsvrc pack: skipped {paths[c + i]} ({reason})\n")
            images.flush()  # pixels reach the file before the chunk is recorded as done
            state["done"].append(c)
            write_text_atomic(state_path, json.dumps(state))
    skipped_idx = sorted(int(i) for i in state["skipped"])
    skipped = [(paths[i], state["skipped"][str(i)]) for i in skipped_idx]
    keep = np.ones(n, dtype=bool)
    keep[skipped_idx] = False
    if n - len(skipped_idx) == 0:
        raise UserError(f"{src}: none of the {n} images could be decoded")
    final = out / "images.npy"
    if skipped_idx:  # compact: copy the good rows into the final array
        kept = np.flatnonzero(keep)
        dst = _new_array(out / "images.compact.npy", (len(kept), size, size, 3))
        for i in range(0, len(kept), 4096):
            dst[i : i + 4096] = images[kept[i : i + 4096]]
        dst.flush()
        del dst, images
        os.replace(out / "images.compact.npy", final)
        partial.unlink()
    else:
        del images
        os.replace(partial, final)
    meta = {
        "source": str(Path(src).resolve()),
        "source_format": fmt,
        "split": split,
        "created": time.strftime("%Y-%m-%d"),
    }
    result = _finish(out, final, np.asarray(labels, dtype=np.int64)[keep], classes, meta, skipped)
    state_path.unlink()
    return result


# ---------------------------------------------------------------------------------------------- load


MAX_META_BYTES = 256 << 20  # meta.json lists skipped files; a million long paths still fit


def read_meta(folder: Path) -> dict:
    """meta.json of a packed folder, every field checked (types, lengths per channel, positive std)."""
    path = folder / "meta.json"
    regular_file(path, "packed meta.json", MAX_META_BYTES)
    try:
        meta = json.loads(path.read_text(encoding="utf-8", errors="surrogateescape"))
    except (OSError, ValueError, RecursionError) as err:  # RecursionError: JSON nested 100k deep
        why = "nested too deeply" if isinstance(err, RecursionError) else " ".join(str(err).split())[:120]
        raise UserError(f"{path}: unreadable ({why})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise UserError(f"{path}: not an ilsvrc packed data set")
    payload = meta.get("payload", "raw")
    if payload not in ("raw", "jpeg"):
        raise UserError(f"{path}: payload {payload!r} is not one this version reads (raw or jpeg); repack the source")
    problems = [key for key, ok in _meta_checks(meta) if not ok]
    if problems:
        raise UserError(f"{path}: malformed ({', '.join(problems)} invalid)")
    return meta


def _meta_checks(meta: dict) -> list[tuple[str, bool]]:
    def is_int(v: object) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    chans = meta.get("channels")
    n_ch = chans if is_int(chans) and chans in (1, 3) else None
    mean = meta.get("mean")
    per_channel = n_ch or (len(mean) if isinstance(mean, list) else 0) or 1  # "mean": true is no length
    eigvec = meta.get("pca_eigvec")
    return [
        ("count", is_int(meta.get("count")) and meta["count"] >= 0),
        ("classes", isinstance(meta.get("classes"), list) and bool(meta["classes"]) and _strings(meta["classes"])),
        ("channels", chans is None or n_ch is not None),
        ("mean", _numbers(meta.get("mean"), per_channel) and 0 <= min(meta["mean"]) <= max(meta["mean"]) <= 1),
        ("std", _numbers(meta.get("std"), per_channel) and 1e-6 <= min(meta["std"]) <= max(meta["std"]) <= 1),
        ("split", isinstance(meta.get("split", "train"), str)),
        ("size", meta.get("size") is None or (is_int(meta["size"]) and meta["size"] > 0)),
        ("pca_eigval", "pca_eigval" not in meta or _numbers(meta["pca_eigval"], 3)),
        (
            "pca_eigvec",
            "pca_eigvec" not in meta
            or (isinstance(eigvec, list) and len(eigvec) == 3 and all(_numbers(r, 3) for r in eigvec)),
        ),
        ("skipped", isinstance(meta.get("skipped", []), list) and _strings(meta.get("skipped", []))),
        ("checksums", isinstance(meta.get("checksums", {}), dict) and _strings(meta.get("checksums", {}).values())),
        *(_jpeg_checks(meta) if meta.get("payload") == "jpeg" else []),
    ]


def _jpeg_checks(meta: dict) -> list[tuple[str, bool]]:
    """The fields only a JPEG-payload meta.json has: its side and its shards (names only of the form we write)."""
    shards = meta.get("shards")
    named = isinstance(shards, list) and all(
        isinstance(s, dict) and isinstance(s.get("name"), str) and SHARD_NAME.fullmatch(s["name"]) for s in shards
    )
    side = meta.get("max_side")
    return [
        ("max_side", isinstance(side, int) and not isinstance(side, bool) and side >= 8),
        ("shards", named and all(isinstance(s.get("sha256"), str) for s in shards)),
        ("channels", meta.get("channels", 3) == 3),
    ]


def _strings(xs) -> bool:
    return all(isinstance(x, str) for x in xs)


def _numbers(x: object, length: int | None = None) -> bool:
    """A non-empty list of finite numbers (of `length` entries when given)."""
    return (
        isinstance(x, list)
        and bool(x)
        and (length is None or len(x) == length)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in x)
    )


def load_packed(path: str | Path, split: str = "train") -> ArrayDataset | JpegDataset:
    """A packed folder (or a root holding train/ and val/ packed folders) as a memory-mapped ArrayDataset, or a
    JpegDataset (decoded a batch at a time) for a JPEG-payload pack."""
    p = Path(path)
    if p.is_file():
        p = p.parent
    train_meta = None
    if (p / "meta.json").exists():  # read_meta says so when it is not a regular file
        folder = p
        meta = read_meta(folder)
        recorded = meta.get("split", "train")
        if recorded not in SPLIT_ALIASES.get(split, ()) and split not in SPLIT_ALIASES.get(recorded, ()):
            raise UserError(f"{p} holds the {recorded!r} split only; it has no {split!r} split")
    else:
        splits = {name: d for name, d in split_dirs(p).items() if (d / "meta.json").is_file()}
        folder = pick_split(splits, split, p)
        meta = read_meta(folder)
        if "train" in splits and folder != splits["train"]:
            train_meta = read_meta(splits["train"])
    if meta.get("payload") == "jpeg":  # decoded a batch at a time (jpeg_dataset.py), not memory-mapped arrays
        from ilsvrc.data.jpeg_dataset import load_jpeg_folder

        if train_meta is not None and train_meta.get("payload") != "jpeg":
            raise UserError(f"{folder}: a JPEG-payload split beside a raw train split; pack both the same way")
        return load_jpeg_folder(folder, meta, train_meta)
    if train_meta is not None and train_meta.get("payload") == "jpeg":
        raise UserError(f"{folder}: a raw split beside a JPEG-payload train split; pack both the same way")
    for name in ("images.npy", "labels.npy"):
        regular_file(folder / name, "packed array")
    try:  # both memory-mapped: a header that claims 10^12 labels costs nothing until the shape is checked
        images = np.load(folder / "images.npy", mmap_mode="c")  # copy-on-write: writable for torch, file untouched
        labels = np.load(folder / "labels.npy", mmap_mode="r")
    except (OSError, ValueError) as err:
        raise UserError(f"{folder}: packed arrays unreadable ({' '.join(str(err).split())})") from None
    if images.ndim != 4 or images.dtype != np.uint8 or labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise UserError(f"{folder}: packed arrays have the wrong shape or type ({images.dtype} {images.shape})")
    if images.shape[0] != meta["count"] or labels.shape != (meta["count"],):
        raise UserError(f"{folder}: arrays hold {images.shape[0]} images but meta.json says {meta['count']}")
    if images.shape[3] not in (1, 3) or len(meta["mean"]) != images.shape[3]:
        raise UserError(
            f"{folder}: images have {images.shape[3]} channels but meta.json has {len(meta['mean'])} means "
            "(1 or 3 channels, one mean and std each)"
        )
    labels = np.array(labels, dtype=np.int64)
    check_labels(labels, len(meta["classes"]), folder / "labels.npy")
    if train_meta is not None:  # score val against the training split's class order, matched by name
        if len(train_meta["mean"]) != images.shape[3]:
            raise UserError(f"{folder}: {images.shape[3]}-channel images but the train split has other channels")
        labels = align_labels(labels, meta["classes"], train_meta["classes"], folder)
        meta = {**meta, "classes": list(train_meta["classes"])}
    stats = train_meta or meta  # normalise with the training split's statistics when known
    out_meta = {k: v for k, v in meta.items() if k not in ("checksums",)}
    out_meta.update({"source": str(folder), "format": "packed", "source_format": meta.get("source_format")})
    for key in ("pca_eigval", "pca_eigvec"):
        if key in stats:
            out_meta[key] = stats[key]
    return ArrayDataset(
        torch.from_numpy(images),
        torch.from_numpy(labels),
        list(meta["classes"]),
        tuple(stats["mean"]),
        tuple(stats["std"]),
        out_meta,
    )


def verify_packed(path: str | Path) -> list[str]:
    """Files of a packed folder whose sha256 differs from meta.json (empty list = intact)."""
    folder = Path(path)
    meta = read_meta(folder)
    if meta.get("payload") == "jpeg":  # shard names were checked by read_meta (shard-NNNNN.jpgs only)
        for s in meta["shards"]:
            regular_file(folder / s["name"], "JPEG pack shard")
        return [s["name"] for s in meta["shards"] if file_sha256(folder / s["name"]) != s["sha256"]]
    sums = meta.get("checksums", {})
    strange = sorted(set(sums) - {"images.npy", "labels.npy"})  # never hash a path meta.json chose (/dev/zero)
    if strange:
        raise UserError(f"{folder / 'meta.json'}: checksums name files that are not part of a pack: {strange[:3]}")
    for name in sums:
        regular_file(folder / name, "packed array")
    return [name for name, digest in sums.items() if file_sha256(folder / name) != digest]
