"""Train small forecasters honestly, and read what the Learn page's forecaster learned.

The recipe, in reusable pieces (any keras model that maps windows
`(batch, input_size, n_series)` to targets can use them):

- `chronological_split` cuts a `(rows, series)` array into training,
  validation and test windows in time order, scaled by statistics of the
  training rows only, and says which rows each part covers.
- `kflayers.ReversibleInstanceNorm`, inside the model, scales each window by
  its own statistics (see `kflayers.Forecaster` for a model built that way).
- `fit_selected` trains with early stopping on the validation part, restores
  the weights of the best epoch (epoch 0, the model as built, counts too),
  stops at once when the loss stops being finite, and judges the chosen
  model against the naive last-value forecast on the test part, which no
  choice has seen.

`fit_forecaster` is that recipe around `kflayers.Forecaster` for the Learn
page: it also records which series the mixer attends to after every epoch.

Around another body (any layer mapping `(batch, time, n_series)` to the same
shape), a next-step forecaster of every series that starts at the naive
forecast reads, in outline:

    class NextStep(keras.Model):
        def __init__(self, body, n_series, input_size):
            super().__init__()
            self.norm, self.body = kflayers.ReversibleInstanceNorm(), body
            self.head = keras.layers.Dense(1, kernel_initializer="zeros")  # over time, per series

        def call(self, windows, training=None):
            normalised, mean, std = self.norm(windows)
            mixed = self.body(normalised, training=training)
            change = ops.transpose(self.head(ops.transpose(mixed, (0, 2, 1))), (0, 2, 1))
            return self.norm.restore(normalised[:, -1:, :] + change, mean, std)

    split = chronological_split(values, input_size)  # targets: (n, 1, n_series)
    keras.utils.set_random_seed(seed)
    selection = fit_selected(NextStep(body, n_series, input_size), split, epochs, seed)
    selection.test_mse / selection.naive_test_mse  # below 1: better than the last value
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import keras
import numpy as np
import pandas as pd
from keras import ops

from explorer.data import DataError
from explorer.uncertainty import NaiveComparison
from kflayers.forecaster import Forecaster
from kflayers.layers.base import check_positive_int
from kflayers.probes import feature_impact

SHARES = (0.7, 0.15, 0.15)
"""Shares of the rows in the training, validation and test parts, in time order."""
MIN_WINDOWS = {"train": 16, "validation": 8, "test": 8}
"""Fewer windows than this in a part make its loss or its verdict meaningless."""

# The defaults below were tuned with benchmarks/bench_learn.py on the bundled samples (a hundred to two hundred
# rows): small batches give a few steps per epoch even there, and a fairly high learning rate lets the
# zero-initialised head move away from the naive forecast within a few epochs.
BATCH_SIZE = 16
LEARNING_RATE = 5e-3
WEIGHT_DECAY = 1e-4
PATIENCE = 8
"""Epochs without a better validation loss before training stops."""
MIN_IMPROVEMENT = 0.02
"""How much lower (as a share) a validation loss must be than the best so far to count as better: on a few
dozen validation windows, smaller gains are as likely luck as skill (in tuning, a 0.7% validation gain on a
share price came with a 31% higher test error)."""

EPOCHS = 40
DROPOUT = 0.1
FF_DIM = 32


@dataclasses.dataclass(frozen=True)
class Split:
    """Windows of one data set cut in time order into training, validation and test parts.

    Attributes:
        x_train, x_val, x_test: float32 windows `(n, input_size, n_series)`:
            read-only views into one scaled copy of the data (overlapping
            windows share memory).
        y_train, y_val, y_test: what each window should forecast: the next
            `horizon` values of the target, `(n, horizon)`, or of every series,
            `(n, horizon, n_series)`, when no target was named.
        mean, std: per-series statistics of the training rows, used to scale
            every part (std 1 for a constant series).
        rows: the rows of each part ("train", "validation", "test"). A
            part's windows forecast only rows of that part. Training windows
            also read their inputs there; validation and test windows read
            theirs from the rows just before (the known past).
        target_index: the forecast series, or None for all of them.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    rows: dict[str, range]
    target_index: int | None

    def naive(self, x: np.ndarray) -> np.ndarray:
        """The naive forecast for windows `x`: the last value, repeated over the horizon."""
        horizon = self.y_train.shape[1]
        last = x[:, -1:, :] if self.target_index is None else x[:, -1:, self.target_index]
        return np.repeat(last, horizon, axis=1)

    def naive_mse(self, part: str) -> float:
        """Mean squared error of the naive forecast on "train", "validation" or "test"."""
        return float(np.mean(self.naive_errors(part)))

    def naive_errors(self, part: str) -> np.ndarray:
        """The naive forecast's squared error of each window of a part, in time order: `(n,)`."""
        x, y = self.part(part)
        return _per_window(self.naive(x) - y)

    def part(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(windows, targets) of one part."""
        return {"train": (self.x_train, self.y_train), "validation": (self.x_val, self.y_val),
                "test": (self.x_test, self.y_test)}[name]


def _part_ends(n_rows: int) -> tuple[int, int]:
    """Rows where the validation and the test parts start."""
    train_end = int(round(n_rows * SHARES[0]))
    return train_end, int(round(n_rows * (SHARES[0] + SHARES[1])))


def _window_counts(n_rows: int, input_size: int, horizon: int) -> dict[str, int]:
    train_end, val_end = _part_ends(n_rows)
    return {"train": train_end - input_size - horizon + 1, "validation": val_end - train_end - horizon + 1,
            "test": n_rows - val_end - horizon + 1}


def rows_needed(input_size: int, horizon: int) -> int:
    """The fewest rows that give every part of `chronological_split` its minimum number of windows."""
    n_rows = input_size + horizon
    while any(count < MIN_WINDOWS[part] for part, count in _window_counts(n_rows, input_size, horizon).items()):
        n_rows += 1
    return n_rows


def chronological_split(values, input_size: int, horizon: int = 1, target_index: int | None = None) -> Split:
    """Cut `(rows, series)` values into training, validation and test windows, in time order.

    The rows are split 70 / 15 / 15 % (`SHARES`). A window belongs to the part that holds
    all the rows it forecasts, so no target of an earlier part lies in a later
    part; windows whose targets straddle two parts are left out. Every part is
    scaled by the mean and standard deviation of the training rows, so neither
    the scaling nor anything else fitted on the training part has read a
    later row.

    Args:
        values: a `(rows, series)` array or numeric data frame, rows in time order.
        input_size: time steps per window.
        horizon: how many following steps each window forecasts.
        target_index: the series to forecast; None forecasts all of them.

    Returns:
        A `Split`.

    Raises:
        DataError: there are too few rows for this window and horizon (the
            sentence says how many are needed).
    """
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"values must be a (rows, series) array; got shape {values.shape}.")
    input_size, horizon = check_positive_int("input_size", input_size), check_positive_int("horizon", horizon)
    if target_index is not None and not 0 <= target_index < values.shape[1]:
        raise ValueError(f"`target_index` must be in [0, {values.shape[1]}); got {target_index!r}.")
    n_rows = len(values)
    needed = rows_needed(input_size, horizon)
    if n_rows < needed:
        raise DataError(
            f"Training with a window of {input_size} and a horizon of {horizon} needs at least {needed} rows "
            f"({SHARES[0]:.0%} to train, {SHARES[1]:.0%} to validate, {SHARES[2]:.0%} to test); the data has "
            f"{n_rows}. Use a shorter window or "
            "horizon, or more data."
        )
    train_end, val_end = _part_ends(n_rows)
    mean = values[:train_end].mean(axis=0)
    std = values[:train_end].std(axis=0)
    std = np.where(std > 0, std, 1.0).astype(np.float32)
    scaled = (values - mean) / std
    span = input_size + horizon
    # Views into `scaled`, not copies: window i reads rows i ... i + input_size - 1 and forecasts the next
    # `horizon` rows, so it belongs to the part [start, stop) when start - input_size <= i <= stop - span.
    spans = np.lib.stride_tricks.sliding_window_view(scaled, span, axis=0).transpose(0, 2, 1)
    bounds = {"train": (0, train_end), "validation": (train_end, val_end), "test": (val_end, n_rows)}
    cut = {}
    for part, (start, stop) in bounds.items():
        inside = spans[max(0, start - input_size) : stop - span + 1]
        y = inside[:, input_size:, :] if target_index is None else inside[:, input_size:, target_index]
        cut[part] = (inside[:, :input_size, :], y)
    return Split(*cut["train"], *cut["validation"], *cut["test"], mean=mean.astype(np.float32), std=std,
                 rows={part: range(start, stop) for part, (start, stop) in bounds.items()},
                 target_index=target_index)


@dataclasses.dataclass(frozen=True)
class Selection:
    """What `fit_selected` did and how the chosen model compares with the naive forecast.

    Attributes:
        history: "loss" (training, with dropout) and "val_loss" per finished
            epoch; an epoch whose loss was not finite is not in it.
        best_epoch: the epoch whose weights the model now holds (0: as built).
        stop: why training ended: "epochs" (all ran), "patience" (no better
            validation loss for `patience` epochs), "diverged" (the loss
            became NaN or infinite) or "caller" (`on_epoch` returned False).
        val_mse, naive_val_mse: the chosen model's and the naive forecast's
            error on the validation part (the part that chose the epoch).
        test_mse, naive_test_mse: the same on the test part, which no choice saw.
        test_errors, naive_test_errors: the squared error of each test window, in time order (their means
            are `test_mse` and `naive_test_mse`); `comparison` bootstraps the ratio's uncertainty from them.
        horizon: steps each window forecasts (it sets the bootstrap's shortest block).
    """

    history: dict[str, list[float]]
    best_epoch: int
    stop: str
    val_mse: float
    naive_val_mse: float
    test_mse: float
    naive_test_mse: float
    test_errors: np.ndarray = dataclasses.field(repr=False)
    naive_test_errors: np.ndarray = dataclasses.field(repr=False)
    horizon: int = 1

    @property
    def comparison(self) -> "NaiveComparison":
        """Model / naive error on the test part, with its block-bootstrap interval (see `ratio_interval`)."""
        return NaiveComparison.of(self.test_errors, self.naive_test_errors, self.horizon)

    @property
    def message(self) -> str | None:
        """One sentence for the user when training diverged, else None."""
        if self.stop != "diverged":
            return None
        failed = len(self.history["loss"]) + 1
        kept = f"epoch {self.best_epoch}" if self.best_epoch else "the untrained model"
        return (f"Training diverged in epoch {failed} (the loss became NaN or infinite), so it stopped there and "
                f"kept the best result before it, from {kept}; a lower learning rate or another seed may help.")


class _Batches(keras.utils.PyDataset):
    """Training batches of one size, reshuffled every epoch.

    The few windows beyond the last full batch sit out (different ones each
    epoch). With every batch the same shape, the training step is compiled
    once; a smaller last batch would compile it a second time, which costs
    more than the short trainings here take.
    """

    def __init__(self, x, y, batch_size, seed):
        super().__init__()
        self.x, self.y = x, y
        self.batch_size = min(batch_size, len(x))
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(x))

    def __len__(self):
        return len(self.x) // self.batch_size

    def __getitem__(self, index):
        chosen = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.x[chosen], self.y[chosen]

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.x))


class _Selector(keras.callbacks.Callback):
    """Keeps the weights of the best validation epoch; stops on patience, divergence or the caller's word.

    It measures the validation loss itself, in one inference pass: cheaper
    than `fit`'s own validation for data this small.
    """

    def __init__(self, x_val, y_val, patience, min_improvement, on_epoch, untrained_counts=True):
        super().__init__()
        self.untrained_counts = untrained_counts
        self.x_val, self.y_val = x_val, y_val
        self.patience = patience
        self.min_improvement = min_improvement
        self.on_epoch = on_epoch
        self.history: dict[str, list[float]] = {"loss": [], "val_loss": []}
        self.best_val_loss = math.inf
        self.best_epoch = 0
        self.best_weights = None
        self.stop = "epochs"

    def on_train_begin(self, logs=None):
        # Without the untrained model as a candidate, the first finished epoch becomes the best.
        self.best_val_loss = mse(self.model, self.x_val, self.y_val) if self.untrained_counts else math.inf
        self.best_weights = self._weights()

    def on_train_batch_end(self, batch, logs=None):
        if not math.isfinite(float((logs or {}).get("loss", 0.0))):
            self.stop = "diverged"
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        loss = float((logs or {}).get("loss", math.nan))
        val_loss = mse(self.model, self.x_val, self.y_val) if math.isfinite(loss) else math.nan
        if self.stop == "diverged" or not math.isfinite(val_loss):
            self.stop = "diverged"
            self.model.stop_training = True
            return
        self.history["loss"].append(loss)
        self.history["val_loss"].append(val_loss)
        if val_loss < self.best_val_loss * (1.0 - self.min_improvement):
            self.best_val_loss, self.best_epoch, self.best_weights = val_loss, epoch + 1, self._weights()
        elif epoch + 1 - self.best_epoch >= self.patience:
            self.stop = "patience"
            self.model.stop_training = True
        if self.on_epoch is not None and self.on_epoch(epoch, {"loss": loss, "val_loss": val_loss}) is False:
            self.stop = "caller"
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self.model.set_weights(self.best_weights)

    def _weights(self):
        return [np.array(w, copy=True) for w in self.model.get_weights()]


def fit_selected(
    model: keras.Model,
    split: Split,
    epochs: int,
    seed: int,
    on_epoch: Callable[[int, dict], bool | None] | None = None,
    *,
    learning_rate: float = LEARNING_RATE,
    weight_decay: float = WEIGHT_DECAY,
    patience: int = PATIENCE,
    min_improvement: float = MIN_IMPROVEMENT,
    batch_size: int = BATCH_SIZE,
    untrained_counts: bool = True,
) -> Selection:
    """Train `model` on `split`, choose its epoch on the validation part, judge it on the test part.

    The model is compiled here (AdamW, mean squared error) and trained on
    batches of the training windows, reshuffled every epoch. After every
    epoch the validation loss decides: an epoch whose loss is at least
    `min_improvement` (a share) below the best so far becomes the best and
    keeps its weights, and after `patience` epochs without a better one
    training stops.
    The model as built counts as epoch 0, so a model that starts at the naive
    forecast (as `kflayers.Forecaster` does) ends no worse than naive on the
    validation part. A NaN or infinite loss stops training at once. At the
    end the model holds the weights of the best epoch, and only then is the
    test part read.

    Args:
        model: a keras model mapping `split.x_*` to `split.y_*`, not yet
            trained. Seed its initial weights with `keras.utils.set_random_seed`
            before building it.
        split: from `chronological_split`.
        epochs: the most passes over the training windows.
        seed: seeds the shuffling and the dropout masks.
        on_epoch: called as `on_epoch(epoch, logs)` (epoch from 0; `logs` has
            "loss" and "val_loss") after every epoch with finite losses, once the
            selection has seen it; return False to stop.
        learning_rate, weight_decay: of the AdamW optimizer.
        patience: epochs without a better validation loss before stopping.
        min_improvement: the share by which a validation loss must undercut
            the best so far to count as better.
        batch_size: training windows per step.
        untrained_counts: whether the model as built competes as epoch 0. The layer pages pass False: they
            show what the layer learned, and their verdict still compares it with the naive forecast.

    Returns:
        A `Selection`.
    """
    check_positive_int("epochs", epochs)
    check_positive_int("patience", patience)
    check_positive_int("batch_size", batch_size)
    model(split.x_train[:1], training=False)  # builds every variable, so the optimizer below sees them all
    keras.utils.set_random_seed(seed)
    # No XLA: compiling it takes longer than these short trainings run.
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay), loss="mse",
                  jit_compile=False)
    # Optimizer slots made inside the first training step would make TensorFlow trace that step twice.
    model.optimizer.build(model.trainable_variables)
    if not 0.0 <= min_improvement < 1.0:
        raise ValueError(f"`min_improvement` must be in [0, 1); got {min_improvement!r}.")
    selector = _Selector(split.x_val, split.y_val, patience, min_improvement, on_epoch, untrained_counts)
    model.fit(_Batches(split.x_train, split.y_train, batch_size, seed), epochs=epochs, shuffle=False, verbose=0,
              callbacks=[selector])
    test_errors, naive_test_errors = window_errors(model, split.x_test, split.y_test), split.naive_errors("test")
    return Selection(
        history=selector.history, best_epoch=selector.best_epoch, stop=selector.stop,
        val_mse=mse(model, split.x_val, split.y_val), naive_val_mse=split.naive_mse("validation"),
        test_mse=float(np.mean(test_errors)), naive_test_mse=float(np.mean(naive_test_errors)),
        test_errors=test_errors, naive_test_errors=naive_test_errors, horizon=split.y_test.shape[1],
    )


def mse(model: keras.Model, x: np.ndarray, y: np.ndarray, chunk: int = 2048) -> float:
    """Mean squared error of `model`'s inference-mode forecasts of `x` against `y`."""
    return float(np.mean(window_errors(model, x, y, chunk)))


def window_errors(model: keras.Model, x: np.ndarray, y: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """The squared error of `model`'s inference-mode forecast of each window of `x` against `y`: `(n,)`.

    Plain calls in chunks rather than `predict`: no step to compile, which on
    a few hundred windows is the slower part.
    """
    forecasts = [ops.convert_to_numpy(model(x[i : i + chunk], training=False)) for i in range(0, len(x), chunk)]
    return _per_window(np.concatenate(forecasts) - y)


def _per_window(difference: np.ndarray) -> np.ndarray:
    """Squared differences averaged over everything but the window axis (every window weighs the same)."""
    return np.mean(np.square(difference, dtype=np.float64).reshape(len(difference), -1), axis=1)


@dataclasses.dataclass
class ForecastResult:
    """What `fit_forecaster` learned, with the baseline to judge it by.

    MSEs are in z-scored units (each series scaled by its training mean and
    standard deviation), so they compare across data sets. `selection` holds
    the losses, the chosen epoch and the errors on the validation and test
    parts; the importances are averaged over the validation windows.
    """

    model: Forecaster
    series: list[str]
    target: str
    selection: Selection
    rows: dict[str, range]
    importance: dict[str, float]
    importance_initial: dict[str, float]
    importance_history: list[dict[str, float]]
    feature_impact: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    @property
    def history(self) -> dict[str, list[float]]:
        return self.selection.history

    def history_frame(self) -> pd.DataFrame:
        """Per-epoch losses and importances as one table (for CSV download)."""
        frame = pd.DataFrame(self.history)
        frame.index = pd.RangeIndex(1, len(frame) + 1, name="epoch")
        importances = pd.DataFrame(self.importance_history, index=frame.index).add_prefix("importance_")
        return frame.join(importances)


def _mean_importance(model: Forecaster, x: np.ndarray, series: list[str]) -> dict[str, float]:
    weights = ops.convert_to_numpy(model.importance(x)).mean(axis=0)
    return {name: float(w) for name, w in zip(series, weights)}


def fit_forecaster(
    df: pd.DataFrame,
    target: str,
    input_size: int,
    horizon: int = 1,
    mixer: str = "cross",
    ff_dim: int = FF_DIM,
    dropout: float = DROPOUT,
    epochs: int = EPOCHS,
    seed: int = 0,
    on_epoch: Callable[[int, dict], bool | None] | None = None,
) -> ForecastResult:
    """Train a `Forecaster` on `df` to predict `target` with `fit_selected`, and report what it learned.

    Args:
        df: numeric frame, one column per series, rows in time order (as
            `explorer.data.load_csv` returns).
        target: name of the column to forecast.
        input_size: window length the model sees.
        horizon: how many future steps of `target` to predict.
        mixer: mixer flavour pooling the series tokens.
        ff_dim, dropout: FeatureMixing MLP width and the dropout rate.
        epochs: the most passes over the training windows (early stopping may end sooner).
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
    split = chronological_split(df, input_size, horizon, series.index(target))

    keras.utils.set_random_seed(seed)
    model = Forecaster(len(series), input_size, horizon, split.target_index, mixer=mixer, ff_dim=ff_dim,
                       dropout=dropout)
    model(split.x_val[:1])
    importance_initial = _mean_importance(model, split.x_val, series)
    importance_history: list[dict[str, float]] = []

    def record(epoch: int, logs: dict) -> bool | None:
        importance_history.append(_mean_importance(model, split.x_val, series))
        return on_epoch(epoch, logs) if on_epoch is not None else None

    selection = fit_selected(model, split, epochs, seed, record)
    chosen = importance_history[selection.best_epoch - 1] if selection.best_epoch else importance_initial
    return ForecastResult(
        model=model, series=series, target=target, selection=selection, rows=split.rows,
        importance=chosen, importance_initial=importance_initial, importance_history=importance_history,
        feature_impact=feature_impact(model, split.x_val), mean=split.mean, std=split.std,
    )
