"""Optimisers and learning-rate schedules.

The learning rate is a pure function of the step (and, for the plateau schedule, of the validation
errors recorded so far), so a resumed run recomputes exactly the rate an uninterrupted run would use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ilsvrc.train.config import _DEFAULTS, RECIPES, TrainConfig
from ilsvrc.train.muon import MuonSGD


@dataclass(frozen=True)
class Schedule:
    """A resolved schedule in optimizer steps: everything `lr_at` needs besides the step."""

    kind: str
    lr: float
    total_steps: int
    steps_per_epoch: int
    milestones: tuple[int, ...] = ()  # steps
    gamma: float = 0.1
    exp_gamma: float = 0.96
    exp_every: int = 1  # steps
    warmup: int = 0  # steps
    warmup_lr: float = 0.0
    warmup_kind: str = "linear"
    plateau_patience: int = 5  # epochs
    plateau_drops: int = 3
    plateau_threshold: float = 0.0
    triangle: tuple[float, float, float] = (0.2, 0.23, 0.07)  # (start fraction, peak position, end fraction)
    early_until: int | None = None  # step from which the early-only parameter group stops training (None: never)

    @classmethod
    def from_config(cls, cfg: TrainConfig, total_steps: int, steps_per_epoch: int, fit: float = 1.0) -> Schedule:
        """`cfg` must be resolved; epoch-valued lengths are converted to steps and scaled by the budget.

        `fit` (see `length_fit`) also scales the lengths the recipe set (warm-up, plateau patience, decay period)
        when --epochs/--max-steps make the run shorter or longer than the recipe; a length set by hand to another
        value than the recipe's is kept as given (times the budget). Milestones are fractions of the run."""
        spe = max(1, steps_per_epoch)
        own = recipe_values(cfg)

        def scaled(name: str, value: float) -> float:
            return value * cfg.budget * (fit if own.get(name) == value else 1.0)

        warmup = (
            round(scaled("warmup_steps", cfg.warmup_steps))
            if cfg.warmup_steps is not None
            else round(scaled("warmup_epochs", cfg.warmup_epochs) * spe)
        )
        early = scaled("whiten_bias_epochs", cfg.whiten_bias_epochs) if cfg.whiten_bias_epochs else 0.0
        return cls(
            kind=cfg.schedule,
            lr=peak_lr(cfg),
            total_steps=total_steps,
            steps_per_epoch=spe,
            milestones=tuple(round(m * total_steps) for m in cfg.milestones),
            gamma=cfg.gamma,
            exp_gamma=cfg.exp_gamma,
            exp_every=max(1, round(scaled("exp_every_epochs", cfg.exp_every_epochs) * spe)),
            warmup=min(warmup, total_steps),
            warmup_lr=cfg.warmup_lr,
            warmup_kind=cfg.warmup_kind,
            plateau_patience=max(1, round(scaled("plateau_patience", cfg.plateau_patience))),
            plateau_drops=cfg.plateau_drops,
            plateau_threshold=cfg.plateau_threshold,
            triangle=tuple(cfg.triangle),
            early_until=round(early * spe) if early > 0 else None,
        )

    def lr_at(self, step: int, val_errors: Sequence[float] = ()) -> float:
        """Learning rate for optimizer step `step` (0-based); `val_errors` = val top-1 error per evaluated epoch."""
        if step < self.warmup:
            if self.warmup_kind == "constant":
                return self.warmup_lr
            return self.warmup_lr + (self.lr - self.warmup_lr) * (step + 1) / self.warmup
        if self.kind == "constant":
            return self.lr
        if self.kind == "step":
            return self.lr * self.gamma ** sum(step >= m for m in self.milestones)
        if self.kind == "exp":
            return self.lr * self.exp_gamma ** (step // self.exp_every)
        if self.kind == "plateau":
            return self.lr * self.gamma ** plateau_drops(
                val_errors, self.plateau_patience, self.plateau_drops, self.plateau_threshold
            )
        span = max(1, self.total_steps - self.warmup)
        t = min(1.0, (step - self.warmup) / span)
        if self.kind == "cosine":
            return 0.5 * self.lr * (1 + math.cos(math.pi * t))
        if self.kind == "linear":  # with warm-up: the triangular "one-cycle" shape of the CIFAR speed runs
            return self.lr * (1 - t)
        if self.kind == "triangle":  # airbench's: start x lr -> lr at the peak -> end x lr, straight lines
            start, peak, end = self.triangle
            if t <= peak:
                return self.lr * (start + (1 - start) * t / peak)
            return self.lr * (1 + (end - 1) * (t - peak) / (1 - peak))
        raise ValueError(f"unknown schedule {self.kind!r}")


def peak_lr(cfg: TrainConfig) -> float:
    """The schedule's peak: --lr, times batch_size / lr_batch when the lr is given per lr_batch images."""
    return cfg.lr * (cfg.batch_size / cfg.lr_batch if cfg.lr_batch else 1.0)


def recipe_values(cfg: TrainConfig) -> dict:
    """The values the config's recipe (with its per-model extras, then generic defaults) gives each field."""
    recipe = RECIPES[cfg.recipe]
    return {**_DEFAULTS, **recipe.settings, **recipe.per_model.get(cfg.model, {})}


def length_fit(cfg: TrainConfig, total_steps: int, steps_per_epoch: int) -> float:
    """The run's length over its recipe's own length times the budget: 1 unless --epochs/--max-steps changed it.

    With `--epochs 1` on a 6-epoch recipe it is 1/6, and the recipe's warm-up shrinks with the run instead of
    filling it, as `--budget 1/6` would do."""
    own = recipe_values(cfg)
    nominal = (own.get("max_steps") or own["epochs"] * max(1, steps_per_epoch)) * cfg.budget
    return total_steps / nominal if nominal > 0 and total_steps > 0 else 1.0


def plateau_drops(val_errors: Sequence[float], patience: int, max_drops: int, threshold: float = 0.0) -> int:
    """How many /10 drops 'when the validation error stops improving' the recorded errors call for.

    After each epoch, if the error has not beaten the best so far by more than `threshold` for `patience`
    epochs (counted since the last improvement or the last drop), the rate drops; at most `max_drops` times.
    """
    drops, best, waited = 0, math.inf, 0
    for err in val_errors:
        if err < best - threshold:
            best, waited = err, 0
        else:
            waited += 1
        if waited >= patience and drops < max_drops:
            drops, waited = drops + 1, 0
    return drops


def param_groups(
    model: nn.Module, weight_decay: float, no_wd_norm_bias: bool, bias_lr_scale: float = 1.0, early: bool = False
) -> list[dict]:
    """One group, or two when 1-d parameters (norm weights, biases) are treated apart, plus an early-only group.

    no_wd_norm_bias: no weight decay on them. bias_lr_scale: their lr is this many times the schedule's, and
    their weight decay is divided by it, so each step shrinks them by the same fraction as the other weights.
    early: the parameters the model lists in `early_parameters()` (speedrun_cifar: the whitening bias) go into
    a group of their own, marked "early", that `set_lr(..., frozen_early=True)` stops; it trains at the plain lr
    with the weights' decay (airbench94 gives only BatchNorm biases the larger lr; 64x on the whitening bias,
    as this code did before, moves the first layer's offsets by whole standard deviations per step).
    """
    marked = list(model.early_parameters()) if early and hasattr(model, "early_parameters") else []
    held = {id(p) for p in marked}
    params = [p for p in model.parameters() if p.requires_grad and id(p) not in held]
    if not no_wd_norm_bias and bias_lr_scale == 1.0:
        groups = [{"params": params, "weight_decay": weight_decay}]
    else:
        flat_wd = 0.0 if no_wd_norm_bias else weight_decay / bias_lr_scale
        groups = [
            {"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim <= 1], "weight_decay": flat_wd, "lr_scale": bias_lr_scale},
        ]
    if marked:  # the schedule's lr and the weights' decay while they train: airbench scales only BN biases' lr
        groups.append({"params": marked, "weight_decay": weight_decay, "early": True})
    return groups


def build_optimizer(model: nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    early = bool(cfg.whiten_bias_epochs)
    groups = param_groups(model, cfg.weight_decay, cfg.no_wd_norm_bias, cfg.bias_lr_scale, early)
    # fused kernels on CUDA; foreach (multi-tensor) on CPU. Both give the same maths as the for-loop.
    impl = {"fused": True} if device.type == "cuda" else {"foreach": True}
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.momentum, 0.999), **impl)
    if cfg.optimizer == "muon":
        peak = peak_lr(cfg)
        groups = filter_groups(groups, cfg.muon_lr / peak if peak > 0 else 0.0, cfg.muon_momentum)
        return MuonSGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0, **impl)


