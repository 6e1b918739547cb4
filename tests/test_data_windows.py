"""windows(): shapes, values against loops written here, normalisation that can be undone, views not copies."""

import numpy as np
import pandas as pd
import pytest

from explorer.data import DataError, Windows, windows


def frame(n_rows=20, n_series=3, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.normal(loc=[5.0, -3.0, 100.0][:n_series], scale=[1.0, 0.1, 30.0][:n_series], size=(n_rows, n_series))
    index = pd.date_range("2024-01-01", periods=n_rows, freq="h", name="time")
    return pd.DataFrame(data.astype(np.float32), columns=["a", "b", "c"][:n_series], index=index)


def reference_windows(data, input_size, stride):
    """Window i is rows [i*stride, i*stride + input_size), built with plain loops."""
    starts = range(0, len(data) - input_size + 1, stride)
    return np.stack([data[s : s + input_size] for s in starts]), list(starts)


@pytest.mark.parametrize("input_size, stride", [(1, 1), (5, 1), (5, 3), (20, 1), (7, 20)])
def test_values_match_loops_without_normalisation(input_size, stride):
    df = frame()
    result = windows(df, input_size, stride=stride, normalize=None)
    expected, starts = reference_windows(df.to_numpy(), input_size, stride)
    assert isinstance(result, Windows)
    assert result.values.shape == (len(starts), input_size, 3) == expected.shape
    assert len(result) == (len(df) - input_size) // stride + 1
    assert result.values.dtype == np.float32
    np.testing.assert_array_equal(result.values, expected)
    assert list(result.index) == list(df.index[starts])
    np.testing.assert_array_equal(result.mean, np.zeros(3, np.float32))
    np.testing.assert_array_equal(result.std, np.ones(3, np.float32))
    assert result.columns == ("a", "b", "c")


def test_zscore_uses_statistics_of_the_data_given():
    df = frame()
    data = df.to_numpy().astype(np.float64)
    mean = data.sum(axis=0) / len(data)
    std = np.sqrt(((data - mean) ** 2).sum(axis=0) / len(data))
    result = windows(df, 4, stride=2)
    np.testing.assert_allclose(result.mean, mean, rtol=1e-6)
    np.testing.assert_allclose(result.std, std, rtol=1e-6)
    expected, _ = reference_windows((data - mean) / std, 4, 2)
    np.testing.assert_allclose(result.values, expected, rtol=1e-5, atol=1e-6)


def test_denormalize_recovers_the_data():
    df = frame()
    result = windows(df, 6)
    restored = result.denormalize(result.values)
    expected, _ = reference_windows(df.to_numpy(), 6, 1)
    np.testing.assert_allclose(restored, expected, rtol=1e-5, atol=1e-4)


def test_constant_series_give_zero_windows_not_nan():
    df = pd.DataFrame({"flat": np.full(10, 7.0, np.float32), "zero": np.zeros(10, np.float32)})
    result = windows(df, 3)
    np.testing.assert_array_equal(result.values, np.zeros((8, 3, 2), np.float32))
    np.testing.assert_array_equal(result.std, np.ones(2, np.float32))
    np.testing.assert_array_equal(result.mean, np.float32([7.0, 0.0]))
    np.testing.assert_array_equal(result.denormalize(result.values)[0, :, 0], np.full(3, 7.0, np.float32))


def test_windows_are_views_of_one_normalised_copy():
    df = frame(n_rows=200)
    result = windows(df, 50)
    values = result.values
    assert not values.flags.owndata and not values.flags.writeable
    assert np.shares_memory(values[0], values[1])
    base = values
    while base.base is not None:
        base = base.base
    # The only buffer behind all 151 x 50 x 3 values is the 200 x 3 normalised data.
    assert base.nbytes == 200 * 3 * 4
    assert values.size * 4 > 20 * base.nbytes


def test_exactly_input_size_rows_gives_one_window():
    assert windows(frame(n_rows=8), 8).values.shape == (1, 8, 3)


def test_too_few_rows_says_how_many_are_needed():
    with pytest.raises(DataError, match="Windows of 48 steps need at least 48 rows, but the data has 20"):
        windows(frame(n_rows=20), 48)


@pytest.mark.parametrize("argument, value", [("input_size", 0), ("input_size", 2.5), ("stride", -1), ("stride", True)])
def test_invalid_sizes(argument, value):
    kwargs = {"input_size": 3, "stride": 1, argument: value}
    with pytest.raises(ValueError, match=f"{argument} must be a positive integer; got {value!r}"):
        windows(frame(), **kwargs)


def test_invalid_normalisation_and_data():
    with pytest.raises(ValueError, match="normalize='minmax' is not supported"):
        windows(frame(), 3, normalize="minmax")
    with pytest.raises(DataError, match="needs a pandas DataFrame"):
        windows(np.zeros((5, 2)), 3)
    with pytest.raises(DataError, match="missing or infinite values"):
        windows(pd.DataFrame({"a": [1.0, np.nan, 3.0]}), 2)
    with pytest.raises(DataError, match="has no columns"):
        windows(pd.DataFrame(index=range(5)), 2)
