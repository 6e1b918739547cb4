"""The block-bootstrap interval of the model/naive error ratio, and the verdict's words."""

from __future__ import annotations

import math

import numpy as np
import pytest

from explorer.uncertainty import NaiveComparison, bootstrap_block, ratio_interval


def _ar1(n: int, rng: np.random.Generator, rho: float = 0.7) -> np.ndarray:
    """Unit-variance noise in which neighbours are correlated by `rho`, as overlapping windows' errors are."""
    noise = np.empty(n)
    noise[0] = rng.normal()
    for i in range(1, n):
        noise[i] = rho * noise[i - 1] + math.sqrt(1 - rho**2) * rng.normal()
    return noise


def _correlated_errors(n: int, seed: int) -> np.ndarray:
    """Squared errors of n overlapping windows."""
    rng = np.random.default_rng(seed)
    return _ar1(n, rng) ** 2 + 0.05 * rng.random(n)


def test_a_clearly_better_model_gets_an_interval_below_one():
    naive = _correlated_errors(40, seed=0)
    model = naive * np.random.default_rng(1).uniform(0.3, 0.6, 40)  # every window at most 0.6 of naive
    low, high = ratio_interval(model, naive)
    ratio = model.sum() / naive.sum()
    assert low <= ratio <= high < 0.6
    comparison = NaiveComparison.of(model, naive)
    assert comparison.outcome == "better" and comparison.windows == 40
    assert comparison.ratio == pytest.approx(ratio)


def _tie(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two forecasts of one target, equally good: both miss its shared noise plus their own, as big."""
    rng = np.random.default_rng(seed)
    shared = _ar1(n, rng)
    return (shared + 0.7 * _ar1(n, rng)) ** 2, (shared + 0.7 * _ar1(n, rng)) ** 2


def test_a_planted_tie_gets_an_interval_that_spans_one_almost_always():
    # Which of two equally good forecasts wins on a test part is luck; the interval must say so.
    spans = sum(low < 1 < high for low, high in (ratio_interval(*_tie(30, seed)) for seed in range(60)))
    assert spans >= 48  # 95% nominal, 88% measured on 300 such ties; the plain percentile interval gave 79%
    comparison = NaiveComparison.of(*_tie(12, seed=5))
    assert comparison.low < 1 < comparison.high and comparison.outcome == "undecided"
    assert comparison.sentence() == (
        f"{comparison.ratio:.2f}x the naive error (95% interval {comparison.low:.2f}–{comparison.high:.2f} over 12 test "
        "windows): the test part cannot tell this model from the naive forecast")


def test_the_interval_narrows_as_the_test_part_grows():
    def width(n):
        naive = _correlated_errors(n, seed=7)
        model = 0.8 * naive * np.random.default_rng(8).uniform(0.5, 1.5, n)
        low, high = ratio_interval(model, naive)
        return high - low

    widths = [width(n) for n in (12, 50, 200, 800)]
    assert all(a > b for a, b in zip(widths, widths[1:])), widths
    assert widths[-1] < widths[0] / 3


def test_the_interval_is_repeatable_and_exact_for_identical_errors():
    model, naive = _correlated_errors(25, seed=3), _correlated_errors(25, seed=9)
    assert ratio_interval(model, naive) == ratio_interval(model.copy(), naive.copy())
    assert ratio_interval(model, naive, seed=1) != ratio_interval(model, naive)  # the seed is what fixes it
    assert ratio_interval(naive, naive) == pytest.approx((1.0, 1.0))


def test_blocks_are_contiguous_runs_that_keep_neighbouring_windows_together():
    # Errors that alternate every window between two regimes: a run of at least 2 windows always holds one of
    # each, so with blocks of 2 every resample of an even count has the ratio exactly; single windows would not.
    naive = np.tile([1.0, 1.0], 8)
    model = np.tile([0.5, 1.5], 8)
    low, high = ratio_interval(model, naive, horizon=2)
    assert bootstrap_block(16, horizon=2) == 3
    assert 0.8 < low <= 1.0 <= high < 1.2
    # One block is the whole part: nothing to resample, so nothing can be said.
    assert ratio_interval(model[:8], naive[:8], horizon=8) == (0.0, math.inf)
    assert NaiveComparison.of(model[:8], naive[:8], horizon=8).outcome == "undecided"


def test_block_length_grows_with_the_cube_root_and_covers_the_horizon():
    assert [bootstrap_block(n) for n in (1, 8, 12, 27, 500)] == [1, 2, 3, 3, 8]
    assert bootstrap_block(12, horizon=6) == 6 and bootstrap_block(4, horizon=6) == 4


def test_an_exact_naive_forecast_and_bad_input():
    assert ratio_interval([0.1, 0.2], [0.0, 0.0]) == (math.inf, math.inf)
    assert NaiveComparison.of([0.1, 0.2], [0.0, 0.0]).outcome == "worse"
    with pytest.raises(ValueError, match="equally long, non-empty 1-D arrays; got shapes \\(3,\\) and \\(2,\\)"):
        ratio_interval([1.0, 2.0, 3.0], [1.0, 2.0])
