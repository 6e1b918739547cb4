"""Widgets whose values survive page switches and travel in the page's link.

Each helper makes sure the setting has a valid value (see `explorer.ui.state.ensure`),
draws the Streamlit widget bound to it by key, and writes the value into the
address bar. Labels and help texts are the app's own words; option values
that come from data (series names) are shown by Streamlit as plain text.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import streamlit as st

from explorer.ui import state


def slider(label: str, key: str, min_value, max_value, default, step, help: str):
    """A numeric slider; a remembered value outside the (possibly new) range falls back to `default`."""
    default = min(max(default, min_value), max_value)
    if max_value <= min_value:
        # Streamlit cannot draw a slider over a single value.
        state.ensure(key, min_value, lambda v: v == min_value)
        st.caption(f"{label}: {min_value} (the only value this data allows)")
        state.share(key)
        return min_value
    state.ensure(key, default, lambda v: type(v) is type(default) and min_value <= v <= max_value)
    value = st.slider(label, min_value=min_value, max_value=max_value, step=step, key=key, help=help)
    state.share(key)
    return value


def select(label: str, key: str, options: Sequence[Any], default: Any, help: str,
           format_func: Callable[[Any], str] = str, radio: bool = False):
    """A selectbox over `options`, or a horizontal radio for a few short options."""
    options = list(options)
    state.ensure(key, default, lambda v: v in options)
    if radio:
        value = st.radio(label, options, key=key, help=help, format_func=format_func, horizontal=True)
    else:
        value = st.selectbox(label, options, key=key, help=help, format_func=format_func)
    state.share(key)
    return value


def multiselect(label: str, key: str, options: Sequence[str], default: list[str], help: str,
                max_selections: int) -> list[str]:
    """A multiselect; remembered choices no longer among `options` are dropped (at least one stays)."""
    options = list(options)
    remembered = st.session_state.get(key)
    if isinstance(remembered, list) and remembered:
        kept = [v for v in remembered if v in options][:max_selections]
        if kept != remembered:
            st.session_state[key] = kept
    state.ensure(key, default, lambda v: isinstance(v, list) and 0 < len(v) <= max_selections
                 and all(c in options for c in v))
    value = st.multiselect(label, options, key=key, help=help, max_selections=max_selections)
    state.share(key)
    return value


def toggle(label: str, key: str, default: bool, help: str) -> bool:
    state.ensure(key, default, lambda v: isinstance(v, bool))
    value = st.toggle(label, key=key, help=help)
    state.share(key)
    return value


def tabs(key: str, labels: Sequence[str]) -> list:
    """Tabs of which only the open one runs: check `tab.open` before drawing into a tab.

    A page's sections are grouped into tabs so that a slider move recomputes and
    redraws only what is on screen (every plotly chart costs the browser tens
    of milliseconds to draw, hidden or not). The open tab is a setting like any
    other: remembered across pages and written into the link.
    """
    labels = list(labels)
    state.ensure(key, labels[0], lambda v: v in labels)
    containers = st.tabs(labels, key=key, on_change="rerun")
    state.share(key)
    return containers


def number(label: str, key: str, min_value: int, max_value: int, default: int, help: str) -> int:
    """An integer input (seeds and the like)."""
    state.ensure(key, default, lambda v: type(v) is int and min_value <= v <= max_value)
    value = st.number_input(label, min_value=min_value, max_value=max_value, step=1, key=key, help=help)
    state.share(key)
    return value
