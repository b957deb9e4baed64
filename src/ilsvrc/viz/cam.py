"""Where a net looks: Grad-CAM of its top classes (the `grad-cam` package) and Zeiler & Fergus's occlusion map.

Grad-CAM weights the last spatial feature map by the gradient of a class score; ViT's tokens are
reshaped into a grid for it (class token dropped). Occlusion (ZFNet Fig. 7) slides a grey square
(the mean pixel: zero after normalisation) over the image and plots the probability of the true
class (or the top class when the label is unknown) at each position: low where the evidence is.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ilsvrc.analysis import counting
from ilsvrc.viz.inspect import Subject, shown_image, to_input
from ilsvrc.viz.pictures import FIG_WIDTH, _as_map, _figure, _save, _title


def _tokens_to_grid(t: torch.Tensor) -> torch.Tensor:
    """(B, 1 + h*w, D) -> (B, D, h, w), the class token dropped; maps pass through."""
    grid = _as_map(t)
    return t if grid is None else grid


def cam_layer(model: nn.Module, x: torch.Tensor) -> tuple[nn.Module, bool]:
    """(target layer, is_vit): the last module with a spatial map; for token nets, the first norm of the last block.

    In a ViT only the class token reaches the head after the last block, so the final norm's patch
    tokens get no gradient; the last block's first LayerNorm is the usual target.
    """
    outputs: list[tuple[nn.Module, torch.Tensor]] = []
    modules = [m for m in model.modules() if m is not model]
    handles = [m.register_forward_hook(lambda mod, a, out: outputs.append((mod, out))) for m in modules]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    grids = [(m, o) for m, o in outputs if isinstance(o, torch.Tensor) and o.dim() == 4 and o.shape[-1] > 1]
    tokens = [(m, o) for m, o in outputs if isinstance(o, torch.Tensor) and o.dim() == 3 and _as_map(o) is not None]
    if tokens and (not grids or outputs.index(tokens[-1]) > outputs.index(grids[-1])):
        last_attention = max(k for k, (m, _) in enumerate(outputs) if counting.is_attention(m) or k == 0)
        norms = [m for m, o in outputs[:last_attention] if isinstance(m, nn.LayerNorm) and _as_map(o) is not None]
        return (norms[-1] if norms else tokens[-1][0]), True
    if not grids:
        raise ValueError("no spatial feature map for Grad-CAM")
    return grids[-1][0], False


def _no_inplace(model: nn.Module) -> nn.Module:
    """A copy whose activations do not overwrite their input: the CAM hooks keep the layer output."""
    model = copy.deepcopy(model)
    for m in model.modules():
        if getattr(m, "inplace", False):
            m.inplace = False
    return model


def grad_cams(subject: Subject, image: torch.Tensor, top: int = 3) -> tuple[list[tuple[int, float, np.ndarray]], str]:
    """([(class, probability, (S, S) map in [0, 1]) for the top classes], target layer name)."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = _no_inplace(subject.model)
    x = to_input(subject, image)
    with torch.no_grad():
        probs = model(x).float().softmax(-1)[0]
    values, classes = probs.topk(min(top, probs.numel()))
    layer, vit = cam_layer(model, x)
    layer_name = next(n for n, m in model.named_modules() if m is layer)
    out = []
    with GradCAM(model=model, target_layers=[layer], reshape_transform=_tokens_to_grid if vit else None) as cam:
        for c, p in zip(classes.tolist(), values.tolist(), strict=True):
            heat = cam(input_tensor=x, targets=[ClassifierOutputTarget(c)])[0]
            out.append((c, p, heat))
    return out, layer_name


@torch.no_grad()
def occlusion(
    subject: Subject, image: torch.Tensor, target: int, *, positions: int = 8, batch: int = 16
) -> tuple[np.ndarray, int]:
    """((positions, positions) probability of `target` with a grey square centred at each grid point, square side)."""
    x = to_input(subject, image)
    side = x.shape[-1]
    square = max(2, math.ceil(side / 4))
    centres = torch.linspace(0, side - 1, positions).round().long().tolist()
    jobs = [(r, c) for r in centres for c in centres]
    probs = []
    for k in range(0, len(jobs), batch):
        chunk = jobs[k : k + batch]
        xs = x.repeat(len(chunk), 1, 1, 1)
        for i, (r, c) in enumerate(chunk):
            r0, c0 = max(0, r - square // 2), max(0, c - square // 2)
            xs[i, :, r0 : r0 + square, c0 : c0 + square] = 0.0  # the mean pixel, after normalisation
        probs.append(subject.model(xs).float().softmax(-1)[:, target])
    return torch.cat(probs).view(positions, positions).numpy(), square


def show_cam(subject: Subject, image: torch.Tensor, path: str | Path, label: int | None = None, top: int = 3) -> Path:
    """Image | Grad-CAM of each top class | occlusion map of the true (else top) class."""
    cams, layer = grad_cams(subject, image, top)
    target = label if label is not None else cams[0][0]
    occ, square = occlusion(subject, image, target)
    crop = shown_image(subject, image)
    cols = len(cams) + 2
    fig, axes = _figure(1, cols, FIG_WIDTH / cols * 0.95)
    fig.subplots_adjust(right=0.93)  # room for the colour bar's labels
    axes[0, 0].imshow(crop, cmap="gray" if crop.ndim == 2 else None)
    truth = f"true: {subject.classes[label]}" if label is not None else "label unknown"
    axes[0, 0].set_title(f"input\n{truth}", fontsize=8)
    for k, (c, p, heat) in enumerate(cams, start=1):
        axes[0, k].imshow(crop, cmap="gray" if crop.ndim == 2 else None)
        axes[0, k].imshow(heat, cmap="jet", alpha=0.45, extent=(-0.5, crop.shape[1] - 0.5, crop.shape[0] - 0.5, -0.5))
        axes[0, k].set_title(f"Grad-CAM #{k}\n{subject.classes[c]} {100 * p:.1f}%", fontsize=8)
    im = axes[0, -1].imshow(occ, cmap="magma", vmin=0, vmax=max(float(occ.max()), 1e-6), interpolation="nearest")
    axes[0, -1].set_title(f"occlusion ({square}px square)\np({subject.classes[target]})", fontsize=8)
    bar = fig.colorbar(im, ax=axes[0, -1], fraction=0.046, pad=0.04, format="%.2g")
    bar.ax.tick_params(labelsize=7)
    fig.suptitle(_title(subject, f"where it looks (Grad-CAM at {layer}; ZFNet occlusion)"), fontsize=10)
    return _save(fig, path)
