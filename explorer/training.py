"""Train a small forecaster built from kflayers layers, and read what it learned.

Freshly initialised layers show how a layer computes; this module shows what
the layers learn. `fit_forecaster` trains a compact model on one data frame
and reports, beside the usual losses, an honest baseline (the naive
last-value forecast) and which series the mixer attends to.

The model is `kflayers.forecaster.Forecaster`; this module is the training
recipe around it (split, scaling, fitting, reading the mixer), for the Learn page.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import keras
import numpy as np
import pandas as pd
from keras import ops

from explorer.data import DataError, windows
from kflayers.layers.base import check_positive_int
from kflayers.forecaster import Forecaster
from kflayers.probes import feature_impact

VALIDATION_SHARE = 0.2
BATCH_SIZE = 32
LEARNING_RATE = 3e-3


@dataclasses.dataclass
class ForecastResult:
    """What `fit_forecaster` learned, with the baseline to judge it by.

    MSEs are in normalised units (each series scaled by its training mean and
    standard deviation), so they compare across data sets; both are measured
    on the same validation windows.
    """

    model: Forecaster
    series: list[str]
    target: str
    history: dict[str, list[float]]
    val_mse: float
    baseline_mse: float
    importance: dict[str, float]
    importance_initial: dict[str, float]
    importance_history: list[dict[str, float]]
    feature_impact: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    stopped_early: bool = False

    def history_frame(self) -> pd.DataFrame:
        """Per-epoch losses and importances as one table (for CSV download)."""
        frame = pd.DataFrame(self.history)
        frame.index = pd.RangeIndex(1, len(frame) + 1, name="epoch")
        importances = pd.DataFrame(self.importance_history, index=frame.index).add_prefix("importance_")
        return frame.join(importances)


@dataclasses.dataclass(frozen=True)
class _Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    mean: np.ndarray
    std: np.ndarray


def chronological_split(df: pd.DataFrame, target_index: int, input_size: int, horizon: int) -> _Split:
    """Windows for training and validation, split in time, scaled by training statistics only.

    Validation windows may read inputs from the last training rows, but every
    value they predict lies after the training part.
    """
    values = df.to_numpy(dtype=np.float32)
    n_rows = len(values)
    span = input_size + horizon
    min_rows = int(np.ceil(max((span + 8) / (1 - VALIDATION_SHARE), (horizon + 4) / VALIDATION_SHARE)))
    if n_rows < min_rows:
        raise DataError(
            f"Training with a window of {input_size} and a horizon of {horizon} needs at least "
            f"{min_rows} rows; the data has {n_rows}. Use a shorter window or horizon, or more data."
        )
    split = int(round(n_rows * (1.0 - VALIDATION_SHARE)))
    train_rows = values[:split]
    mean = train_rows.mean(axis=0)
    std = train_rows.std(axis=0)
    std = np.where(std > 0, std, 1.0).astype(np.float32)
    scaled = pd.DataFrame((values - mean) / std, columns=df.columns)

    def cut(frame):
        spans = np.ascontiguousarray(windows(frame, span, normalize=None).values)
        return spans[:, :input_size, :], spans[:, input_size:, target_index]

    x_train, y_train = cut(scaled.iloc[:split])
    x_val, y_val = cut(scaled.iloc[split - input_size:])
    return _Split(x_train, y_train, x_val, y_val, mean.astype(np.float32), std)


class _EpochObserver(keras.callbacks.Callback):
    """Records importances after each epoch and lets the caller watch or stop training."""

    def __init__(self, x_val, series, on_epoch):
        super().__init__()
        self.x_val = x_val
        self.series = series
        self.on_epoch = on_epoch
        self.importance_history: list[dict[str, float]] = []
        self.stopped_early = False

    def on_epoch_end(self, epoch, logs=None):
        self.importance_history.append(_mean_importance(self.model, self.x_val, self.series))
        if self.on_epoch is not None and self.on_epoch(epoch, dict(logs or {})) is False:
            self.stopped_early = True
            self.model.stop_training = True


def _mean_importance(model: Forecaster, x: np.ndarray, series: list[str]) -> dict[str, float]:
    weights = ops.convert_to_numpy(model.importance(x)).mean(axis=0)
    return {name: float(w) for name, w in zip(series, weights)}


def fit_forecaster(
    df: pd.DataFrame,
    target: str,
    input_size: int,
    horizon: int = 1,
    mixer: str = "cross",
    ff_dim: int = 32,
    dropout: float = 0.1,
    epochs: int = 20,
    seed: int = 0,
    on_epoch: Callable[[int, dict], bool | None] | None = None,
) -> ForecastResult:
    """Train a `Forecaster` on `df` to predict `target`, and report what it learned.

    Args:
        df: numeric frame, one column per series, rows in time order (as
            `explorer.data.load_csv` returns).
        target: name of the column to forecast.
        input_size: window length the model sees.
        horizon: how many future steps of `target` to predict.
        mixer: mixer flavour pooling the series tokens.
        ff_dim, dropout: FeatureMixing MLP width and the dropout rate.
        epochs: passes over the training windows.
        seed: seeds weights, dropout and shuffling, for a repeatable run.
        on_epoch: called as `on_epoch(epoch, logs)` after every epoch
            (`logs` has "loss" and "val_loss"); return `False` to stop.

    Returns:
        A `ForecastResult`.

    Raises:
        DataError: `target` is not a column, or there are too few rows.
    """
    series = [str(c) for c in df.columns]
    if target not in series:
        raise DataError(f"The target {target!r} is not one of the data's series ({', '.join(series)}). Pick one of those.")
    check_positive_int("epochs", epochs)
    target_index = series.index(target)
    split = chronological_split(df, target_index, input_size, horizon)

    keras.utils.set_random_seed(seed)
    model = Forecaster(len(series), input_size, horizon, target_index, mixer=mixer, ff_dim=ff_dim, dropout=dropout)
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="mse")
    model(split.x_val[:1])
    importance_initial = _mean_importance(model, split.x_val, series)
    observer = _EpochObserver(split.x_val, series, on_epoch)
    fitted = model.fit(
        split.x_train, split.y_train, validation_data=(split.x_val, split.y_val),
        epochs=epochs, batch_size=BATCH_SIZE, shuffle=True, verbose=0, callbacks=[observer],
    )

    predictions = ops.convert_to_numpy(model.predict(split.x_val, verbose=0, batch_size=256))
    naive = np.repeat(split.x_val[:, -1, target_index : target_index + 1], horizon, axis=1)
    return ForecastResult(
        model=model,
        series=series,
        target=target,
        history={k: [float(v) for v in fitted.history[k]] for k in ("loss", "val_loss")},
        val_mse=float(np.mean((predictions - split.y_val) ** 2)),
        baseline_mse=float(np.mean((naive - split.y_val) ** 2)),
        importance=observer.importance_history[-1],
        importance_initial=importance_initial,
        importance_history=observer.importance_history,
        feature_impact=feature_impact(model, split.x_val),
        mean=split.mean,
        std=split.std,
        stopped_early=observer.stopped_early,
    )
