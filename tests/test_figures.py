"""The figure builders on their own: the data inside each figure, its axes, and its caption."""

import numpy as np
import pandas as pd
import pytest

from explorer import figures
from explorer.figures.common import MAX_POINTS_PER_TRACE, thinning_step


def _frame(n_rows=50, names=("a", "b", "c")):
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(n_rows, len(names))).astype("float32"), columns=list(names))


def test_plot_text_shows_html_as_typed():
    assert figures.plot_text('<a href="x">&</a>') == '&lt;a href="x"&gt;&amp;&lt;/a&gt;'


@pytest.mark.parametrize("n_points, expected", [(1, 1), (MAX_POINTS_PER_TRACE, 1), (MAX_POINTS_PER_TRACE + 1, 2),
                                                (10 * MAX_POINTS_PER_TRACE, 10)])
def test_thinning_step_keeps_at_most_the_limit(n_points, expected):
    step = thinning_step(n_points)
    assert step == expected
    assert len(range(0, n_points, step)) <= MAX_POINTS_PER_TRACE


def test_series_preview_one_panel_per_series_with_raw_values():
    frame = _frame()
    chart = figures.series_preview(frame, ["c", "a"], window_starts=[0, 10, 20], input_size=5)
    assert [t.name for t in chart.figure.data] == ["c", "a"]
    np.testing.assert_array_equal(chart.figure.data[0].y, frame["c"].to_numpy())
    np.testing.assert_array_equal(chart.figure.data[1].x, frame.index.to_numpy())
    assert chart.figure.layout.yaxis.title.text == "c"
    assert chart.figure.layout.yaxis2.title.text == "a"
    # The first and the last window of the batch (rows 0-4 and 20-24) are shaded in both panels.
    spans = sorted((s.x0, s.x1) for s in chart.figure.layout.shapes)
    assert spans == [(0, 4), (0, 4), (20, 24), (20, 24)]
    assert "first and last window" in chart.caption


def test_series_preview_thins_long_series_and_says_so():
    frame = _frame(n_rows=5 * MAX_POINTS_PER_TRACE + 3)
    chart = figures.series_preview(frame, ["a"])
    assert len(chart.figure.data[0].y) <= MAX_POINTS_PER_TRACE
    np.testing.assert_array_equal(chart.figure.data[0].y, frame["a"].to_numpy()[::6])
    assert "Every 6th row" in chart.caption


def test_series_preview_caps_the_number_of_panels():
    names = [f"s{i}" for i in range(15)]
    chart = figures.series_preview(_frame(names=names), names)
    assert len(chart.figure.data) == figures.series.MAX_PREVIEW_SERIES
    assert "3 more chosen series" in chart.caption


def test_series_preview_escapes_column_names():
    chart = figures.series_preview(_frame(names=("<b>x</b>",)), ["<b>x</b>"])
    assert chart.figure.data[0].name == "&lt;b&gt;x&lt;/b&gt;"


def test_input_output_left_is_input_right_is_output():
    rng = np.random.default_rng(1)
    inputs, outputs = rng.normal(size=(8, 2)), rng.normal(size=(8, 2))
    chart = figures.input_output(inputs, outputs, ["a", "b"], output_title="output (training mode)")
    traces = {(t.name, t.xaxis): t for t in chart.figure.data}
    np.testing.assert_array_equal(traces[("b", "x")].y, inputs[:, 1])
    np.testing.assert_array_equal(traces[("b", "x2")].y, outputs[:, 1])
    np.testing.assert_array_equal(traces[("a", "x2")].x, np.arange(8))
    assert [a.text for a in chart.figure.layout.annotations] == ["input", "output (training mode)"]
    assert chart.figure.layout.xaxis.title.text == "time step in window"


def test_input_output_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"must both be \(time, series\); got \(8, 2\) and \(8, 3\)"):
        figures.input_output(np.zeros((8, 2)), np.zeros((8, 3)), ["a", "b"])


