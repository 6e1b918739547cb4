"""How sure a test part can be that a model beats the naive forecast: a block-bootstrap interval.

A test part of a dozen overlapping windows gives a model/naive error ratio that
another seed or window could turn around. `ratio_interval` says how far it could
move, and `NaiveComparison` turns ratio and interval into the verdict's words,
for the Learn page and the layer pages' trained weights alike. numpy only.
"""

from __future__ import annotations

import dataclasses
import math
import statistics

import numpy as np

INTERVAL_LEVEL = 0.95
BOOTSTRAP_DRAWS = 2000
BOOTSTRAP_SEED = 0


def bootstrap_block(n_windows: int, horizon: int = 1) -> int:
    """The block length of `ratio_interval`: the larger of the horizon and the cube root of the window count.

    Neighbouring windows share all but one input row (and horizon - 1 target rows), so their errors are
    correlated and must be resampled together. Windows `horizon` apart share no target, so a block is at
    least that long; beyond it, the correlation of forecast errors dies away within a few steps, and the
    rule for a moving-block bootstrap of a variance (Hall, Horowitz and Jing, 1995) grows the block as
    n^(1/3): 3 for 12 windows, 8 for 500. A block as long as the window (which neighbours overlap by all
    but one row) would leave a short test part a single block, and nothing to resample.
    """
    return max(1, min(n_windows, max(horizon, math.ceil(n_windows ** (1 / 3)))))


def ratio_interval(model_errors, naive_errors, horizon: int = 1, level: float = INTERVAL_LEVEL,
                   draws: int = BOOTSTRAP_DRAWS, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """A moving-block bootstrap interval of sum(model_errors) / sum(naive_errors) over test windows.

    Each draw strings together randomly placed runs of `bootstrap_block(n, horizon)` consecutive windows
    until it has n windows, and takes the ratio of the two errors summed over the same windows (so a
    stretch that is hard for both forecasts stays paired). The seed is fixed, so the same errors always
    give the same interval.

    The plain percentile interval is too narrow on few independent pieces (like a z interval where a t
    interval belongs): on planted ties of 12 windows (two forecasts equally far from a shared target, their
    errors correlated like overlapping windows'; 300 ties, tests/test_uncertainty.py's `_tie`), its 95%
    held 1 only 71% of the time. So the interval is the expanded percentile one (Hesterberg, "What
    teachers should know about the bootstrap", 2015): the draws' quantiles at the tail share
    Phi(-sqrt(k / (k-1)) t_{k-1}), with k the number of blocks in the test part. On those ties it holds 1
    88% of the time, and 90% on 100 windows: still a little short of 95%.
    With fewer than two blocks nothing can be resampled and the interval is (0, inf).

    Args:
        model_errors, naive_errors: each test window's squared error, `(n,)`, in time order.
        horizon: steps each window forecasts.
        level: the interval's nominal coverage.

    Returns:
        (low, high); (inf, inf) when the naive forecast is exact on every window.
    """
    model_errors, naive_errors = np.asarray(model_errors, np.float64), np.asarray(naive_errors, np.float64)
    if model_errors.shape != naive_errors.shape or model_errors.ndim != 1 or not len(model_errors):
        raise ValueError("model_errors and naive_errors must be equally long, non-empty 1-D arrays; got shapes "
                         f"{model_errors.shape} and {naive_errors.shape}.")
    if not naive_errors.sum() > 0:
        return math.inf, math.inf
    n = len(model_errors)
    block = bootstrap_block(n, horizon)
    blocks = n / block
    if blocks < 2:
        return 0.0, math.inf
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n - block + 1, size=(draws, math.ceil(blocks)))
    windows = (starts[:, :, None] + np.arange(block)).reshape(draws, -1)[:, :n]
    naive = naive_errors[windows].sum(axis=1)
    ratios = np.divide(model_errors[windows].sum(axis=1), naive, out=np.full(draws, np.inf), where=naive > 0)
    tail = _expanded_tail(level, blocks)
    low, high = np.quantile(ratios, [tail, 1 - tail])
    return float(low), float(high)


def _expanded_tail(level: float, pieces: float) -> float:
    """The tail share Phi(-sqrt(k/(k-1)) t) of the expanded percentile interval, t the t quantile with k-1 df.

    t comes from the standard normal quantile by the Cornish-Fisher expansion (Abramowitz and Stegun 26.7.5):
    3% low at 2 degrees of freedom, 1% at 3, closer above (at 1, 9.7 for 12.7, but two blocks already take
    the draws' extremes); numpy alone has no t quantile.
    """
    z = statistics.NormalDist().inv_cdf(1 - (1 - level) / 2)
    df = pieces - 1
    t = (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
         + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3))
    return 0.5 * math.erfc(math.sqrt(pieces / df) * t / math.sqrt(2))


@dataclasses.dataclass(frozen=True)
class NaiveComparison:
    """A model's test error against the naive forecast's, with how sure the test part can be of it.

    Attributes:
        ratio: model / naive MSE over the test windows (inf when the naive forecast is exact).
        low, high: its `INTERVAL_LEVEL` block-bootstrap interval (`ratio_interval`).
        windows: how many test windows judged it.
    """

    ratio: float
    low: float
    high: float
    windows: int

    @classmethod
    def of(cls, model_errors, naive_errors, horizon: int = 1) -> "NaiveComparison":
        model_errors, naive_errors = np.asarray(model_errors, np.float64), np.asarray(naive_errors, np.float64)
        naive = naive_errors.sum()
        ratio = float(model_errors.sum() / naive) if naive > 0 else math.inf
        return cls(ratio, *ratio_interval(model_errors, naive_errors, horizon), len(model_errors))

    @property
    def outcome(self) -> str:
        """"better" or "worse" when the whole interval lies below or above 1, else "undecided"."""
        return "better" if self.high < 1 else "worse" if self.low > 1 else "undecided"

    def summary(self) -> str:
        """E.g. "2.39x the naive error (95% interval 0.80–4.10 over 12 test windows)"."""
        return (f"{self.ratio:.2f}x the naive error ({INTERVAL_LEVEL:.0%} interval {self.low:.2f}–{self.high:.2f} "
                f"over {self.windows} test windows)")

    def sentence(self) -> str:
        """The summary and what it means, e.g. "...: the test part cannot tell this model from the naive forecast"."""
        meaning = {
            "better": "the model beats the naive forecast on the test part",
            "worse": "the model is worse than the naive forecast on the test part",
            "undecided": "the test part cannot tell this model from the naive forecast",
        }[self.outcome]
        return f"{self.summary()}: {meaning}"
