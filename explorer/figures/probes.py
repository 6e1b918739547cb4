"""Figures of the probes: dropout spread, training vs inference, cross-series impact."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from explorer.figures.common import ACCENT, INK, MUTED, Chart, figure, plot_text, square_heatmap


def dropout_band(mean: np.ndarray, std: np.ndarray, inference: np.ndarray, series_name: str,
                 samples: int) -> Chart:
    """One series of one window under Monte Carlo dropout: mean, a one-std band, and the inference output.

    Args:
        mean, std: (time,) mean and standard deviation over the dropout samples.
        inference: (time,) the layer's output in inference mode for the same window.
        series_name: the series shown.
        samples: how many stochastic passes the mean and std come from.
    """
    steps = np.arange(mean.shape[0])
    lines = [
        dict(type="scatter", x=steps, y=mean + std, mode="lines", line=dict(width=0), showlegend=False,
             hoverinfo="skip"),
        dict(type="scatter", x=steps, y=mean - std, mode="lines", line=dict(width=0), fill="tonexty",
             fillcolor="rgba(37, 99, 235, 0.2)", name="mean ± 1 std"),
        dict(type="scatter", x=steps, y=mean, mode="lines", line=dict(color=ACCENT, width=1.5),
             name="mean with dropout"),
        dict(type="scatter", x=steps, y=inference, mode="lines", line=dict(color=INK, width=1, dash="dot"),
             name="inference output"),
    ]
    layout = dict(xaxis=dict(title=dict(text="time step in window")),
                  yaxis=dict(title=dict(text=f"output of {plot_text(series_name)}")))
    caption = (
        f"The layer's output for the chosen window ({plot_text(series_name)}) over {samples} passes with dropout "
        "on and batch normalisation on its moving statistics: the line is the mean, the band one standard "
        "deviation either side, and the dotted line the inference output; a wide band means dropout makes this "
        "output uncertain."
    )
    return Chart(figure(lines, layout, height=320), caption)


def dropout_std_by_stage(stages: Sequence[str], std: Sequence[float]) -> Chart:
    """Mean standard deviation under Monte Carlo dropout at every stage."""
    chart = _stage_bars(stages, std, "mean std over dropout samples", ACCENT)
    caption = (
        "How much each stage varies from one dropout pass to the next (standard deviation averaged over all "
        "values of the batch): zero until the first dropout, then the spread it injects carried to the output."
    )
    return Chart(chart, caption)


def mode_difference_by_stage(stages: Sequence[str], difference: Sequence[float]) -> Chart:
    """Mean |training - inference| at every stage."""
    chart = _stage_bars(stages, difference, "mean |training − inference|", "#dc2626")
    caption = (
        "How far each stage moves when the same batch runs in training instead of inference mode (mean absolute "
        "difference): only batch normalisation (the batch's own statistics instead of moving averages) and dropout "
        "can make a bar nonzero, from the stage where they act onwards."
    )
    return Chart(chart, caption)


def impact_matrix(impact: np.ndarray, series_names: Sequence[str]) -> Chart:
    """Which input series moves which output series.

    Args:
        impact: (n_series_in, n_series_out); entry [i, j] is the mean absolute change of output j
            when input i is replaced by its mean over time.
        series_names: one name per series (inputs and outputs are the same series).
    """
    if impact.ndim != 2 or impact.shape[0] != len(series_names) or impact.shape[1] != len(series_names):
        raise ValueError(f"impact must be (n_series, n_series) for {len(series_names)} series; got {impact.shape}.")
    labels = [plot_text(name) for name in series_names]
    heatmap = square_heatmap(
        impact, labels, colorbar="mean |change|",
        hover="input %{y} flattened<br>output %{x} moves by %{z:.4f}<extra></extra>",
        x_title="output series that changes", y_title="input series replaced by its mean")
    caption = (
        "Row i, column j: how much output series j changes (mean absolute difference) when input series i is "
        "flattened to its mean over time; the diagonal is each series' effect on itself, anything off the "
        "diagonal is mixing across series."
    )
    return Chart(heatmap, caption)


def _stage_bars(stages: Sequence[str], values: Sequence[float], y_title: str, color: str) -> go.Figure:
    bars = dict(type="bar", x=[plot_text(s) for s in stages], y=list(values),
                marker=dict(color=[color if v > 0 else MUTED for v in values]))
    layout = dict(xaxis=dict(title=dict(text="stage (data-flow order)"), type="category"),
                  yaxis=dict(title=dict(text=y_title)))
    return figure([bars], layout, height=300)
