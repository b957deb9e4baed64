"""Where a data set's files are and what format a path holds: detection, splits and image-tree listings.

No decoding and no reading of pixel data happens here, so every other data module may import this one:
sources.py (the readers), packed.py (the packed format) and packing.py (`ilsvrc pack`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from ilsvrc.data.dataset import align_labels
from ilsvrc.data.decode import IMAGE_EXTENSIONS
from ilsvrc.errors import UserError
from ilsvrc.safety import regular_file

FORMATS = ("packed", "cifar", "idx", "imagenet", "imagefolder")
DEFAULT_SIZE = 64  # pixels, for sources whose images differ in size (ImageFolder, ImageNet) when no size is given
SPLIT_ALIASES = {"train": ("train",), "val": ("val", "test", "valid", "validation"), "test": ("test", "val")}


# ---------------------------------------------------------------------------------------------- detection


def is_cifar_dir(p: Path) -> bool:
    # exists(), not is_file(): a batches.meta that is a FIFO or a device is reported by the reader, not mistaken
    # for "no CIFAR here"
    return (p / "batches.meta").exists() or ((p / "meta").exists() and (p / "train").exists())


def idx_files(p: Path) -> list[Path]:
    return sorted(f for f in p.iterdir() if not f.is_dir() and "-idx" in f.name and "-ubyte" in f.name)


def _is_imagenet_dir(p: Path) -> bool:
    has_devkit = (p / "meta.bin").exists() or (p / "ILSVRC2012_devkit_t12.tar.gz").exists()  # reader checks files
    return has_devkit and (p / "train").is_dir()


def split_dirs(p: Path) -> dict[str, Path]:
    """Subfolders of an ImageFolder root that name splits (train, val, test, ...)."""
    names = {"train", "val", "test", "valid", "validation"}
    return {d.name: d for d in sorted(p.iterdir()) if d.is_dir() and d.name in names}


def resolve_source(source: str | Path) -> Path:
    p = Path(source).expanduser()
    if not p.exists():
        raise UserError(f"data source not found: {p}")
    return p


def detect_format(path: str | Path) -> str:
    """Which of FORMATS the file or folder at `path` is; UserError when none fits."""
    p = resolve_source(path)
    if not p.is_file() and not p.is_dir():
        raise UserError(f"{p}: not a data set (a device, FIFO or socket, not a folder or a file)")
    if p.is_file():
        if p.name == "meta.json":
            return "packed"
        if "-idx" in p.name and "-ubyte" in p.name:
            return "idx"
        raise UserError(f"{p}: not a data set (expected a folder, a packed meta.json or an IDX file)")
    try:
        return _detect_folder(p)
    except OSError as err:  # an unreadable folder
        raise UserError(f"cannot read data folder {p}: {err.strerror or err}") from None


def _detect_folder(p: Path) -> str:
    if (p / "meta.json").exists() or any((d / "meta.json").is_file() for d in split_dirs(p).values()):
        return "packed"
    for sub in (p, p / "cifar-10-batches-py", p / "cifar-100-python"):
        if sub.is_dir() and is_cifar_dir(sub):
            return "cifar"
    if idx_files(p):
        return "idx"
    if _is_imagenet_dir(p):
        return "imagenet"
    subdirs = [d for d in p.iterdir() if d.is_dir() and not d.name.startswith(".")]
    if subdirs:
        return "imagefolder"
    raise UserError(f"{p}: cannot tell the data format (no meta.json, CIFAR batches, IDX files or class folders)")


def pick_split(available: dict[str, object], split: str, where: Path):
    """The entry of `available` (keyed by the source's own split names) that `split` means."""
    if split not in SPLIT_ALIASES:
        raise UserError(f"unknown split {split!r} for {where}; use train or val (test is an alias of val)")
    for name in SPLIT_ALIASES[split]:
        if name in available:
            return available[name]
    raise UserError(f"{where} has no {split!r} split (it has: {', '.join(sorted(available)) or 'none'})")


# ---------------------------------------------------------------------------------------------- image trees


def _is_image(f: os.DirEntry) -> bool:
    try:
        is_file = f.is_file()
    except OSError:  # a symlink loop
        return False
    return is_file and f.name.lower().endswith(IMAGE_EXTENSIONS) and not f.name.startswith(".")


_REPORTED: set[str] = set()  # odd entries already reported in this process (a tree is listed more than once)


def _looks_like_image(f: os.DirEntry) -> bool:
    return f.name.lower().endswith(IMAGE_EXTENSIONS) and not f.name.startswith(".")


def _why_not_a_file(path: str) -> str:
    try:
        os.stat(path)
    except OSError as err:
        return err.strerror or type(err).__name__
    return "a folder" if os.path.isdir(path) else "not a regular file"


def list_image_folder(root: Path) -> tuple[list[str], list[int], list[str]]:
    """(paths, labels, classes) of a class-folder tree; classes are the sorted folder names (ImageFolder order)."""
    class_dirs = sorted(
        (d for d in os.scandir(root) if d.is_dir() and not d.name.startswith(".")), key=lambda d: d.name
    )
    if not class_dirs:
        raise UserError(f"{root}: no class folders")
    paths: list[str] = []
    labels: list[int] = []
    for label, d in enumerate(class_dirs):
        entries = list(os.scandir(d.path))
        files = sorted(f.path for f in entries if _is_image(f))
        odd = sorted(f.path for f in entries if _looks_like_image(f) and not _is_image(f))
        for path in odd:  # a dangling symlink, a symlink loop or a folder named like an image: say so, skip it
            if path in _REPORTED:
                continue
            _REPORTED.add(path)
            sys.stderr.write(f"ilsvrc: skipped {path} (not a readable file: {_why_not_a_file(path)})\n")
        if not files:
            raise UserError(f"{d.path}: empty class folder (no image files)")
        paths += files
        labels += [label] * len(files)
    return paths, labels, [d.name for d in class_dirs]


def list_imagenet(root: Path, split: str) -> tuple[list[str], list[int], list[str]]:
    """The official ILSVRC2012 layout: train/<wnid>/*.JPEG and a flat val/ labelled by the devkit.

    Reuses torchvision's devkit parsing (it writes meta.bin into root once). Classes are the sorted wnids' first
    human-readable names; labels follow the sorted-wnid order (the ImageFolder/torchvision convention).
    """
    from torchvision.datasets.imagenet import load_meta_file, parse_devkit_archive

    if not (root / "meta.bin").exists():
        regular_file(root / "ILSVRC2012_devkit_t12.tar.gz", "ImageNet devkit", 64 << 20)  # the real one is 2.5 MB
        try:
            parse_devkit_archive(str(root))
        except Exception as err:
            raise UserError(f"{root}: cannot parse the ILSVRC2012 devkit ({err})") from None
    wnid_to_names, val_wnids = _imagenet_meta(root, load_meta_file)
    wnids = sorted(wnid_to_names)
    classes = [wnid_to_names[w][0] if isinstance(wnid_to_names[w], tuple) else str(wnid_to_names[w]) for w in wnids]
    folder = pick_split({"train": root / "train", "val": root / "val"}, split, root)
    if not folder.is_dir():
        raise UserError(f"{folder}: missing")
    if any(d.is_dir() for d in os.scandir(folder)):  # already sorted into class folders (torchvision's prepared layout)
        paths, labels, found = list_image_folder(folder)
        index = {w: i for i, w in enumerate(wnids)}
        unknown = [w for w in found if w not in index]
        if unknown:
            raise UserError(f"{folder}: folders {unknown[:3]} are not ILSVRC2012 wnids")
        return paths, [index[found[lab]] for lab in labels], classes
    files = sorted(f.path for f in os.scandir(folder) if _is_image(f))
    if len(files) != len(val_wnids):
        raise UserError(f"{folder}: {len(files)} images but the devkit labels {len(val_wnids)}")
    index = {w: i for i, w in enumerate(wnids)}
    unknown = [w for w in val_wnids if w not in index]
    if unknown:
        raise UserError(f"{root / 'meta.bin'}: validation labels {unknown[:3]} are not among its {len(wnids)} wnids")
    return files, [index[w] for w in val_wnids], classes  # devkit order = sorted file names


def _imagenet_meta(root: Path, load_meta_file) -> tuple[dict, list]:
    """torchvision's meta.bin ({wnid: names}, [val wnid per image]) read and type-checked, one line if not."""
    meta = root / "meta.bin"
    regular_file(meta, "ImageNet meta.bin", 256 << 20)
    try:
        wnid_to_names, val_wnids = load_meta_file(str(root))
    except Exception as err:  # text, a truncated file, a pickle of something else
        first = " ".join(str(err).split())[:200]
        raise UserError(f"{meta}: not torchvision's ImageNet meta file ({type(err).__name__}: {first})") from None
    names_ok = isinstance(wnid_to_names, dict) and all(
        isinstance(w, str) and (isinstance(v, str) or (isinstance(v, tuple) and v and isinstance(v[0], str)))
        for w, v in wnid_to_names.items()
    )
    if (
        not names_ok
        or not wnid_to_names
        or not isinstance(val_wnids, list)
        or not all(isinstance(w, str) for w in val_wnids)
    ):
        raise UserError(f"{meta}: malformed (expected {{wnid: names}} and a list of validation wnids)")
    return wnid_to_names, val_wnids


def image_tree_files(p: Path, fmt: str, split: str) -> tuple[list[str], list[int], list[str], Path]:
    """(paths, labels, classes, split folder) for a variable-size source."""
    if fmt == "imagenet":
        paths, labels, classes = list_imagenet(p, split)
        return paths, labels, classes, p / ("train" if split == "train" else "val")
    splits = split_dirs(p)
    if splits:
        folder = pick_split(splits, split, p)
    elif split == "train":
        folder = p  # a single class-folder tree is one split
    else:
        raise UserError(f"{p} is a single class-folder tree (one split); it has no {split!r} split")
    paths, labels, classes = list_image_folder(folder)
    train = splits.get("train")
    if train is not None and folder != train:  # label by the training split's class list, matched by name
        train_classes = sorted(d.name for d in os.scandir(train) if d.is_dir() and not d.name.startswith("."))
        labels = align_labels(np.asarray(labels, dtype=np.int64), classes, train_classes, folder).tolist()
        classes = train_classes
    return paths, labels, classes, folder
