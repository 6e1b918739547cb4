"""Trained weights for the layer pages: each page's layer, trained for a next-step forecast on the current data.

A layer page shows a freshly initialised layer by default. Its trained twin is
the same layer (same config, same seed, so it starts from the very weights
the fresh view shows) trained inside a small standard model:

    window (time, series) -> normalised by its own statistics (reversible instance normalisation)
        -> the page's input transform (e.g. the two representations the fusion page blends)
        -> the page's layer
        -> one Dense layer on the flattened output, initialised at zero, predicting each series' change
        -> added to the window's last value, and the window's statistics restored.

The untrained model is therefore the naive last-value forecast, and every
gain over it is earned. Training uses a chronological split: the model is
fitted on the first part, its epoch is chosen on the next (validation) part,
and it is judged against the naive forecast on the last (test) part, which
no choice saw.

Nothing here imports Streamlit: `TrainingJobs` runs trainings on a worker
thread and keeps their results, so the app can show progress, answer the rest
of the page first, and share one finished result between sessions.
"""

from __future__ import annotations

import concurrent.futures
import math
import dataclasses
import threading
from collections import OrderedDict
from typing import Any, Callable

import keras
import numpy as np

from explorer import compute
from explorer.data import DataError
from explorer.training import chronological_split, fit_selected
from explorer.uncertainty import NaiveComparison
from kflayers.layers.instance_norm import ReversibleInstanceNorm


class TrainingFailed(DataError):
    """Training could not give a usable result; the message is one sentence for the user."""


@dataclasses.dataclass(frozen=True)
class TrainedLayer:
    """A trained copy of a page's layer, with how its model did.

    Attributes:
        layer: the trained layer (shared by every session: nothing may change it).
        model: one sentence on the model the layer was trained in.
        test_mse, naive_mse: next-step MSE of the model and of the naive last-value forecast on the test
            part, in the units of the z-scored series.
        comparison: their ratio with its block-bootstrap interval over the test windows.
        epochs: epochs run; best_epoch: the epoch whose weights were kept (chosen on validation, at least 1).
        parts: one sentence on which rows trained, validated and tested the model.
    """

    layer: Any
    model: str
    test_mse: float
    naive_mse: float
    comparison: NaiveComparison
    epochs: int
    best_epoch: int
    parts: str

    @property
    def beats_naive(self) -> bool:
        """Whether the whole interval of the model/naive error ratio lies below 1."""
        return self.comparison.outcome == "better"

    def verdict(self) -> str:
        numbers = f"MSE {self.test_mse:.4f} against {self.naive_mse:.4f}"
        if self.naive_mse <= 0:
            return (f"The naive forecast is exact on the test part ({numbers}), so there is nothing to beat; the "
                    "weights shown are still what training found.")
        said = f"On the test part the trained model's next-step error is {self.comparison.sentence()} ({numbers})"
        if self.beats_naive:
            return f"{said}. It learned something beyond repeating the last value."
        return (f"{said}. The weights shown are still what training found; a longer window or other series may give "
                "it more to learn from.")


class NextStepModel(keras.Model):
    """The standard model around a page's layer: forecasts every series' next value as a change from the last.

    Args:
        layer: the page's layer (trained in place).
        transform: turns normalised (batch, time, series) windows into the layer's inputs with keras ops,
            exactly as the page does with its batch.
        n_series: number of series.
    """

    def __init__(self, layer, transform: Callable, n_series: int, **kwargs):
        super().__init__(**kwargs)
        self.norm = ReversibleInstanceNorm(name="instance_norm")
        self.body = layer
        self.transform = transform
        self.head = keras.layers.Dense(n_series, kernel_initializer="zeros", name="head")

    def call(self, windows, training=None):
        normalized, mean, std = self.norm(windows)
        features = self.body(self.transform(normalized), training=training)
        change = self.head(keras.ops.reshape(features, (-1, math.prod(features.shape[1:]))))
        forecast = normalized[:, -1:, :] + change[:, None, :]
        return self.norm.restore(forecast, mean, std)


EPOCHS = 30


def normalize_windows(windows: np.ndarray) -> np.ndarray:
    """Windows normalised by their own statistics, exactly as `NextStepModel` does before its layer."""
    return keras.ops.convert_to_numpy(ReversibleInstanceNorm()(keras.ops.convert_to_tensor(windows))[0])


