"""The pipeline of a layer as a row of HTML boxes, each with a small picture of its stage.

A plotly chart costs the browser tens of milliseconds to draw on every slider
move; a row of boxes and a few tiny PNGs cost almost nothing, so the pipeline
is plain HTML. Each box shows the stage's name, tensor shape and weight
count, and a thumbnail of the chosen window at that stage (rows against time
steps, on the same colour scales as the stage heatmap), so every stage is
visible at once. Text that may come from users is escaped.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
from typing import Sequence

import numpy as np
from PIL import Image

from explorer.figures.common import ACCENT, MUTED

# The diverging scale's ends and middle (blue below zero, white at zero, red above), as in the heatmaps.
_BLUE, _WHITE, _RED = np.array([33, 102, 172.0]), np.array([247, 247, 247.0]), np.array([178, 24, 43.0])
# Viridis-like ends for values with a known range (a gate in [0, 1]).
_DARK, _YELLOW = np.array([68, 1, 84.0]), np.array([253, 231, 37.0])
THUMBNAIL_HEIGHT = 36
THUMBNAIL_MAX_WIDTH = 96


@dataclasses.dataclass(frozen=True)
class HtmlBlock:
    """A piece of HTML for `st.html` and the one sentence saying how to read it."""

    html: str
    caption: str


def thumbnail_png(values: np.ndarray, value_range: tuple[float, float] | None = None) -> bytes:
    """A (rows x time) picture of a (time, rows) array as PNG bytes, rows top to bottom like the heatmap.

    Without `value_range` the colours are symmetric around zero (blue, white, red), scaled to the largest
    absolute value; with it, they run from dark to yellow over exactly that range.
    """
    grid = np.asarray(values, dtype=np.float64).T
    if grid.ndim != 2 or grid.size == 0:
        raise ValueError(f"a thumbnail needs a non-empty 2-D (time, rows) array; got shape {np.shape(values)}.")
    if value_range is None:
        limit = float(np.max(np.abs(grid))) or 1.0
        t = np.clip(grid / limit, -1.0, 1.0)[..., None]
        rgb = np.where(t >= 0, _WHITE + t * (_RED - _WHITE), _WHITE - t * (_BLUE - _WHITE))
    else:
        low, high = value_range
        t = np.clip((grid - low) / ((high - low) or 1.0), 0.0, 1.0)[..., None]
        rgb = _DARK + t * (_YELLOW - _DARK)
    image = Image.fromarray(rgb.round().astype(np.uint8), mode="RGB")
    width = min(THUMBNAIL_MAX_WIDTH, max(grid.shape[1], 24))
    image = image.resize((width, THUMBNAIL_HEIGHT), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=1)
    return buffer.getvalue()


def pipeline_strip(names: Sequence[str], shapes: Sequence[tuple], params: Sequence[int],
                   descriptions: Sequence[str], thumbnails: Sequence[bytes | None]) -> HtmlBlock:
    """The stages of a layer as a row of boxes in data-flow order.

    Args:
        names: stage names in data-flow order.
        shapes: the tensor shape at each stage.
        params: weights that produce each stage (0 for reshapes and the like).
        descriptions: one line per stage, shown when hovering a box.
        thumbnails: a PNG of each stage for the chosen window (`thumbnail_png`), or None for none.
    """
    if not len(names) == len(shapes) == len(params) == len(descriptions) == len(thumbnails):
        raise ValueError("names, shapes, params, descriptions and thumbnails must have one entry per stage.")
    boxes = [_box(*stage) for stage in zip(names, shapes, params, descriptions, thumbnails)]
    arrow = f'<div style="align-self:center;color:{MUTED};font-size:18px;padding:0 2px">&rarr;</div>'
    row = arrow.join(boxes)
    caption = ("The layer's own stages in the order data flows through them: each box shows the tensor shape at "
               "that stage, how many weights produce it (blue boxes learn, grey ones only reshape or combine) and "
               "the chosen window at that stage (rows against time steps; red above zero, blue below); hover a "
               "box for what the stage does.")
    return HtmlBlock(f'<div data-testid="kf-pipeline" style="display:flex;flex-wrap:wrap;gap:4px 0;'
                     f'font-family:sans-serif;font-size:12px">{row}</div>', caption)


def _box(name: str, shape: tuple, count: int, description: str, thumbnail: bytes | None) -> str:
    colour, fill = (ACCENT, "rgba(37,99,235,0.10)") if count else (MUTED, "rgba(148,163,184,0.10)")
    picture = ""
    if thumbnail is not None:
        encoded = base64.b64encode(thumbnail).decode("ascii")
        picture = (f'<img alt="{html.escape(name)} for the chosen window" src="data:image/png;base64,{encoded}" '
                   f'style="display:block;margin:4px auto 0;image-rendering:pixelated;width:{THUMBNAIL_MAX_WIDTH}px;'
                   f'height:{THUMBNAIL_HEIGHT}px">')
    return (f'<div class="kf-stage" title="{html.escape(name)}: {html.escape(description)}" '
            f'style="border:1.5px solid {colour};background:{fill};border-radius:6px;padding:4px 6px;'
            f'min-width:{THUMBNAIL_MAX_WIDTH}px;text-align:center;line-height:1.35">'
            f'<b>{html.escape(name)}</b><br><span class="kf-shape">{_shape_text(shape)}</span><br>'
            f'{_params_text(count)}{picture}</div>')


def _shape_text(shape: tuple) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _params_text(count: int) -> str:
    return f"{count:,} weights" if count else "no weights"
