"""The promise every frame from explorer.data keeps, checked in one place for all data tests."""

import numpy as np
import pandas as pd


def assert_contract(df: pd.DataFrame) -> None:
    """float32 finite columns, unique str names, clean index, plain-sentence warnings."""
    assert isinstance(df, pd.DataFrame)
    assert df.shape[0] >= 1 and df.shape[1] >= 1
    assert all(dtype == np.float32 for dtype in df.dtypes), df.dtypes
    assert np.isfinite(df.to_numpy()).all()
    assert all(isinstance(name, str) and name for name in df.columns)
    assert df.columns.is_unique
    if isinstance(df.index, pd.DatetimeIndex):
        assert df.index.is_monotonic_increasing and df.index.is_unique
        assert df.index.tz is None
    else:
        assert isinstance(df.index, pd.RangeIndex)
        assert df.index.start == 0 and df.index.step == 1 and len(df.index) == len(df)
    warnings = df.attrs["warnings"]
    assert isinstance(warnings, list)
    for sentence in warnings:
        assert isinstance(sentence, str), sentence
        assert sentence[:1].isupper() or sentence[:1].isdigit(), sentence
        assert sentence.endswith("."), sentence
        assert "\n" not in sentence
    assert isinstance(df.attrs["source"], str) and df.attrs["source"]
    if "time_column" in df.attrs:  # a frame read from a file
        time_column, file_columns = df.attrs["time_column"], df.attrs["file_columns"]
        assert set(df.columns) <= set(file_columns)
        if time_column is None:
            assert isinstance(df.index, pd.RangeIndex)
        else:
            assert isinstance(df.index, pd.DatetimeIndex) and df.index.name == time_column
            assert time_column in file_columns and time_column not in df.columns


def assert_clean_refusal(error) -> None:
    """A DataError that is a deliberate, single-sentence answer, not the internal-error safety net."""
    message = str(error)
    assert "internal error" not in message, message
    assert message.endswith(".") and "\n" not in message, message
