"""What a net computes, as pictures: first-layer filters, feature maps per stage, Grad-CAM and occlusion.

Every figure is FIG_WIDTH inches wide at DPI dots per inch (1000 px) and as tall as its rows; the
title says whether the weights are trained or random.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ilsvrc.errors import UserError
from ilsvrc.safety import write_error
from ilsvrc.viz.inspect import Subject, first_conv, shown_image, to_input, towers

DPI = 100
FIG_WIDTH = 10.0  # inches: 1000 px


def _figure(rows: int, cols: int, row_height: float):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    height = 0.8 + rows * row_height  # 0.8 in for the two-line title
    fig, axes = plt.subplots(rows, cols, figsize=(FIG_WIDTH, height), squeeze=False, dpi=DPI)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.1 / height, top=1 - 0.8 / height, hspace=0.35)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes


def _save(fig, path: str | Path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".svg"):
        raise UserError(f"{path}: pictures are written as .png, .jpg or .svg")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI)
    except OSError as err:
        raise write_error(path, err) from None
    finally:
        plt.close(fig)
    return path


def _title(subject: Subject, what: str) -> str:
    return f"{subject.name}: {what}\n{subject.note}"


# -- first-layer filters (AlexNet Fig. 3) ------------------------------------------------------------


def filter_tiles(weight: torch.Tensor) -> np.ndarray:
    """(out, in, k, k) kernels -> (out, k, k, 3 or 1) in [0, 1], each kernel scaled by its own range, as Fig. 3."""
    w = weight.detach().float().cpu()
    if w.shape[1] not in (1, 3):  # not an image-space filter: show the mean over input channels
        w = w.mean(1, keepdim=True)
    lo = w.amin(dim=(1, 2, 3), keepdim=True)
    hi = w.amax(dim=(1, 2, 3), keepdim=True)
    w = (w - lo) / (hi - lo).clamp_min(1e-12)
    return w.permute(0, 2, 3, 1).numpy()


def show_filters(subject: Subject, path: str | Path, max_filters: int = 96) -> Path:
    """The first convolution's kernels as a grid; a net with towers shows each tower's share side by side."""
    name, conv = first_conv(subject.model)
    tiles = filter_tiles(conv.weight)[: max_filters * towers(subject.model)]
    groups = towers(subject.model)
    per_group = math.ceil(len(tiles) / groups)
    cols = max(1, min(per_group, 16 // groups if groups > 1 else 16))
    rows = math.ceil(per_group / cols)
    fig, axes = _figure(rows, cols * groups + (groups - 1), FIG_WIDTH / (cols * groups + groups - 1))
    for g in range(groups):
        for k, tile in enumerate(tiles[g * per_group : (g + 1) * per_group]):
            ax = axes[k // cols, g * (cols + 1) + k % cols]
            ax.imshow(tile[..., 0] if tile.shape[-1] == 1 else tile, cmap="gray", interpolation="nearest")
        if groups > 1:
            axes[0, g * (cols + 1) + cols // 2].set_title(f"tower {g + 1} (GPU {g + 1})", fontsize=9)
    k = conv.kernel_size[0]
    shown = f"{len(tiles)} of {conv.out_channels}" if len(tiles) < conv.out_channels else f"{len(tiles)}"
    fig.suptitle(_title(subject, f"{shown} first-layer filters ({name}: {k}x{k}x{conv.in_channels})"), fontsize=10)
    return _save(fig, path)


# -- feature maps per stage ------------------------------------------------------------------------


def _as_map(t: torch.Tensor) -> torch.Tensor | None:
    """(1, C, H, W) as is; ViT tokens (1, 1 + h*w, D) without the class token as (1, D, h, w); else None."""
    if t.dim() == 4 and t.shape[-1] > 1:
        return t
    if t.dim() == 3:
        side = math.isqrt(t.shape[1] - 1)
        if side > 1 and side * side == t.shape[1] - 1:
            return t[:, 1:].transpose(1, 2).reshape(t.shape[0], t.shape[2], side, side)
    return None


@torch.no_grad()
def stage_maps(model: nn.Module, x: torch.Tensor, max_stages: int = 6) -> list[tuple[str, torch.Tensor]]:
    """(module name, (C, H, W) output) at the end of each spatial size the forward passes through.

    A net that keeps one size throughout (ViT) gives evenly spaced blocks instead.
    """
    seen: list[tuple[str, torch.Tensor]] = []
    names = {m: n for n, m in model.named_modules()}
    handles = []

    def hook(module, args, output):
        if isinstance(output, torch.Tensor) and (m := _as_map(output)) is not None:
            seen.append((names[module], m[0].clone()))

    for m in model.modules():
        if m is not model:
            handles.append(m.register_forward_hook(hook))
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    ends = [seen[i] for i in range(len(seen)) if i + 1 == len(seen) or seen[i + 1][1].shape[1:] != seen[i][1].shape[1:]]
    if len(ends) < 3 and len(seen) > 3:
        inner = [s for s in seen if "." in s[0] and s[0].rsplit(".", 1)[-1][-1].isdigit()] or seen
        step = max(1, len(inner) // 4)
        ends = inner[step - 1 :: step][-4:]
    return ends[-max_stages:]


def show_features(subject: Subject, image: torch.Tensor, path: str | Path, channels: int = 8) -> Path:
    """One row per stage: the input crop, then the `channels` most active maps of that stage's output."""
    maps = stage_maps(subject.model, to_input(subject, image))
    if not maps:
        raise UserError(f"{subject.name}: no spatial feature maps to show")
    fig, axes = _figure(len(maps), channels + 1, FIG_WIDTH / (channels + 1) * 1.05)
    crop = shown_image(subject, image)
    for row, (name, fmap) in enumerate(maps):
        axes[row, 0].imshow(crop, cmap="gray" if crop.ndim == 2 else None)
        axes[row, 0].set_title(f"{name}\n{fmap.shape[1]}x{fmap.shape[2]}x{fmap.shape[0]}", fontsize=7)
        top = fmap.float().mean((1, 2)).topk(min(channels, fmap.shape[0])).indices
        for col, c in enumerate(top.tolist(), start=1):
            axes[row, col].imshow(fmap[c].float().numpy(), cmap="viridis", interpolation="nearest")
            axes[row, col].set_title(f"ch {c}", fontsize=7)
    fig.suptitle(_title(subject, "feature maps per stage (most active channels)"), fontsize=10)
    return _save(fig, path)
