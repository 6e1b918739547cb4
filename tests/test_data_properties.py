"""Property tests: whatever the bytes, load_csv returns a frame keeping the contract or a clean DataError."""

import numpy as np
import pandas as pd
from data_contract import assert_clean_refusal, assert_contract
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer.data import DataError, load_csv

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def load_or_refuse(raw):
    """The loader's only two outcomes; anything else fails the test."""
    try:
        df = load_csv(raw)
    except DataError as error:
        assert_clean_refusal(error)
        return None
    assert_contract(df)
    return df


@FAST
@given(st.binary(max_size=2000))
def test_random_bytes(raw):
    load_or_refuse(raw)


# Text built from the pieces CSV files are made of, so that most examples get deep into parsing.
CSV_PIECES = st.sampled_from(
    [",", ";", "\t", "|", '"', "\n", "\r\n", "\r", " ", "", "1", "-2.5", "3e5", "1e400", ".", "nan", "inf",
     "-inf", "NA", "x", "é", "2024-01-01", "2024-13-45", "12:30", "01/02/2024", "True", "=A1", "<b>", "\ufeff"]
)


@FAST
@given(st.lists(CSV_PIECES, max_size=80), st.sampled_from(["utf-8", "utf-16", "latin-1", "utf-8-sig"]))
def test_random_csv_like_text(pieces, encoding):
    text = "".join(pieces)
    load_or_refuse(text.encode(encoding, errors="replace"))


COLUMN_NAMES = st.text(min_size=0, max_size=12)
CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.text(max_size=8),
    st.datetimes(min_value=pd.Timestamp("1900-01-01").to_pydatetime(),
                 max_value=pd.Timestamp("2200-01-01").to_pydatetime()),
    st.none(),
)


@FAST
@given(
    st.lists(COLUMN_NAMES, min_size=1, max_size=6),
    st.integers(min_value=0, max_value=12),
    st.data(),
    st.sampled_from([",", ";", "\t", "|"]),
    st.booleans(),
    st.sampled_from(["utf-8", "utf-16", "utf-8-sig"]),
)
def test_random_frames_written_to_csv(names, n_rows, data, sep, with_index, encoding):
    columns = {}
    for position, name in enumerate(names):
        kind = data.draw(st.sampled_from(["numbers", "mixed"]))
        cells = st.floats(allow_nan=True, allow_infinity=True) if kind == "numbers" else CELLS
        columns[position] = data.draw(st.lists(cells, min_size=n_rows, max_size=n_rows))
    frame = pd.DataFrame(columns)
    frame.columns = names
    raw = frame.to_csv(sep=sep, index=with_index).encode(encoding, errors="surrogatepass")
    load_or_refuse(raw)


@FAST
@given(
    st.lists(st.text(alphabet="abcdefgh_", min_size=1, max_size=6), min_size=1, max_size=5, unique=True),
    st.integers(min_value=1, max_value=30),
    st.data(),
    st.sampled_from([",", ";", "\t"]),
)
def test_clean_numeric_frames_round_trip(names, n_rows, data, sep):
    values = np.array(
        data.draw(st.lists(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=len(names), max_size=len(names)),
                           min_size=n_rows, max_size=n_rows)),
        dtype=np.float32,
    )
    frame = pd.DataFrame(values, columns=names)
    df = load_or_refuse(frame.to_csv(sep=sep, index=False).encode())
    assert df is not None
    assert list(df.columns) == names
    np.testing.assert_array_equal(df.to_numpy(), values)
    assert df.attrs["warnings"] == []


def load_with_time_column_or_refuse(raw, time_column):
    try:
        df = load_csv(raw, time_column=time_column)
    except DataError as error:
        assert_clean_refusal(error)
        return None
    assert_contract(df)
    return df


@st.composite
def calendar_like_column(draw, n_rows):
    """A column as public data sets hold time: years, quarters, YYYYMMDD days, period codes, or noise."""
    kind = draw(st.sampled_from(["years", "quarters", "days", "codes", "noise"]))
    if kind == "years":
        steps = draw(st.lists(st.integers(0, 1), min_size=n_rows, max_size=n_rows))
        values = list(draw(st.integers(995, 2200)) + np.cumsum(steps))
    elif kind == "quarters":
        values = [(draw(st.integers(0, 3)) + i) % 4 + 1 for i in range(n_rows)]
    elif kind == "days":
        days = pd.date_range(draw(st.sampled_from(["1958-03-29", "1999-12-30"])), periods=n_rows,
                             freq=draw(st.sampled_from(["D", "7D", "MS"])))
        values = [int(f"{day:%Y%m%d}") for day in days]
    elif kind == "codes":
        values = [str(p) for p in pd.period_range("1974Q1", periods=n_rows, freq="Q")]
    else:
        values = draw(st.lists(st.floats(allow_nan=True, allow_infinity=False), min_size=n_rows, max_size=n_rows))
    if values and draw(st.booleans()):  # spoil one value now and then
        values[draw(st.integers(0, n_rows - 1))] = draw(st.sampled_from([None, 13, 19580231, "x", 1.5]))
    return values


@FAST
@given(
    st.lists(st.sampled_from(["year", "YEAR", "quarter", "month", "date", "period", "t", "v"]), min_size=1,
             max_size=4),
    st.integers(min_value=1, max_value=10),
    st.data(),
)
def test_any_chosen_time_column_becomes_the_index_or_is_refused(names, n_rows, data):
    """Calendar-like columns mixed at random; then each column in turn (and none) is chosen as the time column."""
    frame = pd.DataFrame({i: data.draw(calendar_like_column(n_rows)) for i in range(len(names))})
    frame.columns = names
    raw = frame.to_csv(index=False).encode()
    detected = load_or_refuse(raw)
    if detected is None:
        return
    for choice in [None, *detected.attrs["file_columns"]]:
        df = load_with_time_column_or_refuse(raw, choice)
        if df is not None:
            assert df.attrs["time_column"] == choice
    if detected.attrs["time_column"] is not None:  # the detected column, chosen, gives the same frame
        chosen = load_csv(raw, time_column=detected.attrs["time_column"])
        pd.testing.assert_frame_equal(chosen, detected)