def test_pipeline_strip_one_box_per_stage_with_shape_weights_and_escaped_text():
    block = figures.pipeline_strip(["input", "dense_<1>"], [(None, 4, 3), (16, 4, 8)], [0, 32],
                                   ["the window", "first <Dense>"], [None, figures.thumbnail_png(np.ones((4, 8)))])
    assert block.html.count('class="kf-stage"') == 2
    assert '<b>input</b><br><span class="kf-shape">(None, 4, 3)</span><br>no weights' in block.html
    assert '<b>dense_&lt;1&gt;</b><br><span class="kf-shape">(16, 4, 8)</span><br>32 weights' in block.html
    assert 'title="dense_&lt;1&gt;: first &lt;Dense&gt;"' in block.html and "<Dense>" not in block.html
    assert block.html.count("data:image/png;base64,") == 1 and block.html.count("&rarr;") == 1
    assert "kf-pipeline-total" not in block.html


def test_pipeline_strip_shows_the_layers_total_under_the_boxes():
    block = figures.pipeline_strip(["a", "b"], [(1,), (1,)], [4200, 24], ["", ""], [None, None], total=4224)
    assert block.html.count('data-testid="kf-pipeline-total"') == 1
    assert ">4,224 weights in this layer, each counted in the box of the stage that uses it.</div></div>" in block.html
    weightless = figures.pipeline_strip(["table"], [(1, 8, 6)], [0], [""], [None], total=0)
    assert "This layer has no weights: nothing in it is learned." in weightless.html


def test_pipeline_strip_needs_one_entry_per_stage():
    with pytest.raises(ValueError, match="one entry per stage"):
        figures.pipeline_strip(["a", "b"], [(1,)], [0, 0], ["", ""], [None, None])


