"""The in-memory (or memory-mapped) data set every source is turned into, and its pixel statistics."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ilsvrc.errors import UserError


@dataclass
class ArrayDataset:
    """Images as one uint8 (N, H, W, C) tensor with int64 labels, class names and normalisation statistics.

    `images` may wrap a numpy memmap (packed data): indexing a batch reads only those rows from disk.
    """

    images: torch.Tensor  # uint8 (N, H, W, C), C = 1 or 3
    labels: torch.Tensor  # int64 (N,)
    classes: list[str]  # index = label
    mean: tuple[float, ...]  # per channel, pixel values in [0, 1]
    std: tuple[float, ...]
    meta: dict = field(default_factory=dict)  # source, format, size, split, pca_eigval/pca_eigvec (3-channel data)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be uint8 (N, H, W, C), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels {tuple(self.labels.shape)} do not match {self.images.shape[0]} images")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def channels(self) -> int:
        return int(self.images.shape[3])

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.images.shape[1]), int(self.images.shape[2])

    def subset(self, indices) -> ArrayDataset:
        """The samples at `indices` (a sequence, array, tensor or slice), copied into memory; statistics are kept."""
        if isinstance(indices, slice):
            idx = torch.arange(len(self))[indices]
        else:
            idx = torch.as_tensor(np.asarray(indices), dtype=torch.int64).reshape(-1)
        return replace(self, images=self.images[idx], labels=self.labels[idx], meta={**self.meta, "count": len(idx)})


def pixel_stats(images: np.ndarray | torch.Tensor, chunk_values: int = 1 << 23) -> dict:
    """Per-channel mean/std of pixel values in [0, 1] and, for RGB, the eigen-decomposition of the 3x3 covariance.

    Accumulates in float64 over chunks so a memory-mapped array is read once and never held whole.
    Eigenvalues are in [0, 1]^2 units, largest first (the numbers AlexNet's PCA lighting scales by).
    """
    arr = images.numpy() if isinstance(images, torch.Tensor) else images
    n, c = arr.shape[0], arr.shape[-1]
    chunk = max(1, chunk_values // max(1, int(np.prod(arr.shape[1:]))))  # images per step: ~64 MB of float64
    s = np.zeros(c)
    ss = np.zeros((c, c))
    count = 0
    for start in range(0, n, chunk):
        x = np.asarray(arr[start : start + chunk], dtype=np.float64).reshape(-1, c) / 255.0
        s += x.sum(0)
        ss += x.T @ x
        count += x.shape[0]
    if count == 0:
        return {"mean": [0.0] * c, "std": [1.0] * c}
    mean = s / count
    cov = ss / count - np.outer(mean, mean)
    std = np.sqrt(np.clip(np.diag(cov), 1e-12, None))
    out = {"mean": [round(float(v), 6) for v in mean], "std": [round(float(v), 6) for v in std]}
    if c == 3:
        eigval, eigvec = np.linalg.eigh(cov)
        order = np.argsort(eigval)[::-1]
        eigvec = eigvec[:, order]
        eigvec *= np.where(eigvec.sum(0) < 0, -1.0, 1.0)  # a sign convention, so the numbers are reproducible
        out["pca_eigval"] = [round(float(v), 8) for v in eigval[order]]
        out["pca_eigvec"] = [[round(float(v), 8) for v in row] for row in eigvec]  # columns are eigenvectors
    return out


def check_labels(labels: np.ndarray, num_classes: int, where: object) -> None:
    """UserError unless every label is a class index in [0, num_classes): a bad label must never train silently."""
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        bad = int(np.flatnonzero((labels < 0) | (labels >= num_classes))[0])
        raise UserError(f"{where}: label {int(labels[bad])} at index {bad} is out of range for {num_classes} classes")


def align_labels(
    labels: np.ndarray, classes: list[str], to: list[str], where: object, to_name: str = "the training split"
) -> np.ndarray:
    """Labels indexing `classes`, re-indexed into `to` by class name (a val split labelled in the training split's
    order). UserError when a class of `classes` is not in `to`: its images could only be scored as wrong."""
    if list(classes) == list(to):
        return labels
    index = {name: i for i, name in enumerate(to)}
    unknown = [c for c in classes if c not in index]
    if unknown:
        shown = ", ".join(repr(c) for c in unknown[:3]) + (f" (+{len(unknown) - 3} more)" if len(unknown) > 3 else "")
        raise UserError(f"{where}: classes {shown} are not among {to_name}'s {len(to)} classes")
    mapping = np.array([index[c] for c in classes], dtype=np.int64)
    return mapping[labels] if len(labels) else labels.astype(np.int64)
