"""What every figure builder shares: the Chart pair, safe labels, thinning, the look."""

from __future__ import annotations

from typing import NamedTuple

import plotly.graph_objects as go
import plotly.io as pio

MAX_POINTS_PER_TRACE = 2000
"""Long series are thinned to at most this many points per line, so a browser draws them quickly."""

DIVERGING = "RdBu_r"
"""Colour scale for signed values: blue below zero, white at zero, red above."""

SEQUENTIAL = "Viridis"
"""Colour scale for non-negative magnitudes."""

TEMPLATE = "plotly_white"
"""The plotly template every figure uses."""

ACCENT = "#2563eb"
MUTED = "#94a3b8"


class Chart(NamedTuple):
    """A figure and the one sentence the app prints under it (what it shows, how to read it)."""

    figure: go.Figure
    caption: str


def plot_text(text: object) -> str:
    """`text` made safe for plotly labels, which render a subset of HTML tags.

    Column names come from uploaded files; `<b>`, `<a href=...>` and the like
    must show as typed, so the three HTML metacharacters become entities
    (plotly displays entities as the characters they stand for).
    """
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def thinning_step(n_points: int, max_points: int = MAX_POINTS_PER_TRACE) -> int:
    """The stride that keeps at most `max_points` of `n_points` (1 when nothing needs dropping)."""
    return max(1, -(-n_points // max_points))


def base_layout(figure: go.Figure, *, height: int, title: str | None = None) -> go.Figure:
    """Apply the app's common look: compact margins, a title in plain text, no plotly logo clutter."""
    figure.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        title=dict(text=title, x=0, font=dict(size=14)) if title else None,
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    )
    _apply_template(figure.layout, pio.templates[TEMPLATE])
    return figure


def _apply_template(layout: go.Layout, template: go.layout.Template) -> None:
    """Give `layout` a copy of a registered template without validating the template again.

    Assigning a template checks each of its ~1,000 settings, about 40 ms per figure and most of a layer
    page's drawing time; a registered template was checked when plotly built it. Plotly applies its
    default template the same way (`BaseFigure._initialize_layout_template`): the figure's JSON is the same.
    """
    validate = layout._validate
    layout._validate = False
    try:
        layout.template = template
    finally:
        layout._validate = validate


def square_heatmap(matrix, labels: list[str], *, colorbar: str, hover: str, x_title: str, y_title: str) -> go.Figure:
    """A (rows, columns) heatmap over the same named features on both axes, first row at the top.

    Cells are annotated with their value while there are few enough features to read them.
    """
    figure = go.Figure(go.Heatmap(
        z=matrix, x=labels, y=labels, colorscale=SEQUENTIAL, zmin=0,
        texttemplate="%{z:.2f}" if len(labels) <= 12 else None,
        colorbar=dict(title=dict(text=colorbar), thickness=12),
        hovertemplate=hover,
    ))
    figure.update_xaxes(title_text=x_title, type="category")
    figure.update_yaxes(title_text=y_title, type="category", autorange="reversed")
    return base_layout(figure, height=min(560, 200 + 28 * len(labels)))