def test_thumbnail_colours_follow_the_heatmap_scales():
    from io import BytesIO

    from PIL import Image

    values = np.array([[-2.0, 0.0, 2.0]])  # (time=1, rows=3): rows drawn top to bottom
    image = np.asarray(Image.open(BytesIO(figures.thumbnail_png(values))).convert("RGB"))
    top, middle, bottom = image[0, 0], image[image.shape[0] // 2, 0], image[-1, 0]
    # The ends and the middle of plotly's own RdBu scale, reversed (blue below zero), as the heatmaps draw them.
    assert tuple(top) == (5, 48, 97) and tuple(middle) == (247, 247, 247) and tuple(bottom) == (103, 0, 31)
    gate = np.asarray(Image.open(BytesIO(figures.thumbnail_png(np.array([[0.0, 1.0]]), (0.0, 1.0)))).convert("RGB"))
    assert tuple(gate[0, 0]) == (68, 1, 84) and tuple(gate[-1, 0]) == (253, 231, 37)
    with pytest.raises(ValueError, match="non-empty 2-D"):
        figures.thumbnail_png(np.zeros((0, 3)))


def test_stage_heatmap_rows_against_time_on_a_symmetric_scale():
    values = np.array([[1.0, -3.0], [0.5, 2.0], [0.0, 0.0]])  # (time=3, rows=2)
    chart = figures.stage_heatmap(values, "dense_1", "hidden unit", "time step", note="Drawn reshaped.")
    heatmap = chart.figure.data[0]
    np.testing.assert_array_equal(np.asarray(heatmap.z), values.T)
    assert list(heatmap.x) == [0, 1, 2]
    assert (heatmap.zmin, heatmap.zmax, heatmap.zmid) == (-3.0, 3.0, 0)
    assert chart.figure.layout.xaxis.title.text == "time step"
    assert chart.figure.layout.yaxis.title.text == "hidden unit"
    assert chart.figure.layout.title.text == "stage dense_1"
    assert "one row per hidden unit" in chart.caption and chart.caption.endswith("Drawn reshaped.")


def test_stage_heatmap_with_a_known_range_uses_exactly_that_range():
    chart = figures.stage_heatmap(np.full((3, 2), 0.25), "gate", "series", "time step", value_range=(0.0, 1.0))
    heatmap = chart.figure.data[0]
    assert (heatmap.zmin, heatmap.zmax, heatmap.zmid) == (0.0, 1.0, None)
    assert "from dark at 0 to yellow at 1" in chart.caption


def test_stage_heatmap_labels_series_rows_safely():
    chart = figures.stage_heatmap(np.zeros((4, 2)), "input", "series", "time step", ["a", "<i>b</i>"])
    assert list(chart.figure.data[0].y) == ["a", "&lt;i&gt;b&lt;/i&gt;"]
    assert chart.figure.layout.yaxis.type == "category"


def test_stage_heatmap_rejects_non_2d():
    with pytest.raises(ValueError, match=r"2-D \(time, rows\) array; got shape \(2, 3, 4\)"):
        figures.stage_heatmap(np.zeros((2, 3, 4)), "s", "r", "c")


def test_stage_histogram_shares_over_common_bins():
    rng = np.random.default_rng(2)
    batch = rng.normal(size=(4, 10, 3))
    window = batch[1]
    chart = figures.stage_histogram(window, batch, "activation")
    whole, chosen = chart.figure.data
    assert (whole.name, chosen.name) == ("whole batch", "chosen window")
    edges = np.linspace(batch.min(), batch.max(), figures.stages.HISTOGRAM_BINS + 1)
    np.testing.assert_allclose(whole.y, np.histogram(batch, edges)[0] / batch.size)
    np.testing.assert_allclose(chosen.y, np.histogram(window, edges)[0] / window.size)
    assert sum(whole.y) == pytest.approx(1.0) and sum(chosen.y) == pytest.approx(1.0)
    np.testing.assert_allclose(whole.x, (edges[:-1] + edges[1:]) / 2)
    assert chart.figure.layout.xaxis.title.text == "value at activation"


def test_stage_histogram_of_constant_values_is_one_bar():
    chart = figures.stage_histogram(np.zeros(5), np.zeros(20), "dropout_1")
    assert max(chart.figure.data[0].y) == 1.0
    assert sum(y > 0 for y in chart.figure.data[0].y) == 1


def test_dropout_band_spans_mean_plus_minus_std():
    mean, std, inference = np.array([0.0, 1.0, 2.0]), np.array([0.5, 0.0, 1.0]), np.array([0.1, 1.0, 1.9])
    chart = figures.dropout_band(mean, std, inference, "gdp", samples=64)
    upper, lower, centre, dotted = chart.figure.data
    np.testing.assert_array_equal(upper.y, [0.5, 1.0, 3.0])
    np.testing.assert_array_equal(lower.y, [-0.5, 1.0, 1.0])
    assert lower.fill == "tonexty"
    np.testing.assert_array_equal(centre.y, mean)
    np.testing.assert_array_equal(dotted.y, inference)
    assert chart.figure.layout.yaxis.title.text == "output of gdp"
    assert "64 passes" in chart.caption


def test_stage_bars_keep_data_flow_order_and_grey_out_zeros():
    chart = figures.dropout_std_by_stage(["input", "dropout_1", "residual"], [0.0, 0.3, 0.1])
    bars = chart.figure.data[0]
    assert list(bars.x) == ["input", "dropout_1", "residual"]
    assert list(bars.y) == [0.0, 0.3, 0.1]
    assert bars.marker.color[0] != bars.marker.color[1]
    difference = figures.mode_difference_by_stage(["input", "batch_norm"], [0.0, 1.5])
    assert list(difference.figure.data[0].y) == [0.0, 1.5]
    assert difference.figure.layout.yaxis.title.text == "mean |training − inference|"


def test_impact_matrix_rows_are_inputs_columns_are_outputs():
    impact = np.array([[1.0, 0.2], [0.0, 0.7]])
    chart = figures.impact_matrix(impact, ["a", "b"])
    heatmap = chart.figure.data[0]
    np.testing.assert_array_equal(np.asarray(heatmap.z), impact)
    assert list(heatmap.x) == ["a", "b"] and list(heatmap.y) == ["a", "b"]
    assert chart.figure.layout.yaxis.title.text == "input series replaced by its mean"
    assert chart.figure.layout.xaxis.title.text == "output series that changes"
    assert heatmap.zmin == 0


def test_impact_matrix_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match=r"\(n_series, n_series\) for 3 series; got \(2, 2\)"):
        figures.impact_matrix(np.zeros((2, 2)), ["a", "b", "c"])


