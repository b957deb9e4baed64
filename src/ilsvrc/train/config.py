"""Typed training configuration and the papers' recipes as named presets.

A `TrainConfig` leaves most fields as `None`, meaning "take it from the recipe"; `resolve()` fills them
from the named `Recipe` (then from generic defaults) and applies `budget`. The resolved config is what a
run saves as `config.yaml` and in every checkpoint, so a run can be repeated or resumed from it alone.

Lengths are in epochs or optimizer steps; schedule milestones are fractions of the run's length, so a
recipe keeps its shape when `budget` (or `epochs`) shortens it: resnet-cifar's /10 at 32k and 48k of 64k
iterations becomes /10 at 3.2k and 4.8k of 6.4k with `budget=0.1`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ilsvrc.errors import UserError

DEFAULT_MODEL = "resnet20"
DEFAULT_RECIPE = "quick"

SCHEDULES = ("constant", "step", "plateau", "exp", "cosine", "linear")
AUGMENTS = ("pad-crop-flip", "random-resized-crop", "scale-jitter", "resize-crop", "center", "none")
OPTIMIZERS = ("sgd", "adamw")


@dataclass(frozen=True)
class Recipe:
    """A paper's training recipe: the settings it fixes, and where they come from."""

    name: str
    paper: str
    """The citation (authors, title, venue) and the section the numbers come from."""
    settings: dict[str, Any]
    """TrainConfig field values this recipe sets; fields it leaves out take generic defaults."""
    note: str = ""
    """Where the preset departs from or fills a gap in the paper."""
    per_model: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Extra settings the paper gives for one named network (e.g. resnet110's warm-up); data, not code."""


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        Recipe(
            name="alexnet",
            paper="Krizhevsky, Sutskever & Hinton. ImageNet Classification with Deep Convolutional Neural Networks. "
            "NIPS 2012, sections 4.1 and 5",
            settings=dict(
                optimizer="sgd",
                lr=0.01,
                momentum=0.9,
                weight_decay=5e-4,
                batch_size=128,
                schedule="plateau",
                plateau_patience=5,
                plateau_drops=3,
                epochs=90,
                augment="scale-jitter",
                jitter=(256, 256),
                pca_std=0.1,
            ),
            note="'divided by 10 when the validation error rate stopped improving', three times in ~90 epochs; the "
            "patience (5 epochs) is ours. Random 224 crops of 256 images with flips and PCA lighting (sigma 0.1).",
        ),
        Recipe(
            name="vgg",
            paper="Simonyan & Zisserman. Very Deep Convolutional Networks for Large-Scale Image Recognition. "
            "ICLR 2015, section 3.1",
            settings=dict(
                optimizer="sgd",
                lr=0.01,
                momentum=0.9,
                weight_decay=5e-4,
                batch_size=256,
                schedule="plateau",
                plateau_patience=5,
                plateau_drops=3,
                epochs=74,
                augment="scale-jitter",
                jitter=(256, 512),
                pca_std=0.1,
            ),
            note="/10 when validation accuracy stopped improving, three times, stop at 370k iterations (74 epochs); "
            "scale jittering S in [256, 512] (multi-scale training), flips and RGB colour shift; patience is ours.",
        ),
        Recipe(
            name="googlenet",
            paper="Szegedy et al. Going Deeper with Convolutions. CVPR 2015, sections 5 and 6",
            settings=dict(
                optimizer="sgd",
                lr=0.01,
                momentum=0.9,
                weight_decay=2e-4,
                batch_size=128,
                schedule="exp",
                exp_gamma=0.96,
                exp_every_epochs=8.0,
                epochs=60,
                aux_weight=0.3,
                ema=0.9999,
                augment="random-resized-crop",
                scale=(0.08, 1.0),
                ratio=(3 / 4, 4 / 3),
            ),
            note="momentum 0.9, lr down 4% every 8 epochs, auxiliary losses x0.3, Polyak averaging (EMA 0.9999 "
            "here); patches of 8%-100% area, aspect 3/4-4/3. The paper gives no initial lr, weight decay, batch "
            "or length: 0.01, 2e-4, 128 and 60 epochs follow the BVLC Caffe reproduction.",
        ),
        Recipe(
            name="resnet-imagenet",
            paper="He, Zhang, Ren & Sun. Deep Residual Learning for Image Recognition. CVPR 2016, section 3.4",
            settings=dict(
                optimizer="sgd",
                lr=0.1,
                momentum=0.9,
                weight_decay=1e-4,
                batch_size=256,
                schedule="plateau",
                plateau_patience=5,
                plateau_drops=3,
                epochs=120,
                augment="scale-jitter",
                jitter=(256, 480),
                pca_std=0.1,
            ),
            note="lr 0.1 /10 when the error plateaus, up to 60e4 iterations of 256 (~120 epochs), wd 1e-4, "
            "momentum 0.9; shorter side in [256, 480], 224 crops, flips, standard colour augmentation; no dropout. "
            "Patience (5 epochs) is ours.",
        ),
        Recipe(
            name="resnet-cifar",
            paper="He, Zhang, Ren & Sun. Deep Residual Learning for Image Recognition. CVPR 2016, section 4.2",
            settings=dict(
                optimizer="sgd",
                lr=0.1,
                momentum=0.9,
                weight_decay=1e-4,
                batch_size=128,
                schedule="step",
                max_steps=64000,
                milestones=(0.5, 0.75),
                augment="pad-crop-flip",
                pad=4,
            ),
            per_model={"resnet110": dict(warmup_steps=400, warmup_lr=0.01, warmup_kind="constant")},
            note="lr 0.1, /10 at 32k and 48k iterations, stop at 64k; batch 128, wd 1e-4, momentum 0.9; 4-pixel "
            "padding, 32x32 crops, flips. resnet110 starts at 0.01 until training error is below 80% (~400 "
            "iterations): a constant 400-step warm-up here. The paper trains on 45k and validates on 5k; we "
            "validate on the test batch.",
        ),
        Recipe(
            name="modern",
            paper="Goyal et al. 2017 (linear scaling, warm-up); He et al. Bag of Tricks, CVPR 2019 (cosine, "
            "no bias decay); Szegedy et al. 2016 (label smoothing)",
            settings=dict(
                optimizer="sgd",
                lr=0.1,
                momentum=0.9,
                nesterov=True,
                weight_decay=1e-4,
                no_wd_norm_bias=True,
                batch_size=256,
                schedule="cosine",
                warmup_epochs=5,
                label_smoothing=0.1,
                epochs=120,
                augment="random-resized-crop",
            ),
            note="lr 0.1 per 256 images, 5 linear warm-up epochs, cosine to zero, label smoothing 0.1, no weight "
            "decay on norm and bias; pad-crop-flip replaces random-resized-crop for images under 64 pixels.",
        ),
        Recipe(
            name="cifar-fast",
            paper="Page 2018, 'How to train your ResNet' (DAWNBench CIFAR-10); Jordan 2024, '94% on CIFAR-10 in 3.29 "
            "seconds on a single GPU', arXiv:2404.00498",
            settings=dict(
                optimizer="sgd",
                lr=0.75,
                momentum=0.85,
                nesterov=True,
                weight_decay=1.3e-3,
                bias_lr_scale=64.0,
                batch_size=512,
                schedule="linear",
                warmup_epochs=2,
                label_smoothing=0.2,
                epochs=10,
                augment="pad-crop-flip",
                pad=2,
                eval_crops=2,
            ),
            note="For the speedrun_cifar net (whitened first layer, frozen BN scales, logits x 1/9): Nesterov SGD "
            "(momentum 0.85) at 0.75 per 512 images, 64x the lr for biases, weight decay 1.3e-3 (Jordan's per-image "
            "hyperparameters written for a mean loss); linear warm-up over 2 epochs, then linear decay to zero; "
            "2-pixel translations and flips; label smoothing 0.2; mirror test-time augmentation. Not a paper's "
            "ImageNet recipe: the fastest route to 90-94% CIFAR-10 accuracy on a CPU.",
        ),
        Recipe(
            name="quick",
            paper="The 'modern' recipe shortened for a few-minute CPU run (the default of 'ilsvrc train')",
            settings=dict(
                optimizer="sgd",
                lr=0.2,
                momentum=0.9,
                nesterov=True,
                weight_decay=5e-4,
                no_wd_norm_bias=True,
                batch_size=128,
                schedule="cosine",
                warmup_epochs=1,
                label_smoothing=0.1,
                epochs=6,
                augment="pad-crop-flip",
                pad=2,
            ),
            note="Tuned so that resnet20 on the bundled Fashion-MNIST reaches >= 85% validation accuracy in under "
            "5 minutes on two CPU cores; see benchmarks/train_default.py.",
        ),
    ]
}

