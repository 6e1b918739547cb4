"""Cut series into overlapping, normalised windows without copying them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from explorer.data.errors import DataError

NORMALIZATIONS = ("zscore", None)


@dataclasses.dataclass(frozen=True, eq=False)
class Windows:
    """Windows over a multivariate series, with what is needed to undo the scaling.

    Attributes:
        values: read-only float32 array of shape
            `(n_windows, input_size, n_series)`. It is a strided *view* of one
            normalised copy of the data (`n_rows x n_series`), so windows that
            overlap share memory; call `np.array(values)` for an independent,
            writable copy.
        mean: float32 array `(n_series,)` subtracted from each series.
        std: float32 array `(n_series,)` each series was divided by (1.0 for
            a constant series, so its windows are zeros rather than NaN).
        columns: the series names, in the order of the last axis.
        index: the index label of the first row of each window
            (`len(index) == n_windows`).
    """

    values: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    columns: tuple[str, ...]
    index: pd.Index

    def denormalize(self, x) -> np.ndarray:
        """Map normalised values (last axis = series) back to the data's units."""
        return np.asarray(x, dtype=np.float32) * self.std + self.mean

    def __len__(self) -> int:
        return self.values.shape[0]


def windows(df: pd.DataFrame, input_size: int, stride: int = 1, normalize: str | None = "zscore") -> Windows:
    """Slide a window of `input_size` rows over every series of `df`.

    Window `i` holds rows `i * stride` to `i * stride + input_size - 1`, so
    there are `(n_rows - input_size) // stride + 1` windows.

    Args:
        df: a frame of numeric, finite columns, such as `load_csv` returns.
        input_size: rows per window (positive int).
        stride: rows between the starts of consecutive windows (positive int).
        normalize: "zscore" subtracts each series' mean and divides by its
            standard deviation, both computed over all rows of `df`; None
            leaves the values as they are (mean 0, std 1 are recorded).

    Returns:
        A `Windows` whose `values` are float32 `(n_windows, input_size,
        n_series)`; `denormalize()` maps model outputs back to data units.

    Raises:
        DataError: `df` has too few rows, no columns, or non-finite values.
        ValueError: `input_size`, `stride` or `normalize` is invalid.

    Example:

    >>> import pandas as pd
    >>> w = windows(pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0]}), input_size=3)
    >>> w.values.shape
    (2, 3, 1)
    >>> w.denormalize(w.values)[1, :, 0].tolist()
    [2.0, 3.0, 4.0]
    """
    input_size = _positive_int("input_size", input_size)
    stride = _positive_int("stride", stride)
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize={normalize!r} is not supported; use one of {NORMALIZATIONS}.")
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"windows() needs a pandas DataFrame, got a {type(df).__name__}.")
    if df.shape[1] == 0:
        raise DataError("The data has no columns; load a file with at least one numeric column.")
    n_rows = len(df)
    if n_rows < input_size:
        raise DataError(
            f"Windows of {input_size} steps need at least {input_size} rows, but the data has {n_rows}; "
            "use a smaller input size or more rows."
        )
    try:
        data = df.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataError("Every column must hold numbers; load the data with load_csv first.") from error
    if not np.isfinite(data).all():
        raise DataError(
            "The data contains missing or infinite values; load it with load_csv, which fills them."
        )
    if normalize == "zscore":
        mean = data.mean(axis=0)
        std = data.std(axis=0)
        # A (numerically) constant series has no scale: keep it centred at zero.
        std = np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)
        data = (data - mean) / std
    else:
        mean = np.zeros(data.shape[1])
        std = np.ones(data.shape[1])
    scaled = data.astype(np.float32)
    # (n_rows - input_size + 1, n_series, input_size) view -> (n, input_size, n_series), every stride-th.
    values = sliding_window_view(scaled, input_size, axis=0).transpose(0, 2, 1)[::stride]
    starts = np.arange(0, n_rows - input_size + 1, stride)
    return Windows(
        values=values,
        mean=mean.astype(np.float32),
        std=std.astype(np.float32),
        columns=tuple(str(c) for c in df.columns),
        index=df.index[starts],
    )


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)
