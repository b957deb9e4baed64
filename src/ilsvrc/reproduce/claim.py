"""What a reproducible claim is: the paper's statement and numbers, the setups per budget, and a
verdict rule fixed in code before anything runs."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"


@dataclass(frozen=True)
class Setup:
    """One budget's miniature of the paper's experiment. Counts are per run (per model and seed)."""

    train_images: int | None  # None: the whole training split
    val_images: int | None  # None: the whole validation split
    epochs: int
    batch_size: int = 128
    seeds: int = 1
    extra: dict[str, Any] = field(default_factory=dict)  # claim-specific knobs (lr grid, sizes, ...)
    # the data the sizes are meant for: "cifar10" (32-px miniatures with the claim's own CIFAR hyper-parameters) or
    # "imagenet" (the paper's nets at 224 px, each trained with its paper's recipe, `ilsvrc train MODEL`'s defaults,
    # at this batch size)
    dataset: str = "cifar10"

    def describe(self) -> str:
        """The setup in a sentence a student can read: "all training images, 7 epochs, batch 128, 3 seeds; lr 0.1"."""
        imgs = "all" if self.train_images is None else f"{self.train_images:,}"
        knobs = dict(self.extra)
        if "images_seen" in knobs:  # equal images per run: the epochs differ per subset size
            seen, sizes = knobs.pop("images_seen"), knobs.pop("sizes")
            epochs = [self.subset_epochs(n) for n in sizes]
            trained = [self.images_trained(n, e) for n, e in zip(sizes, epochs, strict=True)]
            data = (
                f"subsets of {_knob(sizes)} images drawn from {imgs} training images, each run seeing {seen:,} "
                f"images ({_knob(epochs)} epochs; whole batches only, so {_knob(trained)})"
            )
        else:
            data = f"{imgs} training images, {_count(self.epochs, 'epoch')}"
        parts = [f"{data}, batch {self.batch_size}, {_count(self.seeds, 'seed')} per net"]
        if self.dataset == "imagenet":  # the recipe sets the lr, schedule and augmentation of each net
            parts[0] += ", each net with its paper's ImageNet recipe"
        parts += [f"{k.replace('_', ' ')} {_knob(v)}" for k, v in knobs.items()]
        return "; ".join(parts)

    def subset_epochs(self, n: int) -> int:
        """Epochs over an n-image subset for a run to see `images_seen` images (claims comparing subset sizes)."""
        return max(1, round(self.extra["images_seen"] / n))

    def images_trained(self, n: int, epochs: int) -> int:
        """Images a run of `epochs` over n images trains on: the engine steps on whole batches only."""
        return epochs * (n // self.batch_size) * self.batch_size


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _knob(value: Any) -> str:
    """A claim knob as text: 10000 -> "10,000", [1000, 4000] -> "1,000 / 4,000"."""
    if isinstance(value, (list, tuple)):
        return " / ".join(_knob(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


@dataclass(frozen=True)
class Claim:
    name: str
    paper: str
    statement: str  # the claim in the paper's words
    paper_numbers: dict[str, Any]
    rule: str  # the verdict rule in words; `decide` implements exactly this
    setups: dict[
        str, Setup
    ]  # by budget: "tiny" (tests), "small" (<= 15 min on 2 CPU cores), "medium" (<= 45 min), "paper"
    run: Callable[..., dict]  # run(ctx) -> measured numbers (JSON-able)
    decide: Callable[[dict], tuple[str, str]]  # measured -> (verdict, reason)
    plot: Callable[[dict, Any], list[str]]  # (measured, out_dir) -> PNG file names written
    # measured -> the compared differences the verdict is decided on (stats.Comparison), plotted with their
    # intervals in differences.png and listed in results.json; None where the verdict is not a difference
    compare: Callable[[dict], list[Any]] | None = None
    # (measured under an earlier rule, setup) -> the derived numbers re-read under today's rule, for a rule that
    # changed only how stored raw measurements are read (benchmarks/rejudge_reports.py); None: a changed rule
    # needs a new run
    rederive: Callable[[dict, Setup], dict] | None = None


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample standard deviation (0 for one value) of a list of numbers."""
    vals = [float(v) for v in values]
    return {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0, "n": len(vals)}
