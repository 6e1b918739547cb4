"""Time written in ways date parsers miss: numbers such as 1871, 195901 or 19580329, a year column with a
quarter or month column beside it, and period codes such as "1974 Q1" or "1995M01".

Used by `explorer.data.loader`; every function here is pure (numpy and pandas only) and says nothing to
the user itself: the loader turns what these find into its notes.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd

YEARS = (1000, 2200)
"""The years a number column may hold to be read as time (first and last, inclusive)."""

# Column names that mark the quarter or month beside a year column, with the months each step spans.
_SUBPERIOD_NAMES = {"quarter": 3, "qtr": 3, "q": 3, "month": 1, "mon": 1, "mo": 1}
# Period codes pandas does not parse: (pattern, position of the year group, months per step).
_PERIOD_CODES = (
    (re.compile(r"(\d{4})\s*[-/:. ]?\s*[Qq]([1-4])"), 0, 3),  # 1974 Q1, 1974:Q1, 1974.q1
    (re.compile(r"[Qq]([1-4])\s*[-/:. ]?\s*(\d{4})"), 1, 3),  # Q1 1974, Q1-1974
    (re.compile(r"(\d{4})\s*[-:]?\s*[Mm](\d{1,2})"), 0, 1),  # 1995M01, 1995-M1
)
# Beyond this no whole number fits any pattern, and the conversion to int64 stays exact.
_LARGEST_NUMBER = 1e9


@dataclasses.dataclass(frozen=True)
class NumberTime:
    """Dates read from a number column (with the position of the quarter or month column used beside it).

    Attributes:
        stamps: datetime64[us], strictly increasing, one per row.
        holds: what the column holds, for a sentence ("years", "dates written as YYYYMMDD numbers").
        dated: how a period became a date ("each year dated 1 January"), or "" for days.
        partner: position of the quarter or month column read together with the year column, else None.
    """

    stamps: np.ndarray
    holds: str
    dated: str
    partner: int | None = None


def subperiod_months(name: str) -> int | None:
    """Months per step when `name` marks a quarter (3) or month (1) column, else None."""
    return _SUBPERIOD_NAMES.get(name.strip().lower())


def read_numbers(values: np.ndarray, partners: list[tuple[int, int, np.ndarray]]) -> NumberTime | None:
    """Dates from one number column, or None when it does not clearly hold time.

    Args:
        values: the column, float64 (missing values as NaN).
        partners: (position, months per step, values) of the quarter and month columns that may go with
            it when it holds years, finest first.

    A column holds time when it has no gaps, only whole numbers, and either years from `YEARS` that
    increase from row to row, or years that never decrease and, read with one of `partners`, give
    periods that increase, or YYYYMM months or YYYYMMDD days that increase.

    Example:

    >>> found = read_numbers(np.array([19580329.0, 19580405.0]), partners=[])
    >>> found.holds, str(found.stamps[1])
    ('dates written as YYYYMMDD numbers', '1958-04-05T00:00:00.000000')
    >>> read_numbers(np.array([1990.0, 1990.0]), partners=[(1, 3, np.array([1.0, 2.0]))]).partner
    1
    """
    whole = _whole(values)
    if whole is None:
        return None
    steps = np.diff(whole)
    if _are_years(whole) and (steps >= 0).all():
        for position, months_per_step, other in partners:
            found = _with_subperiod(whole, other, months_per_step)
            if found is not None:
                return dataclasses.replace(found, partner=position)
    if (steps > 0).all():
        return _single_number_time(whole)
    return None


def why_not_numbers(values: np.ndarray) -> str:
    """Why `read_numbers` finds no time in `values` (with no partner column), as a clause of a sentence."""
    if np.isnan(values).all():
        return "it has no values"
    if np.isnan(values).any():
        return "some of its values are missing"
    whole = _whole(values)
    if whole is None:
        return "not all of its values are whole numbers"
    if (np.diff(whole) <= 0).any():
        return "its values do not increase from row to row"
    return f"its values are not years from {YEARS[0]} to {YEARS[1]}, YYYYMM months or YYYYMMDD dates"


def period_stamps(text: pd.Series) -> pd.Series:
    """Period codes such as "1974 Q1", "Q1 1974" or "1995M01" as the first day of the period (NaT elsewhere)."""
    text = text.astype(str).str.strip()
    months = pd.Series(np.nan, index=text.index)
    for pattern, year_group, months_per_step in _PERIOD_CODES:
        parts = text.str.extract(f"^(?:{pattern.pattern})$").astype(float)
        year, step = parts[year_group], parts[1 - year_group]
        valid = year.notna() & (step >= 1) & (step <= 12 // months_per_step) & months.isna()
        months = months.where(~valid, (year - 1970) * 12 + (step - 1) * months_per_step)
    present = months.notna().to_numpy()
    stamps = np.full(len(months), np.datetime64("NaT"), dtype="datetime64[us]")
    stamps[present] = months.to_numpy()[present].astype(np.int64).astype("datetime64[M]")
    return pd.Series(stamps, index=text.index)


def _whole(values: np.ndarray) -> np.ndarray | None:
    """`values` as int64 when all are present whole numbers of a sensible size, else None."""
    if len(values) == 0 or not np.isfinite(values).all() or (np.abs(values) > _LARGEST_NUMBER).any():
        return None
    if (values != np.floor(values)).any():
        return None
    return values.astype(np.int64)


def _are_years(whole: np.ndarray) -> bool:
    return bool(whole.min() >= YEARS[0] and whole.max() <= YEARS[1])


def _month_starts(years: np.ndarray, months_from_january: np.ndarray) -> np.ndarray:
    return ((years - 1970) * 12 + months_from_january).astype("datetime64[M]")


def _in_microseconds(stamps: np.ndarray) -> np.ndarray:
    return stamps.astype("datetime64[us]")


def _with_subperiod(years: np.ndarray, values: np.ndarray, months_per_step: int) -> NumberTime | None:
    """Years read with their quarter or month column, when every step is valid and the periods increase."""
    step = _whole(values)
    if step is None or step.min() < 1 or step.max() > 12 // months_per_step:
        return None
    starts = _month_starts(years, (step - 1) * months_per_step)
    if (np.diff(starts) <= np.timedelta64(0, "M")).any():
        return None
    if months_per_step == 3:
        return NumberTime(_in_microseconds(starts), "years and quarters", "each quarter dated by its first day")
    return NumberTime(_in_microseconds(starts), "years and months", "each month dated by its first day")


def _single_number_time(whole: np.ndarray) -> NumberTime | None:
    """Increasing whole numbers read as years, YYYYMM months or YYYYMMDD days, else None."""
    first, last = YEARS
    low, high = whole.min(), whole.max()
    if first <= low and high <= last:
        return NumberTime(_in_microseconds(_month_starts(whole, np.zeros_like(whole))), "years",
                          "each year dated 1 January")
    if 100 * first + 1 <= low and high <= 100 * last + 12:
        year, month = np.divmod(whole, 100)
        if month.min() >= 1 and month.max() <= 12:
            return NumberTime(_in_microseconds(_month_starts(year, month - 1)), "months written as YYYYMM numbers",
                              "each month dated by its first day")
        return None
    if 10_000 * first + 101 <= low and high <= 10_000 * last + 1231:
        year, rest = np.divmod(whole, 10_000)
        month, day = np.divmod(rest, 100)
        if month.min() < 1 or month.max() > 12 or day.min() < 1:
            return None
        starts = _month_starts(year, month - 1)
        days = starts.astype("datetime64[D]") + (day - 1)
        if (days.astype("datetime64[M]") != starts).any():  # a day beyond its month's end, such as 0230
            return None
        return NumberTime(_in_microseconds(days), "dates written as YYYYMMDD numbers", "")
    return None
