"""Training crops of variable-size images (a JPEG pack's decoded batch) with the one augmentation resampler.

augment.resample_windows reads a uniform uint8 (B, H, W, C) batch; stored JPEGs differ in size. On CUDA the images
are grouped by shape (ImageNet resized to a 256 shorter side is mostly 256x341 and 341x256; Imagenette all
224x224), one batched call a group, so a batch costs a few kernel launches, not hundreds. On the CPU each image is
its own call in the thread pool: measured on 64 Imagenette images (one thread, a busy 2-core machine), 2,300
crops/s so against 1,400 for one batched call, whose 38 MB float output leaves the cache before it becomes uint8.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import Executor

import numpy as np
import torch

from ilsvrc.data.augment import resample_windows

_UNIT_SCALE = np.ones(3, np.float32)  # resample_windows' scale: pixel values (0..255) kept, no normalisation


def crop_images(
    images: Sequence[torch.Tensor],
    boxes: Sequence[tuple[np.ndarray, ...]],
    mirror: np.ndarray,
    size: int,
    pool: Executor | None = None,
    by_shape: bool | None = None,
) -> torch.Tensor:
    """uint8 (B, size, size, 3) on the images' device: box i of image i (uint8 (3, H, W)), mirrored where asked.

    boxes[i]: (top, left, height, width), float64 (1,) each, in source pixels; mirror: bool (B,). The calls run
    in `pool` when given (CPU), one after another otherwise (CUDA queues them anyway). by_shape: one call per
    image shape (default on CUDA) or one per image (default on the CPU); both give the same pixels.
    """
    if by_shape is None:
        by_shape = images[0].device.type == "cuda"
    if by_shape:  # one batched call per image shape: few kernel launches
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, img in enumerate(images):
            groups[(int(img.shape[1]), int(img.shape[2]))].append(i)
        jobs = list(groups.values())
    else:  # one image a call: its float crop is still in cache when converted (measured faster than batched calls)
        jobs = [[i] for i in range(len(images))]

    def run(members: list[int]) -> torch.Tensor:
        # decode_jpeg's (3, H, W) tensors are views of (H, W, 3) memory: stacking those views is one plain copy
        batch = torch.stack([images[i].permute(1, 2, 0) for i in members])  # (b, H, W, 3), the resampler's layout
        windows = tuple(np.concatenate([boxes[i][k] for i in members]) for k in range(4))
        shift = np.zeros((len(members), 3), np.float32)
        crops = resample_windows(batch, windows, size, mirror=mirror[members], scale=_UNIT_SCALE, shift=shift)
        return _to_uint8_hwc(crops)

    parts = list(pool.map(run, jobs)) if pool is not None and len(jobs) > 1 else [run(members) for members in jobs]
    order = [i for members in jobs for i in members]
    if order == list(range(len(images))):  # already in batch order (the CPU; one shape on CUDA)
        return torch.cat(parts)
    index = torch.tensor(order, device=images[0].device)
    out = torch.empty((len(images), size, size, 3), dtype=torch.uint8, device=images[0].device)
    return out.index_copy_(0, index, torch.cat(parts))


def _to_uint8_hwc(x: torch.Tensor) -> torch.Tensor:
    """float32 (b, 3, S, S) in [0, 255] -> uint8 (b, S, S, 3), rounded (tent weights sum to 1: no clamping needed)."""
    if x.device.type == "cpu":  # numpy's conversion is about twice as fast as torch's on one CPU thread
        return torch.from_numpy(np.add(x.numpy().transpose(0, 2, 3, 1), 0.5).astype(np.uint8, order="C"))
    return x.add_(0.5).to(torch.uint8).permute(0, 2, 3, 1)
