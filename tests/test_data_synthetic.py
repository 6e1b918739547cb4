"""synthetic(): reproducible, and the planted structure is really in the numbers (checked with numpy here)."""

import numpy as np
import pandas as pd
import pytest
from data_contract import assert_contract

from explorer.data import load_csv, synthetic


def lagged_correlation(x, y, lag):
    """Pearson correlation of y[t] with x[t - lag]."""
    if lag:
        x, y = x[:-lag], y[lag:]
    x = x - x.mean()
    y = y - y.mean()
    return float((x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum()))


def test_default_shape_index_and_contract():
    df = synthetic()
    assert_contract(df)
    assert df.shape == (1000, 6)
    assert isinstance(df.index, pd.DatetimeIndex) and df.index.freqstr == "h"
    assert list(df.columns) == ["driver_1", "driven_1", "driver_2", "driven_2", "independent_1", "independent_2"]
    assert df.attrs["dependencies"] == [
        {"driver": "driver_1", "driven": "driven_1", "lag": 3, "weight": 0.9},
        {"driver": "driver_2", "driven": "driven_2", "lag": 5, "weight": 0.9},
    ]


def test_same_seed_same_data_other_seed_other_data():
    pd.testing.assert_frame_equal(synthetic(seed=3), synthetic(seed=3))
    assert not np.allclose(synthetic(seed=3).to_numpy(), synthetic(seed=4).to_numpy())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_driven_series_follow_their_driver_at_the_planted_lag(seed):
    df = synthetic(seed=seed)
    for dependency in df.attrs["dependencies"]:
        driver = df[dependency["driver"]].to_numpy(np.float64)
        driven = df[dependency["driven"]].to_numpy(np.float64)
        correlations = [abs(lagged_correlation(driver, driven, lag)) for lag in range(0, 13)]
        assert int(np.argmax(correlations)) == dependency["lag"]
        assert correlations[dependency["lag"]] == pytest.approx(dependency["weight"], abs=0.05)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_independent_series_are_unrelated_to_all_others_at_every_lag(seed):
    df = synthetic(seed=seed)
    independents = [c for c in df.columns if c.startswith("independent")]
    assert len(independents) == 2
    for name in independents:
        x = df[name].to_numpy(np.float64)
        for other in df.columns.drop(name):
            y = df[other].to_numpy(np.float64)
            for lag in range(0, 13):
                assert abs(lagged_correlation(x, y, lag)) < 0.2, (name, other, lag)
                assert abs(lagged_correlation(y, x, lag)) < 0.2, (other, name, lag)


def test_a_linear_forecaster_on_24_step_windows_finds_the_driver():
    """Least squares of driven_1[t] on every series' previous 24 values puts most weight on driver_1 at lag 3."""
    df = synthetic(seed=0)
    data = ((df - df.mean()) / df.std()).to_numpy(np.float64)
    window = 24
    rows = [data[t - window : t][::-1].ravel() for t in range(window, len(data))]  # lag 1 first
    target = data[window:, df.columns.get_loc("driven_1")]
    coefficients, *_ = np.linalg.lstsq(np.array(rows), target, rcond=None)
    by_lag_and_series = np.abs(coefficients.reshape(window, df.shape[1]))
    lag_index, series_index = np.unravel_index(np.argmax(by_lag_and_series), by_lag_and_series.shape)
    assert df.columns[series_index] == "driver_1" and lag_index + 1 == 3
    assert by_lag_and_series[lag_index, series_index] > 1.5 * np.sort(by_lag_and_series.ravel())[-2]


def test_other_sizes_keep_pairs_and_independents():
    df = synthetic(n_steps=50, n_series=3, seed=1, freq="D", start="2020-03-01")
    assert list(df.columns) == ["driver_1", "driven_1", "independent_1"]
    assert df.index[0] == pd.Timestamp("2020-03-01") and df.index.freqstr == "D"
    df = synthetic(n_series=9)
    assert [d["lag"] for d in df.attrs["dependencies"]] == [3, 5, 2]
    assert sum(c.startswith("independent") for c in df.columns) == 3
    assert_contract(df)


def test_survives_a_round_trip_through_csv():
    df = synthetic(n_steps=100)
    loaded = load_csv(df.to_csv().encode())
    np.testing.assert_array_equal(loaded.to_numpy(), df.to_numpy())
    assert list(loaded.index) == list(df.index)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_series": 2}, "n_series must be an integer of at least 3"),
        ({"n_steps": 5}, "n_steps must be an integer of at least 10"),
        ({"weight": 1.0}, "weight must be strictly between 0 and 1"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        synthetic(**kwargs)
