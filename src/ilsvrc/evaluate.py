"""Scoring checkpoints the way the papers did: top-1/top-5 error, 1, 2 or 10 crops, ensembles of averaged softmax."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ilsvrc.errors import UserError
from ilsvrc.metrics import class_log_probs, errors  # errors stays importable from here
from ilsvrc.safety import load_state_dict_checked


def load_checkpoint_model(path: str | Path, device: str | torch.device = "cpu", ema: bool = True):
    """(model in eval mode, checkpoint dict) from a checkpoint or a run directory; EMA weights when present."""
    from ilsvrc.models import create_model
    from ilsvrc.train.checkpoint import load

    ckpt = load(path)
    cfg = ckpt["config"]
    try:
        model = create_model(
            cfg["model"], num_classes=ckpt["num_classes"], in_chans=ckpt["in_chans"], **cfg.get("model_options", {})
        )
    except (TypeError, ValueError) as err:  # option values of the wrong type or range, stored in the checkpoint
        raise UserError(f"{path}: cannot build {cfg['model']} from its stored options ({err})") from None
    weights = ckpt["ema"] if ema and ckpt.get("ema") is not None else ckpt["model"]
    load_state_dict_checked(model, weights, path)
    return model.to(device).eval(), ckpt


def eval_transform(ckpt: dict[str, Any], crops: int = 1):
    """The validation transform a checkpoint was trained with (its input size, resize and statistics)."""
    from ilsvrc.data import EvalTransform

    return EvalTransform(
        ckpt["input_size"], tuple(ckpt["mean"]), tuple(ckpt["std"]), crops=crops, resize=ckpt.get("eval_resize")
    )


@torch.no_grad()
def class_probs(
    model: nn.Module, loader: Any, transform: Any, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities (N, classes) averaged over crops, labels (N,)) on the CPU, in loader order."""
    probs, labels = [], []
    for images, y in loader:
        x = transform(images.to(device))
        probs.append(class_log_probs(model, x).exp().cpu())
        labels.append(y)
    return torch.cat(probs), torch.cat(labels)


def evaluate_checkpoints(
    paths: list[str | Path],
    data: str | None,
    split: str = "val",
    crops: int = 1,
    batch_size: int = 100,
    device: str | None = None,
    dataset: Any | None = None,
) -> dict[str, Any]:
    """Score each checkpoint and, with several, their ensemble (the mean of their softmax outputs).

    Returns {"count", "crops", "split", "members": [{"checkpoint", "model", "top1_error", "top5_error", "loss"}],
    "ensemble": {...} or None}.
    """
    from ilsvrc.data import BatchLoader, load_dataset

    if crops not in (1, 2, 10):
        raise UserError(f"--crops must be 1, 2 or 10, got {crops}")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    ds = dataset if dataset is not None else load_dataset(data, split)
    members, all_probs, labels, classes = [], [], None, None
    for path in paths:
        model, ckpt = load_checkpoint_model(path, dev)
        if classes is None:
            classes = ckpt["classes"]
        elif ckpt["classes"] != classes:
            raise UserError(f"{path} was trained on other classes than {paths[0]}; cannot ensemble them")
        if list(ckpt["classes"]) != list(ds.classes):  # same count is not enough: names decide what a label means
            ds = _align_to(ds, ckpt["classes"], path)
        if ckpt["in_chans"] != ds.images.shape[-1]:
            raise UserError(f"{path} takes {ckpt['in_chans']}-channel images; the data has {ds.images.shape[-1]}")
        loader = BatchLoader(ds, max(1, batch_size // crops), shuffle=False)
        probs, labels = class_probs(model, loader, eval_transform(ckpt, crops).to(dev), dev)
        all_probs.append(probs)
        members.append({"checkpoint": str(path), "model": ckpt["config"]["model"], **errors(probs, labels)})
    ensemble = None
    if len(all_probs) > 1:
        ensemble = {
            "checkpoint": f"ensemble of {len(all_probs)}",
            "model": "ensemble",
            **errors(torch.stack(all_probs).mean(0), labels),
        }
    return {"count": len(ds), "crops": crops, "split": split, "members": members, "ensemble": ensemble}


def _align_to(ds: Any, classes: list[str], path: str | Path) -> Any:
    """ds with its labels re-indexed into the checkpoint's class order by name (said on stderr); UserError when
    the data has a class the checkpoint never learned."""
    import dataclasses
    import sys

    from ilsvrc.data.dataset import align_labels

    labels = align_labels(ds.labels.numpy(), ds.classes, classes, "the data", to_name=str(path))
    sys.stderr.write(f"ilsvrc: the data's {len(ds.classes)} classes were matched to {path}'s by name\n")
    return dataclasses.replace(ds, labels=torch.from_numpy(labels), classes=list(classes))
