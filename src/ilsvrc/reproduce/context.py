"""The one place the reproductions touch the engine and the data layer: load data, train a model, score it."""

from __future__ import annotations

import re
import signal
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
    """Data and a `fit` function for one claim run; every run of a claim shares the same data.

    `nets_dir`: where each net's run folder goes (None: a temporary folder, deleted by `close`). With `resume`,
    a net whose folder already holds a checkpoint continues from it through the engine's exact resume (a
    finished net adds no steps and gives back the same weights and history), so a claim that trains for hours
    can stop and go on. The engine refuses a folder whose saved config or data differ from this run's.
    """

    def __init__(
        self,
        setup: Setup,
        data: str | None,
        device: str | None = None,
        progress: bool = True,
        name: str = "",
        nets_dir: Path | None = None,
        resume: bool = False,
    ) -> None:
        self.setup, self.device, self.progress, self.name, self.resume = setup, device, progress, name, resume
        self.imagenet = setup.dataset == "imagenet"  # the paper's nets and recipes, not CIFAR miniatures
        self._start = time.monotonic()
        train_full, val_full = _load(data, self.imagenet, name)
        self.train_set = _take(train_full, setup.train_images, seed=0)
        self.val_set = _take(val_full, setup.val_images, seed=1)
        self.in_chans = int(self.train_set.images.shape[-1])
        # the side the data is held at: 32 for CIFAR, 28 for the bundled set, PHOTO_SIDE for ImageNet photos
        self.image_size = int(self.train_set.images.shape[1])
        self._scratch = None if nets_dir else tempfile.TemporaryDirectory(prefix="ilsvrc-reproduce-")
        self.nets_dir = Path(nets_dir) if nets_dir else Path(self._scratch.name)
        self.runs = 0
        self.resumed = 0  # nets continued from a checkpoint an earlier start wrote
        self.earlier_s = 0.0  # training seconds those earlier starts spent on them
        # each net's size (the scale the claim was shown at) and the speed choices it ran with, for the report
        self.engine_paths: set[str] = set()

    def fit(
        self,
        model: str,
        *,
        seed: int,
        lr: float | None = None,
        epochs: int | None = None,
        train_set=None,
        weight_decay: float = 5e-4,
        augment: str = "pad-crop-flip",
        schedule: str = "cosine",
        warmup_epochs: float = 0.0,
        model_options: dict[str, Any] | None = None,
        label: str = "",
        eval_every: int = 1,
        stop_at_train_error: float | None = None,
    ) -> RunRecord:
        """Train `model` with SGD (momentum 0.9) on this context's data and return its record.

        `eval_every` N evaluates on the validation set every N epochs and always at the end: claims that read
        only the final error and train many short epochs (vit-data's 1,000-image subset: 40 of them) pass
        their epoch count, since each evaluation of 2,000 images costs as much as training on ~700.
        `stop_at_train_error`: the net stops after the first epoch at or below this training error (relu-vs-tanh
        reads only when its nets reach 25%; the epochs after that would be spent for nothing).

        On ImageNet (`Setup.dataset`) the net trains with its paper's recipe, as `ilsvrc train MODEL` does, at the
        setup's batch size and epochs: the CIFAR hyper-parameters here (lr, weight decay, augmentation, schedule,
        warm-up) do not apply.
        """
        from ilsvrc.train import TrainConfig, train
        from ilsvrc.train.engine import Interrupted

        self.runs += 1
        # the folder name is the net's place in the claim's fixed order: a resumed claim finds each net again
        run_dir = self.nets_dir / _slug(f"{self.runs:02d}-{model}-{label or 'run'}-s{seed}")
        resuming = self.resume and (run_dir / "checkpoints" / "last.pt").is_file()
        if self.progress:  # a claim trains a dozen nets or more: say which one this is and how long it has been
            minutes = (time.monotonic() - self._start) / 60
            print(
                f"[{self.name or 'reproduce'}] net {self.runs}: {model} {label} seed {seed}, {minutes:.1f} min so far"
                + (" (resuming its checkpoint)" if resuming else ""),
                file=sys.stderr,
                flush=True,
            )
        hyper = self._hyper(model, lr, weight_decay, augment, schedule, warmup_epochs)
        config = TrainConfig(
            model=model,
            model_options=dict(model_options or {}),
            out=str(run_dir),
            epochs=epochs if epochs is not None else self.setup.epochs,
            batch_size=self.setup.batch_size,
            **hyper,
            eval_every=eval_every,
            stop_at_train_error=stop_at_train_error,
            checkpoint_every=0,  # epoch ends (and the last step): a stopped claim loses at most one epoch of a net
            resume=resuming,
            # stopped before its first checkpoint: nothing in the folder is worth keeping, start the net again
            overwrite=self.resume and not resuming and run_dir.exists(),
            device=self.device,
            progress=self.progress,
            tensorboard=False,
            seed=seed,
        )
        began = time.monotonic()
        try:
            result = train(config, train_set=train_set or self.train_set, val_set=self.val_set)
        except Interrupted as stop:  # the engine's advice (train --resume one net) is not this command's
            raise stop if self._scratch is not None else self._claim_interrupted(stop, run_dir.name) from None
        s = result.summary
        if resuming:
            self.resumed += 1
            self.earlier_s += max(0.0, s["wall_s"] - (time.monotonic() - began))
        self.engine_paths.add(
            f"{model} ({s['params']:,} params): {s['device']}, {s['precision']} ({s['precision_reason']}), "
            f"channels_last {'on' if s['channels_last'] else 'off'}, {s['threads']} threads"
        )
        return RunRecord(history=result.history, summary=result.summary, model=result.model)

    def _hyper(
        self, model: str, lr: float | None, weight_decay: float, augment: str, schedule: str, warmup_epochs: float
    ) -> dict[str, Any]:
        """The TrainConfig fields a claim's net trains with beyond its size and length: its paper's recipe on
        ImageNet; otherwise the claim's CIFAR settings (SGD, momentum 0.9, 4-pixel pad-crop, no label smoothing)."""
        if self.imagenet:
            from ilsvrc.train.config import recipe_for

            return {"recipe": recipe_for(model)}
        if lr is None:
            raise ValueError(f"{model}: a CIFAR-sized net needs the claim's lr")
        return dict(
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
        )

    def _claim_interrupted(self, stop: Exception, net: str) -> Exception:
        """The engine's Interrupted, reworded for the whole claim: what is saved and how to go on."""
        from ilsvrc.train.engine import Interrupted

        signum, before = stop.exit_code - 128, self.runs - 1  # the engine exits 128 + the signal's number
        saved = f"it and the {before} net{'s' * (before != 1)} before it are" if before else "its checkpoint is"
        return Interrupted(
            f"stopped by {signal.Signals(signum).name} during net {self.runs} ({net}); {saved} saved in "
            f"{self.nets_dir}: continue with the same command plus --resume",
            signum,
        )

    @torch.no_grad()
    def probabilities(self, run: RunRecord, batch_size: int = 500) -> torch.Tensor:
        """Softmax outputs of a trained net on the validation set (N, classes), one centre view at the side it
        trained at (the data's own on CIFAR; on ImageNet the centre 224 of the PHOTO_SIDE images, as it was
        evaluated during training)."""
        from ilsvrc.data import EvalTransform

        model = run.model.eval()
        device = next(model.parameters()).device
        view = EvalTransform(int(run.summary["input_size"]), self.val_set.mean, self.val_set.std, crops=1)
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
        if self._scratch is not None:
            self._scratch.cleanup()


