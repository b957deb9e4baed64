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
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ilsvrc.errors import UserError

DEFAULT_MODEL = "resnet20"
DEFAULT_RECIPE = "quick"

SCHEDULES = ("constant", "step", "plateau", "exp", "cosine", "linear", "triangle")
AUGMENTS = ("pad-crop-flip", "random-resized-crop", "scale-jitter", "resize-crop", "center", "none")
OPTIMIZERS = ("sgd", "adamw", "muon")
WARMUPS = ("linear", "constant")
FLIPS = ("random", "alternate", "none")
TTAS = ("none", "mirror", "translate")
PAD_MODES = ("zero", "reflect")


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
                lr=1.5,
                lr_batch=1024,
                momentum=0.85,
                nesterov=True,
                weight_decay=1.33e-3,
                bias_lr_scale=64.0,
                batch_size=1024,
                schedule="triangle",
                triangle=(0.2, 0.23, 0.07),
                warmup_epochs=0,
                label_smoothing=0.2,
                epochs=10,
                lookahead_every=5,
                lookahead_decay=0.95,
                whiten_bias_epochs=3,
                augment="pad-crop-flip",
                pad=2,
                pad_mode="reflect",
                flip="alternate",
                eval_crops=1,
                tta="translate",
            ),
            note="For the speedrun_cifar net (whitened first layer, frozen BN scales, logits x 1/9), after Jordan's "
            "airbench94: Nesterov SGD (momentum 0.85) at 1.5 per 1024 images (scaled with the batch), 64x the lr "
            "for biases, weight decay 1.33e-3 (his 11.5 and 0.0153 per 1024 images for a summed loss, written for a "
            "mean loss); batches of 1024; a triangular lr from 0.2x up to the peak at 23% of the run and down to "
            "0.07x; lookahead every 5 steps; the whitening layer's bias trained for 3 epochs only (at the plain lr: "
            "the 64x is for BN biases); 2-pixel translations of reflect-padded images, flips alternating per image "
            "between epochs; label smoothing 0.2; test-time views of the "
            "image, its mirror and 1-pixel shifts. Until issue 17 the preset was batch 512 at lr 0.75, a 2-epoch "
            "linear warm-up then linear decay to zero, wd 1.3e-3, random flips, mirror TTA (eval_crops 2), no "
            "lookahead and a bias trained throughout. Not a paper's ImageNet recipe: the fastest route to 90-94% "
            "CIFAR-10 accuracy on a CPU.",
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
# cifar-fast with Muon on the conv filters: built from cifar-fast's settings so the two differ only where stated.
RECIPES["cifar-muon"] = Recipe(
    name="cifar-muon",
    paper="Jordan 2024, airbench94_muon (github.com/KellerJordan/cifar10-airbench); Muon: Jordan et al. 2024, "
    "'Muon: an optimizer for hidden layers in neural networks'",
    settings={
        **RECIPES["cifar-fast"].settings,
        "optimizer": "muon",
        "muon_lr": 0.24,
        "muon_momentum": 0.6,
        "schedule": "linear",
        "lookahead_every": 0,
    },
    note="cifar-fast with the conv filters stepped by Muon (Nesterov momentum 0.6, orthogonalised, each filter bank "
    "held at norm sqrt(out channels), 0.24 at the peak) instead of SGD; the rest (biases, classifier) keeps "
    "cifar-fast's Nesterov SGD. As in airbench94_muon: lr straight down from its peak at the first step to zero "
    "(no triangle) and no lookahead. Batch 1024 where airbench94_muon uses 2000 (on a CPU a larger batch does not "
    "step faster).",
)

# Limits that keep a typo from becoming a hang, a segfault or an overflow deep inside torch (one-line errors).
MAX_EPOCHS = 100_000
MAX_STEPS = 10**9
MAX_INPUT_SIZE = 896  # its eval resize (/0.875 = 1024) is checkpoint.MAX_SIDE, the largest side load() accepts
MAX_IMAGE_SIZE = 4096  # decode side of photo folders
MAX_THREADS = 1024  # torch.set_num_threads(100000) segfaults inside OpenMP
MAX_SEED = 2**32 - 1  # numpy's seed range; the augmentation seed is derived from it
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
CHANNELS_LAST = ("auto", "on", "off")
GROUPS = ("data", "optimizer", "schedule", "augment", "eval", "run")
_RESERVED_OPTIONS = ("num_classes", "in_chans")  # set from the data, never by an option


