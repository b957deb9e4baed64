"""The one place the reproductions touch the engine and the data layer: load data, train a model, score it."""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ilsvrc.reproduce.claim import Setup


@dataclass
class RunRecord:
    """What one training run gives a claim: per-epoch history, final summary, the trained model."""

    history: list[dict]
    summary: dict
    model: torch.nn.Module

    def curve(self, key: str) -> list[float]:
        return [float(h[key]) for h in self.history if h.get(key) is not None]


class Context:
    """Data and a `fit` function for one claim run; every run of a claim shares the same data."""

    def __init__(
        self, setup: Setup, data: str | None, device: str | None = None, progress: bool = True, name: str = ""
    ) -> None:
        from ilsvrc.data import load_dataset

        self.setup, self.device, self.progress, self.name = setup, device, progress, name
        self._start = time.monotonic()
        train_full = load_dataset(data, "train")
        val_full = load_dataset(data, "val")
        self.train_set = _take(train_full, setup.train_images, seed=0)
        self.val_set = _take(val_full, setup.val_images, seed=1)
        self.in_chans = int(self.train_set.images.shape[-1])
        self.image_size = int(
            self.train_set.images.shape[1]
        )  # the data's own size: 32 for CIFAR, 28 for the bundled set
        self._scratch = tempfile.TemporaryDirectory(prefix="ilsvrc-reproduce-")
        self.runs = 0
        # each net's size (the scale the claim was shown at) and the speed choices it ran with, for the report
        self.engine_paths: set[str] = set()

    def fit(
        self,
        model: str,
        *,
        seed: int,
        lr: float,
        epochs: int | None = None,
        train_set=None,
        weight_decay: float = 5e-4,
        augment: str = "pad-crop-flip",
        schedule: str = "cosine",
        warmup_epochs: float = 0.0,
        model_options: dict[str, Any] | None = None,
        label: str = "",
    ) -> RunRecord:
        """Train `model` with SGD (momentum 0.9) on this context's data and return its record."""
        from ilsvrc.train import TrainConfig, train

        self.runs += 1
        if self.progress:  # a claim trains a dozen nets or more: say which one this is and how long it has been
            minutes = (time.monotonic() - self._start) / 60
            print(
                f"[{self.name or 'reproduce'}] net {self.runs}: {model} {label} seed {seed}, {minutes:.1f} min so far",
                file=sys.stderr,
                flush=True,
            )
        run_dir = Path(self._scratch.name) / f"{self.runs:02d}-{model}-{label or 'run'}-s{seed}"
        config = TrainConfig(
            model=model,
            model_options=dict(model_options or {}),
            out=str(run_dir),
            epochs=epochs if epochs is not None else self.setup.epochs,
            batch_size=self.setup.batch_size,
            optimizer="sgd",
            lr=lr,
            momentum=0.9,
            weight_decay=weight_decay,
            nesterov=False,
            schedule=schedule,
            warmup_epochs=warmup_epochs,
            warmup_lr=0.0,
            pad=4,
            label_smoothing=0.0,
            augment=augment,
            input_size=self.image_size,
            eval_every=1,
            checkpoint_every=10**9,
            device=self.device,
            progress=self.progress,
            tensorboard=False,
            seed=seed,
        )
        result = train(config, train_set=train_set or self.train_set, val_set=self.val_set)
        s = result.summary
        self.engine_paths.add(
            f"{model} ({s['params']:,} params): {s['device']}, {s['precision']} ({s['precision_reason']}), "
            f"channels_last {'on' if s['channels_last'] else 'off'}, {s['threads']} threads"
        )
        return RunRecord(history=result.history, summary=result.summary, model=result.model)

    @torch.no_grad()
    def probabilities(self, model: torch.nn.Module, batch_size: int = 500) -> torch.Tensor:
        """Softmax outputs of `model` on the validation set (N, classes), single centre view."""
        from ilsvrc.data import EvalTransform

        model.eval()
        device = next(model.parameters()).device
        view = EvalTransform(self.image_size, self.val_set.mean, self.val_set.std, crops=1)
        out = []
        for i in range(0, len(self.val_set), batch_size):
            x = view(self.val_set.images[i : i + batch_size].to(device))
            out.append(torch.softmax(model(x).float(), 1).cpu())
        return torch.cat(out)

    def error(self, probs: torch.Tensor) -> float:
        """Top-1 error of class probabilities against the validation labels."""
        from ilsvrc.metrics import top1_error

        return top1_error(probs, torch.as_tensor(self.val_set.labels))

    def close(self) -> None:
        self._scratch.cleanup()


def _take(dataset, n: int | None, seed: int):
    """The first `n` images of a seeded permutation (all when n is None or not smaller)."""
    if n is None or n >= len(dataset):
        return dataset
    g = torch.Generator().manual_seed(seed)
    return dataset.subset(torch.randperm(len(dataset), generator=g)[:n])
