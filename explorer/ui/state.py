"""Settings that outlive a page: kept across page switches and shared through the URL.

Streamlit forgets a widget's value as soon as a page is drawn without that
widget. Every setting made through `explorer.ui.controls` is remembered in
`_KNOWN_KEYS`, and `keep_alive()` (called first on every page) writes each
remembered value back, which Streamlit treats as set by the app and keeps.
The current values of a page's settings are written into the query string,
so the address bar is a link to the same view; a fresh session opened from
such a link starts from those values (values that do not fit are ignored).
"""

from __future__ import annotations

from typing import Any, Callable

import streamlit as st

_KNOWN_KEYS = "_kf_known_keys"


def keep_alive() -> None:
    """Carry every remembered setting over this run, whichever page is drawn."""
    for key in st.session_state.get(_KNOWN_KEYS, ()):
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def ensure(key: str, default: Any, fits: Callable[[Any], bool]) -> Any:
    """Give setting `key` a value that `fits`, from the session, else the link, else `default`.

    Call before drawing the widget of `key` (without a default on the widget):
    Streamlit then takes the value from the session.
    """
    st.session_state.setdefault(_KNOWN_KEYS, set()).add(key)
    if key in st.session_state and _fits(fits, st.session_state[key]):
        return st.session_state[key]
    value = _from_link(key, default)
    st.session_state[key] = value if _fits(fits, value) else default
    return st.session_state[key]


def share(key: str) -> None:
    """Put setting `key`'s current value into the address bar."""
    encoded = _encode(st.session_state[key])
    current = st.query_params.get_all(key) if isinstance(encoded, list) else st.query_params.get(key)
    if current != encoded:
        st.query_params[key] = encoded


def _from_link(key: str, default: Any) -> Any:
    """The value of `key` in the URL, converted to the type of `default` (the default when absent or unreadable)."""
    if key not in st.query_params:
        return default
    if isinstance(default, list):
        return st.query_params.get_all(key)
    text = st.query_params.get(key)
    try:
        if isinstance(default, bool):
            return {"true": True, "false": False}[text]
        return type(default)(text)
    except (KeyError, TypeError, ValueError):
        return default


def _encode(value: Any) -> str | list[str]:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return str(value)


def _fits(fits: Callable[[Any], bool], value: Any) -> bool:
    try:
        return bool(fits(value))
    except (TypeError, ValueError):
        return False