def _recipe(generic: Any, help: str, group: str, **cli: Any) -> Any:
    """A field a recipe may set: None in a TrainConfig means "the recipe's value, else `generic`"."""
    return field(default=None, metadata={"generic": generic, "help": help, "group": group, **cli})


def _plain(default: Any, help: str, group: str, **cli: Any) -> Any:
    """A field no recipe sets; `cli` may hold flag (its name), choices, metavar, cli=False (no flag)."""
    return field(default=default, metadata={"help": help, "group": group, **cli})


@dataclass
class TrainConfig:
    """Everything that defines a training run. `None` means: from the recipe, else a generic default.

    Each field is declared once, here: its type, its default (`generic` for recipe fields), its help text and
    its group. `_DEFAULTS`, the command-line flags of `ilsvrc train` and their help are generated from it.
    """

    # ----- data and model
    model: str = _plain(DEFAULT_MODEL, "registered model name (see 'ilsvrc models')", "data", cli=False)
    data: str | None = _plain(
        None,
        "data source: CIFAR/IDX/ImageFolder/ImageNet directory or packed file (default: bundled Fashion-MNIST)",
        "data",
        metavar="PATH",
    )
    recipe: str = _plain(DEFAULT_RECIPE, "name of a paper's recipe whose settings fill the fields left unset", "data")
    model_options: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "extra keyword options for create_model", "group": "data", "cli": False}
    )
    train_subset: int | None = _plain(None, "train on the first N images of a seeded permutation", "data", metavar="N")
    weights: str | None = _plain(
        None,
        "start from published weights: 'torchvision' (or 'torchvision:TAG'); a new head when the classes differ",
        "data",
        metavar="SOURCE",
    )
    input_size: int | None = _plain(
        None, "square input side (default: the data's side for small images, else the model card's)", "data"
    )
    image_size: int | None = _plain(
        None,
        "side photo folders are decoded to (shorter side, then the centre square; default: the input side / the "
        "card's crop_pct, e.g. 256 for 224)",
        "data",
        metavar="N",
    )

    # ----- optimizer
    optimizer: str | None = _recipe(
        "sgd",
        "'sgd' (foreach / fused), 'adamw', or 'muon' (Muon on conv filters, each held at a fixed norm, so meant for "
        "nets with a batch norm after each conv; SGD with the settings below on the rest)",
        "optimizer",
        choices=OPTIMIZERS,
    )
    lr: float | None = _recipe(0.1, "peak learning rate", "optimizer")
    momentum: float | None = _recipe(0.9, "SGD momentum (AdamW beta1)", "optimizer")
    weight_decay: float | None = _recipe(1e-4, "L2 weight decay (decoupled for AdamW)", "optimizer")
    nesterov: bool | None = _recipe(False, "Nesterov momentum for SGD", "optimizer")
    no_wd_norm_bias: bool | None = _recipe(False, "no weight decay on normalisation weights and biases", "optimizer")
    bias_lr_scale: float | None = _recipe(
        1.0, "lr multiplier of normalisation weights and biases (their weight decay is divided by it)", "optimizer"
    )
    lr_batch: int | None = _recipe(
        0, "the batch size --lr is given for: the run uses lr x batch_size / lr_batch (0: --lr as given)", "optimizer"
    )
    batch_size: int | None = _recipe(128, "images per optimizer step, over all processes and accumulation", "optimizer")
    grad_accum: int = _plain(1, "micro-batches per optimizer step", "optimizer")
    label_smoothing: float | None = _recipe(0.0, "cross-entropy label smoothing", "optimizer")
    ema: float | None = _recipe(
        0.0, "EMA/Polyak decay per step (0 = off); evaluation uses the averaged weights", "optimizer"
    )
    lookahead_every: int | None = _recipe(
        0,
        "lookahead: every N steps pull slow weights toward the trained ones, then reset these to them (0 = off); "
        "evaluation uses the slow weights",
        "optimizer",
        metavar="N",
    )
    lookahead_decay: float | None = _recipe(
        0.95,
        "lookahead: per-step decay; a pull at step s keeps decay^N x (s / total steps)^3 of the slow weights",
        "optimizer",
    )
    whiten_bias_epochs: float | None = _recipe(
        0,
        "train the parameters a model marks as early-only (speedrun_cifar: its whitening layer's bias) for the "
        "first N epochs only, then freeze them (0 = never frozen; scaled by budget, and with the run's length "
        "when the recipe set it, as warm-up is)",
        "optimizer",
    )
    muon_lr: float | None = _recipe(
        0.24,
        "--optimizer muon: peak step of each conv filter bank, as a fraction of its norm (follows the schedule's "
        "shape; not scaled with the batch: Muon's step does not depend on the gradient's size)",
        "optimizer",
    )
    muon_momentum: float | None = _recipe(0.6, "--optimizer muon: momentum of the filters' Muon steps", "optimizer")
    aux_weight: float | None = _recipe(0.3, "weight of auxiliary classifier losses (GoogLeNet)", "optimizer")

    # ----- length and schedule
    epochs: float | None = _recipe(10, "length in passes over the training set (replaces the recipe's)", "schedule")
    max_steps: int | None = _plain(None, "length in optimizer steps; overrides epochs", "schedule")
    budget: float = _plain(1.0, "multiply the run's length and every length in its schedule (e.g. 0.1)", "schedule")
    schedule: str | None = _recipe(
        "cosine",
        "'constant', 'step' (x gamma at milestones), 'plateau' (x gamma when val error stops improving), "
        "'exp' (x exp_gamma every exp_every_epochs), 'cosine' or 'linear' (to zero)",
        "schedule",
        choices=SCHEDULES,
    )
    milestones: tuple[float, ...] | None = _recipe(
        (), "step schedule: fractions of the run at which the lr is multiplied by gamma", "schedule"
    )
    gamma: float | None = _recipe(0.1, "factor of each step or plateau drop", "schedule")
    plateau_patience: float | None = _recipe(
        5, "plateau: epochs without a new best val error before a drop (scaled by budget)", "schedule"
    )
    plateau_drops: int | None = _recipe(3, "plateau: most drops over the run", "schedule")
    plateau_threshold: float | None = _recipe(
        0.0, "plateau: an improvement must lower the best val top-1 error by more than this", "schedule"
    )
    exp_gamma: float | None = _recipe(0.96, "exp: factor per period (0.96 = 'down 4%%')", "schedule")
    exp_every_epochs: float | None = _recipe(8.0, "exp: period in epochs (scaled by budget)", "schedule")
    triangle: tuple[float, float, float] | None = _recipe(
        (0.2, 0.23, 0.07),
        "triangle schedule: lr fraction at the start, where the peak is (fraction of the run), fraction at the end",
        "schedule",
    )
    warmup_epochs: float | None = _recipe(0.0, "warm-up length in epochs (scaled by budget)", "schedule")
    warmup_steps: int | None = _recipe(None, "warm-up length in optimizer steps; overrides warmup_epochs", "schedule")
    warmup_lr: float | None = _recipe(0.0, "lr at the start of (linear) or during (constant) warm-up", "schedule")
    warmup_kind: str | None = _recipe("linear", "'linear' or 'constant' warm-up", "schedule", choices=WARMUPS)

    # ----- augmentation
    augment: str | None = _recipe("pad-crop-flip", "training augmentation", "augment", choices=AUGMENTS)
    pad: int | None = _recipe(4, "pad-crop-flip padding in pixels", "augment")
    pad_mode: str | None = _recipe(
        "zero",
        "pad-crop-flip border: 'zero' (black, He et al.) or 'reflect' (mirrored, airbench)",
        "augment",
        choices=PAD_MODES,
    )
    scale: tuple[float, float] | None = _recipe((0.08, 1.0), "random-resized-crop area range", "augment")
    ratio: tuple[float, float] | None = _recipe((3 / 4, 4 / 3), "random-resized-crop aspect range", "augment")
    jitter: tuple[float, float] | None = _recipe(
        (256, 512), "scale-jitter shorter-side range for 224 crops, scaled by input_size / 224", "augment"
    )
    pca_std: float | None = _recipe(0.0, "AlexNet PCA lighting strength (needs pca_eigval/eigvec)", "augment")
    cutout: int | None = _recipe(
        0, "cutout: one square of this many pixels per training image set to the mean colour (0 = off)", "augment"
    )
    low_res: int | None = _recipe(
        0,
        "progressive resizing: train the first --low-res-epochs epochs on crops resampled down to this side "
        "(antialiased; a step costs about (side / input size)^2 of a full one), the rest at the input size; "
        "evaluation always at the input size (0 = off)",
        "augment",
    )
    low_res_epochs: float | None = _recipe(0.0, "epochs trained at --low-res, from the start", "augment")
    flip: str | bool | None = _recipe(
        "random",
        "horizontal flips in training: 'random' (each image, each epoch), 'alternate' (each image at random in "
        "epoch 0, seeded, then mirrored on every other epoch) or 'none'",
        "augment",
        choices=FLIPS,
    )

    # ----- evaluation
    eval_every: int = _plain(1, "evaluate every N epochs (and always at the end)", "eval", metavar="N")
    eval_crops: int | None = _recipe(1, "views per validation image: 1, 2 (+ mirror) or 10", "eval", choices=(1, 2, 10))
    tta: str | None = _recipe(
        "none",
        "test-time augmentation, logits averaged: 'mirror' (the image and its flip), 'translate' (also both "
        "shifted 1 pixel up-left and down-right, reflect-padded; weights 1/2 unshifted, 1/4 each shift) or 'none'",
        "eval",
        choices=TTAS,
    )

    # ----- how the run executes (RUN_CONTROL fields may change on --resume)
    out: str | None = _plain(None, "run directory (default runs/MODEL-TIMESTAMP)", "run", metavar="DIR")
    resume: bool = _plain(False, "continue the run in --out from checkpoints/last.pt", "run")
    overwrite: bool = _plain(False, "replace an earlier run in --out (its files are deleted first)", "run")
    stop_at_step: int | None = _plain(None, "stop after this step as if interrupted (checkpoint saved)", "run")
    stop_at_train_error: float | None = _plain(
        None,
        "end the run after the first whole epoch whose training top-1 error is at or below this fraction (e.g. "
        "0.25, AlexNet's Fig. 1 target); the schedule keeps the full run's length",
        "run",
        metavar="FRACTION",
    )
    log_every: int = _plain(50, "read the running loss/accuracy (one host sync) every N steps", "run", metavar="N")
    checkpoint_every: int = _plain(500, "save checkpoints/last.pt every N steps (0 = epoch ends only)", "run")
    device: str | None = _plain(None, "'cpu' or 'cuda' (default: cuda when available)", "run")
    precision: str = _plain(
        "auto",
        "auto: bf16 autocast where the device computes bf16 natively (CUDA cc >= 8.0, CPUs with "
        "AVX512-BF16 or AMX), else fp32; fp16 uses a grad scaler",
        "run",
        choices=PRECISIONS,
    )
    channels_last: str | bool = _plain(
        "auto",
        "channels_last memory format; auto: on for convolutional nets, off for ViT/MLP",
        "run",
        choices=CHANNELS_LAST,
    )
    amp: bool = _plain(False, "deprecated spelling of precision='bf16'", "run", cli=False)
    compile: bool = _plain(False, "torch.compile the model", "run")
    workers_threads: int | None = _plain(
        None, "torch intra-op threads (default: every core)", "run", flag="threads", metavar="N"
    )
    progress: bool = _plain(True, "a progress bar on a terminal (plain log lines otherwise)", "run")
    tensorboard: bool = _plain(False, "also write TensorBoard events (when tensorboard is installed)", "run")
    seed: int = _plain(0, "seed of model init, data order, augmentation and subset choice", "run")

    def __post_init__(self) -> None:
        for name in ("milestones", "scale", "ratio", "jitter", "triangle"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, tuple(float(v) for v in value))
        if isinstance(self.flip, bool):  # configs written when flip was an on/off switch
            self.flip = "random" if self.flip else "none"
        if isinstance(self.channels_last, bool):  # configs written before "auto" existed
            self.channels_last = "on" if self.channels_last else "off"
        if self.amp:  # the old switch: bf16 autocast
            self.precision, self.amp = ("bf16" if self.precision == "auto" else self.precision), False
        if self.recipe not in RECIPES:
            raise UserError(f"unknown recipe {self.recipe!r}; choose from {', '.join(RECIPES)}")
        _validate(self)

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


