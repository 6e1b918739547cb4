"""What every page does first: page config, shared settings, navigation; and the layer pages' data panel."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import streamlit as st

from explorer.ui import data, show, state


class Page(NamedTuple):
    path: str
    title: str
    icon: str
    summary: str


PAGES = (
    Page("app.py", "Home", ":material/home:", "Choose the data and the batch every page works on."),
    Page("pages/1_Feature_and_Temporal_Mixing.py", "Feature & Temporal Mixing", ":material/blender:",
         "TSMixer's two MLP blocks: one mixes the series at every time step, the other mixes the time steps of "
         "every series. Watch each stage's activations, how dropout and batch normalisation differ between "
         "training and inference, and which series influence which."),
    Page("pages/2_Gated_Feature_Fusion.py", "Gated Feature Fusion", ":material/merge:",
         "A learned gate that blends two representations of the same series (raw against smoothed, or "
         "against a TokenEmbedding projection). See where the gate leans, how its values are spread, and what "
         "the output would be with the gate fixed at 0, 0.5 or 1."),
    Page("pages/3_Token_and_Positional_Embedding.py", "Token & Positional Embedding", ":material/grid_on:",
         "The convolution that embeds every time step into d_model channels, its learned kernels, how circular, "
         "same and causal padding extend the window, and the fixed sinusoid position table."),
    Page("pages/4_Feature_Mixers.py", "Feature Mixers", ":material/join:",
         "Four ways to weigh the series and pool them into one vector: importance per series for one window and "
         "across windows, the self-attention map, all four flavours side by side, and masked series dropping "
         "to exactly zero."),
    Page("pages/5_Learn.py", "Learn", ":material/school:",
         "Train a small forecaster built from kflayers layers on the chosen data and watch which series its mixer "
         "learns to use, judged against the naive forecast and, on synthetic data, against the planted drivers."),
    Page("pages/6_Your_Model.py", "Your model", ":material/upload_file:",
         "Load a trained .keras file (the Learn page's download, or any Keras model with kflayers layers), see its "
         "kflayers layers, and open each on its page with the model's weights, fed what it receives inside the "
         "model."),
)
"""The app's pages in menu order (Streamlit's own menu is hidden so the names read well)."""


def setup(script: str) -> Page:
    """Configure the page drawn by `script` (pass `__file__`), keep the shared settings, draw the menu."""
    name = Path(script).name
    current = next(p for p in PAGES if Path(p.path).name == name)
    st.set_page_config(page_title=f"{current.title} · kflayers", page_icon=current.icon, layout="wide")
    state.keep_alive()
    with st.sidebar:
        for page in PAGES:
            st.page_link(page.path, label=page.title, icon=page.icon)
        st.divider()
    return current


def data_sidebar() -> data.Current:
    """The data in use, summarised in the sidebar, with the batch controls in a collapsed panel."""
    with st.sidebar:
        summary = st.container()
        with st.expander("Batch: series, window, size, seed"):
            current = data.current()
        summary.markdown("**Data:** " + show.plain(current.dataset.label))
        summary.caption(f"Batch shape (windows, time steps, series): {current.batch.shape}")
        summary.page_link("app.py", label="Change the data", icon=":material/tune:")
    return current
