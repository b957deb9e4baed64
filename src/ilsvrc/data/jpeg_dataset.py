"""A JPEG-payload pack where training and evaluation expect an ArrayDataset: batches decoded on demand.

`JpegDataset` has what the engine reads of an ArrayDataset (labels, classes, mean, std, meta, len, subset and an
`images` view of shape (N, side, side, 3)) plus `read_batch`, which BatchLoader calls instead of indexing an array:

  evaluation (no generator): each image's shorter side resized to `side`, then the centred square (JpegPack.take);
  training with `train_crop` set: Inception crops of `train_crop["size"]` from each whole stored image, plus flips
  (JpegPack.random_resized_crops), so TrainAugment only normalises ("none");
  training without it: the `side` squares, augmented by TrainAugment as a raw pack's batches are.

Decoding and cropping run in JpegPack's thread pool on the CPU; with `device` CUDA, one batched nvJPEG decode
per batch and the crops on the GPU.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ilsvrc.data.dataset import align_labels, check_labels
from ilsvrc.data.jpeg_pack import JpegPack
from ilsvrc.errors import UserError


class _Squares:
    """`JpegDataset.images`: a read-only (N, side, side, 3) uint8 view, decoded when indexed (a slice or indices)."""

    def __init__(self, ds: JpegDataset) -> None:
        self.ds = ds
        self.shape = torch.Size((len(ds), ds.side, ds.side, 3))
        self.dtype, self.device = torch.uint8, torch.device("cpu")

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> torch.Tensor:
        if isinstance(key, (int, np.integer)):
            return self[[int(key)]][0]
        idx = np.arange(len(self))[key] if isinstance(key, slice) else np.asarray(key, dtype=np.int64).reshape(-1)
        return self.ds.pack.take(self.ds.rows[idx], self.ds.side)


@dataclass
class JpegDataset:
    """Rows of a JpegPack with their labels (aligned to the training split's classes) and statistics."""

    pack: JpegPack
    rows: np.ndarray  # int64 (N,): which pack images, in order
    labels: torch.Tensor  # int64 (N,)
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    side: int  # the decode side: shorter side resized to this, centre square (evaluation, `images`)
    meta: dict = field(default_factory=dict)
    train_crop: dict | None = None  # {"size", "scale", "ratio", "flip"}: random-resized-crop in read_batch
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def images(self) -> _Squares:
        return _Squares(self)

    @property
    def channels(self) -> int:
        return 3

    @property
    def image_size(self) -> tuple[int, int]:
        return self.side, self.side

    def subset(self, indices: Any) -> JpegDataset:
        """The samples at `indices` (a sequence, array, tensor or slice); nothing is decoded."""
        idx = np.arange(len(self))[indices] if isinstance(indices, slice) else np.asarray(indices).reshape(-1)
        idx = idx.astype(np.int64)
        meta = {**self.meta, "count": len(idx)}
        return dataclasses.replace(self, rows=self.rows[idx], labels=self.labels[torch.from_numpy(idx)], meta=meta)

    def with_side(self, side: int | None) -> JpegDataset:
        """The same rows decoded at `side` (None: keep it)."""
        if side is None or int(side) == self.side:
            return self
        if side < 8:
            raise UserError(f"{self.pack.folder}: a decode side of {side} pixels is too small (at least 8)")
        return dataclasses.replace(self, side=int(side), meta={**self.meta, "size": int(side)})

    def read_batch(self, idx: np.ndarray, generator: torch.Generator | None) -> torch.Tensor:
        """uint8 (B, S, S, 3) for dataset indices `idx`, on `self.device`; crops drawn from `generator` in training."""
        rows = self.rows[idx]
        crop = self.train_crop
        if generator is None or crop is None:
            return self.pack.take(rows, self.side, self.device)
        return self.pack.random_resized_crops(
            rows, crop["size"], generator, crop["scale"], crop["ratio"], crop["flip"], self.device
        )


def load_jpeg_folder(folder: Path, meta: dict, train_meta: dict | None) -> JpegDataset:
    """A checked JPEG-payload folder as a JpegDataset; val labels re-indexed into the train split's classes."""
    pack = JpegPack(folder)
    if len(pack) != meta["count"]:
        raise UserError(f"{folder}: index.npy lists {len(pack)} images but meta.json says {meta['count']}")
    labels = pack.labels.numpy().astype(np.int64)
    check_labels(labels, len(meta["classes"]), folder / "index.npy")
    classes = list(meta["classes"])
    if train_meta is not None:  # score val against the training split's class order, matched by name
        labels = align_labels(labels, classes, train_meta["classes"], folder)
        classes = list(train_meta["classes"])
    stats = train_meta or meta  # normalise with the training split's statistics
    out_meta = {k: v for k, v in meta.items() if k not in ("shards", "skipped")}
    out_meta.update({"source": str(folder), "format": "packed", "payload": "jpeg", "size": int(meta["max_side"])})
    return JpegDataset(
        pack,
        np.arange(len(pack), dtype=np.int64),
        torch.from_numpy(labels),
        classes,
        tuple(stats["mean"]),
        tuple(stats["std"]),
        int(meta["max_side"]),
        out_meta,
    )
