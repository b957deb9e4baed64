"""Data sources in their own on-disk formats (detected by layout.py), each read into an `ArrayDataset`.

Formats: "packed" (see packed.py), "cifar" (CIFAR-10/100 python batches), "idx" (MNIST/Fashion-MNIST, gzipped
or not), "imagenet" (the official ILSVRC2012 layout with its devkit), "imagefolder" (root/<split>/<class>/*.jpg or
one root/<class>/*.jpg tree). `None` means the bundled Fashion-MNIST set.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import json
import math
import os
import pickle
import struct
import sys
import zlib
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from ilsvrc.data.dataset import ArrayDataset, check_labels, pixel_stats
from ilsvrc.data.decode import DECODER_VERSION, decode_many
from ilsvrc.data.layout import (
    DEFAULT_SIZE,
    SPLIT_ALIASES,
    detect_format,
    idx_files,
    image_tree_files,
    is_cifar_dir,
    pick_split,
    resolve_source,
    split_dirs,
)
from ilsvrc.data.packed import load_packed, pack_tree, read_meta
from ilsvrc.data.progress import progress_bar
from ilsvrc.errors import UserError
from ilsvrc.safety import regular_file

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
BUNDLED_VAL_PER_CLASS = 200  # of the 1,000 test images per class: 800 train / 200 val, stratified, seed 0


def list_splits(source: str | Path | None) -> list[str]:
    """The canonical split names ("train", "val") a source can give, so callers can skip validation when absent."""
    if source is None:
        return ["train", "val"]
    p = resolve_source(source)
    fmt = detect_format(p)
    if fmt == "packed":
        if p.is_file():
            p = p.parent
        if (p / "meta.json").exists():
            recorded = read_meta(p).get("split") or "train"
            return ["train" if recorded == "train" else "val"]
        names = [d.name for d in split_dirs(p).values() if (d / "meta.json").is_file()]
    elif fmt == "imagefolder":
        names = list(split_dirs(p)) or ["train"]
    else:
        names = ["train", "val"]
    return sorted({"train" if n == "train" else "val" for n in names}, key=["train", "val"].index)


# ---------------------------------------------------------------------------------------------- IDX


MAX_IDX_BYTES = 4 << 30  # the largest IDX sets (EMNIST) hold ~0.7 GB; a header claiming more is refused
DEFLATE_MAX_RATIO = 1032  # deflate cannot expand more than this: a .gz smaller than its header's data lies


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (MNIST's format, optionally gzipped) as a numpy array of its declared shape (uint8 data only).

    The header is checked first and the data read is capped by it: a .gz that would decompress to gigabytes stops
    at the declared size, and dims that are short, negative or overflowing are refused before any allocation.
    """
    p = Path(path)
    on_disk = regular_file(p, "IDX file")
    gz = p.suffix == ".gz"
    try:
        with (gzip.open if gz else open)(p, "rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0:
                raise UserError(f"{p}: not an IDX file (bad magic number)")
            dtype_code, ndim = head[2], head[3]
            if dtype_code != 0x08:
                raise UserError(f"{p}: IDX data type 0x{dtype_code:02x} is not supported (only unsigned bytes, 0x08)")
            if not 1 <= ndim <= 4:
                raise UserError(f"{p}: IDX header declares {ndim} dimensions (1 to 4 are meaningful)")
            raw_dims = f.read(4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise UserError(f"{p}: IDX header is truncated ({len(raw_dims)} of {4 * ndim} dimension bytes)")
            dims = struct.unpack(f">{ndim}i", raw_dims)
            n = math.prod(dims)
            if min(dims) < 0 or n > MAX_IDX_BYTES or (gz and n > DEFLATE_MAX_RATIO * on_disk + 4096):
                raise UserError(f"{p}: IDX header dims {dims} are impossible for this file ({on_disk:,} bytes)")
            if not gz and on_disk - 4 - 4 * ndim != n:
                raise UserError(
                    f"{p}: IDX file is truncated or padded (dims {dims}, {on_disk - 4 - 4 * ndim} data bytes)"
                )
            data = np.empty(n + 1, dtype=np.uint8)  # one byte more than declared, to notice padding
            got = _read_into(f, memoryview(data))
    except (OSError, EOFError, zlib.error) as err:
        raise UserError(f"{p}: cannot read IDX file ({err})") from None
    if got != n:
        raise UserError(f"{p}: IDX file is truncated or padded (dims {dims}, {got}{'+' if got > n else ''} data bytes)")
    return data[:n].reshape(dims)


def _read_into(f, view: memoryview) -> int:
    """Fill `view` from f (a file or a gzip stream) without ever holding more than it; the bytes read."""
    got = 0
    while got < len(view):
        k = f.readinto(view[got:])
        if not k:
            break
        got += k
    return got


def _idx_pair(folder: Path, split: str) -> tuple[Path, Path]:
    files = idx_files(folder)
    by_split: dict[str, dict[str, Path]] = {}
    for f in files:
        prefix = f.name.split("-")[0]  # "train" or "t10k"
        kind = "images" if "-images-" in f.name else "labels" if "-labels-" in f.name else None
        if kind:
            by_split.setdefault("test" if prefix == "t10k" else prefix, {})[kind] = f
    pair = pick_split(by_split, split, folder)
    if set(pair) != {"images", "labels"}:
        raise UserError(f"{folder}: IDX {split} split needs both an images and a labels file")
    return pair["images"], pair["labels"]


def _idx_dataset(images_path: Path, labels_path: Path, classes: list[str] | None, meta: dict) -> ArrayDataset:
    x = read_idx(images_path)
    y = read_idx(labels_path).astype(np.int64)
    if x.ndim == 3:
        x = x[..., None]  # (N, H, W) greyscale -> (N, H, W, 1)
    if x.ndim != 4 or y.ndim != 1 or len(x) != len(y):
        raise UserError(f"{images_path}: IDX images {x.shape} and labels {y.shape} do not match")
    if x.shape[3] not in (1, 3):
        raise UserError(f"{images_path}: IDX images have {x.shape[3]} channels; 1 (grey) or 3 (RGB) are usable")
    if len(x) == 0 or 0 in x.shape[1:]:
        raise UserError(f"{images_path}: holds no images (shape {x.shape})")
    if classes is None:
        classes = (
            FASHION_CLASSES if "fashion" in str(images_path).lower() else [str(i) for i in range(int(y.max()) + 1)]
        )
    check_labels(y, len(classes), labels_path)
    stats = pixel_stats(x)
    return ArrayDataset(
        torch.from_numpy(x.copy()),
        torch.from_numpy(y),
        list(classes),
        tuple(stats["mean"]),
        tuple(stats["std"]),
        {**meta, "format": "idx", "size": int(x.shape[1]), "count": len(y), **stats},
    )


def _load_idx(p: Path, split: str) -> ArrayDataset:
    if p.is_file():  # an images file; its labels file sits next to it
        labels = p.with_name(p.name.replace("-images-idx3", "-labels-idx1"))
        if labels == p or not labels.exists():
            raise UserError(f"{p}: no matching labels file ({labels.name}) next to it")
        return _idx_dataset(p, labels, None, {"source": str(p), "split": split})
    images, labels = _idx_pair(p, split)
    ds = _idx_dataset(images, labels, None, {"source": str(p), "split": split})
    if split != "train":  # normalise with the training split's statistics when it is there
        try:
            tr_images, _ = _idx_pair(p, "train")
            st = pixel_stats(read_idx(tr_images)[..., None])
            ds.mean, ds.std = tuple(st["mean"]), tuple(st["std"])
        except UserError:
            pass
    return ds


# ---------------------------------------------------------------------------------------------- bundled


@functools.lru_cache(maxsize=1)
def _bundled_all() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = read_idx(BUNDLED_DIR / "t10k-images-idx3-ubyte.gz")[..., None]
    y = read_idx(BUNDLED_DIR / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    rng = np.random.default_rng(0)
    is_val = np.zeros(len(y), dtype=bool)
    for c in range(len(FASHION_CLASSES)):
        members = np.flatnonzero(y == c)
        is_val[rng.permutation(members)[:BUNDLED_VAL_PER_CLASS]] = True
    return x, y, is_val


def load_bundled(split: str = "train") -> ArrayDataset:
    """The bundled Fashion-MNIST test set as 8,000 train / 2,000 val (stratified, seed 0), original order kept."""
    x, y, is_val = _bundled_all()
    key = pick_split({"train": False, "val": True}, split, BUNDLED_DIR)
    keep = is_val if key else ~is_val
    stats = pixel_stats(x[~is_val])  # always the train part's statistics
    meta = {"source": "bundled:fashion-mnist-t10k", "format": "idx", "split": split, "size": 28}
    return ArrayDataset(
        torch.from_numpy(x[keep].copy()),
        torch.from_numpy(y[keep].copy()),
        list(FASHION_CLASSES),
        tuple(stats["mean"]),
        tuple(stats["std"]),
        {**meta, "count": int(keep.sum()), **stats},
    )


# ---------------------------------------------------------------------------------------------- CIFAR


def _empty_reconstruct(subtype, shape, dtype):
    """numpy's pickle entry point, admitted only as numpy itself uses it: an empty ndarray that the pickle's
    BUILD then fills (from bytes in the file). A crafted shape would allocate gigabytes here."""
    if subtype is not np.ndarray or not isinstance(shape, tuple) or math.prod(shape) != 0:
        raise pickle.UnpicklingError("numpy reconstruct with a non-empty shape is not part of the CIFAR format")
    return np.ndarray.__new__(subtype, shape, dtype)


class _CifarUnpickler(pickle.Unpickler):
    """Admits only what a CIFAR batch holds: numpy array reconstruction plus plain containers and scalars.

    Any other global (os.system, builtins.eval, ...) is refused before it can run.
    """

    ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
    }

    def __init__(self, file, path: Path) -> None:
        super().__init__(file, encoding="latin1")
        self.path = path

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise UserError(f"{self.path}: refusing to unpickle {module}.{name} (not part of the CIFAR format)")
        if name == "_reconstruct":
            return _empty_reconstruct
        return super().find_class(module, name)


MAX_CIFAR_FILE = 1 << 30  # a CIFAR batch is ~31 MB; the whole CIFAR-100 train file is 155 MB


def read_cifar_batch(path: str | Path) -> dict:
    """One CIFAR python batch (a pickled dict) read with the restricted unpickler; keys decoded to str."""
    p = Path(path)
    regular_file(p, "CIFAR batch", MAX_CIFAR_FILE)
    try:
        with open(p, "rb") as f:
            obj = _CifarUnpickler(f, p).load()
    except UserError:
        raise
    except Exception as err:
        raise UserError(f"{p}: not a CIFAR batch ({type(err).__name__}: {' '.join(str(err).split())})") from None
    if not isinstance(obj, dict):
        raise UserError(f"{p}: not a CIFAR batch (holds {type(obj).__name__}, not a dict)")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _flat_ints(value: object, what: str, where: Path) -> np.ndarray:
    """A CIFAR field that must be a flat sequence of integers (an int ndarray, bytes, or a list of ints) as int64.

    Anything else is refused before numpy sees it: np.asarray on a nested list that references itself would try
    10^10 elements, and a float or object array has no exact integer reading."""
    if isinstance(value, (bytes, bytearray)):
        return np.frombuffer(value, dtype=np.uint8).astype(np.int64)
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            lo, hi = (float(value.min()), float(value.max())) if value.size else (0.0, 0.0)
            raise UserError(
                f"{where}: {what} are floats ({value.dtype}, range [{lo:.3g}, {hi:.3g}]); CIFAR stores integers "
                "0-255, so convert them (e.g. (x * 255).round().astype('uint8')) rather than have them truncated"
            )
        if value.dtype.kind not in "iu":
            raise UserError(f"{where}: {what} must be integers, got an array of dtype {value.dtype}")
        return value.reshape(-1).astype(np.int64) if value.dtype != np.int64 else value.reshape(-1)
    if isinstance(value, (list, tuple)):
        if not all(type(v) is int for v in value):
            bad = next(v for v in value if type(v) is not int)
            raise UserError(f"{where}: {what} must be a flat list of integers, found a {type(bad).__name__}")
        try:
            return np.array(value, dtype=np.int64)
        except OverflowError:
            raise UserError(f"{where}: {what} hold an integer too large for any pixel or label") from None
    raise UserError(f"{where}: {what} must be an array, bytes or a list of integers, got {type(value).__name__}")


def _cifar_batch_arrays(d: dict, label_key: str, where: Path) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 (N, 32, 32, 3), int64 (N,)) from one batch dict; pixels outside 0-255 are refused, never wrapped."""
    if "data" not in d or label_key not in d:
        raise UserError(f"{where}: malformed CIFAR batch (needs 'data' and {label_key!r})")
    pixels = _flat_ints(d["data"], "pixels", where)
    if pixels.size % 3072:
        raise UserError(f"{where}: {pixels.size} pixel values are not a whole number of 32x32x3 images")
    if pixels.size and (pixels.min() < 0 or pixels.max() > 255):
        raise UserError(
            f"{where}: pixel values span [{pixels.min()}, {pixels.max()}]; CIFAR pixels are 0-255 (refusing to wrap)"
        )
    x = pixels.astype(np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # rows are R,G,B planes
    y = _flat_ints(d[label_key], "labels", where)
    if len(y) != len(x):
        raise UserError(f"{where}: {len(x)} images but {len(y)} labels")
    return x, y


def _cifar_root(p: Path) -> Path:
    for sub in (p, p / "cifar-10-batches-py", p / "cifar-100-python"):
        if sub.is_dir() and is_cifar_dir(sub):
            return sub
    raise UserError(f"{p}: no CIFAR batches found")


def _cifar_arrays(root: Path, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    cifar100 = not (root / "batches.meta").exists()
    if cifar100:
        files = pick_split({"train": ["train"], "test": ["test"]}, split, root)
        meta_file, names_key, label_key = root / "meta", "fine_label_names", "fine_labels"
    else:
        batches = sorted(root.glob("data_batch_*"), key=lambda f: (len(f.name), f.name))  # _2 before _10
        available = {"train": [f.name for f in batches]} if batches else {}
        if (root / "test_batch").is_file():
            available["test"] = ["test_batch"]
        files = pick_split(available, split, root)
        meta_file, names_key, label_key = root / "batches.meta", "label_names", "labels"
    classes = read_cifar_batch(meta_file).get(names_key)
    if isinstance(classes, (list, tuple)):
        classes = [c.decode("latin1") if isinstance(c, bytes) else c for c in classes]
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise UserError(f"{meta_file}: no list of class names under {names_key!r}")
    xs, ys = [], []
    for name in files:
        x, y = _cifar_batch_arrays(read_cifar_batch(root / name), label_key, root / name)
        check_labels(y, len(classes), root / name)
        xs.append(x)
        ys.append(y)
    if sum(len(y) for y in ys) == 0:
        raise UserError(f"{root}: the {split} batches hold no images")
    return np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys), [str(c) for c in classes]


@functools.lru_cache(maxsize=4)
def _cifar_train_stats(root: Path) -> dict:
    return pixel_stats(_cifar_arrays(root, "train")[0])


def _load_cifar(p: Path, split: str) -> ArrayDataset:
    root = _cifar_root(p)
    x, y, classes = _cifar_arrays(root, split)
    try:
        stats = _cifar_train_stats(root)
    except UserError:
        stats = pixel_stats(x)
    meta = {"source": str(root), "format": "cifar", "split": split, "size": 32, "count": len(y), **stats}
    return ArrayDataset(
        torch.from_numpy(x), torch.from_numpy(y), classes, tuple(stats["mean"]), tuple(stats["std"]), meta
    )


def fetch(name: str, root: str | Path) -> Path:
    """Download a public data set with torchvision's downloaders (checksums verified); return the folder to load.

    name: cifar10, cifar100, mnist or fashion-mnist. Needs internet; `load_dataset` itself never downloads.
    """
    import torchvision.datasets as tvd

    root = Path(root).expanduser()
    try:
        if name == "cifar10":
            tvd.CIFAR10(str(root), train=True, download=True)
            return root / "cifar-10-batches-py"
        if name == "cifar100":
            tvd.CIFAR100(str(root), train=True, download=True)
            return root / "cifar-100-python"
        if name in ("mnist", "fashion-mnist"):
            cls = tvd.MNIST if name == "mnist" else tvd.FashionMNIST
            ds = cls(str(root), train=True, download=True)
            cls(str(root), train=False, download=True)
            return Path(ds.raw_folder)
    except (OSError, RuntimeError) as err:
        raise UserError(f"downloading {name} into {root} failed: {err}") from None
    raise UserError(f"cannot download {name!r}; known: cifar10, cifar100, mnist, fashion-mnist")


def decode_tree(p: Path, fmt: str, split: str, size: int, *, progress: bool = False) -> ArrayDataset:
    """An ImageFolder/ImageNet split decoded into memory (no files written); unreadable files are reported."""
    paths, labels, classes, folder = image_tree_files(p, fmt, split)
    images = np.zeros((len(paths), size, size, 3), dtype=np.uint8)
    with progress_bar(progress, len(paths), f"decoding {folder}") as advance:
        failed = decode_many(paths, size, images, on_done=advance)
    for i, reason in failed:
        sys.stderr.write(f"ilsvrc: skipped unreadable image {paths[i]} ({reason})\n")
    if len(failed) == len(paths):
        raise UserError(f"{folder}: none of the {len(paths)} images could be decoded")
    keep = np.ones(len(paths), dtype=bool)
    keep[[i for i, _ in failed]] = False
    images = images[keep] if failed else images
    y = np.asarray(labels, dtype=np.int64)[keep]
    stats = pixel_stats(images)
    meta = {
        "source": str(p),
        "format": fmt,
        "split": split,
        "size": size,
        "count": len(y),
        "skipped": [paths[i] for i, _ in failed],
        **stats,
    }
    return ArrayDataset(
        torch.from_numpy(images), torch.from_numpy(y), classes, tuple(stats["mean"]), tuple(stats["std"]), meta
    )


def cache_root() -> Path | None:
    """Where decoded image trees are cached ($ILSVRC_CACHE or ~/.cache/ilsvrc); None when ILSVRC_NO_CACHE is set."""
    if os.environ.get("ILSVRC_NO_CACHE"):
        return None
    return Path(os.environ.get("ILSVRC_CACHE") or Path.home() / ".cache" / "ilsvrc")


@contextlib.contextmanager
def _exclusive(lock_path: Path):
    """An exclusive advisory lock on lock_path (POSIX flock; a no-op where fcntl does not exist)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(lock_path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@functools.lru_cache(maxsize=4)
def _decoded_tree(p: Path, fmt: str, split: str, size: int) -> ArrayDataset:
    """A variable-size split decoded once: packed into the cache (keyed by every file's path, size and mtime)
    and memory-mapped from there, so the next run starts at once; decoded into memory when the cache is unusable."""
    root = cache_root()
    if root is not None:
        paths, labels, classes, _ = image_tree_files(p, fmt, split)
        h = hashlib.sha256(json.dumps([str(p), fmt, split, size, classes, labels, DECODER_VERSION]).encode())
        for f in paths:  # file names are bytes on disk: fsencode keeps non-UTF-8 names hashable
            st = os.stat(f)
            h.update(os.fsencode(f) + f"\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        folder = root / "decoded" / f"{p.name}-{split}-{size}px-{h.hexdigest()[:16]}"
        try:
            if not (folder / "meta.json").is_file():
                folder.parent.mkdir(parents=True, exist_ok=True)
                with _exclusive(folder.with_name(folder.name + ".lock")):  # DDP ranks: one packs, the others wait
                    if not (folder / "meta.json").is_file():
                        pack_tree(p, fmt, split, size, folder, progress=sys.stderr.isatty())
            ds = load_packed(folder, "train" if split == "train" else "val")
            if ds.meta.get("skipped"):
                n = len(ds.meta["skipped"])
                sys.stderr.write(
                    f"ilsvrc: {n} unreadable images in {p} were skipped (listed in {folder}/skipped.txt)\n"
                )
            ds.meta.update({"source": str(p), "format": fmt, "split": split, "cache": str(folder)})
            return ds
        except OSError:
            pass  # read-only home, full disk: decode into memory instead
    return decode_tree(p, fmt, split, size)


# ---------------------------------------------------------------------------------------------- entry point


def load_dataset(source: str | Path | None, split: str = "train", *, size: int | None = None) -> ArrayDataset:
    """Any supported source as an ArrayDataset; `size` resizes variable-size sources (shorter side, centre crop).

    source None -> the bundled Fashion-MNIST set. Split names: "train", "val" ("test" is an alias of val).
    A JPEG-payload pack gives a jpeg_dataset.JpegDataset (same attributes, decoded a batch at a time at `size`).
    """
    if split not in SPLIT_ALIASES:
        raise UserError(f"unknown split {split!r}; use train or val (test is an alias of val)")
    if source is None:
        return _sized(load_bundled(split), size)
    p = resolve_source(source)
    fmt = detect_format(p)
    if fmt == "packed":
        return _sized(load_packed(p, split), size)
    if fmt == "cifar":
        ds = _load_cifar(p, split)
    elif fmt == "idx":
        ds = _load_idx(p, split)
    else:
        return _decoded_tree(p.resolve(), fmt, split, int(size or DEFAULT_SIZE))
    return _sized(ds, size)


def _sized(ds: ArrayDataset, size: int | None) -> ArrayDataset:
    """ds itself, or resized when a size other than its own was asked for (fixed-size sources)."""
    if hasattr(ds, "with_side"):  # a JPEG pack: decoded at `size` batch by batch, nothing resized up front
        return ds.with_side(size)
    if size is None or (size == ds.image_size[0] and size == ds.image_size[1]):
        return ds
    return resize_dataset(ds, int(size))


def resize_dataset(ds: ArrayDataset, size: int, chunk: int = 1024) -> ArrayDataset:
    """Shorter side to `size` then centre crop, for a fixed-size source (resample.center_square, batched)."""
    from ilsvrc.data.resample import center_square

    n, _, _, c = ds.images.shape
    out = torch.empty((n, size, size, c), dtype=torch.uint8)
    for i in range(0, n, chunk):
        x = torch.as_tensor(ds.images[i : i + chunk]).permute(0, 3, 1, 2)  # uint8 (B, C, H, W) view
        out[i : i + chunk] = center_square(x, size).permute(0, 2, 3, 1)
    return ArrayDataset(out, ds.labels, ds.classes, ds.mean, ds.std, {**ds.meta, "size": size})
