"""Figures of the mixers: importance per feature, across windows and flavours, the attention map, the mix."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from explorer.figures.common import (
    ACCENT,
    INK,
    MUTED,
    SEQUENTIAL,
    Chart,
    figure,
    horizontal_line,
    plot_text,
    side_by_side,
    square_heatmap,
)

FLAVOUR_COLOURS = ("#2563eb", "#0891b2", "#d97706", "#dc2626")


def importance_bars(importance: np.ndarray, feature_names: Sequence[str], masked: Sequence[str] = ()) -> Chart:
    """Each feature's weight in the mix for one window; masked features are marked."""
    names = list(feature_names)
    labels = [plot_text(n) + (" (masked)" if n in masked else "") for n in names]
    bars = dict(type="bar", x=labels, y=importance, text=[f"{v:.3f}" for v in importance], textposition="outside",
                marker=dict(color=[MUTED if n in masked else ACCENT for n in names]))
    equal_share = horizontal_line(1 / max(1, len(names) - len(masked)), dict(color=MUTED, dash="dot"))
    layout = dict(shapes=[equal_share], xaxis=dict(title=dict(text="feature (series)"), type="category"),
                  yaxis=dict(title=dict(text="importance (sums to 1)"), rangemode="tozero"))
    caption = ("How much each feature weighs in the mix for the chosen window (the bars sum to 1); the dotted line "
               "is the equal share, and a masked feature gets exactly zero.")
    return Chart(figure([bars], layout, height=320), caption)


def importance_by_window(importance: np.ndarray, feature_names: Sequence[str],
                         window_labels: Sequence[str]) -> Chart:
    """(windows, features) importances as a heatmap: does the weighting change from window to window?

    The scale runs from 0 to twice the equal share (further if a weight is larger), as the pipeline's picture of
    the importance does; with zmin alone, plotly would stretch equal weights over a range with negative values.
    """
    top = max(float(np.max(importance)), 2.0 / importance.shape[-1])
    heatmap = dict(
        type="heatmap", z=importance, x=[plot_text(n) for n in feature_names], y=[plot_text(w) for w in window_labels],
        colorscale=SEQUENTIAL, zmin=0, zmax=top, colorbar=dict(title=dict(text="importance"), thickness=12),
        hovertemplate="window starting %{y}<br>feature %{x}<br>importance %{z:.4f}<extra></extra>",
    )
    layout = dict(xaxis=dict(title=dict(text="feature (series)"), type="category"),
                  yaxis=dict(title=dict(text="window (start)"), type="category", autorange="reversed"))
    caption = ("Importance of every feature (columns) in every window of the batch (rows): identical rows mean one "
               "weighting for all inputs (as GlobalWeightsMixer learns), changing rows mean the weights depend on "
               "the window.")
    return Chart(figure([heatmap], layout, height=min(560, 160 + 18 * importance.shape[0])), caption)


def flavour_comparison(importances: dict[str, np.ndarray], feature_names: Sequence[str],
                       trained: str | None = None) -> Chart:
    """Importance per feature from every mixer flavour on the same input, as grouped bars.

    Args:
        trained: the one flavour shown with trained weights (the others are fresh), or None when all are fresh.
    """
    labels = [plot_text(n) for n in feature_names]
    bars = [
        dict(type="bar", x=labels, y=values, name=flavour,
             marker=dict(color=FLAVOUR_COLOURS[i % len(FLAVOUR_COLOURS)]))
        for i, (flavour, values) in enumerate(importances.items())
    ]
    layout = dict(barmode="group", xaxis=dict(title=dict(text="feature (series)"), type="category"),
                  yaxis=dict(title=dict(text="importance (sums to 1)")))
    weights = ("freshly initialised" if trained is None else
               f"{plot_text(trained)} with its trained weights and the others freshly initialised")
    caption = (f"The four mixer flavours, {weights} with the same settings and seed, weighing the same "
               "window: one bar per flavour per feature, each flavour's bars summing to 1.")
    return Chart(figure(bars, layout, height=340), caption)


def attention_map(scores: np.ndarray, feature_names: Sequence[str]) -> Chart:
    """(features as queries, features as keys) self-attention weights, averaged over heads."""
    labels = [plot_text(n) for n in feature_names]
    heatmap = square_heatmap(
        scores, labels, colorbar="attention", hover="%{y} attends to %{x}: %{z:.4f}<extra></extra>",
        x_title="attended feature (key)", y_title="attending feature (query)")
    caption = ("Row i shows how feature i spreads its attention over all features (each row sums to 1, averaged "
               "over heads, inference mode); the importance bars are these rows averaged over the kept features.")
    return Chart(heatmap, caption)


def mixer_input_output(features: np.ndarray, output: np.ndarray, feature_names: Sequence[str],
                       output_title: str) -> Chart:
    """The feature vectors going in (left) and the one mixed vector coming out (right), for one window."""
    positions = np.arange(features.shape[1])
    lines = [
        dict(type="scatter", x=positions, y=features[i], mode="lines", name=plot_text(name), line=dict(width=1),
             xaxis="x", yaxis="y")
        for i, name in enumerate(feature_names)
    ]
    lines.append(dict(type="scatter", x=positions, y=output, mode="lines", name="mixed output",
                      line=dict(color=INK, width=2), xaxis="x2", yaxis="y2"))
    layout = dict(
        **side_by_side("input: one vector per feature", plot_text(output_title),
                       x_title="position in the vector (time step)"),
        legend=dict(orientation="h", yanchor="top", y=-0.2, x=0), margin=dict(t=30),
    )
    caption = ("The chosen window's feature vectors (left, one line per series) and the single vector the mixer "
               "makes of them (right): the importance-weighted combination, plus the plain mean when skip is on.")
    return Chart(figure(lines, layout, height=380), caption)
