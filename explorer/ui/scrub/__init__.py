"""Streamlit glue of the scrub control: a range input and the views it changes, redrawn in the browser.

`value()` gives the control's value before the page builds its layer (from the session, else the link,
else the default; a value out of range falls back as the sliders' do); `show()` draws the component with
the frames ready so far (see `explorer.scrub`) and, while the rest of the range is filled in the
background, redraws itself every fraction of a second with what is ready.

Each payload carries only the frames this session has not sent yet, with the list of those it sent before
(`held`). The browser keeps a range's frames for the page's lifetime, whatever remounts the component (a
component mounting gets only the newest data, its script loading asynchronously); should it miss some it was
sent, it names them (trigger `resend`) and the next run sends those again. On release the browser hands the
value back (`setStateValue`); a callback writes it into the session before the page runs again, and the
link follows. A component that cannot be drawn, on the server or in the browser (its script reports a failure
with the trigger `failed`), falls back to the plain slider with one sentence, for the rest of the session.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Sequence

import streamlit as st

from explorer import scrub as frames
from explorer.ui import state
from explorer.ui.show import plain

_FOLDER = Path(__file__).parent
FILL_SECONDS = 0.4
"""How often a page whose range is still being filled is sent the frames ready so far."""


@functools.cache
def _component():
    return st.components.v2.component(
        "kflayers_scrub", css=(_FOLDER / "scrub.css").read_text(), js=(_FOLDER / "scrub.js").read_text())


@functools.cache
def _colours() -> dict[str, list[str]]:
    return {"diverging": frames.colour_table(), "sequential": frames.colour_table((0.0, 1.0))}


def label(value: Any) -> str:
    """How a value is named in the browser: in frames, in the value label and in `data-shown-value`."""
    return str(value)


def value(key: str, values: Sequence, default: Any) -> Any:
    """The control's value for this run; one from a link that is not among `values` falls back to `default`."""
    values = list(values)
    state.ensure(key, default, lambda v: type(v) is type(default) and v in values)
    state.share(key)
    return st.session_state[key]


def _reported(component_key: str, name: str) -> Any:
    """What the browser last reported as state or trigger `name` of the component, or None."""
    shown = st.session_state.get(component_key)
    return shown.get(name) if hasattr(shown, "get") else None


def _released(key: str, component_key: str, values: tuple) -> None:
    """The browser let go of the control: its value becomes the setting (before the page runs again)."""
    released = _reported(component_key, "value")
    by_label = {label(v): v for v in values}
    if released in by_label:
        st.session_state[key] = by_label[released]
        st.session_state[f"_kf_released_{key}"] = True


def _failed_key(key: str) -> str:
    return f"_kf_scrub_failed_{key}"


def _failed(key: str, component_key: str) -> None:
    """The component failed in the browser (its script reported why): the plain control stands in from now on."""
    reason = _reported(component_key, "failed")
    st.session_state[_failed_key(key)] = f"the browser reported {reason}" if reason else "in the browser"


def _sent_key(key: str) -> str:
    return f"_kf_sent_{key}"


def _resend(key: str, component_key: str) -> None:
    """The browser misses frames it was sent (a payload it never saw): the next run sends those again."""
    asked = _reported(component_key, "resend")
    missing = asked.get("missing") if isinstance(asked, dict) else None
    sent_range, sent = st.session_state.get(_sent_key(key), (None, frozenset()))
    if isinstance(missing, list):
        st.session_state[_sent_key(key)] = (sent_range, sent - {str(value) for value in missing})
    else:
        st.session_state.pop(_sent_key(key), None)


def payload(control: str, values: Sequence, current: Any, range_key: tuple, ready: dict, views: dict,
            error: str | None = None, held: Sequence = ()) -> dict:
    """What the browser receives: the range, the value Python holds, frames (those it does not have yet), how to
    draw them.

    Args:
        ready: the frames to send, {value: frame}.
        views: what the component draws besides the input ("stages", "picture", "band"; see `scrub.js`).
        held: the labels of the frames sent before, which the browser should hold.
    """
    thumbnails: dict[str, int] = {}
    shared = {label(v): _shared_thumbnails(frame, thumbnails) for v, frame in ready.items()}
    values = list(values)
    return {"control": control, "labels": [label(v) for v in values], "value": label(current),
            "range_id": hashlib.sha1(repr(range_key).encode()).hexdigest()[:16],
            "frames": shared, "held": list(held), "thumbnails": [json.loads(text) for text in thumbnails], "colours": _colours(),
            "numeric": _numeric(values), "error": error, **views}


def _numeric(values: Sequence) -> list | None:
    """[first, last, step] of evenly spaced numbers (the input then holds the value itself), else None."""
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) or len(values) < 2:
        return None
    step = values[1] - values[0]
    if step <= 0 or any(abs(b - a - step) > 1e-9 for a, b in zip(values, values[1:])):
        return None
    return [values[0], values[-1], step]


