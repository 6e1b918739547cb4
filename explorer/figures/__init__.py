"""Plotly figures for the app, built from numpy arrays and pandas frames only.

Every builder is a pure function returning a `Chart`: the figure and one
sentence saying what it shows and how to read it. Nothing here imports
Streamlit or TensorFlow, so the figures are tested on their own and the home
page stays light. Text that may come from users (series names) goes through
`plot_text`, so plotly shows it as typed instead of interpreting HTML tags.
"""

from explorer.figures.common import Chart, HtmlBlock, panels, plot_text
from explorer.figures.embedding import kernel_heatmap, padding_view
from explorer.figures.mixers import (
    attention_map,
    flavour_comparison,
    importance_bars,
    importance_by_window,
    mixer_input_output,
)
from explorer.figures.probes import dropout_band, dropout_std_by_stage, impact_matrix, mode_difference_by_stage
from explorer.figures.series import fixed_gate, input_output, series_preview
from explorer.figures.pictures import activations_view, thumbnail_png
from explorer.figures.pipeline import pipeline_strip
from explorer.figures.stages import stage_heatmap, stage_histogram

__all__ = [
    "Chart",
    "HtmlBlock",
    "activations_view",
    "attention_map",
    "dropout_band",
    "dropout_std_by_stage",
    "fixed_gate",
    "flavour_comparison",
    "impact_matrix",
    "importance_bars",
    "importance_by_window",
    "input_output",
    "kernel_heatmap",
    "mixer_input_output",
    "mode_difference_by_stage",
    "padding_view",
    "panels",
    "pipeline_strip",
    "plot_text",
    "series_preview",
    "stage_heatmap",
    "stage_histogram",
    "thumbnail_png",
]
