"""Figures of the mixers: importance per feature, across windows and flavours, the attention map, the mix."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kflayers.figures.common import ACCENT, MUTED, SEQUENTIAL, Chart, base_layout, plot_text, square_heatmap

FLAVOUR_COLOURS = ("#2563eb", "#0891b2", "#d97706", "#dc2626")


def importance_bars(importance: np.ndarray, feature_names: Sequence[str], masked: Sequence[str] = ()) -> Chart:
    """Each feature's weight in the mix for one window; masked features are marked."""
    names = list(feature_names)
    labels = [plot_text(n) + (" (masked)" if n in masked else "") for n in names]
    figure = go.Figure(go.Bar(x=labels, y=importance, marker_color=[MUTED if n in masked else ACCENT for n in names],
                              text=[f"{v:.3f}" for v in importance], textposition="outside"))
    figure.add_hline(y=1 / max(1, len(names) - len(masked)), line_dash="dot", line_color=MUTED)
    figure.update_xaxes(title_text="feature (series)", type="category")
    figure.update_yaxes(title_text="importance (sums to 1)", rangemode="tozero")
    base_layout(figure, height=320)
    caption = ("How much each feature weighs in the mix for the chosen window (the bars sum to 1); the dotted line "
               "is the equal share, and a masked feature gets exactly zero.")
    return Chart(figure, caption)


def importance_by_window(importance: np.ndarray, feature_names: Sequence[str],
                         window_labels: Sequence[str]) -> Chart:
    """(windows, features) importances as a heatmap: does the weighting change from window to window?"""
    figure = go.Figure(go.Heatmap(
        z=importance, x=[plot_text(n) for n in feature_names], y=[plot_text(w) for w in window_labels],
        colorscale=SEQUENTIAL, zmin=0, colorbar=dict(title=dict(text="importance"), thickness=12),
        hovertemplate="window starting %{y}<br>feature %{x}<br>importance %{z:.4f}<extra></extra>",
    ))
    figure.update_xaxes(title_text="feature (series)", type="category")
    figure.update_yaxes(title_text="window (start)", type="category", autorange="reversed")
    base_layout(figure, height=min(560, 160 + 18 * importance.shape[0]))
    caption = ("Importance of every feature (columns) in every window of the batch (rows): identical rows mean one "
               "weighting for all inputs (as GlobalWeightsMixer learns), changing rows mean the weights depend on "
               "the window.")
    return Chart(figure, caption)


def flavour_comparison(importances: dict[str, np.ndarray], feature_names: Sequence[str]) -> Chart:
    """Importance per feature from every mixer flavour on the same input, as grouped bars."""
    labels = [plot_text(n) for n in feature_names]
    figure = go.Figure([
        go.Bar(x=labels, y=values, name=flavour, marker_color=FLAVOUR_COLOURS[i % len(FLAVOUR_COLOURS)])
        for i, (flavour, values) in enumerate(importances.items())
    ])
    figure.update_layout(barmode="group")
    figure.update_xaxes(title_text="feature (series)", type="category")
    figure.update_yaxes(title_text="importance (sums to 1)")
    base_layout(figure, height=340)
    caption = ("The four mixer flavours, freshly initialised with the same settings and seed, weighing the same "
               "window: one bar per flavour per feature, each flavour's bars summing to 1.")
    return Chart(figure, caption)


def attention_map(scores: np.ndarray, feature_names: Sequence[str]) -> Chart:
    """(features as queries, features as keys) self-attention weights, averaged over heads."""
    labels = [plot_text(n) for n in feature_names]
    figure = square_heatmap(
        scores, labels, colorbar="attention", hover="%{y} attends to %{x}: %{z:.4f}<extra></extra>",
        x_title="attended feature (key)", y_title="attending feature (query)")
    caption = ("Row i shows how feature i spreads its attention over all features (each row sums to 1, averaged "
               "over heads, inference mode); the importance bars are these rows averaged over the kept features.")
    return Chart(figure, caption)


def mixer_input_output(features: np.ndarray, output: np.ndarray, feature_names: Sequence[str],
                       output_title: str) -> Chart:
    """The feature vectors going in (left) and the one mixed vector coming out (right), for one window."""
    figure = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                           subplot_titles=("input: one vector per feature", plot_text(output_title)))
    positions = np.arange(features.shape[1])
    for i, name in enumerate(feature_names):
        figure.add_trace(go.Scatter(x=positions, y=features[i], mode="lines", name=plot_text(name),
                                    line=dict(width=1)), row=1, col=1)
    figure.add_trace(go.Scatter(x=positions, y=output, mode="lines", name="mixed output",
                                line=dict(color="black", width=2)), row=1, col=2)
    figure.update_xaxes(title_text="position in the vector (time step)")
    base_layout(figure, height=380)
    figure.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.2, x=0), margin=dict(t=30))
    caption = ("The chosen window's feature vectors (left, one line per series) and the single vector the mixer "
               "makes of them (right): the importance-weighted combination, plus the plain mean when skip is on.")
    return Chart(figure, caption)