def test_fixed_gate_draws_both_inputs_the_output_and_the_fixed_blend():
    a, b = np.array([1.0, 2.0]), np.array([0.0, -2.0])
    chart = figures.fixed_gate(a, b, np.array([0.8, 1.0]), 0.5 * a + 0.5 * b, 0.5, "x")
    assert [t.name for t in chart.figure.data] == ["a", "b", "output (learned gate)", "output with gate fixed at 0.5"]
    np.testing.assert_array_equal(chart.figure.data[3].y, [0.5, 0.0])
    assert chart.figure.layout.yaxis.title.text == "x"


def test_padding_view_marks_the_padded_steps():
    padded = np.array([9.0, 1.0, 2.0, 3.0, 1.0])  # circular, one step each side: window [1, 2, 3]
    chart = figures.padding_view(padded, left=1, window_length=3, series_name="s", padding="circular")
    _, window, padding = chart.figure.data
    assert list(window.x) == [0, 1, 2] and list(window.y) == [1.0, 2.0, 3.0]
    assert list(padding.x) == [-1, 3] and list(padding.y) == [9.0, 1.0]
    assert [(s.x0, s.x1) for s in chart.figure.layout.shapes] == [(-1.5, -0.5), (2.5, 3.5)]
    assert "repeat the window's other end" in chart.caption
    causal = figures.padding_view(np.array([0.0, 0.0, 1.0]), left=2, window_length=1, series_name="s",
                                  padding="causal")
    assert len(causal.figure.layout.shapes) == 1 and "before the start only" in causal.caption


def test_kernel_heatmap_columns_are_offsets_from_the_output_step():
    kernel = np.arange(6.0).reshape(3, 2)  # (kernel_size=3, c_in=2)
    chart = figures.kernel_heatmap(kernel, ["a", "b"], left=1, channel=4)
    heatmap = chart.figure.data[0]
    assert list(heatmap.x) == ["-1", "0", "+1"] and list(heatmap.y) == ["a", "b"]
    np.testing.assert_array_equal(np.asarray(heatmap.z), kernel.T)
    assert chart.figure.layout.title.text == "kernel of embedding channel 4"


def test_importance_bars_mark_masked_features():
    chart = figures.importance_bars(np.array([0.75, 0.0, 0.25]), ["a", "b", "c"], masked=["b"])
    bars = chart.figure.data[0]
    assert list(bars.x) == ["a", "b (masked)", "c"] and list(bars.y) == [0.75, 0.0, 0.25]
    assert chart.figure.layout.shapes[0].y0 == 0.5  # the equal share among the two kept features


def test_importance_by_window_and_flavour_comparison_hold_the_weights():
    weights = np.array([[0.5, 0.5], [0.9, 0.1]])
    by_window = figures.importance_by_window(weights, ["a", "b"], ["2024-01-01", "2024-02-01"])
    np.testing.assert_array_equal(np.asarray(by_window.figure.data[0].z), weights)
    assert list(by_window.figure.data[0].y) == ["2024-01-01", "2024-02-01"]
    flavours = figures.flavour_comparison({"GlobalWeightsMixer": weights[0], "SelfAttentionMixer": weights[1]},
                                          ["a", "b"])
    assert [t.name for t in flavours.figure.data] == ["GlobalWeightsMixer", "SelfAttentionMixer"]
    assert list(flavours.figure.data[1].y) == [0.9, 0.1]
    assert "freshly initialised with the same settings" in flavours.caption
    trained = figures.flavour_comparison({"GlobalWeightsMixer": weights[0]}, ["a"], trained="GlobalWeightsMixer")
    assert "GlobalWeightsMixer with its trained weights and the others freshly initialised" in trained.caption