def train_layer(class_name: str, config: dict[str, Any], input_shape, seed: int, values: np.ndarray,
                input_size: int, transform: Callable, labels=None,
                on_progress: Callable[[float, str], None] | None = None) -> TrainedLayer:
    """Train the page's layer for a next-step forecast of every series of `values`.

    Args:
        class_name, config, input_shape, seed: the page's layer, as `compute.build_layer` takes them; the
            training starts from exactly the fresh weights the page shows.
        values: (rows, series) float array of the series, rows in time order.
        input_size: the window length the page uses.
        transform: normalised windows -> the layer's inputs, in keras ops (see `NextStepModel`).
        labels: the data's index labels per row (to say which dates each part covers), or None.
        on_progress: called as on_progress(fraction done, message) after every epoch.

    Raises:
        TrainingFailed: too few rows for the window and the split, or the loss diverged (one sentence).
    """
    try:
        split = chronological_split(values, input_size)
    except DataError as problem:
        raise TrainingFailed(str(problem)) from problem
    layer = compute.build_layer(class_name, config, input_shape, seed)
    model = NextStepModel(layer, transform, values.shape[1], name="next_step_model")

    def report(epoch: int, logs: dict) -> None:
        if on_progress is not None:
            on_progress((epoch + 1) / EPOCHS, f"Epoch {epoch + 1} of at most {EPOCHS}: validation loss "
                                              f"{logs['val_loss']:.4f}.")

    selection = fit_selected(model, split, EPOCHS, seed, on_epoch=report, untrained_counts=False)
    if selection.stop == "diverged":
        raise TrainingFailed(selection.message + " The page stays on fresh weights.")
    return TrainedLayer(
        layer=layer,
        model=(f"{class_name} inside a next-step forecaster: each window normalised by its own mean and spread, "
               f"then {class_name}, then one Dense layer (started at zero, so the untrained model repeats the last "
               "value) predicting every series' change."),
        test_mse=selection.test_mse, naive_mse=selection.naive_test_mse, comparison=selection.comparison,
        epochs=len(selection.history["loss"]), best_epoch=selection.best_epoch,
        parts=_parts(split.rows, labels),
    )


def _parts(rows: dict[str, range], labels) -> str:
    def span(part):
        first, last = rows[part][0], rows[part][-1]
        return f"{labels[first]} to {labels[last]}" if labels is not None else f"rows {first} to {last}"

    return (f"Trained on {span('train')}, epoch chosen on {span('validation')}, judged on {span('test')}, "
            "which no choice saw.")


class TrainingJob:
    """One training, running or done. `progress` is in [0, 1]; `error` is one sentence when it failed."""

    def __init__(self):
        self.future: concurrent.futures.Future | None = None
        self.progress = 0.0
        self.message = "Waiting for the trainer…"

    def report(self, fraction: float, message: str) -> None:
        """What the training calls after every epoch."""
        self.progress, self.message = fraction, message

    @property
    def done(self) -> bool:
        return self.future.done()

    @property
    def error(self) -> str | None:
        if not self.future.done():
            return None
        failure = self.future.exception()
        if failure is None:
            return None
        if isinstance(failure, TrainingFailed):
            return str(failure)
        return f"Training stopped with an unexpected error ({type(failure).__name__}: {failure})."

    @property
    def result(self) -> TrainedLayer:
        return self.future.result()


class TrainingJobs:
    """Trainings keyed by what decides them, run one at a time on a worker thread, results kept for everyone.

    A page asks `start(key, train)`: the first request starts the training,
    later ones (from any session) get the same job. A finished result is
    never changed. Only the most recent `max_entries` jobs are kept.
    """

    def __init__(self, max_entries: int = 16):
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="kflayers-train")
        self._jobs: OrderedDict[Any, TrainingJob] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries

    def wait_all(self) -> None:
        """Return once every training started so far has ended (the tests wait between tests)."""
        with self._lock:
            futures = [job.future for job in self._jobs.values()]
        concurrent.futures.wait(futures)

    def get(self, key) -> TrainingJob | None:
        with self._lock:
            return self._jobs.get(key)

    def start(self, key, train: Callable[[Callable[[float, str], None]], TrainedLayer]) -> TrainingJob:
        with self._lock:
            job = self._jobs.get(key)
            if job is not None:  # running, done or failed: a failed training would fail the same way again
                self._jobs.move_to_end(key)
                return job
            job = TrainingJob()
            job.future = self._executor.submit(train, job.report)
            self._jobs[key] = job
            while len(self._jobs) > self._max_entries:
                self._jobs.popitem(last=False)
            return job