# The recipe a model trains with when `ilsvrc train MODEL` names no --recipe: its paper's (by name, then family).
# `ilsvrc train` with no model at all keeps DEFAULT_RECIPE ('quick', the few-minute main job).
MODEL_RECIPES: dict[str, str] = {
    "speedrun_cifar": "cifar-fast",
    "alexnet": "alexnet",
    "zfnet": "alexnet",  # Zeiler & Fergus 2014, section 3: AlexNet's set-up (SGD 0.01, momentum 0.9, /10 steps)
    "vgg": "vgg",
    "googlenet": "googlenet",
    "resnet": "resnet-imagenet",
    "resnet-cifar": "resnet-cifar",
    "senet": "resnet-imagenet",  # Hu et al. 2018, section 6.1: SGD 0.9, /10 steps, as the ResNet baselines
    "vit": "modern",  # not the paper's (Adam, large batches, JFT pre-training): the closest preset here
}


def recipe_for(name: str) -> str:
    """The default recipe of a registered model: MODEL_RECIPES by name, then by its family, else DEFAULT_RECIPE."""
    from ilsvrc.models import get_card

    return MODEL_RECIPES.get(name) or MODEL_RECIPES.get(get_card(name).family) or DEFAULT_RECIPE


# Generic values for fields no recipe sets: read from the field declarations above.
_DEFAULTS: dict[str, Any] = {f.name: f.metadata["generic"] for f in fields(TrainConfig) if "generic" in f.metadata}


