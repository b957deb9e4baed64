"""Training: typed configs with the papers' recipes, one loop for CPU/CUDA/torchrun, exact resume.

from ilsvrc.train import TrainConfig, train, RECIPES
result = train(TrainConfig(model="resnet20", recipe="resnet-cifar", budget=0.1, out="runs/r20"))
result.summary["val_top1_error"], result.history, result.model
"""

from __future__ import annotations

from ilsvrc.train.config import DEFAULT_MODEL, DEFAULT_RECIPE, RECIPES, Recipe, TrainConfig

# The engine imports torch; it loads on first use so `ilsvrc --help` and config handling stay fast.
_ENGINE = ("Interrupted", "TrainResult", "evaluate_model", "train")


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
    "evaluate_model",
    "train",
]
