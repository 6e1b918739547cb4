"""Figures of series: the data preview and a window before and after a layer."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from plotly.colors import qualitative

from explorer.figures.common import INK, Chart, figure, plot_text, side_by_side, thinning_step, vertical_band

MAX_PREVIEW_SERIES = 12
"""The preview draws at most this many series, one small panel each."""

PANEL_GAP = 0.02
"""The preview's vertical space between panels, as a share of the plot height."""


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
    n_panels = max(1, len(shown))  # an empty choice still gets its empty panel
    step = thinning_step(len(frame))
    index = frame.index[::step]
    lines = [
        dict(type="scatter", x=index, y=frame[column].to_numpy()[::step], mode="lines", name=plot_text(column),
             line=dict(width=1), xaxis=f"x{_axis_number(row)}", yaxis=f"y{_axis_number(row)}")
        for row, column in enumerate(shown)
    ]
    layout = dict(showlegend=False, **_stacked_panels(n_panels, [plot_text(column) for column in shown]))
    if len(window_starts) and input_size:
        layout["shapes"] = [
            vertical_band(frame.index[start], frame.index[start + input_size - 1], color="orange", opacity=0.15,
                          axis=_axis_number(row))
            for start in (window_starts[0], window_starts[-1]) for row in range(n_panels)
        ]
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
    return Chart(figure(lines, layout, height=70 + 90 * len(shown)), caption)


def _stacked_panels(n_panels: int, y_titles: list[str]) -> dict:
    """Axes for `n_panels` panels top to bottom, sharing the bottom one's x axis, as `make_subplots` sets them.

    `y_titles` label the panels from the top.
    """
    height = (1 - PANEL_GAP * (n_panels - 1)) / n_panels
    bottom = _axis_number(n_panels - 1)
    axes = {}
    for row in range(n_panels):
        number = _axis_number(row)
        low = (n_panels - 1 - row) * (height + PANEL_GAP)
        shared = dict(matches=f"x{bottom}", showticklabels=False) if row < n_panels - 1 else {}
        axes[f"xaxis{number}"] = dict(anchor=f"y{number}", domain=[0.0, 1.0], **shared)
        axes[f"yaxis{number}"] = dict(anchor=f"x{number}", domain=[low, low + height])
        if row < len(y_titles):
            axes[f"yaxis{number}"]["title"] = dict(text=y_titles[row], font=dict(size=10))
    return axes


def _axis_number(row: int) -> str:
    """How plotly numbers the axes of the `row`-th panel (from 0): "" for the first, then "2", "3", ..."""
    return str(row + 1) if row else ""


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
    steps = np.arange(inputs.shape[0])
    colors = _palette(inputs.shape[1])
    lines = [
        dict(type="scatter", x=steps, y=values[:, column], mode="lines", name=plot_text(name),
             legendgroup=str(column), showlegend=axis == "", line=dict(width=1.2, color=colors[column]),
             xaxis=f"x{axis}", yaxis=f"y{axis}")
        for column, name in enumerate(series_names) for axis, values in (("", inputs), ("2", outputs))
    ]
    layout = dict(
        **side_by_side("input", plot_text(output_title), x_title="time step in window", y_title="value (z-scored)"),
        legend=dict(orientation="h", yanchor="top", y=-0.2, x=0), margin=dict(t=30),
    )
    caption = (
        "The chosen window going into the layer (left) and coming out (right), one coloured line per series on "
        "the same scale: where the right panel departs from the left is what the layer added."
    )
    return Chart(figure(lines, layout, height=380), caption)


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
    lines = [
        dict(type="scatter", x=steps, y=input_a, mode="lines", name="a", line=dict(color="#0891b2", width=1)),
        dict(type="scatter", x=steps, y=input_b, mode="lines", name="b", line=dict(color="#d97706", width=1)),
        dict(type="scatter", x=steps, y=output, mode="lines", name="output (learned gate)",
             line=dict(color=INK, width=2)),
        dict(type="scatter", x=steps, y=fixed, mode="lines", name=f"output with gate fixed at {gate:g}",
             line=dict(color="#dc2626", width=2, dash="dash")),
    ]
    layout = dict(xaxis=dict(title=dict(text="time step in window")),
                  yaxis=dict(title=dict(text=plot_text(series_name))))
    caption = (
        "The two representations of the chosen series (a and b), what the layer makes of them with its learned "
        "gate (grey), and the output if every gate value were fixed (red dashes): gate 1 keeps only a, 0 only b, "
        "0.5 their average, so the gap between grey and red shows how far the learned gate leans to either side."
    )
    return Chart(figure(lines, layout, height=340), caption)
