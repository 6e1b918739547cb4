"""The data every page works on: which series, cut into which batch.

The home page draws the controls (`data_controls`); every page, home
included, then calls `current()` for the data in use and the batch cut from
it. A page opened directly in a fresh session has no choices yet and gets the
defaults (the first bundled sample). An uploaded file is kept, already
parsed, in the session, so it stays in use on every page until another
upload succeeds; a file the loader refuses changes nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib

import pandas as pd
import streamlit as st

from explorer.batch import Batch, make_batch
from explorer.data import SAMPLES, DataError, load_csv, load_sample, synthetic
from explorer.ui import controls, show, state

SOURCES = {"sample": "Bundled sample", "upload": "Your CSV", "synthetic": "Synthetic generator"}
DEFAULT_SAMPLE = next(iter(SAMPLES))
MIN_ROWS = 8
"""Rows a data set needs so that windows of a few steps exist."""
MAX_WINDOW = 512
MAX_BATCH = 64
MAX_SERIES = 32
DEFAULT_WINDOW = 32
DEFAULT_BATCH = 16
DEFAULT_SERIES = 7
SYNTHETIC_STEPS = 1000

# Keys of the shared settings (also their names in links).
SOURCE, SAMPLE, SYNTHETIC_SEED, SYNTHETIC_SERIES = "source", "sample", "synthetic_seed", "synthetic_series"
SERIES, WINDOW, BATCH, SEED = "series", "window", "batch", "seed"
_UPLOAD = "_kf_upload"
_UPLOAD_ERROR = "_kf_upload_error"


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A data set in use.

    Attributes:
        key: identifies the data for caches (a sample name, the generator's arguments, an upload's hash).
        label: what it is called on the pages (may be a user's file name: show it as plain text).
        frame: the series, as `explorer.data.load_csv` returns them.
    """

    key: str
    label: str
    frame: pd.DataFrame


@dataclasses.dataclass(frozen=True, eq=False)
class Current:
    """The data in use and the batch the layers see, with the seed for weights and dropout."""

    dataset: Dataset
    batch: Batch
    seed: int

    @property
    def key(self) -> str:
        """Identifies the batch for caches."""
        return f"{self.dataset.key}|{','.join(self.batch.series)}|{self.batch.shape}"


@st.cache_data(max_entries=8, show_spinner=False)
def _sample(name: str) -> pd.DataFrame:
    return load_sample(name)


@st.cache_data(max_entries=8, show_spinner=False)
def _synthetic(n_series: int, seed: int) -> pd.DataFrame:
    return synthetic(n_steps=SYNTHETIC_STEPS, n_series=n_series, seed=seed)


@st.cache_data(max_entries=32, show_spinner=False)
def _batch(dataset_key: str, series: tuple[str, ...], input_size: int, size: int, _frame: pd.DataFrame) -> Batch:
    return make_batch(_frame, list(series), input_size, size)


def data_controls() -> None:
    """The home page's data choice: a bundled sample, the generator, or an upload."""
    source = controls.select("Data", SOURCE, list(SOURCES), "sample", format_func=SOURCES.get, radio=True,
                             help="Where the series come from. Your choice stays in use on every page.")
    if source == "sample":
        name = controls.select("Sample", SAMPLE, list(SAMPLES), DEFAULT_SAMPLE,
                               help="Real multivariate series shipped with kflayers; sample_data/README.md "
                                    "gives their sources and licences.")
        st.caption(SAMPLES[name])
    elif source == "synthetic":
        left, right = st.columns(2)
        with left:
            controls.slider("Series to generate", SYNTHETIC_SERIES, 3, 12, 6, 1,
                            help="How many series the generator makes; pairs of them are driver and driven "
                                 "(at a lag), the rest are independent.")
        with right:
            controls.number("Generator seed", SYNTHETIC_SEED, 0, 2**31 - 1, 0,
                            help="The same seed gives the same series.")
    else:
        _upload_control()


