"""Top-5 predictions for image files, with the class names stored in the checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ilsvrc.errors import UserError


def load_image(path: str | Path, in_chans: int, side: int) -> torch.Tensor:
    """uint8 (side, side, C): decoded with PIL, shorter side resized to `side`, centre-cropped square."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("L" if in_chans == 1 else "RGB")
            w, h = im.size
            scale = side / min(w, h)
            im = im.resize((max(side, round(w * scale)), max(side, round(h * scale))), Image.Resampling.BILINEAR)
            w, h = im.size
            left, top = (w - side) // 2, (h - side) // 2
            im = im.crop((left, top, left + side, top + side))
            arr = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8)
    except FileNotFoundError:
        raise UserError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError) as err:
        raise UserError(f"cannot decode image {path}: {err}") from None
    return arr.view(side, side, in_chans)


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
