"""The Streamlit app through streamlit.testing: pages render, controls change the figures, uploads behave.

Figures are read as the plotly JSON the browser would receive, so the
assertions are on what a user would see (trace values, axis labels, shapes
written into the pipeline).
"""

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from app_testing import (US_MACRO_FIRST_SEVEN, box_weights, caption_texts, html_pictures, open_tab, page_figures,
                         pipeline_texts, pipeline_total, plotly_array, run, scrub_box_texts, scrub_payload, tab_figures)
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
MIXING = "pages/1_Feature_and_Temporal_Mixing.py"
FUSION = "pages/2_Gated_Feature_Fusion.py"
EMBEDDING = "pages/3_Token_and_Positional_Embedding.py"
MIXERS = "pages/4_Feature_Mixers.py"
LAYER_PAGES = (MIXING, FUSION, EMBEDDING, MIXERS)
TIMEOUT = 180  # a layer page's first run imports TensorFlow on a loaded 2-core machine



def _app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)


def _csv(columns: list[str], rows: int = 60) -> bytes:
    rng = np.random.default_rng(0)
    lines = ["date," + ",".join(columns)]
    for day in range(rows):
        values = ",".join(f"{v:.4f}" for v in rng.normal(size=len(columns)))
        lines.append(f"2024-{1 + day // 28:02d}-{1 + day % 28:02d},{values}")
    return ("\n".join(lines) + "\n").encode()


def _upload(at: AppTest, name: str, content: bytes) -> AppTest:
    at.radio(key="source").set_value("upload")
    run(at)
    at.file_uploader[0].set_value((name, content, "text/csv"))
    return run(at)


def _all_text(at: AppTest) -> list[str]:
    """Everything the page renders as markdown (where user text could turn into links or markup)."""
    elements = [*at.markdown, *at.caption, *at.warning, *at.error, *at.info, *at.title, *at.subheader]
    return [str(el.value) for el in elements]


# Pages whose pipeline the scrub component draws (from its frames), by the control it scrubs.
SCRUBBED_PIPELINES = {MIXING: "ff_dim", EMBEDDING: "d_model", MIXERS: "flavour"}


def _pipeline_boxes(at: AppTest, layer_page: str) -> list[str]:
    """The page's pipeline boxes as `pipeline_texts` gives them, whether HTML or the scrub component draws them."""
    if layer_page in SCRUBBED_PIPELINES:
        return scrub_box_texts(at, SCRUBBED_PIPELINES[layer_page])
    return pipeline_texts(at)


def _pipeline_total(at: AppTest, layer_page: str) -> int | None:
    if layer_page in SCRUBBED_PIPELINES:
        payload = scrub_payload(at, SCRUBBED_PIPELINES[layer_page])
        return payload["frames"][payload["value"]]["total"]
    return pipeline_total(at)


