"""Small layers shared by several papers."""

from __future__ import annotations

from torch import nn


def paper_lrn(size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0) -> nn.LocalResponseNorm:
    """Local response normalisation as written in AlexNet (section 3.3): b = a / (k + alpha * sum a^2)^beta.

    PyTorch (like Caffe) divides alpha by `size` inside the sum, so the paper's alpha is passed as
    alpha * size to get the paper's formula exactly.
    """
    return nn.LocalResponseNorm(size=size, alpha=alpha * size, beta=beta, k=k)
