"""Everything a run changes as it trains, and the checkpoint format: the one place its keys are written or read.

`RunState.state_dict()` is what `checkpoints/last.pt` holds; `load_state_dict()` puts it back, so a resumed run
continues bit for bit where the saved one stopped (weights, EMA or lookahead slow weights, optimizer, grad
scaler, every RNG, the loader's position, the running epoch sums, history and timers). `facts` are the run's
constants that evaluation and export read from a checkpoint (config, classes, data statistics, input size, the
analysis fingerprint).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ilsvrc.errors import UserError
from ilsvrc.safety import load_state_dict_checked
from ilsvrc.train import checkpoint as ckpt_io
from ilsvrc.train import distributed

# Keys of `facts`, the run's constants: written by every checkpoint, read by evaluate/export/predict.
FACT_KEYS = (
    "config",
    "classes",
    "mean",
    "std",
    "in_chans",
    "num_classes",
    "input_size",
    "eval_resize",
    "fingerprint",
    "data_fingerprint",
    "precision",
    "precision_reason",
    "channels_last",
    "channels_last_reason",
)


class EMA:
    """Exponential moving average (Polyak averaging) of parameters; buffers are copied from the model.

    The decay warms up as min(decay, (1 + n) / (10 + n)) so short runs are not dominated by the initial weights.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        ema_params = list(self.module.parameters())
        torch._foreach_lerp_(ema_params, [p.detach() for p in model.parameters()], 1.0 - d)
        for b_ema, b in zip(self.module.buffers(), model.buffers(), strict=True):
            b_ema.copy_(b)


class Lookahead:
    """Lookahead (Zhang et al. 2019) as Jordan's airbench94 schedules it: slow weights that the trained ones
    return to every `every` steps.

    At step s (a multiple of `every`, counted after the step) the slow copy moves toward the trained network,
    slow <- rate x slow + (1 - rate) x fast with rate = decay^every x (s / total)^3, and the trained network is
    reset to it. The rate is 0 early on (a pure copy: no averaging while the weights move fast) and grows to
    decay^every at the end. Every floating-point tensor of the state dict is averaged, BatchNorm running
    statistics included; integer counters are left alone. Evaluation uses the slow copy, i.e. what the trained
    network would be reset to at its next pull.
    """

    def __init__(self, model: nn.Module, every: int, decay: float, total_steps: int) -> None:
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.every, self.decay, self.total = int(every), float(decay), max(1, int(total_steps))

    def rate(self, step: int) -> float:
        """The fraction of the slow weights a pull at `step` keeps."""
        return self.decay**self.every * min(1.0, step / self.total) ** 3

    @staticmethod
    def _floats(module: nn.Module) -> list[torch.Tensor]:
        return [t for t in module.state_dict().values() if t.is_floating_point()]

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> bool:
        """The pull at `step` when it is due (True), else nothing."""
        if step % self.every:
            return False
        slow, fast = self._floats(self.module), self._floats(model)
        torch._foreach_lerp_(slow, fast, 1.0 - self.rate(step))
        for f, s in zip(fast, slow, strict=True):  # a few dozen tensors every few steps: a loop is cheap
            f.copy_(s)
        return True


