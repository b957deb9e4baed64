"""`ilsvrc pack`: any source into the packed format, one split or each of them.

Image trees are decoded straight into the format (packed.pack_tree); every other source is read by sources.py
and written as arrays (packed.pack_arrays). This module sits above both, so neither imports the other's caller.
"""

from __future__ import annotations

from pathlib import Path

from ilsvrc.data.jpeg_pack import pack_jpeg
from ilsvrc.data.layout import DEFAULT_SIZE, detect_format, image_tree_files, resolve_source
from ilsvrc.data.packed import CHUNK, pack_arrays, pack_tree
from ilsvrc.data.progress import progress_bar
from ilsvrc.data.sources import list_splits, load_dataset
from ilsvrc.errors import UserError
from ilsvrc.locks import folder_lock


def pack(
    source: str | Path,
    out: str | Path,
    *,
    size: int | None = None,
    split: str = "train",
    workers: int | None = None,
    progress: bool = True,
    chunk: int = CHUNK,
) -> dict | list[dict]:
    """Pack one split of `source` into the folder `out`; split "all" packs each split into out/<split>/.

    Returns the meta dict (a list of them for "all"). Fixed-size sources keep their size unless `size` is given;
    variable-size ones default to layout.DEFAULT_SIZE.
    """
    out = Path(out).expanduser()
    if split == "all":
        return [
            pack(source, out / s, size=size, split=s, workers=workers, progress=progress) for s in list_splits(source)
        ]
    if workers is not None and not 1 <= workers <= 256:
        raise UserError(f"--workers must be between 1 and 256, got {workers}")
    if size is not None and not 1 <= size <= 8192:
        raise UserError(f"--size must be between 1 and 8192 pixels, got {size}")
    src = resolve_source(source)
    fmt = detect_format(src)
    if fmt in ("imagefolder", "imagenet"):
        return pack_tree(
            src, fmt, split, int(size or DEFAULT_SIZE), out, workers=workers, progress=progress, chunk=chunk
        )
    return pack_arrays(load_dataset(src, split, size=size), src, fmt, split, out)


def pack_jpeg_tree(
    source: str | Path,
    out: str | Path,
    *,
    size: int = 256,
    quality: int = 90,
    split: str = "train",
    workers: int | None = None,
    progress: bool = True,
) -> dict | list[dict]:
    """Pack an image tree as the JPEG-payload format (jpeg_pack.py): shorter side <= `size`, JPEG `quality`.

    For ImageNet-scale trees, where decoded uint8 squares do not fit on disk. Split "all" packs each split into
    out/<split>/.
    """
    out = Path(out).expanduser()
    if split == "all":
        return [pack_jpeg_tree(source, out / s, size=size, quality=quality, split=s, workers=workers,
                               progress=progress) for s in list_splits(source)]  # fmt: skip
    src = resolve_source(source)
    fmt = detect_format(src)
    if fmt not in ("imagefolder", "imagenet"):
        raise UserError(f"--payload jpeg packs image trees (photo folders, ImageNet); {src} is {fmt} data")
    paths, labels, classes, folder = image_tree_files(src, fmt, split)
    with folder_lock(out, "pack folder"), progress_bar(progress, len(paths), f"packing {folder} as JPEG") as advance:
        return pack_jpeg(paths, labels, classes, out, max_side=size, quality=quality, split=split,
                         source=str(src), workers=workers, on_done=advance)  # fmt: skip
