"""reproduce.stats on inputs whose answers are known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ilsvrc.reproduce.claim import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED
from ilsvrc.reproduce.stats import (
    Interval,
    bootstrap_difference,
    difference,
    judge,
    quality_floor,
    sentence,
    t_interval,
)


def test_t_interval_matches_the_textbook_value():
    # mean 2, sd 1, n 3: half-width = t(0.975, 2) * 1 / sqrt(3) = 4.302653 / 1.732051 = 2.484138
    iv = t_interval([1.0, 2.0, 3.0])
    assert iv.mean == pytest.approx(2.0)
    assert (iv.low, iv.high) == pytest.approx((2.0 - 2.484138, 2.0 + 2.484138), abs=1e-5)
    assert iv.n == 3


def test_one_seed_gives_an_unbounded_interval_that_decides_nothing():
    iv = t_interval([0.3])
    assert math.isinf(iv.low) and math.isinf(iv.high)
    assert judge(iv, -1, 0.0) == INCONCLUSIVE
    assert "undefined" in iv.points()


def test_paired_difference_uses_per_seed_differences():
    a, b = [0.30, 0.32, 0.31], [0.40, 0.41, 0.43]  # differences -0.10, -0.09, -0.12: mean -0.103333
    iv = difference(a, b)
    assert iv.method == "paired t over seeds"
    assert iv.mean == pytest.approx(-0.103333, abs=1e-6)
    assert iv.high < 0  # consistent per seed: the interval excludes zero
    welch = difference(a, b[:2])
    assert welch.method == "Welch t over seeds" and welch.mean == pytest.approx(np.mean(a) - np.mean(b[:2]))


def test_judge_follows_the_predicted_sign_and_the_minimum_effect():
    lower = Interval(-0.05, -0.08, -0.02, 3, "t")  # A's error 5 points lower, clearly
    assert judge(lower, -1, 0.01) == REPRODUCED
    assert judge(lower, +1, 0.01) == NOT_REPRODUCED  # the paper predicted A higher: the data say the opposite
    assert judge(lower, -1, 0.10) == INCONCLUSIVE  # real, but smaller than the effect the rule asks for
    straddles = Interval(-0.01, -0.04, 0.02, 3, "t")
    assert judge(straddles, -1, 0.0) == INCONCLUSIVE and judge(straddles, +1, 0.0) == INCONCLUSIVE


def test_sentences_carry_the_measured_sign():
    raised = Interval(0.0372, 0.01, 0.06, 3, "paired t over seeds")  # LRN raised the error by 3.72 points
    text = sentence("LRN", "no LRN", raised, -1)
    assert text.startswith("LRN minus no LRN validation error = +3.72 points (95% CI +1.00 to +6.00")
    assert "the paper predicts a negative difference (LRN lower)" in text


def test_bootstrap_of_identical_and_of_shifted_predictions():
    rng = np.random.default_rng(1)
    wrong = rng.random(2000) < 0.3
    same = bootstrap_difference(wrong, wrong)
    assert same.mean == 0 and same.low == 0 and same.high == 0
    better = wrong.copy()
    better[np.flatnonzero(wrong)[:100]] = False  # b fixes 100 of a's mistakes: a - b = +100/2000 = +0.05
    iv = bootstrap_difference(wrong, better)
    assert iv.mean == pytest.approx(0.05)
    assert 0.035 < iv.low < 0.05 < iv.high < 0.065  # only discordant pairs vary: sd = sqrt(100)/2000 = 0.005
    assert iv == bootstrap_difference(wrong, better)  # seeded: the same interval every time


def test_quality_floor_names_the_arms_that_did_not_learn():
    learned = quality_floor({"relu": [0.2, 0.25], "tanh": [0.3]}, 0.35)
    assert learned.passed and learned.text() == (
        "the nets learned: mean error within the 35% quality floor (relu 22.5%, tanh 30.0%)"
    )
    assert quality_floor({"resnet20": [0.35]}, 0.35).passed  # at the floor counts as learned
    failed = quality_floor({"relu": [0.88, 0.9], "tanh": [0.2]}, 0.35)
    reason = failed.text()
    assert not failed.passed and reason.startswith("undertrained") and "relu 89.0%" in reason and "tanh" not in reason


def test_combine_needs_every_part_and_the_floor_overrides():
    from ilsvrc.reproduce.stats import Comparison, combine

    yes = Comparison("LRN", "no LRN", Interval(-0.02, -0.03, -0.01, 3, "t"), -1, 0.005)
    no = Comparison("dropout", "no dropout", Interval(0.03, 0.01, 0.05, 3, "t"), -1, 0.0, "val - train gap")
    unsure = Comparison("D", "A", Interval(-0.01, -0.03, 0.01, 3, "t"), -1, 0.0)
    assert combine([yes])[0] == REPRODUCED
    assert combine([yes, unsure])[0] == INCONCLUSIVE
    verdict, reason = combine([yes, no, unsure])
    assert verdict == NOT_REPRODUCED
    assert "dropout minus no dropout val - train gap = +3.00 points" in reason
    assert "at least 0.5 points: reproduced" in reason
    undertrained = quality_floor({"no LRN": [0.6]}, 0.45)
    verdict, reason = combine([yes], undertrained)
    assert verdict == INCONCLUSIVE and reason.startswith("undertrained: mean error above the 45% quality floor")
    assert "(measured, not judged: " in reason
    assert "reproduced" not in reason  # no verdict on a difference of undertrained nets
    assert combine([], undertrained) == (INCONCLUSIVE, undertrained.text())
    # a floor that passed does not change the verdict, and the reason says the nets learned
    verdict, reason = combine([yes], quality_floor({"no LRN": [0.3]}, 0.45))
    assert verdict == REPRODUCED and reason.endswith(
        "; the nets learned: mean error within the 45% quality floor (no LRN 30.0%)"
    )