@dataclass
class RunState:
    """The mutable state of one run (per process) plus the constants every checkpoint carries."""

    model: nn.Module  # the raw network (not DDP-wrapped, not compiled)
    optimizer: torch.optim.Optimizer
    loader: Any  # BatchLoader: its state_dict is the position in the epoch's permutation
    augment_gen: torch.Generator
    facts: dict[str, Any]
    ema: EMA | None = None
    lookahead: Lookahead | None = None  # never together with ema (config validation)
    scaler: torch.amp.GradScaler | None = None
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    val_errors: list[float] = field(default_factory=list)  # val top-1 error per evaluated epoch (plateau schedule)
    best_top1: float = math.inf
    wall_before: float = 0.0  # wall seconds of earlier processes of this run (before a resume)
    train_time: float = 0.0  # seconds inside training segments (throughput's denominator)
    images_seen: int = 0
    epoch_acc: torch.Tensor | None = None  # [loss sum, top-1 correct, count] since the epoch began, on device

    @property
    def averaged(self) -> nn.Module | None:
        """The averaged copy (EMA or lookahead's slow weights), saved under the checkpoint's "ema" key; else None."""
        if self.ema is not None:
            return self.ema.module
        return self.lookahead.module if self.lookahead is not None else None

    @property
    def eval_model(self) -> nn.Module:
        """The weights evaluation and the result use: the averaged copy when EMA or lookahead is on."""
        return self.averaged if self.averaged is not None else self.model

    def state_dict(self, dist: distributed.Dist, wall_s: float, epoch: float, schedule: dict[str, Any]) -> dict:
        """The checkpoint (collective under DDP: every rank's RNG state is gathered, so every rank must call)."""
        rng = {"global": ckpt_io.rng_state(), "augment": self.augment_gen.get_state()}
        rngs = [rng]
        if dist.enabled:
            rngs = [None] * dist.world_size
            torch.distributed.all_gather_object(rngs, rng)
        return {
            "format": ckpt_io.FORMAT,
            "format_version": ckpt_io.FORMAT_VERSION,
            **self.facts,
            "step": self.step,
            "epoch": epoch,
            "model": self.model.state_dict(),
            "ema": self.averaged.state_dict() if self.averaged is not None else None,
            "ema_updates": self.ema.updates if self.ema is not None else 0,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "schedule": {**schedule, "val_errors": list(self.val_errors)},
            "rng": rngs,
            "loader": self.loader.state_dict(),
            "epoch_acc": self.epoch_acc.detach().cpu(),
            "history": self.history,
            "best_top1": self.best_top1,
            "wall_s": wall_s,
            "train_time_s": self.train_time,
            "images_seen": self.images_seen,
        }

    def load_state_dict(self, ckpt: dict[str, Any], dist: distributed.Dist, path: Path) -> None:
        """Continue from a checkpoint written by `state_dict` (one-line UserError when it does not fit)."""
        try:
            load_state_dict_checked(self.model, ckpt["model"], path)
            self.optimizer.load_state_dict(ckpt["optimizer"])
            if self.averaged is not None:
                if ckpt.get("ema") is None:
                    raise UserError(f"{path} holds no averaged (EMA or lookahead) weights but the run uses them")
                self.averaged.load_state_dict(ckpt["ema"])
            if self.ema is not None:
                self.ema.updates = int(ckpt["ema_updates"])
            if self.scaler is not None and ckpt.get("scaler"):
                self.scaler.load_state_dict(ckpt["scaler"])
            rngs = ckpt["rng"]
            mine = rngs[dist.rank] if dist.rank < len(rngs) else rngs[0]
            ckpt_io.set_rng_state(mine["global"])
            self.augment_gen.set_state(mine["augment"])
            self.loader.load_state_dict(ckpt["loader"])
            self.step, self.history = int(ckpt["step"]), list(ckpt["history"])
            self.val_errors = [h["val_top1_error"] for h in self.history if h.get("val_top1_error") is not None]
            self.best_top1 = float(ckpt["best_top1"])
            self.wall_before, self.train_time = float(ckpt["wall_s"]), float(ckpt["train_time_s"])
            self.images_seen = int(ckpt["images_seen"])
            self.epoch_acc = ckpt["epoch_acc"].to(self.epoch_acc.device)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as err:
            raise UserError(f"{path} cannot be resumed: its resume state is malformed ({err!r})") from None

    def weights_only(self) -> dict[str, Any]:
        """What best.pt needs for evaluation and export: the weights and the facts, no optimizer or RNG."""
        return {
            "format": ckpt_io.FORMAT,
            "format_version": ckpt_io.FORMAT_VERSION,
            **self.facts,
            "step": self.step,
            "model": self.model.state_dict(),
            "ema": self.averaged.state_dict() if self.averaged is not None else None,
            "history": self.history,
            "best_top1": self.best_top1,
        }
