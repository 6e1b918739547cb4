"""Figures of a layer's stages: one stage as a heatmap, and its distribution."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from explorer.figures.common import ACCENT, DIVERGING, MUTED, SEQUENTIAL, Chart, figure, plot_text

HISTOGRAM_BINS = 40


def stage_heatmap(values: np.ndarray, stage: str, row_title: str, column_title: str,
                  row_labels: Sequence[str] | None = None, note: str = "",
                  value_range: tuple[float, float] | None = None) -> Chart:
    """One window's values at one stage, rows against time steps.

    Args:
        values: (time, rows) array, e.g. (time, series) or (time, hidden units).
        stage: the stage's name (for the title).
        row_title: what the rows are ("series", "hidden unit", ...).
        column_title: what the columns are (normally "time step").
        row_labels: a label per row (series names); numbers when None.
        note: an extra sentence for the caption (e.g. that a flat tensor is shown reshaped).
        value_range: (low, high) for values with a known range, such as a gate in [0, 1]: drawn on a
            sequential scale over exactly that range instead of the scale symmetric around zero.
    """
    if values.ndim != 2:
        raise ValueError(f"values must be a 2-D (time, rows) array; got shape {values.shape}.")
    grid = values.T
    labels = [plot_text(label) for label in row_labels] if row_labels is not None else list(range(grid.shape[0]))
    if value_range is None:
        limit = float(np.max(np.abs(grid))) if grid.size else 0.0
        scale = dict(colorscale=DIVERGING, zmid=0, **(dict(zmin=-limit, zmax=limit) if limit else {}))
        reading = "red cells are above zero, blue below, white near zero, on a colour scale symmetric around zero"
    else:
        scale = dict(colorscale=SEQUENTIAL, zmin=value_range[0], zmax=value_range[1])
        reading = f"the colour runs from dark at {value_range[0]:g} to yellow at {value_range[1]:g}"
    heatmap = dict(
        type="heatmap", z=grid, x=list(range(grid.shape[1])), y=labels, **scale,
        colorbar=dict(title=dict(text="value"), thickness=12),
        hovertemplate=f"{plot_text(column_title)} %{{x}}<br>{plot_text(row_title)} %{{y}}<br>value %{{z:.4f}}<extra></extra>",
    )
    layout = dict(
        xaxis=dict(title=dict(text=plot_text(column_title))),
        yaxis=dict(title=dict(text=plot_text(row_title)), autorange="reversed",
                   type="category" if row_labels is not None else "linear"),
    )
    caption = f"The chosen window at this stage: one row per {row_title}, one column per {column_title}; {reading}."
    if note:
        caption += " " + note
    height = min(520, 160 + 14 * grid.shape[0])
    return Chart(figure([heatmap], layout, height=height, title=f"stage {plot_text(stage)}"), caption)


SWITCHED_OFF_NOTE = "a spike at zero after an activation or a dropout shows units switched off"


def stage_histogram(window_values: np.ndarray, batch_values: np.ndarray, stage: str,
                    note: str = SWITCHED_OFF_NOTE) -> Chart:
    """The distribution of a stage's values: the chosen window against the whole batch.

    Both are drawn as shares of their values per bin over the same bins, so
    the two shapes compare directly whatever their sizes.

    Args:
        note: the caption's last clause, on what to look for in this stage's shape (no full stop).
    """
    window_values = np.asarray(window_values, dtype=np.float64).ravel()
    batch_values = np.asarray(batch_values, dtype=np.float64).ravel()
    low, high = float(batch_values.min()), float(batch_values.max())
    if low == high:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
    centers = (edges[:-1] + edges[1:]) / 2
    bars = []
    for label, values, color in (("whole batch", batch_values, MUTED), ("chosen window", window_values, ACCENT)):
        counts, _ = np.histogram(values, bins=edges)
        bars.append(dict(type="bar", x=centers, y=counts / max(1, values.size), width=edges[1] - edges[0],
                         name=label, marker=dict(color=color), opacity=0.6))
    layout = dict(barmode="overlay", bargap=0, xaxis=dict(title=dict(text=f"value at {plot_text(stage)}")),
                  yaxis=dict(title=dict(text="share of values")))
    caption = ("How this stage's values are distributed: bar height is the share of values falling in each bin, "
               "for the whole batch (grey) and the chosen window (blue)" + (f"; {note}." if note else "."))
    return Chart(figure(bars, layout, height=300), caption)
