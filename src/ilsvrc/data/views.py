"""Deterministic views of images: alternating training flips and the test-time views of the CIFAR speed runs.

`AlternatingFlip` decides, per image and epoch, whether a training image is mirrored: at random (seeded) in epoch
0, then the opposite of the previous epoch, so every image is seen mirrored on exactly every other epoch (Jordan
2024, arXiv:2404.00498, section 3.6: the random flip's repeats and gaps removed). `TTAViews` turns an
evaluation batch into the image, its mirror and, for 'translate', both shifted by one pixel, with the weights
their logits are averaged with (`metrics.class_log_probs`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

TTA_MODES = ("none", "mirror", "translate")


class AlternatingFlip:
    """mirror flags for the images of a batch: base[i] XOR (epoch is odd), base drawn once from `seed`.

    A pure function of (seed, image index, epoch), so no generator state needs saving and a resumed run (or
    another DDP rank) flips the same images as an uninterrupted one.
    """

    def __init__(self, num_images: int, seed: int) -> None:
        g = torch.Generator().manual_seed(int(seed) * 7_919 + 3)  # its own stream: the augment generator is untouched
        self.base = (torch.rand(int(num_images), generator=g) < 0.5).numpy()  # (N,) bool, epoch 0's flips

    def __call__(self, indices: np.ndarray, epoch: int) -> np.ndarray:
        """(B,) bool: which of the images `indices` (dataset positions) are mirrored in `epoch` (0-based)."""
        return self.base[np.asarray(indices)] ^ bool(epoch % 2)


class TTAViews(nn.Module):
    """Wrap an evaluation transform: (B, C, H, W) -> (B, V, C, H, W) test-time views; `view_weights` (V,) sum to 1.

    'mirror': the image and its mirror, 1/2 each. 'translate' (airbench's level 2): those two, plus the pair for
    the image shifted one pixel up-left and the pair shifted one pixel down-right (reflect padding, so no black
    border); the unshifted pair weighs 1/2 in all, each shifted pair 1/4. 'none': the transform unchanged.
    """

    def __init__(self, transform: nn.Module, mode: str) -> None:
        super().__init__()
        if mode not in TTA_MODES:
            raise ValueError(f"unknown test-time augmentation {mode!r}; choose from {', '.join(TTA_MODES)}")
        self.transform, self.mode = transform, mode
        w = {"none": [1.0], "mirror": [0.5, 0.5], "translate": [0.25, 0.25] + [0.125] * 4}[mode]
        self.register_buffer("view_weights", torch.tensor(w), persistent=False)

    @property
    def views(self) -> int:
        return int(self.view_weights.numel())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.transform(images)
        if self.mode == "none":
            return x
        if x.dim() != 4:
            raise ValueError("test-time views need one view per image from the wrapped transform (crops=1)")
        shifted = [x]
        if self.mode == "translate":
            h, w = x.shape[-2:]
            padded = F.pad(x, (1, 1, 1, 1), mode="reflect")  # (B, C, H + 2, W + 2)
            shifted += [padded[..., :h, :w], padded[..., 2:, 2:]]  # content moves down-right, then up-left
        return torch.stack([v for s in shifted for v in (s, s.flip(-1))], 1).contiguous()
