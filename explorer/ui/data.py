"""The data every page works on: which series, cut into which batch.

The home page draws the controls (`data_controls`); every page, home
included, then calls `current()` for the data in use and the batch cut from
it. A page opened directly in a fresh session has no choices yet and gets the
defaults (the first bundled sample). An uploaded file is kept, already
parsed, in the session, so it stays in use on every page until another
upload succeeds; a file the loader refuses changes nothing.

A CSV (sample or upload) is read first with the time column the loader finds;
the time column setting can then name another column, or none. It belongs to
the data it was made for: new data starts again from its own detected column.
A column that cannot be the time index is explained and the data stays as
first read.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Callable

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
TIME_COLUMN = "time_column"
SERIES, WINDOW, BATCH, SEED = "series", "window", "batch", "seed"
NO_TIME_COLUMN = ""
"""The time column setting's value for none (no column name is empty)."""
_UPLOAD = "_kf_upload"
_UPLOAD_ERROR = "_kf_upload_error"
_UPLOAD_TIME = "_kf_upload_time"  # the upload read with a chosen time column: (data key, choice, frame or refusal)
_TIME_FOR = "_kf_time_column_for"  # key of the data the time column setting was made for


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

    @property
    def notes(self) -> list[str]:
        """What the loader changed in the data (empty for generated data)."""
        return self.frame.attrs.get("warnings", [])


@dataclasses.dataclass(frozen=True, eq=False)
class _Upload:
    """An uploaded file that loaded: its bytes (to read again with another time column) and the data read."""

    file_id: str
    raw: bytes
    dataset: Dataset


@dataclasses.dataclass(frozen=True, eq=False)
class _InUse:
    """The data in use; for a CSV also the data as first read and why a chosen time column was not used."""

    dataset: Dataset
    first_read: Dataset | None = None
    refusal: str | None = None


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
def _sample_with_time_column(name: str, time_column: str | None) -> pd.DataFrame:
    return load_sample(name, time_column=time_column)


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
    in_use = _in_use()
    if in_use.first_read is not None:
        _time_column_control(in_use)


def _time_column_control(in_use: _InUse) -> None:
    """Which column is the time index, or none; a column that cannot be one is explained."""
    first_read = in_use.first_read.frame
    detected = _time_choice_of(first_read)

    def label(column: str) -> str:
        if column == NO_TIME_COLUMN:
            return "none: number the rows"
        return f"{column} (detected)" if column == detected else column

    controls.select(
        "Time column", TIME_COLUMN, [NO_TIME_COLUMN, *first_read.attrs["file_columns"]], detected,
        format_func=label,
        help="The column that says when each row was measured: it becomes the time axis instead of a series. "
             "The loader picks one when it finds dates, years (with a quarter or month column beside them) or "
             "YYYYMMDD numbers; choose none to keep every number column as a series.")
    if in_use.refusal:
        show.error(in_use.refusal)
        kept = f'with "{detected}" as the time column' if detected else "with no time column"
        st.info(show.plain(f"The data stays as first read, {kept}."))


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
            raw = uploaded.getvalue()
            digest = hashlib.sha256(raw).hexdigest()[:16]
            dataset = Dataset(f"upload:{digest}", uploaded.name, frame)
            st.session_state[_UPLOAD] = _Upload(uploaded.file_id, raw, dataset)
            st.session_state.pop(_UPLOAD_ERROR, None)
    if uploaded is not None and uploaded.file_id == _error_id():
        show.error(st.session_state[_UPLOAD_ERROR][1])
        if _UPLOAD in st.session_state:
            st.info("Still using your previous file, " + show.plain(st.session_state[_UPLOAD].dataset.label) + ".")


def current() -> Current:
    """The data in use and its batch, drawing the batch controls where the caller is (main area or sidebar).

    Draws an error and stops the page when the batch cannot be made (the
    controls' ranges prevent that for every data set that loaded).
    """
    dataset = _in_use().dataset
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