def _validate(c: TrainConfig) -> None:
    """One-line UserErrors for values no run can use (called for every TrainConfig)."""
    for f in fields(c):
        v = getattr(c, f.name)
        if isinstance(v, float) and not math.isfinite(v):
            raise UserError(f"{f.name} must be a finite number, got {v}")
    _range(c.budget, "budget", 0, 1_000, low_open=True)
    _range(c.epochs, "epochs", 0, MAX_EPOCHS, low_open=True)
    _range(c.max_steps, "max_steps", 0, MAX_STEPS)
    _range(c.batch_size, "batch_size", 1, 2**20)
    _range(c.grad_accum, "grad_accum", 1, 2**16)
    _range(c.lr, "lr", 0, math.inf)
    _range(c.weight_decay, "weight_decay", 0, math.inf)
    _range(c.muon_lr, "muon_lr", 0, 10)
    _range(c.muon_momentum, "muon_momentum", 0, 0.999)
    _range(c.train_subset, "train_subset", 1, 2**40)
    _range(c.input_size, "input_size", 1, MAX_INPUT_SIZE)
    _range(c.cutout, "cutout", 0, MAX_INPUT_SIZE)
    _range(c.low_res, "low_res", 0, MAX_INPUT_SIZE)
    _range(c.low_res_epochs, "low_res_epochs", 0, MAX_EPOCHS)
    _check(
        c.low_res is None or c.low_res_epochs is None or bool(c.low_res) == bool(c.low_res_epochs),
        f"--low-res {c.low_res} and --low-res-epochs {None if c.low_res_epochs is None else _num(c.low_res_epochs)}: "
        "set both (a side and how many epochs train at it) or neither",
    )
    _range(c.image_size, "image_size", 1, MAX_IMAGE_SIZE)
    _range(c.workers_threads, "threads", 1, MAX_THREADS)
    _range(c.seed, "seed", 0, MAX_SEED)
    _range(c.stop_at_step, "stop_at_step", 0, MAX_STEPS)
    _check(
        c.stop_at_train_error is None or 0 < c.stop_at_train_error < 1,
        f"stop_at_train_error is a fraction in (0, 1), e.g. 0.25 for 25%; got {c.stop_at_train_error}",
    )
    _check(c.optimizer is None or c.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}")
    _check(c.schedule is None or c.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}")
    _check(c.augment is None or c.augment in AUGMENTS, f"augment must be one of {AUGMENTS}")
    _check(c.warmup_kind in (None, *WARMUPS), "warmup_kind must be 'linear' or 'constant'")
    _check(all(0 < m < 1 for m in c.milestones or ()), "milestones are fractions of the run in (0, 1)")
    _check(c.label_smoothing is None or 0 <= c.label_smoothing < 1, "label_smoothing must be in [0, 1)")
    _check(c.ema is None or 0 <= c.ema < 1, f"ema must be in [0, 1), got {c.ema}")
    _check(c.eval_crops in (None, 1, 2, 10), f"eval_crops must be 1, 2 or 10, got {c.eval_crops}")
    _check_averaging_and_views(c)
    _check(c.eval_every >= 1 and c.log_every >= 1, "eval_every and log_every must be >= 1")
    _check(c.checkpoint_every >= 0, "checkpoint_every must be >= 0")
    _check(c.device in (None, "cpu", "cuda") or str(c.device).startswith("cuda:"), "device: cpu or cuda")
    _check(c.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}, got {c.precision!r}")
    _check(c.channels_last in CHANNELS_LAST, f"channels_last must be auto, on or off, got {c.channels_last!r}")
    _check(not (c.resume and c.overwrite), "--resume and --overwrite contradict each other; choose one")
    _check_model_options(c.model_options)


