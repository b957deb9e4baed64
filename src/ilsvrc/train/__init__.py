"""Training: typed configs with the papers' recipes, one loop for CPU/CUDA/torchrun, exact resume.

from ilsvrc.train import TrainConfig, train, RECIPES
result = train(TrainConfig(model="resnet20", recipe="resnet-cifar", budget=0.1, out="runs/r20"))
result.summary["val_top1_error"], result.history, result.model
"""

from __future__ import annotations

from ilsvrc.train.config import DEFAULT_MODEL, DEFAULT_RECIPE, RECIPES, Recipe, TrainConfig
from ilsvrc.train.engine import Interrupted, TrainResult, evaluate_model, train

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
