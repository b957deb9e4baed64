"""Model registry: builders by name, plus one card of facts per name.

Facts (paper, ILSVRC result, reference parameter and MAC counts) live in `ModelCard`s next to
the builders, one table per family, never inside the network code.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ilsvrc.errors import UserError


@dataclass(frozen=True)
class ModelCard:
    """What a model name means: its paper, its result, the reference numbers it must match."""

    name: str
    family: str
    paper: str
    year: int
    ilsvrc: str  # place and error in the competition, or "" when the net did not compete
    input_size: int  # default square input side in pixels
    # Reference parameter count at `num_classes` classes and 3 input channels, for the inference
    # network (GoogLeNet's training-only auxiliary heads excluded, as torchvision counts).
    params: int | None = None
    params_exact: bool = True  # False when the reference is a rounded published figure
    macs: int | None = None  # reference multiply-adds per image at input_size, if published
    macs_exact: bool = True  # False when the reference is a rounded published figure
    variant: str = ""  # how this name differs from the paper, if it does
    torchvision: str | None = None  # torchvision builder with the same layout, if any
    min_input_size: int = 32  # smallest square input the strides allow
    num_classes: int = 1000  # default class count (10 for the CIFAR nets); references hold at this count
    # Training crop side / stored image side for variable-size sources (photo folders, ImageNet): images are
    # decoded with their shorter side at round(input_size / crop_pct) and crops of input_size taken from them.
    # 0.875 is 224 of 256 (VGG, GoogLeNet, ResNet, ViT); AlexNet's 227 of 256 is 0.887.
    crop_pct: float = 0.875

    def to_dict(self) -> dict:
        return asdict(self)

    def stored_size(self, input_size: int | None = None) -> int:
        """Side (pixels) to decode a variable-size source to, for crops of `input_size` (default: the card's)."""
        return round((input_size or self.input_size) / self.crop_pct)


Builder = Callable[..., nn.Module]
_BUILDERS: dict[str, Builder] = {}
_CARDS: dict[str, ModelCard] = {}


def register(card: ModelCard, builder: Builder) -> None:
    """Add `builder` under `card.name`; a name may be registered once."""
    if card.name in _BUILDERS:
        raise ValueError(f"model name {card.name!r} is registered twice")
    _BUILDERS[card.name] = builder
    _CARDS[card.name] = card


def list_models(pattern: str | None = None) -> list[str]:
    """Registered names in registry order, optionally filtered by a glob such as 'resnet*'."""
    names = list(_BUILDERS)
    return [n for n in names if pattern is None or fnmatch.fnmatchcase(n, pattern)]


def _check_name(name: str) -> None:
    if name not in _BUILDERS:
        close = difflib.get_close_matches(name, list(_BUILDERS), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; run 'ilsvrc models' to list them"
        raise UserError(f"unknown model {name!r}{hint}")


def get_card(name: str) -> ModelCard:
    _check_name(name)
    return _CARDS[name]


def create_model(name: str, num_classes: int | None = None, in_chans: int = 3, **options) -> nn.Module:
    """Build model `name` for `num_classes` classes and `in_chans` input channels (1 or 3).

    `num_classes` defaults to the card's: 1000 for ImageNet nets, 10 for the CIFAR nets and vit_tiny.

    `options` are the family's variant switches (e.g. `shortcut="B"` for CIFAR ResNets,
    `aux_logits=False` for GoogLeNet, `dropout=0.0`). The returned module checks its input
    shape and raises a ValueError that names the model when the input cannot work.
    """
    _check_name(name)
    card = _CARDS[name]
    num_classes = card.num_classes if num_classes is None else num_classes
    if num_classes < 1:
        raise UserError(f"num_classes must be >= 1, got {num_classes}")
    if in_chans < 1:
        raise UserError(f"in_chans must be >= 1, got {in_chans}")
    try:
        model = _BUILDERS[name](num_classes=num_classes, in_chans=in_chans, **options)
    except TypeError as err:
        raise UserError(f"model {name!r} does not take these options: {sorted(options)} ({err})") from None
    model.model_name = name
    model.register_forward_pre_hook(_InputCheck(name, in_chans, card.min_input_size))
    return model


class _InputCheck:
    """Forward pre-hook: a clear error for inputs with the wrong rank, channels or a too-small size."""

    def __init__(self, name: str, in_chans: int, min_size: int) -> None:
        self.name, self.in_chans, self.min_size = name, in_chans, min_size

    def __call__(self, module: nn.Module, args: tuple) -> None:
        x = args[0] if args else None
        if not isinstance(x, torch.Tensor):
            return
        if x.dim() != 4:
            raise ValueError(f"{self.name}: expected a batch of images (N, C, H, W), got shape {tuple(x.shape)}")
        if x.shape[1] != self.in_chans:
            raise ValueError(
                f"{self.name}: built for {self.in_chans} input channels, got {x.shape[1]} "
                f"(create it with in_chans={x.shape[1]})"
            )
        if min(x.shape[2], x.shape[3]) < self.min_size:
            raise ValueError(
                f"{self.name}: input {x.shape[2]}x{x.shape[3]} is too small; its strides need "
                f"at least {self.min_size}x{self.min_size}"
            )
