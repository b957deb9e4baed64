"""Where the pictures' models come from: a checkpoint (trained weights) or a registered name (random init).

Checkpoints are loaded with `ilsvrc.evaluate.load_checkpoint_model` (weights_only) and their own
validation transform; a bare model name gets seed-0 random weights and ImageNet statistics, and every
picture made from it says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ilsvrc.errors import UserError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RANDOM_NOTE = "random init, no trained weights (--weights torchvision does not exist yet)"


@dataclass
class Subject:
    """A model ready for pictures: eval mode on the CPU, with what turns images into its input."""

    model: nn.Module
    name: str  # registered model name
    classes: list[str]
    input_size: int
    in_chans: int
    transform: nn.Module  # uint8 (B, H, W, C) -> normalised (B, C, input_size, input_size)
    note: str  # "random init ..." or where the weights come from
    checkpoint: dict[str, Any] | None = None
    source: str = ""  # the path or name the user gave

    @property
    def trained(self) -> bool:
        return self.checkpoint is not None

    def side(self) -> int:
        """Side of the square image to decode before the transform (its resize, else the input size)."""
        ckpt = self.checkpoint or {}
        return ckpt.get("eval_resize") or self.input_size


def summary_of(name: str, input_size: int | None = None, in_chans: int = 3):
    """(summary, meta-device model) of a registered model at its card's input size or `input_size`."""
    from ilsvrc.analysis import summarize
    from ilsvrc.models import create_model, get_card

    card = get_card(name)
    size = card.input_size if input_size is None else input_size
    if size < card.min_input_size:
        raise UserError(f"{name} needs an input of at least {card.min_input_size}x{card.min_input_size}, got {size}")
    with torch.device("meta"):  # shapes only: nothing is allocated
        model = create_model(name, in_chans=in_chans)
    return summarize(model, (in_chans, size, size), name=name), model


def draw_model(name: str, path: str | Path, input_size: int | None = None) -> Path:
    from ilsvrc.viz.diagram import draw
    from ilsvrc.viz.structure import architecture

    summary, model = summary_of(name, input_size)
    return draw(architecture(summary, model), path)


def load_subject(spec: str, input_size: int | None = None) -> Subject:
    """`spec` is a checkpoint file, a run directory, or a registered model name (random weights)."""
    from ilsvrc.data import EvalTransform
    from ilsvrc.models import create_model, get_card, list_models

    path = Path(spec)
    if path.exists():
        from ilsvrc.evaluate import eval_transform, load_checkpoint_model

        model, ckpt = load_checkpoint_model(path)
        step = ckpt.get("step")
        return Subject(
            model=model,
            name=ckpt["config"]["model"],
            classes=list(ckpt["classes"]),
            input_size=int(ckpt["input_size"]),
            in_chans=int(ckpt["in_chans"]),
            transform=eval_transform(ckpt, 1),
            note=f"trained weights: {path.name}" + (f", step {step}" if step is not None else ""),
            checkpoint=ckpt,
            source=str(spec),
        )
    if spec not in list_models():
        get_card(spec)  # raises the registry's one-line error with close names
    card = get_card(spec)
    size = card.input_size if input_size is None else input_size
    if size < card.min_input_size:
        raise UserError(f"{spec} needs an input of at least {card.min_input_size}x{card.min_input_size}, got {size}")
    torch.manual_seed(0)
    model = create_model(spec).eval()
    return Subject(
        model=model,
        name=spec,
        classes=[f"class {i}" for i in range(card.num_classes)],
        input_size=size,
        in_chans=3,
        transform=EvalTransform(size, IMAGENET_MEAN, IMAGENET_STD),
        note=RANDOM_NOTE,
        source=spec,
    )


def read_image(subject: Subject, path: str | Path) -> torch.Tensor:
    """uint8 (H, W, C) decoded as `ilsvrc predict` does, ready for `subject.transform`."""
    from ilsvrc.predict import load_image

    return load_image(path, subject.in_chans, subject.side())


def to_input(subject: Subject, image: torch.Tensor) -> torch.Tensor:
    """uint8 (H, W, C) -> normalised (1, C, S, S)."""
    return subject.transform(image.unsqueeze(0))


def shown_image(subject: Subject, image: torch.Tensor):
    """The crop the model sees, as float (S, S, C) or (S, S) in [0, 1] for imshow."""
    x = to_input(subject, image)[0]
    mean = torch.tensor(subject.checkpoint["mean"] if subject.trained else IMAGENET_MEAN)[: x.shape[0]]
    std = torch.tensor(subject.checkpoint["std"] if subject.trained else IMAGENET_STD)[: x.shape[0]]
    x = (x * std.view(-1, 1, 1) + mean.view(-1, 1, 1)).clamp(0, 1)
    arr = x.permute(1, 2, 0).numpy()
    return arr[..., 0] if arr.shape[-1] == 1 else arr


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            return name, m
    raise UserError(f"{type(model).__name__} has no convolution: no first-layer filters to show")


def towers(model: nn.Module) -> int:
    """How many towers a net has (AlexNet's two GPUs appear as groups=2 convolutions), else 1."""
    return max((m.groups for m in model.modules() if isinstance(m, nn.Conv2d)), default=1)