def _shared_thumbnails(frame: dict, thumbnails: dict[str, int]) -> dict:
    """The frame with each box's thumbnail replaced by its index in `thumbnails`, where every distinct
    thumbnail is sent once (the stages before the scrubbed one are the same for every value)."""
    if "boxes" not in frame:
        return frame
    boxes = []
    for box in frame["boxes"]:
        box = dict(box)
        if box["thumbnail"] is not None:
            box["thumbnail"] = thumbnails.setdefault(json.dumps(box["thumbnail"], sort_keys=True), len(thumbnails))
        boxes.append(box)
    return {**frame, "boxes": boxes}


def show(control: str, key: str, values: Sequence, current: Any, range_key: tuple,
         compute_frame: Callable[[Any], dict], current_frame: dict, views: dict, fallback: Callable[[], Any]) -> None:
    """The scrub component, filled in behind: the current frame at once, the rest of the range as it is ready.

    Args:
        control: the control's name (its label and `data-control`).
        key: the setting it changes.
        values: the control's values, in order.
        current: the value this run was drawn for; `current_frame` is its frame.
        range_key: everything but the control that decides the frames (the cache key, shared by sessions).
        compute_frame: value -> frame, run on the background worker (no Streamlit calls in it).
        fallback: draws the plain slider, should the component fail, and returns its value.
    """
    values = tuple(values)
    if st.session_state.get(_failed_key(key)):
        _fall_back(control, current, fallback, st.session_state[_failed_key(key)])
        return
    ready = frames.FILLS.request(range_key, values, current, compute_frame, current_frame)
    # The whole page follows a release: a fragment run after this one need not ask for it again.
    st.session_state.pop(f"_kf_released_{key}", None)
    arguments = (control, key, values, current, range_key, compute_frame, views, fallback)
    if len(ready) < len(values) and frames.FILLS.status(range_key)[2] is None:
        _filling(*arguments)
    else:
        # A fragment too, without the timer: drawn from the same place, the browser keeps the component mounted.
        _filled(*arguments)


def _follow_release(key: str) -> None:
    """A value handed over from inside a fragment reruns only the fragment: the whole page must follow it."""
    if st.session_state.get(f"_kf_released_{key}"):
        st.rerun(scope="app")


@st.fragment
def _filled(control, key, values, current, range_key, compute_frame, views, fallback) -> None:
    _follow_release(key)
    ready = frames.FILLS.request(range_key, values, current, compute_frame)
    _draw(control, key, values, current, range_key, compute_frame, views, fallback, ready)


@st.fragment(run_every=FILL_SECONDS)
def _filling(control, key, values, current, range_key, compute_frame, views, fallback) -> None:
    _follow_release(key)
    ready = frames.FILLS.request(range_key, values, current, compute_frame)
    _draw(control, key, values, current, range_key, compute_frame, views, fallback, ready)
    done, total, error = frames.FILLS.status(range_key)
    if (done == total or error) and st.session_state.get(f"_kf_filling_{key}"):
        # Complete: one last full run draws the component without this timer.
        st.session_state[f"_kf_filling_{key}"] = False
        st.rerun(scope="app")
    st.session_state[f"_kf_filling_{key}"] = True


def _draw(control, key, values, current, range_key, compute_frame, views, fallback, ready) -> None:
    if st.session_state.get(_failed_key(key)):
        st.rerun(scope="app")  # failed in the browser, inside this fragment: the page draws the plain control
    error = frames.FILLS.status(range_key)[2]
    component_key = f"{key}_scrub"
    # The browser keeps the frames it was sent (per range): send only the others, naming those it should hold.
    sent_range, sent = st.session_state.get(_sent_key(key), (None, frozenset()))
    if sent_range != range_key:
        sent = frozenset()
    new = {v: frame for v, frame in ready.items() if label(v) not in sent}
    held = [label(v) for v in values if label(v) in sent]
    st.session_state[_sent_key(key)] = (range_key, sent | {label(v) for v in new})
    try:
        _component()(key=component_key,
                     data=payload(control, values, current, range_key, new, views, error, held),
                     default={"value": label(current)},
                     on_value_change=functools.partial(_released, key, component_key, values),
                     on_resend_change=functools.partial(_resend, key, component_key),
                     on_failed_change=functools.partial(_failed, key, component_key))
    except Exception as failure:  # noqa: BLE001  (the page never shows a traceback; the slider stands in)
        _fall_back(control, current, fallback, type(failure).__name__)


def _fall_back(control: str, current: Any, fallback: Callable[[], Any], reason: str) -> None:
    """One sentence on why, and the plain control in the component's place."""
    # The reason may be a browser's error message: shown as typed, never as markdown.
    st.caption(plain(f"The scrub control could not be drawn ({reason}), so {control} is a plain control here: the "
                     "page redraws once you set it, not while you move it."))
    if fallback() != current:
        # Moved inside a fragment, which alone reran: the whole page must follow the new value.
        st.rerun(scope="app")
