"""Synthetic series with planted, known cross-series structure (ground truth for the app)."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Lag (in steps) of each successive driver -> driven pair.
_LAGS = (3, 5, 2, 4, 6, 1)
# Seasonal periods in steps; distinct harmonics of 168 (a week of hours), so
# series with different periods are uncorrelated at every lag.
_PERIODS = (24, 56, 168, 84, 42, 28)
_AR_COEFFICIENT = 0.5


def synthetic(
    n_steps: int = 1000,
    n_series: int = 6,
    seed: int = 0,
    weight: float = 0.9,
    freq: str = "h",
    start: str = "2024-01-01",
) -> pd.DataFrame:
    """Reproducible multivariate series where some series drive others at a lag.

    There are `max(1, (n_series - 2) // 2)` driver/driven pairs (two for the
    default six series) and the remaining series are independent:

    - `driver_k`: a seasonal wave plus AR(1) noise.
    - `driven_k`: `driver_k` from `lag` steps earlier plus its own AR(1)
      noise, `weight * driver_k[t - lag] + sqrt(1 - weight**2) * own[t]`
      (lags 3, 5, 2, 4, 6, 1 for successive pairs).
    - `independent_j`: a seasonal wave plus AR(1) noise, unrelated to all
      other series.

    Every seasonal wave has its own period (24, 56, 168, 84, 42, 28 steps:
    harmonics of a week of hours), so different series share no seasonality.
    On this unit scale every series has variance 1, and `weight` is the
    correlation between `driven_k[t]` and `driver_k[t - lag]`. Each series is
    then given its own level and scale so the data look like real
    measurements in different units.

    The planted truth is in `df.attrs["dependencies"]`: a list of
    `{"driver": name, "driven": name, "lag": steps, "weight": weight}`.

    Args:
        n_steps: number of rows (at least 10).
        n_series: number of series (at least 3: one pair and one independent).
        seed: seed of the random generator; the same arguments give the
            same frame.
        weight: share of a driven series explained by its lagged driver,
            in (0, 1).
        freq: pandas frequency of the DatetimeIndex ("h" hourly, "D" daily...).
        start: first timestamp.

    Returns:
        A float32 DataFrame `(n_steps, n_series)` with a DatetimeIndex, like
        `load_csv` returns (`attrs["warnings"]` is empty).

    Example:

    >>> df = synthetic(n_steps=200, seed=1)
    >>> df.attrs["dependencies"][0]
    {'driver': 'driver_1', 'driven': 'driven_1', 'lag': 3, 'weight': 0.9}
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 10:
        raise ValueError(f"n_steps must be an integer of at least 10; got {n_steps!r}.")
    if isinstance(n_series, bool) or not isinstance(n_series, (int, np.integer)) or n_series < 3:
        raise ValueError(
            f"n_series must be an integer of at least 3 (a driver, the series it drives and an "
            f"independent one); got {n_series!r}."
        )
    if not 0.0 < float(weight) < 1.0:
        raise ValueError(f"weight must be strictly between 0 and 1; got {weight!r}.")
    rng = np.random.default_rng(seed)
    n_pairs = max(1, (n_series - 2) // 2)
    warmup = max(_LAGS)
    total = n_steps + warmup
    steps = np.arange(total)

    columns: dict[str, np.ndarray] = {}
    dependencies = []
    periods = iter(_PERIODS * (1 + n_series // len(_PERIODS)))
    for k in range(n_pairs):
        lag = _LAGS[k % len(_LAGS)]
        driver = _seasonal_plus_noise(rng, steps, next(periods))
        own = _ar1(rng, total)
        driven = np.full(total, np.nan)
        driven[lag:] = weight * driver[:-lag] + np.sqrt(1.0 - weight**2) * own[lag:]
        columns[f"driver_{k + 1}"] = driver[warmup:]
        columns[f"driven_{k + 1}"] = driven[warmup:]
        dependencies.append({"driver": f"driver_{k + 1}", "driven": f"driven_{k + 1}", "lag": lag, "weight": weight})
    for j in range(n_series - 2 * n_pairs):
        columns[f"independent_{j + 1}"] = _seasonal_plus_noise(rng, steps, next(periods))[warmup:]

    levels = rng.uniform(-50.0, 150.0, size=n_series)
    scales = 10.0 ** rng.uniform(-1.0, 2.0, size=n_series)
    frame = pd.DataFrame(
        {name: level + scale * values for (name, values), level, scale in zip(columns.items(), levels, scales)},
        index=pd.date_range(start=start, periods=n_steps, freq=freq, name="time"),
    ).astype(np.float32)
    frame.attrs["dependencies"] = dependencies
    frame.attrs["warnings"] = []
    frame.attrs["source"] = "synthetic"
    return frame


def _ar1(rng: np.random.Generator, n: int) -> np.ndarray:
    """Stationary AR(1) noise with unit variance."""
    shocks = rng.standard_normal(n) * np.sqrt(1.0 - _AR_COEFFICIENT**2)
    out = np.empty(n)
    out[0] = rng.standard_normal()
    for t in range(1, n):
        out[t] = _AR_COEFFICIENT * out[t - 1] + shocks[t]
    return out


def _seasonal_plus_noise(rng: np.random.Generator, steps: np.ndarray, period: int) -> np.ndarray:
    """Unit-variance mix: a sine of the given period (random phase) and AR(1) noise, half each."""
    phase = rng.uniform(0.0, 2.0 * np.pi)
    wave = np.sqrt(2.0) * np.sin(2.0 * np.pi * steps / period + phase)
    return np.sqrt(0.5) * wave + np.sqrt(0.5) * _ar1(rng, len(steps))
