"""Arrays drawn on the server as pictures: the pipeline's thumbnails and the fast activations view.

On this kind of machine the browser spends about 230 ms drawing one small
plotly heatmap on every rerun, while an HTML block with a PNG of the same
cells costs it a few milliseconds. So the views a slider move redraws are
pictures with HTML labels, coloured exactly as the plotly charts colour them
(the same scales, interpolated the same way), and the plotly chart is there
on demand for values on hover. Text that may come from users is escaped.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Sequence

import numpy as np
from PIL import Image
from plotly.colors import hex_to_rgb, unlabel_rgb

from explorer.figures.common import (ACCENT, DIVERGING, MUTED, RULE, SECONDARY_TEXT, SEQUENTIAL, HtmlBlock,
                                     joined_captions)
from explorer.figures.stages import heatmap_caption, histogram_caption, histogram_shares, symmetric_limit

THUMBNAIL_HEIGHT = 36
THUMBNAIL_MAX_WIDTH = 96
ROW_PX = 14
"""Height of one row of the activations picture, as in the plotly heatmap (which caps the whole at 520 px)."""
MAX_PICTURE_PX = 360
HISTOGRAM_PX = 120


def _stops(scale: list[list]) -> tuple[np.ndarray, np.ndarray]:
    positions = np.array([position for position, _ in scale])
    colours = np.array([hex_to_rgb(c) if c.startswith("#") else unlabel_rgb(c) for _, c in scale], dtype=float)
    return positions, colours


_DIVERGING_STOPS = _stops(DIVERGING)
_SEQUENTIAL_STOPS = _stops(SEQUENTIAL)


def value_colours(grid: np.ndarray, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """(..., 3) uint8 RGB of `grid` on the charts' scales, interpolated linearly between stops as plotly does.

    Without `value_range`: the diverging scale symmetric around zero, its ends at +-(largest |value|); with it,
    the sequential scale over exactly that range.
    """
    grid = np.asarray(grid, dtype=np.float64)
    if value_range is None:
        limit = symmetric_limit(grid) or 1.0
        position, (stops, colours) = (np.clip(grid / limit, -1.0, 1.0) + 1.0) / 2.0, _DIVERGING_STOPS
    else:
        low, high = value_range
        position, (stops, colours) = np.clip((grid - low) / ((high - low) or 1.0), 0.0, 1.0), _SEQUENTIAL_STOPS
    channels = [np.interp(position, stops, colours[:, channel]) for channel in range(3)]
    return np.stack(channels, axis=-1).round().astype(np.uint8)


def _png(rgb: np.ndarray, size: tuple[int, int] | None = None) -> bytes:
    image = Image.fromarray(rgb, mode="RGB")
    if size is not None:
        image = image.resize(size, Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=1)
    return buffer.getvalue()


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _rows_by_time(values: np.ndarray) -> np.ndarray:
    """A (time, rows) array as the (rows, time) grid a picture draws, rows top to bottom like the heatmap."""
    grid = np.asarray(values, dtype=np.float64).T
    if grid.ndim != 2 or grid.size == 0:
        raise ValueError(f"a picture needs a non-empty 2-D (time, rows) array; got shape {np.shape(values)}.")
    return grid


def thumbnail_png(values: np.ndarray, value_range: tuple[float, float] | None = None) -> bytes:
    """A (rows x time) picture of a (time, rows) array as PNG bytes, rows top to bottom like the heatmap."""
    grid = _rows_by_time(values)
    width = min(THUMBNAIL_MAX_WIDTH, max(grid.shape[1], 24))
    return _png(value_colours(grid, value_range), (width, THUMBNAIL_HEIGHT))


def activations_view(values: np.ndarray, window_values: np.ndarray, batch_values: np.ndarray, stage: str,
                     row_title: str, row_labels: Sequence[str] | None = None, note: str = "",
                     value_range: tuple[float, float] | None = None) -> HtmlBlock:
    """One stage for the chosen window as a picture (rows against time steps), with its distribution below.

    The same content as `stage_heatmap` over `stage_histogram`, drawn as HTML and two PNGs.

    Args:
        values: (time, rows) array for the picture, e.g. (time, series) or (time, hidden units).
        window_values, batch_values: the stage's values for the chosen window and the whole batch (any shape).
        stage, row_title, row_labels, note, value_range: as for `stage_heatmap`.
    """
    grid = _rows_by_time(values)
    rows, steps = grid.shape
    labels = [str(label) for label in row_labels] if row_labels is not None else [str(i) for i in range(rows)]
    height = min(MAX_PICTURE_PX, max(ROW_PX * rows, 3 * ROW_PX))
    every = max(1, -(-rows * ROW_PX // height))  # label every row while they fit, else every k-th
    row_label_html = "".join(
        f'<div style="flex:1;display:flex;align-items:center;justify-content:flex-end;min-height:0">'
        f'{html.escape(label) if index % every == 0 else ""}</div>' for index, label in enumerate(labels))
    picture = _data_uri(_png(value_colours(grid, value_range)))
    if value_range is None:
        limit = symmetric_limit(grid)
        ends = (limit, -limit)
        bar = _data_uri(_png(value_colours(np.linspace(limit or 1, -(limit or 1), 64)[:, None])))
    else:
        ends = (value_range[1], value_range[0])
        bar = _data_uri(_png(value_colours(np.linspace(*ends, 64)[:, None], value_range)))
    # Each tick sits under the middle of its column.
    time_ticks = "".join(f'<span style="position:absolute;left:{100 * (step + 0.5) / steps:.2f}%;'
                         f'transform:translateX(-50%)">{step}</span>' for step in _ticks(steps))
    heatmap_html = (
        f'<div style="font-weight:600;margin-bottom:4px">stage {html.escape(stage)}</div>'
        f'<div style="display:grid;grid-template-columns:auto 1fr auto;gap:0 6px;align-items:stretch">'
        f'<div style="display:flex;flex-direction:column;height:{height}px;{SECONDARY_TEXT}">{row_label_html}</div>'
        f'<img alt="stage {html.escape(stage)} for the chosen window" src="{picture}" '
        f'style="width:100%;height:{height}px;image-rendering:pixelated;display:block">'
        f'<div style="display:flex;gap:4px;height:{height}px"><img alt="colour scale" src="{bar}" '
        f'style="width:12px;height:100%;image-rendering:pixelated">'
        f'<div style="display:flex;flex-direction:column;justify-content:space-between;{SECONDARY_TEXT}">'
        f'<span>{ends[0]:.3g}</span><span>{(ends[0] + ends[1]) / 2:.3g}</span><span>{ends[1]:.3g}</span>'
        f'</div></div>'
        f'<div></div><div style="position:relative;height:16px;{SECONDARY_TEXT}">{time_ticks}</div>'
        f'<div></div><div></div><div style="text-align:center;{SECONDARY_TEXT}">time step ({html.escape(row_title)} '
        f'per row)</div><div></div></div>')
    caption = joined_captions([heatmap_caption(row_title, "time step", value_range, note), histogram_caption()],
                              stacked=True)
    return HtmlBlock(f'<div data-testid="kf-activations" style="font-family:sans-serif;font-size:12px">'
                     f'{heatmap_html}{_histogram_html(window_values, batch_values, stage)}</div>', caption)


def _ticks(steps: int) -> list[int]:
    stride = max(1, -(-steps // 8))
    return list(range(0, steps, stride))


def _histogram_html(window_values: np.ndarray, batch_values: np.ndarray, stage: str) -> str:
    edges, batch_share, window_share = histogram_shares(window_values, batch_values)
    top = max(float(batch_share.max()), float(window_share.max())) or 1.0
    bars = []
    for low, high, batch, window in zip(edges[:-1], edges[1:], batch_share, window_share):
        tip = f"{low:.3g} to {high:.3g}: whole batch {batch:.3f}, chosen window {window:.3f}"
        bars.append(
            f'<div title="{tip}" style="flex:1;position:relative;height:100%">'
            f'<div style="position:absolute;bottom:0;left:0;right:0;height:{100 * batch / top:.1f}%;'
            f'background:{MUTED};opacity:0.6"></div>'
            f'<div style="position:absolute;bottom:0;left:0;right:0;height:{100 * window / top:.1f}%;'
            f'background:{ACCENT};opacity:0.6"></div></div>')
    legend = (f'<span style="color:{MUTED}">&#9632;</span> whole batch &nbsp; '
              f'<span style="color:{ACCENT}">&#9632;</span> chosen window')
    return (f'<div style="margin-top:14px;display:flex;justify-content:space-between">'
            f'<span style="font-weight:600">distribution at {html.escape(stage)} (share of values per bin, highest '
            f'{top:.3f})</span><span>{legend}</span></div>'
            f'<div style="display:flex;align-items:flex-end;height:{HISTOGRAM_PX}px;border-bottom:1px solid {RULE}">'
            f'{"".join(bars)}</div>'
            f'<div style="display:flex;justify-content:space-between;{SECONDARY_TEXT}"><span>{edges[0]:.3g}</span>'
            f'<span>value at {html.escape(stage)}</span><span>{edges[-1]:.3g}</span></div>')