def test_home_page_loads_without_tensorflow():
    code = ("import sys\n"
            "from streamlit.testing.v1 import AppTest\n"
            "at = AppTest.from_file('app.py', default_timeout=120).run()\n"
            "assert not at.exception, at.exception\n"
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_home_page_shows_the_default_sample_batch_and_tour():
    at = run(_app())
    preview = page_figures(at)["preview"]
    assert [trace["name"] for trace in preview["data"]] == US_MACRO_FIRST_SEVEN
    assert any("(16, 32, 7)" in text for text in _all_text(at))
    assert [s.label for s in at.slider] == ["Window length", "Windows in the batch"]
    page_links = [el.proto.label for el in at.get("page_link")]
    assert "Feature & Temporal Mixing" in page_links


def test_mixing_page_by_deep_link_falls_back_to_the_default_sample():
    at = run(_app().switch_page(MIXING))
    assert [tab.label for tab in at.tabs] == [
        "Stages", "Input and output", "Dropout and training vs inference", "Cross-series impact", "Export"]
    # Only the open tab runs, and its pipeline and activations are the ff_dim scrub component: no plotly chart.
    assert list(page_figures(at)) == []
    scrub = scrub_payload(at, "ff_dim")
    assert scrub["value"] == "64" and scrub["labels"] == [str(v) for v in range(1, 257)]
    assert scrub["frames"]["64"]["picture"]["stage"] == "residual"
    per_tab = {label: list(open_tab(at, "mix_view", label)) for label in [t.label for t in at.tabs][1:]}
    assert per_tab == {"Input and output": ["input_output"],
                       "Dropout and training vs inference": ["by_stage"],  # the band is the dropout scrub
                       "Cross-series impact": ["impact"], "Export": []}
    assert len(at.get("download_button")) == 5  # notebook, config, weights, snippet, trace
    assert "kflayers.FeatureMixing(n_series=7, input_size=32, ff_dim=64, dropout=0.1, activation='relu')" \
        in at.code[0].value
    figures = tab_figures(at, "mix_view", ["Cross-series impact", "Stages"])
    texts = scrub_box_texts(at, "ff_dim")
    assert [t.split("<br>")[0] for t in texts] == [
        "<b>input</b>", "<b>flatten</b>", "<b>batch_norm</b>", "<b>reshape</b>", "<b>dense_1</b>",
        "<b>activation</b>", "<b>dropout_1</b>", "<b>dense_2</b>", "<b>dropout_2</b>", "<b>residual</b>"]
    # dense_1: 7 inputs x 64 units + 64 biases; dense_2: 64 x 7 + 7; batch norm: 4 x 224.
    assert texts[4] == "<b>dense_1</b><br>(16, 32, 64)<br>512 weights"
    assert texts[7] == "<b>dense_2</b><br>(16, 32, 7)<br>455 weights"
    assert texts[2] == "<b>batch_norm</b><br>(16, 224)<br>896 weights"
    assert figures["impact"]["data"][0]["x"] == US_MACRO_FIRST_SEVEN
    # ff_dim and dropout are no longer Streamlit sliders: scrub components hold them.
    assert [s.label for s in at.slider if s.label in ("ff_dim", "dropout")] == []


def test_ff_dim_and_dropout_change_what_the_figures_show():
    at = _app().switch_page(MIXING)
    at.session_state["mix_interactive"] = True  # the activations as a plotly chart, whose values can be read
    run(at)
    tabs = ["Cross-series impact", "Dropout and training vs inference", "Stages"]
    before = tab_figures(at, "mix_view", tabs)
    at.session_state["mix_ff_dim"] = 8  # what the component's release hands over
    after_ff = tab_figures(at, "mix_view", tabs)
    assert scrub_box_texts(at, "ff_dim")[4] == "<b>dense_1</b><br>(16, 32, 8)<br>64 weights"
    assert at.query_params["mix_ff_dim"] == "8"
    assert not np.allclose(plotly_array(after_ff["activations"]["data"][0]["z"]), plotly_array(before["activations"]["data"][0]["z"]))
    assert not np.allclose(plotly_array(after_ff["impact"]["data"][0]["z"]), plotly_array(before["impact"]["data"][0]["z"]))

    at.session_state["mix_dropout"] = 0.5
    run(at)
    after_dropout = open_tab(at, "mix_view", "Dropout and training vs inference")
    std_before = plotly_array(after_ff["by_stage"]["data"][0]["y"])
    std_after = plotly_array(after_dropout["by_stage"]["data"][0]["y"])
    # More dropout, more spread at the output; none before the first dropout stage.
    assert std_after[-1] > std_before[-1] > 0
    band = scrub_payload(at, "dropout")
    assert band["value"] == "0.5" and band["labels"][:3] == ["0.0", "0.05", "0.1"] and len(band["labels"]) == 19
    assert np.mean(band["frames"]["0.5"]["band"]["std"]) > 0
    np.testing.assert_allclose(std_after[:6], 0, atol=1e-6)

    at.session_state["mix_dropout"] = 0.0
    no_dropout = page_figures(run(at))
    np.testing.assert_allclose(plotly_array(no_dropout["by_stage"]["data"][0]["y"]), 0, atol=1e-6)


def test_training_mode_switches_the_shown_trace():
    at = run(_app().switch_page(MIXING))
    inference = open_tab(at, "mix_view", "Input and output")["input_output"]
    at.toggle(key="mix_training").set_value(True)
    training = page_figures(run(at))["input_output"]
    assert training["layout"]["annotations"][1]["text"] == "output (training mode)"
    trained = np.array([plotly_array(t["y"]) for t in training["data"] if t["xaxis"] == "x2"])
    inferred = np.array([plotly_array(t["y"]) for t in inference["data"] if t["xaxis"] == "x2"])
    assert trained.shape == inferred.shape == (7, 32)
    assert not np.allclose(trained, inferred)


def test_temporal_mixing_has_no_ff_dim_and_mixes_no_series():
    at = run(_app().switch_page(MIXING))
    at.radio(key="mix_layer").set_value("TemporalMixing")
    run(at)
    assert "ff_dim" not in [s.label for s in at.slider]
    impact = plotly_array(open_tab(at, "mix_view", "Cross-series impact")["impact"]["data"][0]["z"])
    assert impact.shape == (7, 7)
    assert np.all(np.diag(impact) > 0)
    np.testing.assert_allclose(impact - np.diag(np.diag(impact)), 0, atol=1e-6)
    open_tab(at, "mix_view", "Export")
    assert "kflayers.TemporalMixing(" in at.code[0].value


def test_every_layer_pages_pipeline_shows_every_weight_with_the_total():
    at = run(_app())
    totals = {}
    for layer_page in LAYER_PAGES:
        at.switch_page(layer_page)
        run(at)
        boxes, totals[layer_page] = _pipeline_boxes(at, layer_page), _pipeline_total(at, layer_page)
        assert sum(box_weights(box) for box in boxes) == totals[layer_page] > 0, (layer_page, boxes)
    # The mixers page's default, the self-attention mixer over 7 series of 32 steps: four 32 x 32 projections
    # with biases, queries and keys in the importance box, values and output in the mixed one.
    at.switch_page(MIXERS)
    boxes = {box.split("</b>")[0][3:]: box_weights(box) for box in _pipeline_boxes(run(at), MIXERS)}
    assert totals[MIXERS] == 4 * (32 * 32 + 32) and boxes["importance"] == boxes["mixed"] == 2 * (32 * 32 + 32)


def test_a_good_upload_changes_the_data_on_every_page():
    at = run(_app())
    _upload(at, "mine.csv", _csv(["alpha", "beta", "gamma"]))
    assert [t["name"] for t in page_figures(at)["preview"]["data"]] == ["alpha", "beta", "gamma"]
    assert any("(16, 32, 3)" in text for text in _all_text(at))
    first_stage_shapes = {MIXING: "(16, 32, 3)", FUSION: "(16, 32, 3)", EMBEDDING: "(16, 32, 3)",
                          MIXERS: "(16, 3, 32)"}
    tab_keys = {MIXING: "mix_view", FUSION: "gff_view", EMBEDDING: "emb_view", MIXERS: "mixers_view"}
    for layer_page in LAYER_PAGES:
        at.switch_page(layer_page)
        run(at)
        figures = page_figures(at)
        assert first_stage_shapes[layer_page] in _pipeline_boxes(at, layer_page)[0], layer_page
        if layer_page == MIXERS:
            assert figures["importance"]["data"][0]["x"] == ["alpha", "beta", "gamma"]
        if layer_page == EMBEDDING:
            figures = open_tab(at, tab_keys[layer_page], "Input and embedding")
            assert figures["input_heatmap"]["data"][0]["y"] == ["alpha", "beta", "gamma"]
        else:
            figures = open_tab(at, tab_keys[layer_page], "Input and output")
            assert figures["input_output"]["data"][0]["name"] == "alpha", layer_page
        assert any("mine\\.csv" in text for text in _all_text(at)), layer_page  # the name, escaped


def test_a_bad_upload_shows_the_error_and_keeps_the_previous_data():
    at = run(_app())
    _upload(at, "good.csv", _csv(["alpha", "beta"]))
    _upload(at, "bad.csv", gzip.compress(b"a,b\n1,2\n"))
    assert [e.value for e in at.error] == [
        "This is a gzip\\-compressed file\\, not a CSV text file\\; extract or export the table as CSV and "
        "upload that\\."]
    assert [t["name"] for t in page_figures(at)["preview"]["data"]] == ["alpha", "beta"]
    assert any("previous file" in i.value for i in at.info)


def test_a_bad_first_upload_keeps_the_sample():
    at = run(_app())
    _upload(at, "empty.csv", b"")
    assert len(at.error) == 1 and "empty" in at.error[0].value
    assert [t["name"] for t in page_figures(at)["preview"]["data"]] == US_MACRO_FIRST_SEVEN


def test_uploaded_names_are_shown_as_text_not_markup():
    names = ["**bold**", "<b>x</b>", "[l](javascript:alert(1))", "=SUM(A1)"]
    at = run(_app())
    _upload(at, "<img src=x>[f](http://e.com).csv", _csv(names))
    assert at.multiselect(key="series").value == names  # widget options are plain text
    assert [t["name"] for t in page_figures(at)["preview"]["data"]] == [
        "**bold**", "&lt;b&gt;x&lt;/b&gt;", "[l](javascript:alert(1))", "=SUM(A1)"]
    for text in _all_text(at):
        assert "<b>" not in text and "](" not in text and "<img" not in text, text


def test_page_switches_keep_the_data_and_the_layer_settings():
    at = run(_app())
    at.selectbox(key="sample").set_value("tech_stocks")
    at.slider(key="window").set_value(20)
    run(at)
    at.switch_page(MIXING)
    run(at)
    assert scrub_box_texts(at, "ff_dim")[0] == "<b>input</b><br>(16, 20, 6)<br>no weights"
    at.session_state["mix_ff_dim"] = 12
    run(at)
    at.switch_page("app.py")
    run(at)
    assert at.slider(key="window").value == 20 and at.selectbox(key="sample").value == "tech_stocks"
    at.switch_page(MIXING)
    run(at)
    assert at.session_state["mix_ff_dim"] == 12 and scrub_payload(at, "ff_dim")["value"] == "12"


def test_the_address_bar_is_a_link_to_the_same_view():
    at = _app()
    at.query_params.update({"sample": "tech_stocks", "window": "20", "mix_ff_dim": "8", "mix_dropout": "0.3",
                            "batch": "not a number", "mix_view": "Cross-series impact"})
    run(at.switch_page(MIXING))
    assert at.session_state["mix_ff_dim"] == 8 and at.session_state["mix_dropout"] == 0.3
    assert list(page_figures(at)) == ["impact"]  # the link opened its tab
    assert at.query_params["mix_view"] == "Cross-series impact"
    open_tab(at, "mix_view", "Stages")
    assert scrub_payload(at, "ff_dim")["value"] == "8"
    assert scrub_box_texts(at, "ff_dim")[0] == "<b>input</b><br>(16, 20, 6)<br>no weights"
    assert at.query_params["batch"] == "16"  # the unreadable value fell back to the default
    assert at.query_params["mix_ff_dim"] == "8" and at.query_params["window"] == "20"


def test_gated_fusion_page_gate_in_range_and_fixed_gate_keeps_one_side():
    at = run(_app().switch_page(FUSION))
    at.selectbox(key="gff_stage").set_value("gate")
    at.session_state["gff_interactive"] = True
    stage_heatmap = plotly_array(page_figures(run(at))["activations"]["data"][0]["z"])
    gate = plotly_array(open_tab(at, "gff_view", "The gate")["gate_heatmap"]["data"][0]["z"])
    assert gate.shape == (7, 32) and gate.min() > 0 and gate.max() < 1  # sigmoid
    np.testing.assert_array_equal(stage_heatmap, gate)
    at.radio(key="gff_fixed_gate").set_value(1.0)
    fixed = page_figures(run(at))["fixed_gate"]["data"]
    np.testing.assert_allclose(plotly_array(fixed[3]["y"]), plotly_array(fixed[0]["y"]))  # gate 1 keeps only a
    at.selectbox(key="gff_pair").set_value("token_embedding")
    embedded = page_figures(run(at))["fixed_gate"]["data"]
    assert not np.allclose(plotly_array(embedded[1]["y"]), plotly_array(fixed[1]["y"]))  # b is now a projection
    difference = plotly_array(open_tab(at, "gff_view", "Training vs inference")["mode_difference"]["data"][0]["y"])
    np.testing.assert_array_equal(difference, 0)  # no dropout, no batch norm


def test_embedding_page_follows_d_model_padding_and_shows_the_sinusoid_table():
    at = run(_app().switch_page(EMBEDDING))
    at.session_state["emb_d_model"] = 6  # what the scrub component's release hands over
    at.selectbox(key="emb_padding").set_value("causal")
    figures = tab_figures(at, "emb_view", ["Padding", "Position table", "Learned kernels", "Stages"])
    assert scrub_box_texts(at, "d_model")[-1].startswith("<b>bias</b><br>(16, 32, 6)")
    assert scrub_payload(at, "d_model")["labels"] == [str(v) for v in range(1, 129)]
    assert at.query_params["emb_d_model"] == "6"
    padding = figures["padding"]["data"][2]  # the padded steps: two zeros before the window (kernel_size 3)
    assert list(plotly_array(padding["x"])) == [-2, -1] and list(plotly_array(padding["y"])) == [0, 0]
    table = plotly_array(figures["position_table"]["data"][0]["z"])  # (d_model, time)
    positions = np.arange(32)
    np.testing.assert_allclose(table[0], np.sin(positions), atol=1e-6)
    np.testing.assert_allclose(table[1], np.cos(positions), atol=1e-6)
    assert plotly_array(figures["kernel"]["data"][0]["z"]).shape == (7, 3)


def test_mixers_page_masked_feature_gets_zero_and_flavours_compare():
    at = run(_app().switch_page(MIXERS))
    tabs = ["All four flavours", "Dropout and training vs inference", "Importance"]
    figures = tab_figures(at, "mixers_view", tabs)
    assert [t["name"] for t in figures["flavours"]["data"]] == [
        "GlobalWeightsMixer", "InstanceWeightsMixer", "SelfAttentionMixer", "CrossAttentionMixer"]
    # SelfAttentionMixer: the attention map is the second panel next to the importances by window.
    assert [t["type"] for t in figures["importance_by_window"]["data"]] == ["heatmap", "heatmap"]
    at.multiselect(key="mixers_masked").set_value(["realinv"])
    figures = tab_figures(at, "mixers_view", tabs)
    bars = figures["importance"]["data"][0]
    assert bars["x"][2] == "realinv (masked)" and plotly_array(bars["y"])[2] == 0
    assert plotly_array(bars["y"]).sum() == pytest.approx(1, abs=1e-5)
    for flavour in figures["flavours"]["data"]:
        assert plotly_array(flavour["y"])[2] == 0, flavour["name"]
    attention = figures["importance_by_window"]["data"][1]
    assert attention["xaxis"] == "x2" and attention["x"][2] == "realinv"
    np.testing.assert_array_equal(plotly_array(attention["z"])[:, 2], 0)
    std_before = plotly_array(figures["by_stage"]["data"][0]["y"])
    at.slider(key="mixers_dropout").set_value(0.0)
    std_after = plotly_array(open_tab(at, "mixers_view", "Dropout and training vs inference")["by_stage"]["data"][0]["y"])
    assert std_before.max() > 0 and std_after.max() == pytest.approx(0, abs=1e-6)
    at.session_state["mixers_flavour"] = "GlobalWeightsMixer"  # what the flavour scrub's release hands over
    figures = open_tab(at, "mixers_view", "Importance")
    assert len(figures["importance_by_window"]["data"]) == 1  # no attention map
    # A fresh GlobalWeightsMixer weighs every kept feature equally.
    np.testing.assert_allclose(np.delete(plotly_array(figures["importance"]["data"][0]["y"]), 2), 1 / 6, rtol=1e-5)


def test_the_activations_picture_shows_the_values_the_interactive_chart_holds():
    from explorer.figures.pictures import value_colours

    at = run(_app().switch_page(MIXING))
    at.radio(key="mix_layer").set_value("TemporalMixing")  # FeatureMixing's picture is the ff_dim scrub's
    body = next(h.proto.body for h in run(at).get("html") if 'data-testid="kf-activations"' in h.proto.body)
    cells = html_pictures(body)[0]
    at.toggle(key="mix_interactive").set_value(True)
    chart = page_figures(run(at))["activations"]
    assert "mix_interactive" in at.query_params  # the choice is part of the link
    heatmap = plotly_array(chart["data"][0]["z"])  # (series, time)
    assert cells.shape == (*heatmap.shape, 3)
    np.testing.assert_array_equal(cells, value_colours(heatmap))
    assert not any('data-testid="kf-activations"' in h.proto.body for h in at.get("html"))


FLAVOURS = ["GlobalWeightsMixer", "InstanceWeightsMixer", "SelfAttentionMixer", "CrossAttentionMixer"]


def test_the_mixer_flavour_is_a_scrub_on_the_importance_tab_and_a_choice_with_trained_weights():
    at = run(_app().switch_page(MIXERS))
    scrub = scrub_payload(at, "flavour")
    assert scrub["labels"] == FLAVOURS and scrub["value"] == "SelfAttentionMixer"
    assert scrub["frames"]["SelfAttentionMixer"]["picture"]["stage"] == "importance"  # windows x series
    assert scrub["picture"]["column_title"] == "window" and scrub["picture"]["row_labels"] == US_MACRO_FIRST_SEVEN
    assert set(scrub["descriptions"]) == set(FLAVOURS)  # the boxes' tooltips follow the flavour
    assert "flavour" not in [s.label for s in at.selectbox]  # no rerun per flavour: the scrub holds it
    at.session_state["mixers_flavour"] = "GlobalWeightsMixer"  # what the component's release hands over
    run(at)
    assert at.query_params["mixers_flavour"] == "GlobalWeightsMixer"
    assert scrub_payload(at, "flavour")["value"] == "GlobalWeightsMixer"
    assert _pipeline_boxes(at, MIXERS)[1] == "<b>importance</b><br>(16, 7)<br>7 weights"  # one per feature
    assert len(page_figures(at)["importance_by_window"]["data"]) == 1  # the attention map is self-attention's
    # With trained weights each flavour is trained on its own: a plain choice, with a sentence, and no scrub.
    at.radio(key="mixers_weights").set_value("trained")
    run(at)
    assert at.selectbox(key="mixers_flavour").value == "GlobalWeightsMixer"
    assert any("Each flavour is trained on its own" in c.value for c in at.caption)
    assert "flavour" not in [json.loads(element.proto.json).get("control") for element in at.get("bidi_component")]


@pytest.mark.parametrize("link, shown", [("GlobalWeightsMixer", "GlobalWeightsMixer"),
                                         ("NoSuchMixer", "SelfAttentionMixer")])
def test_a_link_sets_the_flavour_and_one_outside_the_options_falls_back_to_the_default(link, shown):
    at = _app()
    at.query_params["mixers_flavour"] = link
    run(at.switch_page(MIXERS))
    assert at.session_state["mixers_flavour"] == shown and scrub_payload(at, "flavour")["value"] == shown
    assert at.query_params["mixers_flavour"] == shown


@pytest.fixture
def broken_component(monkeypatch):
    """Registering the scrub component fails (as an older Streamlit without components v2 would)."""
    import streamlit as st

    from explorer.ui import scrub

    def unavailable(*args, **kwargs):
        raise RuntimeError("components v2 are not available")

    scrub._component.cache_clear()
    monkeypatch.setattr(st.components.v2, "component", unavailable)
    yield
    scrub._component.cache_clear()


@pytest.mark.parametrize("layer_page, widget, key, moved, box", [
    (MIXING, "slider", "mix_ff_dim", 8, "<b>dense_1</b><br>(16, 32, 8)<br>64 weights"),
    (MIXERS, "selectbox", "mixers_flavour", "GlobalWeightsMixer", "<b>importance</b><br>(16, 7)<br>7 weights")])
def test_a_scrub_component_that_fails_to_load_falls_back_to_the_plain_control_with_one_sentence(
        broken_component, layer_page, widget, key, moved, box):
    at = run(_app().switch_page(layer_page))  # run() fails on any exception the page shows
    assert at.get("bidi_component") == []
    sentences = [text for text in caption_texts(at) if "could not be drawn" in text]
    control = "ff_dim" if layer_page == MIXING else "flavour"
    assert sentences == [f"The scrub control could not be drawn (RuntimeError), so {control} is a plain control "
                         "here: the page redraws once you set it, not while you move it."]
    # The server draws the boxes and the picture instead, and the plain control moves the whole page.
    assert pipeline_texts(at)
    assert any('data-testid="kf-activations"' in h.proto.body for h in at.get("html"))
    getattr(at, widget)(key=key).set_value(moved)
    run(at)
    assert at.session_state[key] == moved and at.query_params[key] == str(moved)
    assert box in pipeline_texts(at)


def test_without_the_component_the_dropout_tab_draws_the_band_on_the_server_and_the_plain_slider_moves_it(
        broken_component):
    at = _app()
    at.query_params["mix_view"] = "Dropout and training vs inference"
    run(at.switch_page(MIXING))
    assert [text for text in caption_texts(at) if "could not be drawn" in text] == [
        "The scrub control could not be drawn (RuntimeError), so dropout is a plain control here: the page redraws "
        "once you set it, not while you move it."]

    def band():
        upper, lower, mean, inference = (plotly_array(line["y"]) for line in page_figures(at)["dropout_band"]["data"])
        return (upper - lower) / 2, mean, inference

    for rate in (0.0, 0.5):
        at.slider(key="mix_dropout").set_value(rate)
        run(at)
        assert at.query_params["mix_dropout"] == str(rate)
        std, mean, inference = band()
        if rate == 0.0:  # no dropout: every pass is the inference pass
            np.testing.assert_allclose(std, 0.0, atol=1e-6)
            np.testing.assert_allclose(mean, inference, atol=1e-5)
        else:
            assert std.max() > 1e-3


def test_a_scrub_range_reaches_the_browser_once_within_its_budget_and_again_after_a_gap():
    """Each run sends only the frames not sent before, naming those sent (`held`); a forgotten send
    (what the component's `resend` trigger does) makes the next run send the whole range once."""
    import json
    import time

    at = run(_app().switch_page(MIXING))
    received, sizes, deadline = {}, [], time.monotonic() + 180
    while True:
        element = next(e for e in at.get("bidi_component") if json.loads(e.proto.json).get("control") == "ff_dim")
        sizes.append(len(element.proto.json.encode()))
        data = json.loads(element.proto.json)
        assert sorted(data["held"], key=int) == sorted(received, key=int)  # exactly what was sent before
        assert not set(data["frames"]) & set(received)  # no frame twice
        received.update(data["frames"])
        if len(received) == len(data["labels"]):
            break
        assert time.monotonic() < deadline, f"only {len(received)} of 256 values in time"
        time.sleep(0.4)
        run(at)
    assert sum(sizes) < 2 * 1024 * 1024, sizes
    assert sorted(received, key=int) == [str(v) for v in range(1, 257)]
    del at.session_state["_kf_sent_mix_ff_dim"]
    again = json.loads(next(e.proto.json for e in run(at).get("bidi_component")
                            if json.loads(e.proto.json).get("control") == "ff_dim"))
    assert again["held"] == [] and sorted(again["frames"], key=int) == sorted(received, key=int)
