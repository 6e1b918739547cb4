"""The batch the app feeds to a layer: evenly spaced windows of the chosen series.

Only numpy and pandas are used (no TensorFlow), so the home page can show the
batch's shape and where its windows lie without loading a layer.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from explorer.data import windows


@dataclasses.dataclass(frozen=True, eq=False)
class Batch:
    """Windows of z-scored series, ready for a (batch, time, series) layer.

    Attributes:
        values: float32 (batch, input_size, n_series), each series z-scored over all rows of the data.
        starts: row position where each window starts, increasing.
        labels: the data's index label at each window's start, as text (for choosing a window).
        series: the series' names, in the order of the last axis.
    """

    values: np.ndarray
    starts: np.ndarray
    labels: tuple[str, ...]
    series: tuple[str, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.values.shape)


def make_batch(frame: pd.DataFrame, series: list[str], input_size: int, size: int) -> Batch:
    """Take `size` windows of `input_size` rows, spread evenly from the first row to the last.

    Evenly spaced windows show the layer the whole history, not only its
    start. When fewer windows exist than asked for, all of them are taken.

    Raises:
        DataError: the data has fewer than `input_size` rows.
    """
    cut = windows(frame[list(series)], input_size)
    starts = np.unique(np.linspace(0, len(cut) - 1, num=min(size, len(cut))).round().astype(np.int64))
    return Batch(
        values=np.ascontiguousarray(cut.values[starts]),
        starts=starts,
        labels=labels_of(cut.index[starts]),
        series=tuple(cut.columns),
    )


def labels_of(index: pd.Index) -> tuple[str, ...]:
    """Index labels as short text: dates without a time of day when every time is midnight."""
    if isinstance(index, pd.DatetimeIndex) and (index == index.normalize()).all():
        if len(index) and ((index.month == 1) & (index.day == 1)).all():
            return tuple(index.strftime("%Y"))  # a yearly index (a year column read as time)
        return tuple(index.strftime("%Y-%m-%d"))
    return tuple(str(label) for label in index)


def zscored_rows(frame: pd.DataFrame, series: tuple[str, ...]) -> np.ndarray:
    """(rows, series) float32: every row of the chosen series, z-scored exactly as the batch's windows are."""
    return np.array(windows(frame[list(series)], len(frame)).values[0])