# Generic values for fields no recipe sets.
_DEFAULTS: dict[str, Any] = dict(
    optimizer="sgd",
    lr=0.1,
    momentum=0.9,
    weight_decay=1e-4,
    nesterov=False,
    no_wd_norm_bias=False,
    bias_lr_scale=1.0,
    batch_size=128,
    schedule="cosine",
    milestones=(),
    gamma=0.1,
    plateau_patience=5,
    plateau_drops=3,
    plateau_threshold=0.0,
    exp_gamma=0.96,
    exp_every_epochs=8.0,
    warmup_epochs=0.0,
    warmup_steps=None,
    warmup_lr=0.0,
    warmup_kind="linear",
    label_smoothing=0.0,
    ema=0.0,
    aux_weight=0.3,
    augment="pad-crop-flip",
    pad=4,
    scale=(0.08, 1.0),
    ratio=(3 / 4, 4 / 3),
    jitter=(256, 512),
    pca_std=0.0,
    epochs=10,
    eval_crops=1,
)


@dataclass
class TrainConfig:
    """Everything that defines a training run. `None` means: from the recipe, else a generic default."""

    model: str = DEFAULT_MODEL
    """Registered model name (see `ilsvrc models`)."""
    data: str | None = None
    """Data source (directory or file); None = the bundled Fashion-MNIST."""
    recipe: str = DEFAULT_RECIPE
    """Name of a preset in RECIPES whose settings fill the fields left as None."""
    out: str | None = None
    """Run directory; None = runs/<model>-<timestamp>."""
    model_options: dict[str, Any] = field(default_factory=dict)
    """Extra keyword options for create_model (e.g. {"shortcut": "B"})."""

    epochs: float | None = None
    """Length in passes over the training set (ignored when max_steps is set)."""
    max_steps: int | None = None
    """Length in optimizer steps; overrides epochs."""
    budget: float = 1.0
    """Multiplies the run's length and every length in its schedule (warm-up, patience, decay period)."""
    batch_size: int | None = None
    """Images per optimizer step, over all processes and accumulation steps."""
    grad_accum: int = 1
    """Micro-batches per optimizer step (each batch_size / (grad_accum * world_size) images)."""
    train_subset: int | None = None
    """Use only the first N images of a seeded permutation of the training set."""

    optimizer: str | None = None
    """'sgd' (foreach / fused where available) or 'adamw'."""
    lr: float | None = None
    """Peak learning rate."""
    momentum: float | None = None
    """SGD momentum (AdamW beta1)."""
    weight_decay: float | None = None
    """L2 weight decay (decoupled for AdamW)."""
    nesterov: bool | None = None
    """Nesterov momentum for SGD."""
    no_wd_norm_bias: bool | None = None
    """Exempt normalisation weights and all biases from weight decay."""
    bias_lr_scale: float | None = None
    """Learning-rate multiplier of normalisation weights and biases (their weight decay is divided by it)."""

    schedule: str | None = None
    """'constant', 'step' (x gamma at milestones), 'plateau' (x gamma when val error stops improving), 'exp'
    (x exp_gamma every exp_every_epochs), 'cosine' (to zero) or 'linear' (to zero)."""
    milestones: tuple[float, ...] | None = None
    """Step schedule: fractions of the run's length at which the lr is multiplied by gamma."""
    gamma: float | None = None
    """Factor of each step or plateau drop."""
    plateau_patience: float | None = None
    """Plateau schedule: epochs without a new best validation error before a drop (scaled by budget)."""
    plateau_drops: int | None = None
    """Plateau schedule: most drops over the run."""
    plateau_threshold: float | None = None
    """Plateau schedule: an improvement must lower the best val top-1 error by more than this (fraction)."""
    exp_gamma: float | None = None
    """Exp schedule: factor per period (0.96 = 'down 4%')."""
    exp_every_epochs: float | None = None
    """Exp schedule: period in epochs (scaled by budget)."""
    warmup_epochs: float | None = None
    """Warm-up length in epochs (scaled by budget); warmup_steps overrides it."""
    warmup_steps: int | None = None
    """Warm-up length in optimizer steps (scaled by budget)."""
    warmup_lr: float | None = None
    """Learning rate at the start of warm-up (linear) or during it (constant)."""
    warmup_kind: str | None = None
    """'linear' (from warmup_lr up to lr) or 'constant' (warmup_lr, then lr)."""

    label_smoothing: float | None = None
    """Cross-entropy label smoothing."""
    ema: float | None = None
    """EMA / Polyak decay per step (0 = off); evaluation and result.model use the averaged weights."""
    aux_weight: float | None = None
    """Weight of auxiliary classifier losses when the model returns (main, aux...) in train mode."""

    augment: str | None = None
    """Training augmentation kind: 'pad-crop-flip', 'random-resized-crop', 'scale-jitter', 'center', 'none'."""
    input_size: int | None = None
    """Square input side; None = the data's side for small images, else the model card's input size."""
    pad: int | None = None
    """pad-crop-flip padding in pixels."""
    scale: tuple[float, float] | None = None
    """random-resized-crop area range."""
    ratio: tuple[float, float] | None = None
    """random-resized-crop aspect range."""
    jitter: tuple[float, float] | None = None
    """scale-jitter shorter-side range in pixels for 224 crops, scaled by input_size / 224 (VGG: 256, 512)."""
    pca_std: float | None = None
    """AlexNet PCA lighting strength (0 = off; needs pca_eigval/eigvec in the data's meta)."""
    flip: bool = True
    """Random horizontal flips in training."""

    eval_every: int = 1
    """Evaluate on the validation set every N epochs (and always at the end)."""
    eval_crops: int | None = None
    """Views per validation image: 1 (centre), 2 (centre and its mirror) or 10 (corners, centre, mirrors)."""
    log_every: int = 50
    """Read the running loss/accuracy (one host sync) every N optimizer steps."""
    checkpoint_every: int = 500
    """Save checkpoints/last.pt every N optimizer steps, besides every epoch end (0 = epoch ends only)."""
    stop_at_step: int | None = None
    """Stop after this step as if interrupted (checkpoint saved, schedule unchanged); continue with resume."""
    resume: bool = False
    """Continue from out/checkpoints/last.pt."""

    device: str | None = None
    """'cpu' or 'cuda' (None = cuda when available)."""
    amp: bool = False
    """Mixed precision: bf16 autocast (fp16 with a GradScaler on CUDA without bf16)."""
    channels_last: bool = False
    """Use the channels_last memory format."""
    compile: bool = False
    """torch.compile the model."""
    workers_threads: int | None = None
    """torch intra-op threads (None = torch's default)."""
    progress: bool = True
    """Show a progress bar on a TTY (plain log lines otherwise)."""
    tensorboard: bool = True
    """Also write TensorBoard events when tensorboard is installed."""
    seed: int = 0
    """Seed of model init, data order, augmentation and subset choice."""

    def __post_init__(self) -> None:
        for name in ("milestones", "scale", "ratio", "jitter"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, tuple(float(v) for v in value))
        if self.recipe not in RECIPES:
            raise UserError(f"unknown recipe {self.recipe!r}; choose from {', '.join(RECIPES)}")
        _check(self.budget > 0, f"budget must be > 0, got {self.budget}")
        _check(self.epochs is None or self.epochs > 0, f"epochs must be > 0, got {self.epochs}")
        _check(self.max_steps is None or self.max_steps >= 0, f"max_steps must be >= 0, got {self.max_steps}")
        _check(self.batch_size is None or self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        _check(self.grad_accum >= 1, f"grad_accum must be >= 1, got {self.grad_accum}")
        _check(self.lr is None or self.lr >= 0, f"lr must be >= 0, got {self.lr}")
        _check(self.weight_decay is None or self.weight_decay >= 0, "weight_decay must be >= 0")
        _check(self.train_subset is None or self.train_subset >= 1, "train_subset must be >= 1")
        _check(self.optimizer is None or self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}")
        _check(self.schedule is None or self.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}")
        _check(self.augment is None or self.augment in AUGMENTS, f"augment must be one of {AUGMENTS}")
        _check(self.warmup_kind in (None, "linear", "constant"), "warmup_kind must be 'linear' or 'constant'")
        _check(all(0 < m < 1 for m in self.milestones or ()), "milestones are fractions of the run in (0, 1)")
        _check(self.label_smoothing is None or 0 <= self.label_smoothing < 1, "label_smoothing must be in [0, 1)")
        _check(self.ema is None or 0 <= self.ema < 1, f"ema must be in [0, 1), got {self.ema}")
        _check(self.eval_crops in (None, 1, 2, 10), f"eval_crops must be 1, 2 or 10, got {self.eval_crops}")
        _check(self.eval_every >= 1 and self.log_every >= 1, "eval_every and log_every must be >= 1")
        _check(self.checkpoint_every >= 0, "checkpoint_every must be >= 0")
        _check(self.device in (None, "cpu", "cuda") or str(self.device).startswith("cuda:"), "device: cpu or cuda")
        _check(self.input_size is None or self.input_size >= 1, "input_size must be >= 1")
        _check(self.workers_threads is None or self.workers_threads >= 1, "threads must be >= 1")

    def resolve(self) -> TrainConfig:
        """A copy with every None filled from the recipe (and its per-model extras), then generic defaults."""
        recipe = RECIPES[self.recipe]
        base = {**_DEFAULTS, **recipe.settings, **recipe.per_model.get(self.model, {})}
        values = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name in base:
                value = base[f.name]
            values[f.name] = value
        if self.epochs is not None and self.max_steps is None:
            values["max_steps"] = None  # an explicit epoch count replaces a recipe's step count
        return TrainConfig(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (lists, not tuples) so it fits YAML and `torch.load(weights_only=True)`."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        from ilsvrc.safety import check_fields

        check_fields(cls, data)  # unknown keys, wrong types, NaN/inf: one UserError naming the field
        return cls(**data)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise UserError(message)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML config file (the same keys as TrainConfig)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as err:
        raise UserError(f"cannot read config {path}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"config {path} is not UTF-8 text") from None
    except RecursionError:
        raise UserError(f"config {path} is nested too deeply") from None
    except yaml.YAMLError as err:
        raise UserError(f"config {path} is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UserError(f"config {path} must hold a mapping of TrainConfig fields")
    return data


def save_yaml(config: TrainConfig, path: str | Path) -> None:
    import yaml

    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
