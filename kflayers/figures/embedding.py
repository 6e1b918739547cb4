"""Figures of the embeddings: how padding extends a window, and what a convolution kernel weighs."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from kflayers.figures.common import ACCENT, DIVERGING, MUTED, Chart, base_layout, plot_text


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
    figure = go.Figure([
        go.Scatter(x=positions, y=padded, mode="lines", line=dict(color=MUTED, width=1), showlegend=False,
                   hoverinfo="skip"),
        go.Scatter(x=positions[inside], y=padded[inside], mode="markers", name="window",
                   marker=dict(color=ACCENT, size=5)),
        go.Scatter(x=positions[~inside], y=padded[~inside], mode="markers", name="padding",
                   marker=dict(color="#dc2626", size=8, symbol="diamond")),
    ])
    for start, end in ((positions[0] - 0.5, -0.5), (window_length - 0.5, positions[-1] + 0.5)):
        if end > start:
            figure.add_vrect(x0=start, x1=end, fillcolor="#dc2626", opacity=0.08, line_width=0)
    figure.update_xaxes(title_text="time step (negative and past the end: padding)")
    figure.update_yaxes(title_text=plot_text(series_name))
    base_layout(figure, height=300)
    how = {
        "circular": "with circular padding they repeat the window's other end, so the last values reappear "
                    "before step 0 and the first ones after the end",
        "same": "with same padding they are zeros on both sides",
        "causal": "with causal padding they are zeros before the start only, so no output step sees the future",
    }[padding]
    caption = (f"The chosen series as the convolution sees it: blue dots are the window, red diamonds in the "
               f"shaded bands the padded steps; {how}.")
    return Chart(figure, caption)


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
    figure = go.Figure(go.Heatmap(
        z=kernel.T, x=offsets, y=[plot_text(n) for n in series_names], colorscale=DIVERGING, zmid=0,
        zmin=-limit, zmax=limit, texttemplate="%{z:.2f}" if kernel.size <= 150 else None,
        colorbar=dict(title=dict(text="weight"), thickness=12),
        hovertemplate="offset %{x}<br>series %{y}<br>weight %{z:.4f}<extra></extra>",
    ))
    figure.update_xaxes(title_text="time offset from the output step", type="category")
    figure.update_yaxes(title_text="input series", type="category", autorange="reversed")
    base_layout(figure, height=min(480, 140 + 26 * kernel.shape[1]), title=f"kernel of embedding channel {channel}")
    caption = ("The learned weights that make the chosen embedding channel: each cell multiplies the input series "
               "of its row at the time offset of its column (0 is the output step itself), and the channel is the "
               "sum of these products; red weights add, blue ones subtract.")
    return Chart(figure, caption)
