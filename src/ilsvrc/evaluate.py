"""Scoring checkpoints the way the papers did: top-1/top-5 error, 1, 2 or 10 crops, ensembles of averaged softmax."""

from __future__ import annotations

from collections.abc import Callable
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
    from ilsvrc.predict import refuse_export
    from ilsvrc.train.checkpoint import load

    refuse_export(path)  # an ONNX/TorchScript export: say what it is, not that it is a suspicious pickle
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


def load_pretrained_model(name: str, weights: str = "torchvision", device: str | torch.device = "cpu"):
    """(model in eval mode, a checkpoint-like dict) for published weights: torchvision's preprocessing, the 1000
    ImageNet classes. The dict has what `eval_transform` and the scorers read from a checkpoint."""
    from ilsvrc.models import create_model
    from ilsvrc.models.pretrained import imagenet_classes, parse_weights, weights_info

    info = weights_info(name, parse_weights(weights))
    model = create_model(name, weights=weights)
    ckpt = {
        "config": {"model": name, "data": None},
        "classes": list(imagenet_classes()),
        "num_classes": 1000,
        "in_chans": 3,
        "input_size": info.crop_size,
        "eval_resize": info.resize_size,
        "mean": list(info.mean),
        "std": list(info.std),
        "pretrained": info,
    }
    return model.to(device).eval(), ckpt


def is_model_name(source: str | Path) -> bool:
    """True for a zoo name that is not also a file or folder here (`ilsvrc predict resnet50_v1_5 photo.jpg`)."""
    from ilsvrc.models import list_models

    return not Path(source).exists() and str(source) in list_models()


def tree_side(data: str | None, ckpt: dict[str, Any]) -> int | None:
    """The side to decode a photo folder at for this checkpoint (the one training decoded at), else None."""
    from ilsvrc.data import detect_format

    if data is None or detect_format(data) not in ("imagefolder", "imagenet"):
        return None
    return int(ckpt.get("eval_resize") or ckpt["input_size"])


def _imagenet_columns(ds: Any, path: str | Path) -> list[int] | None:
    """Which of the 1000 logits the data's classes are (wnid folders such as Imagenette's); None: all 1000."""
    from ilsvrc.models.pretrained import imagenet_indices

    columns = imagenet_indices(list(ds.classes))
    if columns is None and len(ds.classes) != 1000:
        raise UserError(
            f"{path} predicts the 1000 ImageNet classes; the data's {len(ds.classes)} classes are not ILSVRC wnids "
            "(folders named like n01440764), so its labels cannot be matched"
        )
    return None if columns == list(range(1000)) else columns


def eval_transform(ckpt: dict[str, Any], crops: int = 1, tta: str = "none"):
    """The validation transform a checkpoint was trained with (its input size, resize and statistics).

    tta 'mirror' or 'translate': wrapped in `data.views.TTAViews` (its view_weights average the logits)."""
    from ilsvrc.data import EvalTransform, TTAViews

    base = EvalTransform(
        ckpt["input_size"], tuple(ckpt["mean"]), tuple(ckpt["std"]), crops=crops, resize=ckpt.get("eval_resize")
    )
    return base if tta == "none" else TTAViews(base, tta)


