"""Top-5 predictions for image files, with the class names stored in the checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ilsvrc.errors import UserError


def load_image(path: str | Path, in_chans: int, side: int) -> torch.Tensor:
    """uint8 (side, side, C), decoded exactly as training decodes image trees (data.decode.decode_image)."""
    from ilsvrc.data.decode import DecodeError, decode_image

    if not Path(path).exists():
        raise UserError(f"image not found: {path}")
    if in_chans not in (1, 3):
        raise UserError(f"the checkpoint takes {in_chans}-channel images; image files give 1 or 3 channels")
    try:
        return torch.from_numpy(decode_image(path, side, channels=1 if in_chans == 1 else 3).copy())
    except DecodeError as err:
        raise UserError(f"cannot decode image {path}: {err}") from None


@torch.no_grad()
def predict(checkpoint: str | Path, images: list[str | Path], top: int = 5, device: str | None = None) -> list[dict]:
    """[{"image", "top": [(class name, probability), ...]}] for each image, most probable first."""
    from ilsvrc.evaluate import eval_transform, load_checkpoint_model

    if top < 1:
        raise UserError(f"--top must be >= 1, got {top}")
    dev = torch.device(device or "cpu")
    model, ckpt = load_checkpoint_model(checkpoint, dev)
    side = ckpt.get("eval_resize") or ckpt["input_size"]
    batch = torch.stack([load_image(p, ckpt["in_chans"], side) for p in images])
    x = eval_transform(ckpt, 1).to(dev)(batch.to(dev))
    probs = model(x).float().softmax(-1).cpu()
    k = min(top, probs.shape[1])
    values, indices = probs.topk(k, dim=1)
    classes = ckpt["classes"]
    out: list[dict[str, Any]] = []
    for path, v, i in zip(images, values.tolist(), indices.tolist(), strict=True):
        out.append({"image": str(path), "top": [(classes[c], p) for c, p in zip(i, v, strict=True)]})
    return out
