"""The one decode-time resampler: shorter side to a size, then the centred square, on uint8 images.

Every place that turns a stored image into the size a network reads (decoding an image tree, resizing a fixed-size
source, a JPEG pack's squares, evaluation's resize before the centre crop) goes through `resize_shorter`, so they
all see the same pixels: torchvision's antialiased bilinear resize (Pillow's filter) on uint8, no float round trip
on the CPU. Training crops are a separate job with their own resampler (augment.py's filter taps).
"""

from __future__ import annotations

import torch


def resize_shorter(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (..., C, H, W) -> uint8 (..., C, h, w) with min(h, w) == size, aspect ratio kept (antialiased bilinear).

    Returns `images` itself when the shorter side already is `size`.
    """
    from torchvision.transforms.v2 import functional as F

    h, w = images.shape[-2:]
    if min(h, w) == size:
        return images
    # the longer side rounded (torchvision truncates a bare int size): a 225x300 image at 224 gives 224x299
    target = [size, max(1, round(w * size / h))] if h <= w else [max(1, round(h * size / w)), size]
    return F.resize(images.contiguous(), target, antialias=True)


def center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """The centred size x size window of (..., H, W) images (a view; no resampling); H and W must be >= size."""
    h, w = images.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return images[..., top : top + size, left : left + size]


def center_square(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (..., C, H, W) -> uint8 (..., C, size, size): shorter side resized to `size`, then the centre square."""
    return center_crop(resize_shorter(images, size), size)