def filter_groups(groups: list[dict], lr_scale: float, momentum: float) -> list[dict]:
    """`groups` with their conv filters (4-D) moved into one Muon group; the early-only group stays as it is.

    set_lr gives each group the schedule's lr times its lr_scale, so the filters step by lr_scale x the
    schedule's lr: with lr_scale = muon_lr / peak, by muon_lr at the peak, following the schedule's shape."""
    filters = [p for g in groups if not g.get("early") for p in g["params"] if p.ndim == 4]
    moved = {id(p) for p in filters}
    rest = [{**g, "params": [p for p in g["params"] if id(p) not in moved]} for g in groups]
    muon = {"params": filters, "muon": True, "lr_scale": lr_scale, "momentum": momentum, "weight_decay": 0.0}
    return [g for g in [*rest, muon] if g["params"]]


def set_lr(optimizer: torch.optim.Optimizer, lr: float, frozen_early: bool = False) -> None:
    """The schedule's lr times each group's scale; 0 for the early-only group once it is frozen.

    lr 0 under SGD leaves those parameters exactly where they are (weight decay and momentum are both multiplied
    by it), and keeps the optimizer's groups and state the same shape for a resumed run."""
    for group in optimizer.param_groups:
        group["lr"] = 0.0 if frozen_early and group.get("early") else lr * group.get("lr_scale", 1.0)