def test_attention_map_rows_are_queries():
    scores = np.array([[0.7, 0.3], [0.4, 0.6]])
    chart = figures.attention_map(scores, ["a", "b"])
    np.testing.assert_array_equal(np.asarray(chart.figure.data[0].z), scores)
    assert chart.figure.layout.yaxis.title.text == "attending feature (query)"


def test_mixer_input_output_draws_every_feature_and_the_mix():
    features, output = np.arange(6.0).reshape(2, 3), np.array([1.0, 1.5, 2.0])
    chart = figures.mixer_input_output(features, output, ["a", "b"], "output (inference mode)")
    assert [t.name for t in chart.figure.data] == ["a", "b", "mixed output"]
    np.testing.assert_array_equal(chart.figure.data[1].y, features[1])
    np.testing.assert_array_equal(chart.figure.data[2].y, output)
    assert chart.figure.data[2].xaxis == "x2"


def test_every_caption_is_one_sentence():
    rng = np.random.default_rng(3)
    charts = [
        figures.series_preview(_frame(), ["a"]),
        figures.input_output(np.zeros((3, 1)), np.zeros((3, 1)), ["a"]),
        figures.pipeline_strip(["a"], [(1,)], [0], ["d"], [None]),
        figures.stage_heatmap(np.zeros((3, 1)), "s", "series", "time step"),
        figures.stage_histogram(rng.normal(size=5), rng.normal(size=9), "s"),
        figures.dropout_band(np.zeros(3), np.zeros(3), np.zeros(3), "a", 8),
        figures.dropout_std_by_stage(["a"], [0.0]),
        figures.mode_difference_by_stage(["a"], [0.0]),
        figures.impact_matrix(np.zeros((1, 1)), ["a"]),
        figures.fixed_gate(np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2), 1.0, "a"),
        figures.padding_view(np.zeros(3), 1, 1, "a", "same"),
        figures.kernel_heatmap(np.zeros((3, 1)), ["a"], 1, 0),
        figures.importance_bars(np.ones(1), ["a"]),
        figures.importance_by_window(np.ones((2, 1)), ["a"], ["0", "1"]),
        figures.flavour_comparison({"f": np.ones(1)}, ["a"]),
        figures.attention_map(np.ones((1, 1)), ["a"]),
        figures.mixer_input_output(np.zeros((1, 2)), np.zeros(2), ["a"], "output"),
        figures.panels([figures.stage_heatmap(np.zeros((3, 1)), "s", "series", "time step"),
                        figures.stage_histogram(rng.normal(size=5), rng.normal(size=9), "s")]),
        figures.activations_view(np.zeros((3, 1)), np.zeros(3), rng.normal(size=9), "s", "series"),
    ]
    for chart in charts:
        assert chart.caption.endswith(".") and chart.caption.count(". ") == 0, chart.caption


def test_stage_histogram_caption_ends_with_the_stage_specific_note():
    values = np.linspace(0, 1, 24).reshape(2, 3, 4)
    default = figures.stage_histogram(values[0], values, "dense_1").caption
    assert default.endswith(f"(blue); {figures.stages.SWITCHED_OFF_NOTE}.")
    gate = figures.stage_histogram(values[0], values, "gate", note="near 1 keeps a").caption
    assert gate.endswith("(blue); near 1 keeps a.") and "spike at zero" not in gate


