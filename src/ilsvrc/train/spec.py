"""What the engine needs to know about a network, and nothing more: how to build it and its input limits.

The engine never imports the model registry. `ilsvrc.train.train` makes a `ModelSpec` from the registry for a
model name (`from_registry`); a caller with its own network passes the built `nn.Module` instead
(`from_module`), and the engine trains it the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[[int, int], nn.Module]
    """build(num_classes, in_chans) -> a fresh network (called under the run's seed)."""
    input_size: int | None
    """Preferred square input side (None: the data's side)."""
    min_input_size: int = 1
    count: Callable[[int, int, int], dict[str, Any]] | None = None
    """count(num_classes, in_chans, size) -> {"params", "macs"}; None: parameters only."""
    crop_pct: float = 0.875
    """Training crop / stored side for photo folders: decoded to round(input_size / crop_pct) (256 for 224)."""


def from_registry(name: str, options: dict[str, Any], weights: str | None = None) -> ModelSpec:
    """The spec of a registered model (unknown names: a UserError listing close matches).

    `weights` ("torchvision" or "torchvision:TAG") starts the network from published weights; names and offline
    problems are checked here, before any data is read.
    """
    from ilsvrc.models import create_model, get_card
    from ilsvrc.models.costs import model_costs

    card = get_card(name)
    if weights is not None:
        from ilsvrc.models.pretrained import parse_weights, weights_file, weights_info

        weights_file(weights_info(name, parse_weights(weights)))  # fetched (or a one-line error) before the data

    def build(num_classes: int, in_chans: int) -> nn.Module:
        return create_model(name, num_classes=num_classes, in_chans=in_chans, weights=weights, **options)

    def count(num_classes: int, in_chans: int, size: int) -> dict[str, Any]:
        return model_costs(name, size, num_classes=num_classes, in_chans=in_chans, **options)

    return ModelSpec(name, build, card.input_size, card.min_input_size, count, card.crop_pct)


def from_module(model: nn.Module, name: str) -> ModelSpec:
    """A spec around a network the caller built (its classes must match the data's)."""
    return ModelSpec(name, lambda num_classes, in_chans: model, None, 1, None)