def _in_use() -> _InUse:
    """The data set the settings point at (the chosen sample while no upload has succeeded)."""
    source = state.ensure(SOURCE, "sample", lambda v: v in SOURCES)
    state.share(SOURCE)
    if source == "upload" and _UPLOAD in st.session_state:
        upload = st.session_state[_UPLOAD]
        return _with_time_column(upload.dataset, lambda choice: _upload_with_time_column(upload, choice))
    if source == "synthetic":
        n_series = state.ensure(SYNTHETIC_SERIES, 6, lambda v: type(v) is int and 3 <= v <= 12)
        seed = state.ensure(SYNTHETIC_SEED, 0, lambda v: type(v) is int and 0 <= v < 2**31)
        state.share(SYNTHETIC_SERIES)
        state.share(SYNTHETIC_SEED)
        return _InUse(Dataset(f"synthetic:{n_series}:{seed}", f"synthetic series (seed {seed})",
                              _synthetic(n_series, seed)))
    name = state.ensure(SAMPLE, DEFAULT_SAMPLE, lambda v: v in SAMPLES)
    state.share(SAMPLE)
    first_read = Dataset(f"sample:{name}", f"sample {name}", _sample(name))
    if source == "upload":  # the sample only stands in until a file loads: its time column is not the file's
        return _InUse(first_read)
    return _with_time_column(first_read, lambda choice: _sample_with_time_column(name, choice))


def _with_time_column(first_read: Dataset, read: Callable[[str | None], pd.DataFrame]) -> _InUse:
    """`first_read` read again with the chosen time column (`read` does it), or as it is when that fails."""
    choice = _time_column_setting(first_read)
    if choice == _time_choice_of(first_read.frame):
        return _InUse(first_read, first_read)
    try:
        frame = read(choice or None)
    except DataError as problem:
        return _InUse(first_read, first_read, str(problem))
    if len(frame) < MIN_ROWS:
        return _InUse(first_read, first_read, f'With "{choice}" as the time column the data has {len(frame)} rows; '
                                              f"the layers need at least {MIN_ROWS}, so choose another.")
    return _InUse(Dataset(f"{first_read.key}|time:{choice}", first_read.label, frame), first_read)


def _time_column_setting(first_read: Dataset) -> str:
    """The time column setting for this data: the link's or the session's, else the column the loader found."""
    if st.session_state.get(_TIME_FOR, first_read.key) != first_read.key:
        # New data: the choice made for the last one does not carry over, in the session or the link.
        st.session_state.pop(TIME_COLUMN, None)
        if TIME_COLUMN in st.query_params:
            del st.query_params[TIME_COLUMN]
    st.session_state[_TIME_FOR] = first_read.key
    columns = first_read.frame.attrs["file_columns"]
    choice = state.ensure(TIME_COLUMN, _time_choice_of(first_read.frame),
                          lambda v: v == NO_TIME_COLUMN or v in columns)
    state.share(TIME_COLUMN)
    return choice


def _time_choice_of(frame: pd.DataFrame) -> str:
    """The time column setting that gives `frame`."""
    return frame.attrs["time_column"] or NO_TIME_COLUMN


def _upload_with_time_column(upload: _Upload, choice: str | None) -> pd.DataFrame:
    """The upload read again with another time column, kept for the next runs (a refusal too)."""
    memo = st.session_state.get(_UPLOAD_TIME)
    if memo is None or memo[:2] != (upload.dataset.key, choice):
        try:
            result = load_csv(upload.raw, name=upload.dataset.label, time_column=choice)
        except DataError as problem:
            result = str(problem)
        st.session_state[_UPLOAD_TIME] = memo = (upload.dataset.key, choice, result)
    if isinstance(memo[2], str):
        raise DataError(memo[2])
    return memo[2]


def waiting_for_upload() -> bool:
    """Whether the user chose to upload but no file has loaded yet (the sample stands in)."""
    return st.session_state.get(SOURCE) == "upload" and _UPLOAD not in st.session_state


def _upload_id() -> str | None:
    return st.session_state[_UPLOAD].file_id if _UPLOAD in st.session_state else None


def _error_id() -> str | None:
    return st.session_state[_UPLOAD_ERROR][0] if _UPLOAD_ERROR in st.session_state else None
