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
import dataclasses
import threading
from collections import OrderedDict
from typing import Any, Callable

import keras
import numpy as np

from explorer import compute
from explorer.next_step import TrainingFailed, fit_selected, instance_normalize, next_step_split


@dataclasses.dataclass(frozen=True)
class TrainedLayer:
    """A trained copy of a page's layer, with how its model did.

    Attributes:
        layer: the trained layer (shared by every session: nothing may change it).
        model: one sentence on the model the layer was trained in.
        test_mse, naive_mse: next-step MSE of the model and of the naive last-value forecast on the test
            part, in the units of the z-scored series.
        epochs: epochs run; best_epoch: the epoch whose weights were kept (chosen on validation).
        parts: one sentence on which rows trained, validated and tested the model.
    """

    layer: Any
    model: str
    test_mse: float
    naive_mse: float
    epochs: int
    best_epoch: int
    parts: str

    @property
    def beats_naive(self) -> bool:
        return self.test_mse < self.naive_mse

    def verdict(self) -> str:
        ratio = self.test_mse / self.naive_mse if self.naive_mse > 0 else float("inf")
        if self.beats_naive:
            return (f"On the test part the trained model's next-step error is {ratio:.2f}x the naive forecast's "
                    f"(MSE {self.test_mse:.4f} against {self.naive_mse:.4f}): it learned something beyond "
                    "repeating the last value.")
        return (f"On the test part the trained model does not beat the naive forecast: its error is {ratio:.2f}x "
                f"the naive one's (MSE {self.test_mse:.4f} against {self.naive_mse:.4f}). The weights shown are "
                "still what training found; a longer window or other series may give it more to learn from.")


class NextStepModel(keras.Model):
    """The standard model around a page's layer: predicts each series' next value as a change from the last."""

    def __init__(self, layer, n_series: int, **kwargs):
        super().__init__(**kwargs)
        self.body = layer
        self.head = keras.layers.Dense(n_series, kernel_initializer="zeros", name="head")

    def call(self, inputs, training=None):
        layer_inputs, last_value = inputs
        features = self.body(layer_inputs, training=training)
        flat = keras.ops.reshape(features, (keras.ops.shape(features)[0], -1))
        return last_value + self.head(flat)


# Short, fixed budgets: a page's training should take seconds, not minutes, on two cores.
EPOCHS = 30
PATIENCE = 5
LEARNING_RATE = 3e-3
BATCH_SIZE = 32


def train_layer(class_name: str, config: dict[str, Any], input_shape, seed: int, values: np.ndarray,
                input_size: int, transform: Callable[[np.ndarray], Any],
                on_progress: Callable[[float, str], None] | None = None) -> TrainedLayer:
    """Train the page's layer for a next-step forecast of every series of `values`.

    Args:
        class_name, config, input_shape, seed: the page's layer, as `compute.build_layer` takes them.
        values: (rows, series) float array of the z-scored series, rows in time order.
        input_size: the window length the page uses.
        transform: turns normalised (batch, time, series) windows into the layer's inputs, exactly as
            the page does with its batch.
        on_progress: called as on_progress(fraction done, message) after every epoch.

    Raises:
        TrainingFailed: too few rows for the window and the split, or the loss diverged (one sentence).
    """
    split = next_step_split(values, input_size)
    layer = compute.build_layer(class_name, config, input_shape, seed)
    model = NextStepModel(layer, values.shape[1], name="next_step_model")

    def model_inputs(windows):
        normalized, mean, std = instance_normalize(windows)
        return (transform(normalized), normalized[:, -1, :]), mean[:, 0, :], std[:, 0, :]

    result = fit_selected(
        model, split, model_inputs, epochs=EPOCHS, patience=PATIENCE,
        learning_rate=LEARNING_RATE, batch_size=BATCH_SIZE, seed=seed, on_progress=on_progress,
    )
    return TrainedLayer(
        layer=layer,
        model=(f"{class_name} inside a next-step forecaster: each window normalised by its own mean and spread, "
               f"then {class_name}, then one Dense layer (started at zero) predicting every series' change from "
               "its last value."),
        test_mse=result.test_mse, naive_mse=result.naive_mse, epochs=result.epochs, best_epoch=result.best_epoch,
        parts=split.describe(),
    )


@dataclasses.dataclass
class TrainingJob:
    """One training, running or done. `progress` is in [0, 1]; `error` is one sentence when it failed."""

    future: concurrent.futures.Future
    progress: float = 0.0
    message: str = "Waiting for the trainer…"

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

    def get(self, key) -> TrainingJob | None:
        with self._lock:
            return self._jobs.get(key)

    def start(self, key, train: Callable[[Callable[[float, str], None]], TrainedLayer]) -> TrainingJob:
        with self._lock:
            job = self._jobs.get(key)
            if job is not None:  # running, done or failed: a failed training would fail the same way again
                self._jobs.move_to_end(key)
                return job
            holder: dict[str, TrainingJob] = {}

            def report(fraction: float, message: str) -> None:
                holder["job"].progress, holder["job"].message = fraction, message

            def run():
                return train(report)

            job = TrainingJob(future=concurrent.futures.Future())
            holder["job"] = job
            job.future = self._executor.submit(run)
            self._jobs[key] = job
            while len(self._jobs) > self._max_entries:
                self._jobs.popitem(last=False)
            return job
