"""Figures of series: the data preview and a window before and after a layer."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from kflayers.figures.common import Chart, base_layout, plot_text, thinning_step

MAX_PREVIEW_SERIES = 12
"""The preview draws at most this many series, one small panel each."""


def series_preview(frame: pd.DataFrame, columns: Sequence[str], window_starts: Sequence[int] = (),
                   input_size: int = 0) -> Chart:
    """One panel per chosen series over the whole data, with the batch's windows marked.

    Args:
        frame: the data, one column per series (raw values, any index).
        columns: the series to draw, in order (at most `MAX_PREVIEW_SERIES` are drawn).
        window_starts: row positions where the windows of the batch start.
        input_size: window length in rows, to shade the first and last window.
    """
    shown = list(columns)[:MAX_PREVIEW_SERIES]
    figure = make_subplots(rows=max(1, len(shown)), cols=1, shared_xaxes=True, vertical_spacing=0.02)
    step = thinning_step(len(frame))
    index = frame.index[::step]
    for row, column in enumerate(shown, start=1):
        figure.add_trace(
            go.Scatter(x=index, y=frame[column].to_numpy()[::step], mode="lines", name=plot_text(column),
                       line=dict(width=1)),
            row=row, col=1,
        )
        figure.update_yaxes(title_text=plot_text(column), title_font=dict(size=10), row=row, col=1)
    if len(window_starts) and input_size:
        for start in (window_starts[0], window_starts[-1]):
            figure.add_vrect(x0=frame.index[start], x1=frame.index[start + input_size - 1],
                             fillcolor="orange", opacity=0.15, line_width=0)
    figure.update_layout(showlegend=False)
    base_layout(figure, height=70 + 90 * len(shown))
    hidden = len(columns) - len(shown)
    caption = (
        "Each chosen series over the whole data, one panel each with its own scale (raw values, before the "
        "z-scoring the layers receive); the shaded spans are the first and last window of the batch, the "
        "other windows are spread evenly between them."
    )
    if step > 1:
        caption += f" Every {step}th row is drawn to keep the chart light."
    if hidden:
        caption += f" {hidden} more chosen series are not drawn here."
    return Chart(figure, caption)


def input_output(inputs: np.ndarray, outputs: np.ndarray, series_names: Sequence[str],
                 output_title: str = "output") -> Chart:
    """The chosen window before (left) and after (right) the layer, one line per series.

    Args:
        inputs: (time, series) array fed to the layer.
        outputs: (time, series) array the layer returned for it.
        series_names: one name per series.
        output_title: what the right panel shows (e.g. "output (training mode)").
    """
    if inputs.shape != outputs.shape or inputs.ndim != 2:
        raise ValueError(f"inputs and outputs must both be (time, series); got {inputs.shape} and {outputs.shape}.")
    figure = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                           subplot_titles=("input", plot_text(output_title)))
    steps = np.arange(inputs.shape[0])
    colors = _palette(inputs.shape[1])
    for column, name in enumerate(series_names):
        for panel, values in ((1, inputs), (2, outputs)):
            figure.add_trace(
                go.Scatter(x=steps, y=values[:, column], mode="lines", name=plot_text(name),
                           legendgroup=str(column), showlegend=panel == 1, line=dict(width=1.2, color=colors[column])),
                row=1, col=panel,
            )
    figure.update_xaxes(title_text="time step in window")
    figure.update_yaxes(title_text="value (z-scored)", row=1, col=1)
    base_layout(figure, height=380)
    figure.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.2, x=0), margin=dict(t=30))
    caption = (
        "The chosen window going into the layer (left) and coming out (right), one coloured line per series on "
        "the same scale: where the right panel departs from the left is what the layer added."
    )
    return Chart(figure, caption)


def _palette(n: int) -> list[str]:
    """`n` distinguishable colours (plotly's qualitative set, repeated when needed)."""
    base = qualitative.Plotly
    return [base[i % len(base)] for i in range(n)]


def fixed_gate(input_a: np.ndarray, input_b: np.ndarray, output: np.ndarray, fixed: np.ndarray, gate: float,
               series_name: str) -> Chart:
    """One series of one window: both representations, the layer's fused output, and the output with a fixed gate.

    Args:
        input_a, input_b: (time,) the two representations the layer fuses.
        output: (time,) the layer's output (its own gate).
        fixed: (time,) gate * a + (1 - gate) * b with every gate value set to `gate`.
        gate: the fixed gate value.
        series_name: the series shown.
    """
    steps = np.arange(input_a.shape[0])
    figure = go.Figure([
        go.Scatter(x=steps, y=input_a, mode="lines", name="a", line=dict(color="#0891b2", width=1)),
        go.Scatter(x=steps, y=input_b, mode="lines", name="b", line=dict(color="#d97706", width=1)),
        go.Scatter(x=steps, y=output, mode="lines", name="output (learned gate)", line=dict(color="black", width=2)),
        go.Scatter(x=steps, y=fixed, mode="lines", name=f"output with gate fixed at {gate:g}",
                   line=dict(color="#dc2626", width=2, dash="dash")),
    ])
    figure.update_xaxes(title_text="time step in window")
    figure.update_yaxes(title_text=plot_text(series_name))
    base_layout(figure, height=340)
    caption = (
        "The two representations of the chosen series (a and b), what the layer makes of them with its learned "
        "gate (black), and the output if every gate value were fixed (red dashes): gate 1 keeps only a, 0 only b, "
        "0.5 their average, so the gap between black and red shows how far the learned gate leans to either side."
    )
    return Chart(figure, caption)
