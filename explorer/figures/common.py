"""What every figure builder shares: the Chart pair, safe labels, thinning, the look, lines, bands and panels."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Sequence

import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import diverging, sequential

MAX_POINTS_PER_TRACE = 2000
"""Long series are thinned to at most this many points per line, so a browser draws them quickly."""


def _colour_scale(colours: list[str]) -> list[list]:
    """`colours` spread evenly over [0, 1], the form plotly.js reads (scale names like "RdBu_r" are plotly.py's own)."""
    last = len(colours) - 1
    return [[i / last, colour] for i, colour in enumerate(colours)]


DIVERGING = _colour_scale(diverging.RdBu[::-1])
"""Colour scale for signed values: blue below zero, white at zero, red above."""

SEQUENTIAL = _colour_scale(sequential.Viridis)
"""Colour scale for non-negative magnitudes."""

TEMPLATE = "plotly_white"
"""The plotly template whose look every figure has."""
TRACE_TYPES = ("bar", "heatmap", "scatter")
"""The kinds of trace the figures here draw."""
_TEMPLATE_LAYOUT = ("autotypenumbers", "colorway", "font", "hovermode", "hoverlabel", "paper_bgcolor", "plot_bgcolor",
                    "xaxis", "yaxis", "shapedefaults", "annotationdefaults", "title")


def _trimmed_template(name: str) -> go.layout.Template:
    """Template `name` with only what 2-D bar, heatmap and scatter figures read from it.

    The full template (7 kB, with defaults for maps, 3-D scenes and 20 other kinds of trace) travels inside
    every figure: to plotly's copy when the figure is made, to Streamlit's copy and JSON, and to the browser,
    on every rerun; the trimmed one is a fifth of that and draws the same.
    """
    full = pio.templates[name].to_plotly_json()
    return go.layout.Template(dict(
        layout={key: value for key, value in full["layout"].items() if key in _TEMPLATE_LAYOUT},
        data={kind: value for kind, value in full["data"].items() if kind in TRACE_TYPES}))


_TEMPLATE = _trimmed_template(TEMPLATE)

ACCENT = "#2563eb"
MUTED = "#94a3b8"

# The app follows the user's system theme, so its own HTML must read on Streamlit's white and its dark
# (#0e1117) background alike: text takes the theme's colour, fills are see-through tints, lines a mid grey.
SECONDARY_TEXT = "color:inherit;opacity:0.72"
"""CSS for labels, ticks and axis titles in the app's HTML: the theme's text colour, dimmed (a fixed dark grey
vanishes on the dark background)."""
ACCENT_FILL = "rgba(37,99,235,0.14)"
"""A tint of ACCENT behind content (a stage box that has weights): readable text on either background."""
MUTED_FILL = "rgba(148,163,184,0.14)"
"""A tint of MUTED behind content (a stage box without weights)."""
INK = "#808080"
"""Instead of black in the plotly charts (a reference line, the output among its inputs): a mid grey that shows on
white and on the dark theme's near-black, where black vanishes."""
RULE = "rgba(148,163,184,0.7)"
"""A thin line, such as a histogram's axis, that shows on either background."""


class Chart(NamedTuple):
    """A figure and the one sentence the app prints under it (what it shows, how to read it)."""

    figure: go.Figure
    caption: str


@dataclasses.dataclass(frozen=True)
class HtmlBlock:
    """A piece of HTML for `st.html` and the one sentence saying how to read it."""

    html: str
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


def figure(data: list[dict], layout: dict | None = None, *, height: int, title: str | None = None) -> go.Figure:
    """Traces and layout given as plain dicts, made a figure with the app's common look.

    The look is compact margins, a title in plain text, a horizontal legend above the plot and the `TEMPLATE`;
    a setting in `layout` replaces the look's, and a dict setting (such as `margin`) only replaces the keys it names.

    Plotly does not validate the result (except numbered axes such as `xaxis2`, which it always checks): checking
    every property costs 15-55 ms per figure, a large part of each rerun of a layer page, and the registered
    template was checked when plotly built it. `tests/test_figure_specs.py` has plotly validate every builder's
    figure instead, which catches a misspelt property.
    """
    look = {
        "height": height,
        "margin": dict(l=10, r=10, t=40 if title else 10, b=10),
        "legend": dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    }
    if title:
        look["title"] = dict(text=title, x=0, font=dict(size=14))
    for key, value in (layout or {}).items():
        look[key] = {**look[key], **value} if isinstance(look.get(key), dict) else value
    parts = (data, dict(look))
    look["template"] = _TEMPLATE
    built = go.Figure(dict(data=data, layout=look), _validate=False)
    built._kflayers_parts = parts  # what `panels` combines, without copying the figure back out of plotly
    return built


def horizontal_line(y: float, line: dict) -> dict:
    """A shape across the whole plot width at height `y`, as plotly's `add_hline` draws it."""
    return dict(type="line", x0=0, x1=1, xref="x domain", y0=y, y1=y, yref="y", line=line)


def vertical_line(x: float, line: dict) -> dict:
    """A shape across the whole plot height at `x`, as plotly's `add_vline` draws it."""
    return dict(type="line", x0=x, x1=x, xref="x", y0=0, y1=1, yref="y domain", line=line)


def vertical_band(x0, x1, *, color: str, opacity: float, axis: str = "") -> dict:
    """A shaded span from `x0` to `x1` across the whole plot height, as plotly's `add_vrect` draws it.

    `axis` is the subplot's axis number ("" for the first, "2" for the second, ...).
    """
    return dict(type="rect", x0=x0, x1=x1, xref=f"x{axis}", y0=0, y1=1, yref=f"y{axis} domain",
                fillcolor=color, opacity=opacity, line=dict(width=0))


def side_by_side(left_title: str, right_title: str, *, x_title: str, y_title: str | None = None) -> dict:
    """Layout for two titled panels in a row sharing the y axis, with the axes and titles `make_subplots` would set.

    Traces go to the left panel by default and to the right one with `xaxis="x2", yaxis="y2"`; both panels'
    x axes carry `x_title`, and `y_title` labels the shared y axis on the left.
    """
    gap = 0.04
    width = (1 - gap) / 2
    panels = ((0.0, width), (width + gap, 1.0))
    x_axis_title = dict(title=dict(text=x_title))
    y_axis_title = dict(title=dict(text=y_title)) if y_title else {}
    return dict(
        xaxis=dict(anchor="y", domain=list(panels[0]), **x_axis_title),
        yaxis=dict(anchor="x", domain=[0.0, 1.0], **y_axis_title),
        xaxis2=dict(anchor="y2", domain=list(panels[1]), **x_axis_title),
        yaxis2=dict(anchor="x2", domain=[0.0, 1.0], matches="y", showticklabels=False),
        annotations=[
            dict(text=text, x=sum(panel) / 2, y=1.0, xref="paper", yref="paper", xanchor="center", yanchor="bottom",
                 showarrow=False, font=dict(size=16))
            for text, panel in zip((left_title, right_title), panels)
        ],
    )


def square_heatmap(matrix, labels: list[str], *, colorbar: str, hover: str, x_title: str, y_title: str) -> go.Figure:
    """A (rows, columns) heatmap over the same named features on both axes, first row at the top.

    Cells are annotated with their value while there are few enough features to read them.
    """
    heatmap = dict(type="heatmap", z=matrix, x=labels, y=labels, colorscale=SEQUENTIAL, zmin=0,
                   colorbar=dict(title=dict(text=colorbar), thickness=12), hovertemplate=hover)
    if len(labels) <= 12:
        heatmap["texttemplate"] = "%{z:.2f}"
    layout = dict(xaxis=dict(title=dict(text=x_title), type="category"),
                  yaxis=dict(title=dict(text=y_title), type="category", autorange="reversed"))
    return figure([heatmap], layout, height=min(560, 200 + 28 * len(labels)))


COLOUR_BAR_SHARE = 0.08
"""The share of a combined figure's width a colour bar with its title takes (see `panels`)."""
ROW_GAP_PX = 90
"""Between two stacked panels: the upper one's tick labels and axis title, and the lower one's title."""
OWN_MARGINS_PX = 60
"""What a one-panel chart's height spends outside its plot (title, margins, axis title)."""


def panels(charts: Sequence[Chart], stacked: bool = False, widths: Sequence[float] | None = None,
           gap: float = 0.08) -> Chart:
    """Several one-panel charts drawn as the panels of one figure, with their captions joined in one sentence.

    A browser draws one plotly chart of two panels in about the time of one chart, while each further chart
    costs it 25-40 ms on every rerun where the latency goals were set, and 200-250 ms on this project's 2-core
    machines, so views that belong together are sent as one figure. Each chart keeps
    its axes, colour bar, shapes and title (shown above its panel).

    Args:
        charts: made by `figure` (the builders here), with their traces on the first axes.
        stacked: top to bottom, each panel as tall as its chart was and as wide as the figure; otherwise left
            to right, as tall as the tallest chart.
        widths: side by side, the share of the width each panel gets (normalised); equal when None.
        gap: side by side, the share of the width between two panels (room for the next one's axis title), to
            which a panel with a colour bar adds `COLOUR_BAR_SHARE`.
    """
    widths = [1.0] * len(charts) if widths is None else list(widths)
    if len(widths) != len(charts) or not charts:
        raise ValueError(f"need one width per chart; got {len(widths)} widths for {len(charts)} charts.")
    parts = [chart.figure._kflayers_parts for chart in charts]
    boxes, height = _stacked_boxes(parts) if stacked else _side_by_side_boxes(parts, widths, gap)
    data, layout, annotations, shapes = [], {}, [], []
    legend_top = None
    for number, ((traces, own), (x_domain, y_domain)) in enumerate(zip(parts, boxes), start=1):
        axis = "" if number == 1 else str(number)
        for trace in traces:
            trace = dict(trace, xaxis=f"x{axis}", yaxis=f"y{axis}")
            if "colorbar" in trace:
                trace["colorbar"] = dict(trace["colorbar"], x=x_domain[1] + 0.01, xanchor="left",
                                         y=sum(y_domain) / 2, yanchor="middle", len=y_domain[1] - y_domain[0])
            if "name" in trace and legend_top is None:
                legend_top = y_domain[1]  # the legend goes above the first panel whose traces are named
            trace.setdefault("showlegend", "name" in trace)
            data.append(trace)
        layout[f"xaxis{axis}"] = dict(own.get("xaxis", {}), domain=x_domain, anchor=f"y{axis}")
        layout[f"yaxis{axis}"] = dict(own.get("yaxis", {}), domain=y_domain, anchor=f"x{axis}")
        for shape in own.get("shapes", ()):
            shapes.append(dict(shape, xref=shape.get("xref", "x").replace("x", f"x{axis}", 1),
                               yref=shape.get("yref", "y").replace("y", f"y{axis}", 1)))
        title = own.get("title", {}).get("text")
        if title:
            annotations.append(dict(text=title, x=x_domain[0], y=y_domain[1], xref="paper", yref="paper",
                                    xanchor="left", yanchor="bottom", showarrow=False, font=dict(size=14)))
        for key in ("barmode", "bargap"):
            if key in own:
                layout[key] = own[key]
    layout.update(margin=dict(t=40), legend=dict(x=1.0, xanchor="right", y=1.0 if legend_top is None else legend_top,
                                                     yanchor="bottom"),
                  **{key: items for key, items in (("shapes", shapes), ("annotations", annotations)) if items})
    return Chart(figure(data, layout, height=height), joined_captions([c.caption for c in charts], stacked))


def _side_by_side_boxes(parts, widths, gap):
    """(x domain, y domain) of each panel left to right, and the figure's height."""
    # A colour bar sits in the gap after its panel, so that gap also makes room for it.
    gaps = [gap + (COLOUR_BAR_SHARE if any("colorbar" in trace for trace in traces) else 0.0)
            for traces, _ in parts[:-1]] + [0.0]
    usable, total, start, boxes = 1.0 - sum(gaps), sum(widths), 0.0, []
    for width, gap_after in zip(widths, gaps):
        boxes.append(([start, start + usable * width / total], [0.0, 1.0]))
        start = boxes[-1][0][1] + gap_after
    return boxes, max(own["height"] for _, own in parts)


def _stacked_boxes(parts):
    """(x domain, y domain) of each panel top to bottom, and the figure's height."""
    plots = [max(80, own["height"] - OWN_MARGINS_PX) for _, own in parts]
    total = sum(plots) + ROW_GAP_PX * (len(plots) - 1)
    top, boxes = total, []
    for plot in plots:
        boxes.append(([0.0, 1.0], [(top - plot) / total, top / total]))
        top -= plot + ROW_GAP_PX
    return boxes, total + OWN_MARGINS_PX


def joined_captions(captions: list[str], stacked: bool) -> str:
    """One sentence from the panels' sentences: "Left: the first...; right: the second..." (or top, bottom)."""
    if len(captions) == 1:
        return captions[0]
    places = {2: ("top", "bottom"), 3: ("top", "middle", "bottom")} if stacked else \
        {2: ("left", "right"), 3: ("left", "middle", "right")}
    clauses = []
    for number, caption in enumerate(captions):
        place = places[len(captions)][number] if len(captions) in places else f"panel {number + 1}"
        # "How this stage..." becomes "how this stage...", but a name such as "TemporalMixing" keeps its case.
        if len(caption) > 1 and caption[1].islower():
            caption = caption[0].lower() + caption[1:]
        clauses.append(f"{place}: {caption.rstrip('.')}")
    joined = "; ".join(clauses)
    return joined[0].upper() + joined[1:] + "."
