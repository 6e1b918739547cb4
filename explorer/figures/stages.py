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
        limit = symmetric_limit(grid)
        scale = dict(colorscale=DIVERGING, zmid=0, **(dict(zmin=-limit, zmax=limit) if limit else {}))
    else:
        scale = dict(colorscale=SEQUENTIAL, zmin=value_range[0], zmax=value_range[1])
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
    height = min(520, 160 + 14 * grid.shape[0])
    return Chart(figure([heatmap], layout, height=height, title=f"stage {plot_text(stage)}"),
                 heatmap_caption(row_title, column_title, value_range, note))


def symmetric_limit(grid: np.ndarray) -> float:
    """The end of a colour scale symmetric around zero: the largest absolute value (0 for an empty grid)."""
    return float(np.max(np.abs(grid))) if np.size(grid) else 0.0


def heatmap_caption(row_title: str, column_title: str, value_range: tuple[float, float] | None = None,
                    note: str = "") -> str:
    """How to read a stage heatmap (or its picture): rows, columns and colours, and `note` after it."""
    if value_range is None:
        reading = "red cells are above zero, blue below, white near zero, on a colour scale symmetric around zero"
    else:
        reading = f"the colour runs from dark at {value_range[0]:g} to yellow at {value_range[1]:g}"
    caption = f"The chosen window at this stage: one row per {row_title}, one column per {column_title}; {reading}."
    return caption + " " + note if note else caption


SWITCHED_OFF_NOTE = "a spike at zero after an activation or a dropout shows units switched off"


def stage_histogram(window_values: np.ndarray, batch_values: np.ndarray, stage: str,
                    note: str = SWITCHED_OFF_NOTE) -> Chart:
    """The distribution of a stage's values: the chosen window against the whole batch.

    Both are drawn as shares of their values per bin over the same bins, so
    the two shapes compare directly whatever their sizes.

    Args:
        note: the caption's last clause, on what to look for in this stage's shape (no full stop).
    """
    edges, batch_share, window_share = histogram_shares(window_values, batch_values)
    centers = (edges[:-1] + edges[1:]) / 2
    bars = [dict(type="bar", x=centers, y=share, width=edges[1] - edges[0], name=label, marker=dict(color=color),
                 opacity=0.6)
            for label, share, color in (("whole batch", batch_share, MUTED), ("chosen window", window_share, ACCENT))]
    layout = dict(barmode="overlay", bargap=0, xaxis=dict(title=dict(text=f"value at {plot_text(stage)}")),
                  yaxis=dict(title=dict(text="share of values")))
    return Chart(figure(bars, layout, height=300), histogram_caption(note))


def histogram_shares(window_values: np.ndarray, batch_values: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bin edges over the batch's range, the batch's share of values per bin, the window's share per bin)."""
    window_values = np.asarray(window_values, dtype=np.float64).ravel()
    batch_values = np.asarray(batch_values, dtype=np.float64).ravel()
    low, high = float(batch_values.min()), float(batch_values.max())
    if low == high:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
    shares = [np.histogram(values, bins=edges)[0] / max(1, values.size) for values in (batch_values, window_values)]
    return edges, shares[0], shares[1]


def histogram_caption(note: str = SWITCHED_OFF_NOTE) -> str:
    """How to read a stage's distribution, ending with `note` (what to look for in this stage's shape)."""
    return ("How this stage's values are distributed: bar height is the share of values falling in each bin, "
            "for the whole batch (grey) and the chosen window (blue)" + (f"; {note}." if note else "."))
