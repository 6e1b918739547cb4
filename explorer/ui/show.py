"""Drawing helpers: charts with their captions, and messages that may quote user text."""

from __future__ import annotations

import re
import string

import streamlit as st

from explorer.figures import Chart, HtmlBlock

# CommonMark lets a backslash escape any ASCII punctuation; Streamlit's extras
# (:red[...], :material/icon:, $math$) are built from punctuation too.
_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")


def plain(text: object) -> str:
    """`text` escaped so Streamlit's markdown shows it as typed (no links, emphasis, colours or math)."""
    return _PUNCTUATION.sub(r"\\\1", str(text))


def chart(item: Chart, key: str) -> None:
    """A plotly chart with its one-sentence caption under it."""
    st.plotly_chart(item.figure, key=key, config={"displaylogo": False})
    st.caption(plain(item.caption))


def html(block: HtmlBlock) -> None:
    """A block of the app's own HTML (user text in it is already escaped) with its caption under it."""
    st.html(block.html)
    st.caption(plain(block.caption))


def error(text: object) -> None:
    st.error(plain(text), icon=":material/error:")


def warnings(messages) -> None:
    """The loader's notes on what it changed in the data, one per line."""
    if messages:
        st.warning("  \n".join(plain(m) for m in messages), icon=":material/warning:")