@torch.no_grad()
def class_probs(
    model: nn.Module,
    loader: Any,
    transform: Any,
    device: torch.device,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities (N, classes) averaged over crops, labels (N,)) on the CPU, in loader order.

    `on_batch(n)` is called after each batch with its number of images (for a progress bar)."""
    probs, labels = [], []
    for images, y in loader:
        x = transform(images.to(device))
        probs.append(class_log_probs(model, x, getattr(transform, "view_weights", None)).exp().cpu())
        labels.append(y)
        if on_batch is not None:
            on_batch(len(y))
    return torch.cat(probs), torch.cat(labels)


def recorded_data(ckpt: dict[str, Any], path: str | Path) -> str | None:
    """The data source a checkpoint's run was trained on (its saved config), checked to exist here.

    None means the bundled Fashion-MNIST (what `ilsvrc train` uses without --data)."""
    data = ckpt["config"].get("data")
    if data is not None and not isinstance(data, str):
        raise UserError(f"{path}: its config records data {data!r}, not a path; give --data")
    if data is not None and not Path(data).exists():
        raise UserError(f"{path} was trained on {data} (recorded in its config), which is not found here; give --data")
    return data


def evaluate_checkpoints(
    paths: list[str | Path],
    data: str | None,
    split: str = "val",
    crops: int = 1,
    batch_size: int = 100,
    device: str | None = None,
    dataset: Any | None = None,
    progress: Callable[[int, int], None] | None = None,
    weights: str | None = None,
    tta: str = "none",
) -> dict[str, Any]:
    """Score each checkpoint and, with several, their ensemble (the mean of their softmax outputs).

    A path may be a model name with `weights` ("torchvision"): published ImageNet weights, scored on data whose
    classes are ILSVRC wnids (the 1000, or a subset such as Imagenette's 10, whose logits alone are compared).

    `tta` ('none', 'mirror', 'translate'): test-time views whose logits are averaged (with crops=1).
    `data` None: the data recorded in the first checkpoint's run (see `recorded_data`). `progress(done, total)`
    is called after every batch with the images scored so far, over all checkpoints.
    Returns {"count", "crops", "split", "data", "members": [{"checkpoint", "model", "top1_error", "top5_error",
    "loss"}], "ensemble": {...} or None}.
    """
    from ilsvrc.data import BatchLoader

    views = _views_per_image(crops, tta)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    recorded = dataset is None and data is None  # use the data the runs were trained on
    ds = dataset
    members, all_probs, labels, classes = [], [], None, None
    done = 0

    def on_batch(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, len(ds) * len(paths))

    for path in paths:
        model, ckpt = _load_member(path, weights, dev)
        if recorded and ds is not None and recorded_data(ckpt, path) != data:
            raise UserError(f"{path} was trained on other data than {paths[0]} ({data or 'bundled'}); give --data")
        if ds is None:
            data = recorded_data(ckpt, path) if recorded else data
            ds = _eval_data(data, split, ckpt, dev)
        if classes is None:
            classes = ckpt["classes"]
        elif ckpt["classes"] != classes:
            raise UserError(f"{path} was trained on other classes than {paths[0]}; cannot ensemble them")
        columns = _imagenet_columns(ds, path) if "pretrained" in ckpt else None
        if "pretrained" not in ckpt and list(ckpt["classes"]) != list(ds.classes):  # names decide, not the count
            ds = _align_to(ds, ckpt["classes"], path)
        if ckpt["in_chans"] != ds.images.shape[-1]:
            raise UserError(f"{path} takes {ckpt['in_chans']}-channel images; the data has {ds.images.shape[-1]}")
        loader = BatchLoader(ds, max(1, batch_size // views), shuffle=False)
        probs, labels = class_probs(model, loader, eval_transform(ckpt, crops, tta).to(dev), dev, on_batch)
        if columns is not None:  # softmax over the data's classes only: renormalise their probabilities
            probs = probs[:, columns] / probs[:, columns].sum(1, keepdim=True)
        all_probs.append(probs)
        members.append({"checkpoint": str(path), "model": ckpt["config"]["model"], **errors(probs, labels)})
    ensemble = None
    if len(all_probs) > 1:
        ensemble = {
            "checkpoint": f"ensemble of {len(all_probs)}",
            "model": "ensemble",
            **errors(torch.stack(all_probs).mean(0), labels),
        }
    source = "given dataset" if dataset is not None else (data or "bundled Fashion-MNIST")
    return {
        "count": len(ds),
        "crops": crops,
        "tta": tta,
        "split": split,
        "data": str(source),
        "members": members,
        "ensemble": ensemble,
    }


def _views_per_image(crops: int, tta: str) -> int:
    """Forward passes per image for --crops and --tta (one-line errors for values that do not fit together)."""
    if crops not in (1, 2, 10):
        raise UserError(f"--crops must be 1, 2 or 10, got {crops}")
    if tta not in ("none", "mirror", "translate"):
        raise UserError(f"--tta must be none, mirror or translate, got {tta!r}")
    if tta != "none" and crops != 1:
        raise UserError(f"--tta {tta} makes its own views; it needs --crops 1, got {crops}")
    return crops * {"mirror": 2, "translate": 6}.get(tta, 1)


def _eval_data(data: str | None, split: str, ckpt: dict[str, Any], dev: torch.device) -> Any:
    """The split to score: photo folders decoded at the checkpoint's side; a JPEG pack decodes each batch on `dev`
    at the side training evaluated at (shorter side resized, centre square)."""
    from dataclasses import replace

    from ilsvrc.data import load_dataset

    ds = load_dataset(data, split, size=tree_side(data, ckpt))
    if hasattr(ds, "with_side"):
        ds = replace(ds.with_side(int(ckpt.get("eval_resize") or ckpt["input_size"])), device=dev)
    return ds


def _load_member(path: str | Path, weights: str | None, device: torch.device):
    """A checkpoint (or run folder), or a model name with published weights."""
    if is_model_name(path):
        if weights is None:
            raise UserError(f"{path} is a model name: give --weights torchvision to score its published weights")
        return load_pretrained_model(str(path), weights, device)
    if weights is not None:
        raise UserError(f"--weights is for model names; {path} is a checkpoint or run and carries its own weights")
    return load_checkpoint_model(path, device)


def _align_to(ds: Any, classes: list[str], path: str | Path) -> Any:
    """ds with its labels re-indexed into the checkpoint's class order by name (said on stderr); UserError when
    the data has a class the checkpoint never learned."""
    import dataclasses
    import sys

    from ilsvrc.data.dataset import align_labels

    labels = align_labels(ds.labels.numpy(), ds.classes, classes, "the data", to_name=str(path))
    sys.stderr.write(f"ilsvrc: the data's {len(ds.classes)} classes were matched to {path}'s by name\n")
    return dataclasses.replace(ds, labels=torch.from_numpy(labels), classes=list(classes))
