"""Top-5 predictions for image files, from a checkpoint or from an ONNX export alone (its own metadata).

Images are decoded by `ilsvrc.data.decode.decode_image`, the decoder training data goes through, so a
prediction sees the pixels training saw (bit depth, palette, size limits), then by the evaluation transform.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import torch

from ilsvrc.errors import UserError


def load_image(path: str | Path, in_chans: int, side: int) -> torch.Tensor:
    """uint8 (side, side, C), decoded exactly as training decodes image trees (data.decode.decode_image)."""
    from ilsvrc.data.decode import DecodeError, decode_image

    if not Path(path).exists():
        raise UserError(f"image not found: {path}")
    if not Path(path).is_file():
        raise UserError(f"image {path} is not a regular file")
    if in_chans not in (1, 3):
        raise UserError(f"the checkpoint takes {in_chans}-channel images; image files give 1 or 3 channels")
    try:
        return torch.from_numpy(decode_image(path, side, channels=1 if in_chans == 1 else 3).copy())
    except DecodeError as err:
        raise UserError(f"cannot decode image {path}: {err}") from None


def file_kind(path: str | Path) -> str:
    """One of "onnx", "torchscript", "safetensors" or "checkpoint" (anything else: the checkpoint loader gives
    its own errors)."""
    path = Path(path)
    if path.suffix in (".onnx", ".safetensors"):
        return path.suffix[1:]
    if path.is_file() and zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()[:10_000]
        except (zipfile.BadZipFile, OSError):
            return "checkpoint"
        # torch.jit.save archives hold compiled code and constants; torch.save checkpoints hold only data.pkl
        if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
            return "torchscript"
    return "checkpoint"


def refuse_export(path: str | Path) -> None:
    """A UserError naming the format when `path` is an ONNX or TorchScript export rather than a checkpoint."""
    kind = file_kind(path)
    if kind == "checkpoint":
        return
    what = {
        "torchscript": "a TorchScript export (compiled model code)",
        "onnx": "an ONNX export",
        "safetensors": "a safetensors export (weights and metadata only)",
    }[kind]
    raise UserError(f"{path} is {what}, not an ilsvrc checkpoint; give the checkpoint or run it was exported from")


def predict(
    checkpoint: str | Path,
    images: list[str | Path],
    top: int = 5,
    device: str | None = None,
    weights: str | None = None,
) -> list[dict]:
    """[{"image", "top": [(class name, probability), ...]}] for each image, most probable first.

    `checkpoint` is an ilsvrc checkpoint, a run directory, an ONNX file written by `ilsvrc export`, or a model
    name (with torchvision's published ImageNet weights unless `weights` names others)."""
    from ilsvrc.evaluate import is_model_name

    if top < 1:
        raise UserError(f"--top must be >= 1, got {top}")
    if is_model_name(checkpoint):
        return _ranked(*_pretrained_probs(str(checkpoint), images, weights or "torchvision", device), images, top)
    kind = file_kind(checkpoint)
    if kind == "safetensors":
        refuse_export(checkpoint)
    if kind == "torchscript":
        raise UserError(
            f"{checkpoint} is a TorchScript export (compiled model code), not an ilsvrc checkpoint; predict reads "
            "checkpoints and ONNX exports: give the checkpoint it was exported from, or load it with torch.jit.load"
        )
    if kind == "onnx":
        probs, info = _onnx_probs(checkpoint, images)
    else:
        probs, info = _checkpoint_probs(checkpoint, images, device)
    return _ranked(probs, info, images, top)


def _ranked(probs: torch.Tensor, info: dict[str, Any], images: list[str | Path], top: int) -> list[dict]:
    k = min(top, probs.shape[1])
    values, indices = probs.topk(k, dim=1)
    classes = info["classes"]
    out: list[dict[str, Any]] = []
    for path, v, i in zip(images, values.tolist(), indices.tolist(), strict=True):
        out.append({"image": str(path), "top": [(classes[c], p) for c, p in zip(i, v, strict=True)]})
    return out


def _batch(info: dict[str, Any], images: list[str | Path]) -> torch.Tensor:
    """Normalised float32 (N, C, input_size, input_size) centre crops, as evaluation makes them."""
    from ilsvrc.evaluate import eval_transform

    side = info.get("eval_resize") or info["input_size"]
    batch = torch.stack([load_image(p, info["in_chans"], side) for p in images])
    return eval_transform(info, 1)(batch)


@torch.no_grad()
def _checkpoint_probs(checkpoint: str | Path, images: list[str | Path], device: str | None):
    from ilsvrc.evaluate import load_checkpoint_model

    dev = torch.device(device or "cpu")
    model, ckpt = load_checkpoint_model(checkpoint, dev)
    x = _batch(ckpt, images).to(dev)
    return model(x).float().softmax(-1).cpu(), ckpt


@torch.no_grad()
def _pretrained_probs(name: str, images: list[str | Path], weights: str, device: str | None):
    from ilsvrc.evaluate import load_pretrained_model

    dev = torch.device(device or "cpu")
    model, info = load_pretrained_model(name, weights, dev)
    return model(_batch(info, images).to(dev)).float().softmax(-1).cpu(), info


def onnx_info(path: str | Path, metadata: dict[str, str]) -> dict[str, Any]:
    """Classes, channels, sizes and statistics from an ONNX file's metadata, checked; one line if unusable."""
    need = ("classes", "in_chans", "mean", "std", "input_size")
    missing = [k for k in need if k not in metadata]
    if missing:
        raise UserError(
            f"{path} has no ilsvrc metadata ({', '.join(missing)} missing); predict needs an ONNX file written by "
            "'ilsvrc export --to onnx'"
        )
    try:
        info = {
            "classes": json.loads(metadata["classes"]),
            "in_chans": int(metadata["in_chans"]),
            "mean": [float(v) for v in json.loads(metadata["mean"])],
            "std": [float(v) for v in json.loads(metadata["std"])],
            "input_size": int(metadata["input_size"]),
            "eval_resize": json.loads(metadata.get("eval_resize", "null")),
        }
    except (ValueError, TypeError) as err:
        raise UserError(f"{path}: malformed ilsvrc metadata ({err})") from None
    sizes_ok = 1 <= info["input_size"] <= 4096 and info["eval_resize"] in (None, *range(1, 4097))
    stats_ok = len(info["mean"]) == len(info["std"]) >= 1 and all(s > 0 for s in info["std"])
    if not (isinstance(info["classes"], list) and info["classes"] and sizes_ok and stats_ok and info["in_chans"] > 0):
        raise UserError(f"{path}: ilsvrc metadata out of range (classes, input_size, mean/std or in_chans)")
    return info


def _onnx_probs(path: str | Path, images: list[str | Path]):
    try:
        import onnxruntime as ort
    except ImportError:
        raise UserError("predicting with an ONNX file needs onnxruntime: pip install 'ilsvrc[onnx]'") from None
    if not Path(path).is_file():
        raise UserError(f"ONNX file not found: {path}")
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types for unreadable models
        raise UserError(f"cannot load ONNX file {path}: {str(err).splitlines()[0]}") from None
    info = onnx_info(path, session.get_modelmeta().custom_metadata_map)
    x = _batch(info, images)
    (logits,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    probs = torch.from_numpy(logits).float().softmax(-1)
    if probs.shape[1] != len(info["classes"]):
        raise UserError(
            f"{path}: the model gives {probs.shape[1]} outputs but its metadata names {len(info['classes'])} classes"
        )
    return probs, info
