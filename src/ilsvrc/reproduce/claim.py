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

    def describe(self) -> str:
        imgs = "all" if self.train_images is None else f"{self.train_images:,}"
        return f"{imgs} training images, {self.epochs} epochs, batch {self.batch_size}, {self.seeds} seed(s)" + (
            f", {self.extra}" if self.extra else ""
        )


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


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample standard deviation (0 for one value) of a list of numbers."""
    vals = [float(v) for v in values]
    return {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0, "n": len(vals)}