def _check_averaging_and_views(c: TrainConfig) -> None:
    """The lookahead, flip, triangle and TTA fields (None: from the recipe, checked once resolved)."""
    _range(c.lookahead_every, "lookahead_every", 0, MAX_STEPS)
    _range(c.lr_batch, "lr_batch", 0, 2**20)
    _range(c.whiten_bias_epochs, "whiten_bias_epochs", 0, MAX_EPOCHS)
    _check(c.lookahead_decay is None or 0 <= c.lookahead_decay <= 1, "lookahead_decay must be in [0, 1]")
    _check(c.flip in (None, *FLIPS), f"flip must be one of {', '.join(FLIPS)}, got {c.flip!r}")
    _check(c.tta in (None, *TTAS), f"tta must be one of {', '.join(TTAS)}, got {c.tta!r}")
    if c.triangle is not None:
        ok = len(c.triangle) == 3 and c.triangle[0] >= 0 and 0 < c.triangle[1] < 1 and c.triangle[2] >= 0
        _check(ok, "triangle wants 3 numbers: start fraction >= 0, peak position in (0, 1), end fraction >= 0")
    if c.ema and c.lookahead_every:
        raise UserError("--ema and --lookahead-every both average the weights that evaluation uses; choose one")
    if c.tta not in (None, "none") and c.eval_crops not in (None, 1):
        raise UserError(f"--tta {c.tta} makes its own views; it needs --eval-crops 1, got {c.eval_crops}")


def _range(value: Any, name: str, low: float, high: float, low_open: bool = False) -> None:
    if value is None:
        return
    if (value <= low if low_open else value < low) or value > high:
        bound = f"> {low}" if low_open else f">= {low}"
        raise UserError(f"{name} must be {bound} and <= {_num(high)}, got {_num(value)}")


def _num(x: float) -> str:
    return str(x) if isinstance(x, int) or x == math.inf else f"{x:g}"


def _check_model_options(options: Any) -> None:
    if not isinstance(options, dict):
        raise UserError(f"model_options must be a mapping of option names to values, got {type(options).__name__}")
    for key, value in options.items():
        if key in _RESERVED_OPTIONS:
            raise UserError(f"--option {key} is set from the data ({key} of the training set); leave it out")
        if not _plain_value(value):
            raise UserError(f"--option {key}: the value must be a number, string, bool or list of them")


def _plain_value(value: Any, depth: int = 0) -> bool:
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)) and depth < 2:
        return all(_plain_value(v, depth + 1) for v in value)
    return False


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