def test_panels_put_each_chart_on_its_own_axes_side_by_side():
    rng = np.random.default_rng(4)
    heatmap = figures.stage_heatmap(rng.normal(size=(6, 3)), "dense_1", "series", "time step", ["a", "b", "c"])
    bars = figures.importance_bars(np.array([0.5, 0.25, 0.25]), ["a", "b", "c"])
    histogram = figures.stage_histogram(rng.normal(size=6), rng.normal(size=30), "dense_1")
    chart = figures.panels([heatmap, bars, histogram], widths=(2, 1, 1))
    layout = chart.figure.layout
    assert [(t.type, t.xaxis, t.yaxis) for t in chart.figure.data] == [
        ("heatmap", "x", "y"), ("bar", "x2", "y2"), ("bar", "x3", "y3"), ("bar", "x3", "y3")]
    np.testing.assert_array_equal(np.asarray(chart.figure.data[0].z), np.asarray(heatmap.figure.data[0].z))
    domains = [layout.xaxis.domain, layout.xaxis2.domain, layout.xaxis3.domain]
    assert domains[0][0] == 0 and domains[2][1] == pytest.approx(1)
    assert all(left[1] < right[0] for left, right in zip(domains, domains[1:]))  # in order, never overlapping
    assert domains[0][1] - domains[0][0] == pytest.approx(2 * (domains[1][1] - domains[1][0]))
    # The colour bar stands in the gap after its own panel; the first gap is wider to make room for it.
    assert domains[0][1] < chart.figure.data[0].colorbar.x < domains[1][0]
    assert domains[1][0] - domains[0][1] > domains[2][0] - domains[1][1]
    assert (layout.yaxis.title.text, layout.xaxis2.title.text) == ("series", "feature (series)")
    assert layout.yaxis2.anchor == "x2" and layout.xaxis3.anchor == "y3"
    assert layout.shapes[0].xref == "x2 domain" and layout.shapes[0].yref == "y2"  # the equal-share line
    assert layout.annotations[0].text == "stage dense_1" and layout.annotations[0].x == 0
    assert layout.height == max(c.figure.layout.height for c in (heatmap, bars, histogram))
    assert layout.barmode == "overlay"
    assert chart.caption.startswith("Left: the chosen window at this stage") and "; middle: how much each" in \
        chart.caption and "; right: how this stage's values" in chart.caption


def test_panels_need_one_width_per_chart():
    chart = figures.stage_heatmap(np.zeros((3, 1)), "s", "series", "time step")
    with pytest.raises(ValueError, match="one width per chart; got 1 widths for 2 charts"):
        figures.panels([chart, chart], widths=(1,))


def test_stacked_panels_keep_each_charts_height_and_put_the_legend_over_its_own_panel():
    rng = np.random.default_rng(5)
    heatmap = figures.stage_heatmap(rng.normal(size=(6, 3)), "dense_1", "series", "time step")
    histogram = figures.stage_histogram(rng.normal(size=6), rng.normal(size=30), "dense_1")
    chart = figures.panels([heatmap, histogram], stacked=True)
    layout = chart.figure.layout
    top, bottom = layout.yaxis.domain, layout.yaxis2.domain
    assert top[1] == pytest.approx(1) and bottom[0] == pytest.approx(0) and bottom[1] < top[0]
    assert layout.xaxis.domain == layout.xaxis2.domain == (0, 1)
    plots = [c.figure.layout.height - figures.common.OWN_MARGINS_PX for c in (heatmap, histogram)]
    # Each panel keeps the plot height it had as a chart of its own.
    assert (top[1] - top[0]) / (bottom[1] - bottom[0]) == pytest.approx(plots[0] / plots[1])
    assert layout.height == sum(plots) + figures.common.ROW_GAP_PX + figures.common.OWN_MARGINS_PX
    colorbar = chart.figure.data[0].colorbar
    assert colorbar.y == pytest.approx(sum(top) / 2) and colorbar.len == pytest.approx(top[1] - top[0])
    assert layout.legend.y == pytest.approx(bottom[1])  # the histogram's legend, above the histogram
    assert [t.showlegend for t in chart.figure.data] == [False, True, True]
    assert chart.caption.startswith("Top: the chosen window") and "; bottom: how this stage's" in chart.caption


