"""Figures of the Your model page: a loaded model's output with a layer as saved against with a fresh one."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from explorer.figures.common import ACCENT, INK, MUTED, Chart, figure, plot_text, vertical_line


def output_comparison(window_labels: Sequence[str], saved: np.ndarray, swapped: np.ndarray, window: int,
                      layer_path: str, class_name: str) -> Chart:
    """One output value of the model per window: with the layer's saved weights, and with a fresh layer instead.

    Args:
        window_labels: where each window of the batch starts.
        saved, swapped: (windows,) the model's output value as saved, and with a fresh layer of the same
            config in place of the layer at `layer_path`.
        window: the window to mark.
    """
    labels = [plot_text(label) for label in window_labels]
    lines = [
        dict(type="scatter", x=labels, y=np.asarray(saved, dtype=float), mode="lines+markers",
             name=f"saved weights of {plot_text(layer_path)}", line=dict(color=ACCENT)),
        dict(type="scatter", x=labels, y=np.asarray(swapped, dtype=float), mode="lines+markers",
             name=f"a fresh {plot_text(class_name)} in its place", line=dict(color=MUTED, dash="dot")),
    ]
    layout = dict(xaxis=dict(title=dict(text="window (start)"), type="category"),
                  yaxis=dict(title=dict(text="model output")),
                  shapes=[vertical_line(window, dict(color=INK, width=1, dash="dash"))])
    caption = ("The model's output for every window of the batch, as saved (blue) and with the chosen layer replaced "
               "by a fresh one of the same config (dotted grey); the gap is what that layer's learned weights add, and "
               "the dashed line marks the chosen window.")
    return Chart(figure(lines, layout, height=340), caption)
