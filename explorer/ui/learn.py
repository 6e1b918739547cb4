"""Streamlit glue of the Learn page: the settings, one training run drawn live, the kept result, exports.

Training happens only when the user presses Train; the result is kept in the
session (`stored()`), so moving a slider over the results never retrains.
Importing this module does not load TensorFlow, so the page can draw its menu
and data panel first; checking settings and training do (`explorer.training`).
"""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from explorer.data import DataError
from explorer.figures import learn as figures
from explorer.ui import show

if TYPE_CHECKING:
    from explorer.training import ForecastResult

_RESULT = "_kf_learn_result"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything one training run depends on (with the data set's key and the chosen series)."""

    data_key: str
    series: tuple[str, ...]
    target: str
    input_size: int
    horizon: int
    mixer: str
    ff_dim: int
    dropout: float
    epochs: int
    seed: int

    def changes(self, newer: "Settings") -> list[str]:
        """What differs in `newer`, as "name: old → new" (a different data set counts as one change)."""
        if (self.data_key, self.series) != (newer.data_key, newer.series):
            return ["the data or its series"]
        return [f"{field.name}: {getattr(self, field.name)} → {getattr(newer, field.name)}"
                for field in dataclasses.fields(self) if getattr(self, field.name) != getattr(newer, field.name)]

    def describe(self) -> str:
        return (f"target {self.target}, window {self.input_size}, horizon {self.horizon}, {self.mixer} mixer, "
                f"ff_dim {self.ff_dim}, dropout {self.dropout:g}, up to {self.epochs} epochs, seed {self.seed}, "
                f"{len(self.series)} series")


@dataclasses.dataclass(frozen=True)
class Trained:
    """A finished run, as kept in the session."""

    settings: Settings
    data_label: str
    dependencies: list
    result: ForecastResult
    index: pd.Index
    """The data's row labels, to name the rows of each part."""


def check(frame: pd.DataFrame, settings: Settings) -> float:
    """The naive forecast's validation MSE for these settings; raises DataError when they do not fit the data.

    Cutting the windows is cheap, so the page runs this on every draw: a window
    or horizon too long for the data is reported before anyone presses Train,
    and the live loss curve can show the baseline from the first epoch.
    """
    from explorer.training import chronological_split  # loads TensorFlow

    target_index = list(settings.series).index(settings.target)
    return chronological_split(frame, settings.input_size, settings.horizon, target_index).naive_mse("validation")


def train(frame: pd.DataFrame, settings: Settings, baseline_mse: float, data_label: str,
          dependencies: list) -> Trained | None:
    """Train with a progress bar and a live loss curve; keep and return the result (None after an error)."""
    from explorer.training import fit_forecaster  # loads TensorFlow

    progress = st.progress(0.0, text="Starting: building the model and compiling the training step…")
    live = st.empty()
    history: dict[str, list[float]] = {"loss": [], "val_loss": []}

    def on_epoch(epoch: int, logs: dict) -> None:
        history["loss"].append(float(logs["loss"]))
        history["val_loss"].append(float(logs["val_loss"]))
        progress.progress((epoch + 1) / settings.epochs,
                          text=f"Training: epoch {epoch + 1} of {settings.epochs}, "
                               f"validation loss {logs['val_loss']:.4g}")
        with live.container():
            show.chart(figures.loss_curve(history, baseline_mse, settings.epochs), key=f"learn_live_loss_{epoch}")

    try:
        result = fit_forecaster(
            frame, settings.target, settings.input_size, horizon=settings.horizon, mixer=settings.mixer,
            ff_dim=settings.ff_dim, dropout=settings.dropout, epochs=settings.epochs, seed=settings.seed,
            on_epoch=on_epoch)
    except (DataError, ValueError) as problem:
        progress.empty()
        live.empty()
        show.error(problem)
        return None
    trained = Trained(settings, data_label, dependencies, result, frame.index)
    st.session_state[_RESULT] = trained
    return trained


def stored() -> Trained | None:
    """The last finished run of this session, if any."""
    return st.session_state.get(_RESULT)


def model_bytes(result: ForecastResult) -> bytes:
    """The trained model as a .keras file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "forecaster.keras"
        result.model.save(path)
        return path.read_bytes()


def scaling_json(trained: Trained) -> str:
    """What the saved model needs besides its weights: input order, window, and the z-scoring of each series."""
    result, settings = trained.result, trained.settings
    return json.dumps({
        "series": result.series,
        "target": result.target,
        "input_size": settings.input_size,
        "horizon": settings.horizon,
        "mean": [float(v) for v in result.mean],
        "std": [float(v) for v in result.std],
        "note": "Feed windows of shape (batch, input_size, len(series)) with each series scaled as "
                "(value - mean) / std, as in training; the model returns the target's next horizon values on "
                "the same scale (multiply by the target's std and add its mean). The model also scales each "
                "window by its own statistics, so windows in the data's own units give forecasts in those "
                "units, equal up to rounding.",
    }, indent=2)


def file_stem(target: str) -> str:
    """A safe file name part for a (possibly user-made) series name."""
    return "forecaster_" + (re.sub(r"[^A-Za-z0-9_.-]+", "_", target).strip("._") or "target")