@pytest.mark.parametrize("value_range", [None, (0.0, 1.0)])
def test_picture_colours_are_plotlys_own_interpolation_of_the_heatmap_scales(value_range):
    from plotly.colors import sample_colorscale, unlabel_rgb

    from explorer.figures.common import DIVERGING, SEQUENTIAL
    from explorer.figures.pictures import value_colours

    if value_range is None:
        values, scale, positions = np.linspace(-2.0, 2.0, 23), DIVERGING, np.linspace(0.0, 1.0, 23)
    else:
        values, scale, positions = np.linspace(0.0, 1.0, 23), SEQUENTIAL, np.linspace(0.0, 1.0, 23)
    expected = np.array([unlabel_rgb(c) for c in sample_colorscale(scale, list(positions))])
    np.testing.assert_allclose(value_colours(values, value_range), expected, atol=0.51)


def test_activations_picture_holds_every_cell_in_the_heatmaps_colours_with_its_labels_and_distribution():
    import re

    from app_testing import html_pictures
    from explorer.figures.pictures import value_colours

    rng = np.random.default_rng(6)
    batch = rng.normal(size=(4, 10, 3))
    block = figures.activations_view(batch[1], batch[1], batch, "dense_1", "series", ["a", "<b>b</b>", "c"])
    cells = html_pictures(block.html)[0]
    assert cells.shape == (3, 10, 3)  # one pixel per (row, time step), rows top to bottom
    np.testing.assert_array_equal(cells, value_colours(batch[1].T))
    assert "&lt;b&gt;b&lt;/b&gt;" in block.html and "<b>b</b>" not in block.html
    limit = np.abs(batch[1]).max()
    assert f">{limit:.3g}<" in block.html and f">{-limit:.3g}<" in block.html  # the colour bar's ends
    tips = re.findall(r'title="([^"]*): whole batch ([0-9.]+), chosen window ([0-9.]+)"', block.html)
    assert len(tips) == figures.stages.HISTOGRAM_BINS
    assert sum(float(batch_share) for _, batch_share, _ in tips) == pytest.approx(1, abs=0.02)
    assert block.caption.startswith("Top: the chosen window at this stage") and "; bottom: how this" in block.caption


def test_activations_picture_of_many_rows_labels_every_kth_row_and_keeps_a_known_range():
    import re

    block = figures.activations_view(np.full((5, 256), 0.5), np.full(5, 0.5), np.linspace(0, 1, 50), "gate",
                                     "hidden unit", value_range=(0.0, 1.0))
    shown = [label for label in re.findall(r'justify-content:flex-end;min-height:0">([^<]*)</div>', block.html)
             if label]
    assert shown[0] == "0" and 8 <= len(shown) <= 64 and len(shown) < 256
    assert ">1<" in block.html and ">0<" in block.html  # the colour bar runs over exactly the range
    with pytest.raises(ValueError, match="non-empty 2-D"):
        figures.activations_view(np.zeros((0, 2)), np.zeros(1), np.zeros(1), "s", "series")


def test_stacked_panels_put_the_legend_over_the_first_named_panel_even_when_it_is_the_top_one():
    rng = np.random.default_rng(7)
    first = figures.stage_histogram(rng.normal(size=6), rng.normal(size=30), "a")
    second = figures.stage_histogram(rng.normal(size=6), rng.normal(size=30), "b")
    chart = figures.panels([first, second], stacked=True)
    assert chart.figure.layout.legend.y == pytest.approx(1.0)
    assert chart.figure.layout.yaxis2.domain[1] < 1.0


def test_importance_by_window_runs_from_zero_to_twice_the_equal_share_or_the_largest_weight():
    equal = np.full((4, 7), 1 / 7)  # GlobalWeightsMixer fresh: every weight the equal share
    heatmap = figures.importance_by_window(equal, list("abcdefg"), ["w0", "w1", "w2", "w3"]).figure["data"][0]
    assert (heatmap["zmin"], heatmap["zmax"]) == (0, pytest.approx(2 / 7))
    peaked = np.array([[0.9, 0.05, 0.05], [0.2, 0.4, 0.4]])
    heatmap = figures.importance_by_window(peaked, list("abc"), ["w0", "w1"]).figure["data"][0]
    assert (heatmap["zmin"], heatmap["zmax"]) == (0, pytest.approx(0.9))
