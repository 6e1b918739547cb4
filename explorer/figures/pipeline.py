"""The pipeline of a layer as a row of HTML boxes, each with a small picture of its stage.

A plotly chart costs the browser 25-250 ms to draw on every slider move
(see `explorer.figures.pictures`); a row of boxes and a few tiny PNGs cost
almost nothing, so the pipeline is plain HTML. Each box shows the stage's name, tensor shape and weight
count, and a thumbnail of the chosen window at that stage (rows against time
steps, on the stage heatmap's colour scales, see `explorer.figures.pictures`), so every stage is
visible at once. Text that may come from users is escaped.
"""

from __future__ import annotations

import base64
import html
from typing import Sequence

from explorer.figures.common import ACCENT, ACCENT_FILL, MUTED, MUTED_FILL, HtmlBlock
from explorer.figures.pictures import THUMBNAIL_HEIGHT, THUMBNAIL_MAX_WIDTH

def pipeline_strip(names: Sequence[str], shapes: Sequence[tuple], params: Sequence[int],
                   descriptions: Sequence[str], thumbnails: Sequence[bytes | None], total: int | None = None
                   ) -> HtmlBlock:
    """The stages of a layer as a row of boxes in data-flow order.

    Args:
        names: stage names in data-flow order.
        shapes: the tensor shape at each stage.
        params: weights that produce each stage (0 for reshapes and the like).
        descriptions: one line per stage, shown when hovering a box.
        thumbnails: a PNG of each stage for the chosen window (`thumbnail_png`), or None for none.
        total: the layer's weight count, shown under the boxes (their counts add up to it), or None.
    """
    if not len(names) == len(shapes) == len(params) == len(descriptions) == len(thumbnails):
        raise ValueError("names, shapes, params, descriptions and thumbnails must have one entry per stage.")
    boxes = [_box(*stage) for stage in zip(names, shapes, params, descriptions, thumbnails)]
    arrow = f'<div style="align-self:center;color:{MUTED};font-size:18px;padding:0 2px">&rarr;</div>'
    row = arrow.join(boxes)
    total_line = ("" if total is None else
                  f'<div data-testid="kf-pipeline-total" style="flex-basis:100%;color:{MUTED};margin-top:2px">'
                  f'{_total_text(total)}</div>')
    caption = ("The layer's own stages in the order data flows through them: each box shows the tensor shape at "
               "that stage, how many weights produce it (blue boxes learn, grey ones only reshape or combine) and "
               "the chosen window at that stage (rows against time steps; red above zero, blue below); hover a "
               "box for what the stage does.")
    return HtmlBlock(f'<div data-testid="kf-pipeline" style="display:flex;flex-wrap:wrap;gap:4px 0;'
                     f'font-family:sans-serif;font-size:12px">{row}{total_line}</div>', caption)


def _box(name: str, shape: tuple, count: int, description: str, thumbnail: bytes | None) -> str:
    colour, fill = (ACCENT, ACCENT_FILL) if count else (MUTED, MUTED_FILL)
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


def _total_text(total: int) -> str:
    if not total:
        return "This layer has no weights: nothing in it is learned."
    return f"{total:,} weights in this layer, each counted in the box of the stage that uses it."


def _params_text(count: int) -> str:
    return f"{count:,} weights" if count else "no weights"