def _upload_control() -> None:
    """Parse a newly uploaded file once; keep the last good one; report a bad one without dropping anything."""
    uploaded = st.file_uploader(
        "CSV file", type=["csv", "txt", "tsv"], key="upload_widget",
        help="One column per series, optionally a date/time column. Delimiter, encoding and decimal mark "
             "are detected; what had to be changed is listed below.",
    )
    if uploaded is not None and uploaded.file_id not in (_upload_id(), _error_id()):
        try:
            frame = load_csv(uploaded, name=uploaded.name)
            if len(frame) < MIN_ROWS:
                raise DataError(f"This file has {len(frame)} rows of data; the layers need at least {MIN_ROWS}, "
                                "so add rows and upload it again.")
        except DataError as problem:
            st.session_state[_UPLOAD_ERROR] = (uploaded.file_id, str(problem))
        else:
            digest = hashlib.sha256(uploaded.getvalue()).hexdigest()[:16]
            st.session_state[_UPLOAD] = (uploaded.file_id, Dataset(f"upload:{digest}", uploaded.name, frame))
            st.session_state.pop(_UPLOAD_ERROR, None)
    if uploaded is not None and uploaded.file_id == _error_id():
        show.error(st.session_state[_UPLOAD_ERROR][1])
        if _UPLOAD in st.session_state:
            st.info("Still using your previous file, " + show.plain(st.session_state[_UPLOAD][1].label) + ".")


def current() -> Current:
    """The data in use and its batch, drawing the batch controls where the caller is (main area or sidebar).

    Draws an error and stops the page when the batch cannot be made (the
    controls' ranges prevent that for every data set that loaded).
    """
    dataset = _dataset()
    frame = dataset.frame
    columns = list(frame.columns)
    series = controls.multiselect(
        "Series", SERIES, columns, columns[:DEFAULT_SERIES], max_selections=MAX_SERIES,
        help="Which series (columns) form the channels of the batch, in this order.")
    input_size = controls.slider(
        "Window length", WINDOW, 2, min(MAX_WINDOW, len(frame)), min(DEFAULT_WINDOW, len(frame) // 2), 1,
        help="Time steps per window: the layers' input_size.")
    n_windows = len(frame) - input_size + 1
    size = controls.slider(
        "Windows in the batch", BATCH, 1, min(MAX_BATCH, n_windows), DEFAULT_BATCH, 1,
        help="How many windows, spread evenly over the data, form the batch. Batch normalisation in training "
             "mode uses this batch's statistics.")
    seed = controls.number(
        "Seed", SEED, 0, 2**31 - 1, 0,
        help="Seeds the layers' initial weights and the dropout masks: the same seed shows the same numbers.")
    try:
        batch = _batch(dataset.key, tuple(series), input_size, size, frame)
    except DataError as problem:
        show.error(problem)
        st.stop()
    return Current(dataset, batch, seed)


def _dataset() -> Dataset:
    """The data set the settings point at (the chosen sample while no upload has succeeded)."""
    source = state.ensure(SOURCE, "sample", lambda v: v in SOURCES)
    state.share(SOURCE)
    if source == "upload" and _UPLOAD in st.session_state:
        return st.session_state[_UPLOAD][1]
    if source == "synthetic":
        n_series = state.ensure(SYNTHETIC_SERIES, 6, lambda v: type(v) is int and 3 <= v <= 12)
        seed = state.ensure(SYNTHETIC_SEED, 0, lambda v: type(v) is int and 0 <= v < 2**31)
        state.share(SYNTHETIC_SERIES)
        state.share(SYNTHETIC_SEED)
        return Dataset(f"synthetic:{n_series}:{seed}", f"synthetic series (seed {seed})", _synthetic(n_series, seed))
    name = state.ensure(SAMPLE, DEFAULT_SAMPLE, lambda v: v in SAMPLES)
    state.share(SAMPLE)
    return Dataset(f"sample:{name}", f"sample {name}", _sample(name))


def upload_warnings() -> list[str]:
    """What the loader changed in the uploaded data in use (empty for samples)."""
    if st.session_state.get(SOURCE) == "upload" and _UPLOAD in st.session_state:
        return st.session_state[_UPLOAD][1].frame.attrs.get("warnings", [])
    return []


def waiting_for_upload() -> bool:
    """Whether the user chose to upload but no file has loaded yet (the sample stands in)."""
    return st.session_state.get(SOURCE) == "upload" and _UPLOAD not in st.session_state


def _upload_id() -> str | None:
    return st.session_state[_UPLOAD][0] if _UPLOAD in st.session_state else None


def _error_id() -> str | None:
    return st.session_state[_UPLOAD_ERROR][0] if _UPLOAD_ERROR in st.session_state else None
