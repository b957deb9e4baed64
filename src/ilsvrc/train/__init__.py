"""Training: typed configs with the papers' recipes, one loop for CPU/CUDA/torchrun, exact resume.

from ilsvrc.train import TrainConfig, train, RECIPES
result = train(TrainConfig(model="resnet20", recipe="resnet-cifar", budget=0.1, out="runs/r20"))
result.summary["val_top1_error"], result.history, result.model

`train` builds `config.model` from the model registry; pass `model=` (a built nn.Module, or a ModelSpec) to
train a network of your own: the engine itself knows no model.
"""

from __future__ import annotations

from typing import Any

from ilsvrc.train.config import DEFAULT_MODEL, DEFAULT_RECIPE, RECIPES, Recipe, TrainConfig

# The engine imports torch; it loads on first use so `ilsvrc --help` and config handling stay fast.
_ENGINE = ("Interrupted", "TrainResult", "evaluate", "evaluate_model")


def train(
    config: TrainConfig,
    train_set: Any | None = None,
    val_set: Any | None = None,
    model_options: dict[str, Any] | None = None,
    model: Any | None = None,
):
    """Train `config.model` (from the registry) or `model` on the data; see `ilsvrc.train.engine.train`."""
    from ilsvrc.train import engine
    from ilsvrc.train.spec import from_registry

    if model is None:
        options = {**config.model_options, **(model_options or {})}
        model = from_registry(config.model, options, weights=config.weights)
    return engine.train(config, train_set, val_set, model_options, model=model)


def __getattr__(name: str):
    if name in _ENGINE:
        from ilsvrc.train import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'ilsvrc.train' has no attribute {name!r}")


__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_RECIPE",
    "RECIPES",
    "Interrupted",
    "Recipe",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "evaluate_model",
    "train",
]
