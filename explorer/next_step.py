"""The next-step training recipe of the layer pages: window normalisation, a chronological split, honest selection.

- `instance_normalize`: every window scaled by its own per-series mean and spread (reversible: the
  statistics are returned, so a forecast made in normalised units can be put back).
- `next_step_split`: windows and their next values, cut in time order into train, validation and test parts.
- `fit_selected`: fit on train, keep the epoch that does best on validation (stopping early), judge on test
  against the naive last-value forecast; a diverging loss stops at once with one sentence.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import keras
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from explorer.data import DataError

VALIDATION_SHARE = 0.15
TEST_SHARE = 0.15
MIN_WINDOWS = (24, 8, 8)
"""Fewest windows in each part (train, validation, test) for the numbers to mean anything."""
EPSILON = 1e-5


class TrainingFailed(DataError):
    """Training could not give a usable result; the message is one sentence for the user."""


def instance_normalize(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(normalised windows, mean, std): each window's series scaled by its own statistics over time.

    `mean` and `std` have shape (batch, 1, series), so `normalised * std + mean` gives the windows back.
    A series that is constant within a window gets std 1 (its normalised values are zeros).
    """
    windows = np.asarray(windows, dtype=np.float32)
    mean = windows.mean(axis=1, keepdims=True)
    std = windows.std(axis=1, keepdims=True)
    std = np.where(std > EPSILON, std, 1.0).astype(np.float32)
    return (windows - mean) / std, mean, std


@dataclasses.dataclass(frozen=True)
class NextStepSplit:
    """Windows (batch, time, series) and next values (batch, series) of the three parts, in time order.

    `rows` gives, per part, the first and last row whose value is a target of that part; every target of
    the validation part lies after every training target, and every test target after every validation one.
    """

    train: tuple[np.ndarray, np.ndarray]
    validation: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    rows: dict[str, tuple[int, int]]

    def describe(self, labels=None) -> str:
        def span(part):
            first, last = self.rows[part]
            if labels is not None:
                return f"{labels[first]} to {labels[last]}"
            return f"rows {first}-{last}"

        return (f"Trained on targets in {span('train')}, epoch chosen on {span('validation')}, "
                f"judged on {span('test')}, which no choice saw.")


def minimum_rows(input_size: int) -> int:
    """Rows needed for windows of `input_size` and the three parts of `next_step_split`."""
    per_part = [math.ceil(n / share) for n, share in zip(
        MIN_WINDOWS, (1 - VALIDATION_SHARE - TEST_SHARE, VALIDATION_SHARE, TEST_SHARE))]
    return input_size + max(per_part)


def next_step_split(values: np.ndarray, input_size: int) -> NextStepSplit:
    """Every window of `input_size` rows with the row after it as target, split chronologically.

    Raises:
        TrainingFailed: too few rows (the message says how many are needed).
    """
    values = np.asarray(values, dtype=np.float32)
    needed = minimum_rows(input_size)
    if len(values) < needed:
        raise TrainingFailed(
            f"Training with a window of {input_size} needs at least {needed} rows of data (train, validation "
            f"and test windows); the data has {len(values)}. Use a shorter window or more data.")
    windows = sliding_window_view(values[:-1], input_size, axis=0).transpose(0, 2, 1)
    targets = values[input_size:]
    count = len(targets)
    test_start = count - max(MIN_WINDOWS[2], round(count * TEST_SHARE))
    validation_start = test_start - max(MIN_WINDOWS[1], round(count * VALIDATION_SHARE))

    def part(start, stop):
        return np.ascontiguousarray(windows[start:stop]), np.ascontiguousarray(targets[start:stop])

    return NextStepSplit(
        train=part(0, validation_start),
        validation=part(validation_start, test_start),
        test=part(test_start, count),
        rows={"train": (input_size, input_size + validation_start - 1),
              "validation": (input_size + validation_start, input_size + test_start - 1),
              "test": (input_size + test_start, input_size + count - 1)},
    )


@dataclasses.dataclass(frozen=True)
class FitResult:
    test_mse: float
    naive_mse: float
    epochs: int
    best_epoch: int
    history: dict[str, list[float]]


def fit_selected(model: keras.Model, split: NextStepSplit, model_inputs: Callable[[np.ndarray], tuple[Any, Any, Any]],
                 epochs: int, patience: int, learning_rate: float, batch_size: int, seed: int,
                 on_progress: Callable[[float, str], None] | None = None) -> FitResult:
    """Fit `model` on the training part, keep its best validation epoch, and judge it on the test part.

    Args:
        model: maps model inputs to next values in normalised units (each window's own statistics).
        model_inputs: windows -> (model inputs, mean, std), where mean and std ((batch, series)) put a
            normalised forecast back into the data's units.
        on_progress: called as on_progress(fraction done, message) after every epoch.

    Raises:
        TrainingFailed: the loss became NaN or infinite.
    """
    prepared = {name: _prepare(getattr(split, name), model_inputs) for name in ("train", "validation", "test")}
    inputs, target, _, _ = prepared["train"]
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    order = np.random.default_rng(seed)
    best_loss, best_weights, best_epoch, stale = math.inf, model.get_weights(), 0, 0
    history: dict[str, list[float]] = {"loss": [], "val_loss": []}
    for epoch in range(1, epochs + 1):
        shuffled = order.permutation(len(target))
        losses = [model.train_on_batch(_take(inputs, rows), target[rows])
                  for rows in np.array_split(shuffled, max(1, math.ceil(len(target) / batch_size)))]
        loss = float(np.mean(losses))
        val_loss = _mse(model, prepared["validation"], normalized=True)
        if not (math.isfinite(loss) and math.isfinite(val_loss)):
            model.set_weights(best_weights)
            raise TrainingFailed(
                f"Training diverged at epoch {epoch} (the loss became {loss if not math.isfinite(loss) else val_loss}); "
                "the page stays on fresh weights. Try other settings or data.")
        history["loss"].append(loss)
        history["val_loss"].append(val_loss)
        if val_loss < best_loss:
            best_loss, best_weights, best_epoch, stale = val_loss, model.get_weights(), epoch, 0
        else:
            stale += 1
        if on_progress is not None:
            on_progress(epoch / epochs, f"Epoch {epoch} of at most {epochs}: validation loss {val_loss:.4f}")
        if stale >= patience:
            break
    model.set_weights(best_weights)
    if on_progress is not None:
        on_progress(1.0, f"Done: kept epoch {best_epoch} of {len(history['loss'])}.")
    return FitResult(test_mse=_mse(model, prepared["test"], normalized=False),
                     naive_mse=_naive_mse(split.test), epochs=len(history["loss"]), best_epoch=best_epoch,
                     history=history)


def _prepare(part, model_inputs):
    windows, targets = part
    inputs, mean, std = model_inputs(windows)
    return inputs, (targets - mean) / std, mean, std


def _take(inputs, rows):
    return keras.tree.map_structure(lambda array: array[rows], inputs)


def _mse(model, prepared, normalized: bool) -> float:
    inputs, target, mean, std = prepared
    predicted = keras.ops.convert_to_numpy(model(inputs, training=False))
    if normalized:
        return float(np.mean((predicted - target) ** 2))
    return float(np.mean(((predicted - target) * std) ** 2))


def _naive_mse(part) -> float:
    windows, targets = part
    return float(np.mean((windows[:, -1, :] - targets) ** 2))
