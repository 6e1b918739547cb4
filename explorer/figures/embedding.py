"""Figures of the embeddings: how padding extends a window, and what a convolution kernel weighs."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from explorer.figures.common import ACCENT, DIVERGING, MUTED, Chart, figure, plot_text, vertical_band


def padding_view(padded: np.ndarray, left: int, window_length: int, series_name: str, padding: str) -> Chart:
    """One series of one window as the convolution sees it, padding included.

    Args:
        padded: (left + window_length + right,) the padded series.
        left: how many padded steps come before the window's first step.
        window_length: steps in the window itself.
        series_name: the series shown.
        padding: the padding mode, for the caption ("circular", "same" or "causal").
    """
    positions = np.arange(padded.shape[0]) - left
    inside = (positions >= 0) & (positions < window_length)
    points = [
        dict(type="scatter", x=positions, y=padded, mode="lines", line=dict(color=MUTED, width=1), showlegend=False,
             hoverinfo="skip"),
        dict(type="scatter", x=positions[inside], y=padded[inside], mode="markers", name="window",
             marker=dict(color=ACCENT, size=5)),
        dict(type="scatter", x=positions[~inside], y=padded[~inside], mode="markers", name="padding",
             marker=dict(color="#dc2626", size=8, symbol="diamond")),
    ]
    layout = dict(xaxis=dict(title=dict(text="time step (negative and past the end: padding)")),
                  yaxis=dict(title=dict(text=plot_text(series_name))))
    bands = [vertical_band(start, end, color="#dc2626", opacity=0.08)
             for start, end in ((positions[0] - 0.5, -0.5), (window_length - 0.5, positions[-1] + 0.5)) if end > start]
    if bands:
        layout["shapes"] = bands
    how = {
        "circular": "with circular padding they repeat the window's other end, so the last values reappear "
                    "before step 0 and the first ones after the end",
        "same": "with same padding they are zeros on both sides",
        "causal": "with causal padding they are zeros before the start only, so no output step sees the future",
    }[padding]
    caption = (f"The chosen series as the convolution sees it: blue dots are the window, red diamonds in the "
               f"shaded bands the padded steps; {how}.")
    return Chart(figure(points, layout, height=300), caption)


def kernel_heatmap(kernel: np.ndarray, series_names: Sequence[str], left: int, channel: int) -> Chart:
    """The convolution weights that make one embedding channel: input series against time offset.

    Args:
        kernel: (kernel_size, n_series) weights of the chosen output channel.
        series_names: one name per input series.
        left: padded steps before the window, so tap j reads the input `j - left` steps from the output step.
        channel: the embedding channel shown.
    """
    offsets = [f"{j - left:+d}" if j != left else "0" for j in range(kernel.shape[0])]
    limit = float(np.max(np.abs(kernel))) or 1.0
    heatmap = dict(
        type="heatmap", z=kernel.T, x=offsets, y=[plot_text(n) for n in series_names], colorscale=DIVERGING, zmid=0,
        zmin=-limit, zmax=limit, colorbar=dict(title=dict(text="weight"), thickness=12),
        hovertemplate="offset %{x}<br>series %{y}<br>weight %{z:.4f}<extra></extra>",
    )
    if kernel.size <= 150:
        heatmap["texttemplate"] = "%{z:.2f}"
    layout = dict(xaxis=dict(title=dict(text="time offset from the output step"), type="category"),
                  yaxis=dict(title=dict(text="input series"), type="category", autorange="reversed"))
    height = min(480, 140 + 26 * kernel.shape[1])
    caption = ("The learned weights that make the chosen embedding channel: each cell multiplies the input series "
               "of its row at the time offset of its column (0 is the output step itself), and the channel is the "
               "sum of these products; red weights add, blue ones subtract.")
    return Chart(figure([heatmap], layout, height=height, title=f"kernel of embedding channel {channel}"), caption)
