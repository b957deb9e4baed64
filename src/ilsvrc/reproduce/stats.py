"""Statistics for verdicts: 95% intervals of differences, the three-way rule, and sentences whose signs are right.

Every compared number is a difference "A minus B" with a 95% interval: a t-interval over seeds (paired by seed
when both arms ran the same seeds), or a paired bootstrap over validation images when one run per arm is all
there is (the ensemble). A rule then decides on the interval:
  reproduced      the interval excludes zero on the side the paper predicts, and the mean difference is at least
                  the effect size the rule names;
  not reproduced  the interval excludes zero on the other side;
  inconclusive    otherwise (the interval holds zero, or the effect is smaller than the rule's minimum).
Before any of that, a quality floor: a baseline arm that did not learn makes the verdict "inconclusive:
undertrained", because such a run says nothing about the paper.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ilsvrc.reproduce.claim import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean with its two-sided confidence interval, in the values' own units (fractions for error rates)."""

    mean: float
    low: float
    high: float
    n: int  # seeds (t-interval) or validation images (bootstrap)
    method: str  # "t over seeds", "paired t over seeds", "bootstrap over images"

    def to_dict(self) -> dict:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n, "method": self.method}

    def points(self) -> str:
        """'+1.23 points (95% CI +0.40 to +2.06, paired t over 3 seeds)' for error-rate fractions."""
        ci = f"{100 * self.low:+.2f} to {100 * self.high:+.2f}" if math.isfinite(self.low) else "undefined"
        return f"{100 * self.mean:+.2f} points (95% CI {ci}, {self.method}, n={self.n})"


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE, method: str = "t over seeds") -> Interval:
    """Student-t interval of the mean of `values`; with one value the interval is unbounded (nothing is known)."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("t_interval needs at least one value")
    mean = float(x.mean())
    if x.size == 1:
        return Interval(mean, -math.inf, math.inf, 1, method)
    half = float(stats.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return Interval(mean, mean - half, mean + half, int(x.size), method)


def difference(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Interval of mean(a) - mean(b). Equal lengths are taken as paired by seed; otherwise Welch's interval."""
    from scipy import stats

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.size == y.size:
        return t_interval(x - y, confidence, method="paired t over seeds")
    mean = float(x.mean() - y.mean())
    if min(x.size, y.size) < 2:
        return Interval(mean, -math.inf, math.inf, int(min(x.size, y.size)), "Welch t over seeds")
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1)) if se > 0 else x.size + y.size - 2
    half = float(stats.t.ppf(0.5 + confidence / 2, df) * se)
    return Interval(mean, mean - half, mean + half, int(min(x.size, y.size)), "Welch t over seeds")


def bootstrap_difference(
    wrong_a: Sequence[bool],
    wrong_b: Sequence[bool],
    resamples: int = 4000,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> Interval:
    """Paired percentile-bootstrap interval of error(a) - error(b) over the same validation images.

    `wrong_a[i]`, `wrong_b[i]`: whether model a / b misclassified image i.
    """
    a, b = np.asarray(wrong_a, dtype=np.float64), np.asarray(wrong_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError("bootstrap_difference needs two equal-length, non-empty per-image vectors")
    diff = a - b
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, 256):  # bounded memory: 256 resamples of n images at a time
        k = min(256, resamples - start)
        means[start : start + k] = diff[rng.integers(0, diff.size, (k, diff.size))].mean(1)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(float(diff.mean()), float(low), float(high), int(diff.size), "paired bootstrap over images")


def judge(diff: Interval, predicted_sign: int, min_effect: float) -> str:
    """The three-way verdict on `diff` when the paper predicts its sign (+1 or -1) and a minimum |effect|."""
    if predicted_sign not in (1, -1):
        raise ValueError("predicted_sign must be +1 or -1")
    low, high = sorted((predicted_sign * diff.low, predicted_sign * diff.high))
    if low > 0 and predicted_sign * diff.mean >= min_effect:
        return REPRODUCED
    if high < 0:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def sentence(a: str, b: str, diff: Interval, predicted_sign: int, quantity: str = "validation error") -> str:
    """'A minus B validation error = +1.23 points (95% CI ...); the paper predicts a negative difference (A lower)'."""
    side = "negative" if predicted_sign < 0 else "positive"
    who = f"{a} lower" if predicted_sign < 0 else f"{a} higher"
    return f"{a} minus {b} {quantity} = {diff.points()}; the paper predicts a {side} difference ({who})"


@dataclass(frozen=True)
class Floor:
    """The quality floor's check: each baseline arm's mean error (fractions) against `floor`."""

    errors: dict[str, float]
    floor: float

    @property
    def passed(self) -> bool:
        return all(e <= self.floor for e in self.errors.values())

    def text(self) -> str:
        """What a reader needs either way: which arms were checked, their errors, and whether they learned."""
        limit = f"{100 * self.floor:.0f}% quality floor"
        shown = {arm: e for arm, e in self.errors.items() if self.passed or e > self.floor}  # failed: the culprits
        listed = ", ".join(f"{arm} {100 * e:.1f}%" for arm, e in shown.items())
        if self.passed:
            return f"the nets learned: mean error within the {limit} ({listed})"
        return f"undertrained: mean error above the {limit} ({listed}); no verdict on the paper"


def quality_floor(errors: dict[str, Sequence[float]], floor: float) -> Floor:
    """Check that the baseline arms learned: each arm's mean over seeds must be at most `floor`."""
    return Floor({arm: float(np.mean(v)) for arm, v in errors.items()}, floor)


@dataclass(frozen=True)
class Comparison:
    """One compared pair: 'a minus b' of `quantity`, the sign the paper predicts and the rule's minimum effect."""

    a: str
    b: str
    diff: Interval
    predicted_sign: int  # -1: the paper says a is lower (e.g. a's error), +1: higher
    min_effect: float  # in the quantity's units (fractions for error rates)
    quantity: str = "validation error"

    @property
    def verdict(self) -> str:
        return judge(self.diff, self.predicted_sign, self.min_effect)

    def text(self) -> str:
        need = f", at least {100 * self.min_effect:.1f} points" if self.min_effect > 0 else ""
        return f"{sentence(self.a, self.b, self.diff, self.predicted_sign, self.quantity)}{need}: {self.verdict}"


def combine(comparisons: Sequence[Comparison], floor: Floor | None = None) -> tuple[str, str]:
    """Overall verdict: reproduced when every comparison is, not reproduced when any contradicts the paper.

    A `floor` (from `quality_floor`) that failed overrides everything: such runs say nothing about the paper. The
    differences are still stated after it, without a verdict each, so a reader sees what was measured. A floor
    that passed is stated after the comparisons, so every verdict shows that its nets learned.
    """
    if floor is not None and not floor.passed:
        measured = "; ".join(sentence(c.a, c.b, c.diff, c.predicted_sign, c.quantity) for c in comparisons)
        return INCONCLUSIVE, floor.text() + (f" (measured, not judged: {measured})" if measured else "")
    verdicts = [c.verdict for c in comparisons]
    if all(v == REPRODUCED for v in verdicts):
        overall = REPRODUCED
    elif any(v == NOT_REPRODUCED for v in verdicts):
        overall = NOT_REPRODUCED
    else:
        overall = INCONCLUSIVE
    parts = [c.text() for c in comparisons] + ([floor.text()] if floor is not None else [])
    return overall, "; ".join(parts)