def _slug(name: str) -> str:
    """A folder name without spaces or brackets: "02-net-2x 3x3 (RF 5)-s1" -> "02-net-2x_3x3_RF_5-s1"."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", name).replace("_-", "-").strip("_")


PHOTO_SIDE = 256  # ImageNet photos are held at this shorter side: the papers' 224 (AlexNet: 227) crops fit in it


def _load(data: str | None, imagenet: bool, name: str) -> tuple[Any, Any]:
    """The (train, val) splits of `data`; an ImageNet-sized claim refuses small images in one line.

    Photo folders are decoded at PHOTO_SIDE (JPEG packs decode a batch at a time at it) for an ImageNet claim,
    at the data layer's default side otherwise.
    """
    from ilsvrc.data import detect_format, load_dataset

    if not imagenet:
        return load_dataset(data, "train"), load_dataset(data, "val")
    photos = data is not None and detect_format(data) in ("imagefolder", "imagenet")
    size = PHOTO_SIDE if photos else None
    train, val = load_dataset(data, "train", size=size), load_dataset(data, "val", size=size)
    side = int(train.images.shape[1])
    if side < 64:
        from ilsvrc.errors import UserError

        raise UserError(
            f"{name or 'this claim'} trains the paper's nets on ImageNet at their 224-227-pixel inputs, but --data "
            f"{data or '(none: the bundled set)'} holds {side}-pixel images; give an ImageNet folder or JPEG pack "
            "('ilsvrc pack'), or choose --budget small or medium for CIFAR-10"
        )
    if hasattr(train, "with_side"):  # a JPEG pack: decoded batch by batch at the side the nets are evaluated from
        train, val = train.with_side(PHOTO_SIDE), val.with_side(PHOTO_SIDE)
    return train, val


def _take(dataset, n: int | None, seed: int):
    """The first `n` images of a seeded permutation (all when n is None or not smaller)."""
    if n is None or n >= len(dataset):
        return dataset
    g = torch.Generator().manual_seed(seed)
    return dataset.subset(torch.randperm(len(dataset), generator=g)[:n])
