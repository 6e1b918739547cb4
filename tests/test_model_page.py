"""The Your model page and the layer pages showing a loaded model's layers, through streamlit.testing.

The files are saved by the project's own code: a Forecaster trained as the Learn page trains it (on the default
sample's first seven series and the default window, so the default batch fits it) and saved as its download, and
a functional model with a nested model. Every number a page shows is compared with the in-memory model that
was saved, run by hand.
"""

import keras
import numpy as np
import pytest
from app_testing import US_MACRO_FIRST_SEVEN, open_tab, page_figures, pipeline_texts, plotly_array, run
from model_files import (SERIES, WINDOW, edited_config, forecaster_windows, functional_model, lambda_model,
                         layer_config, saved, zip_bomb)
from streamlit.testing.v1 import AppTest

import kflayers
from explorer.data import load_sample
from explorer.training import fit_forecaster
from explorer.ui.learn import model_bytes
from test_app import EMBEDDING, FUSION, MIXERS, MIXING, ROOT, TIMEOUT

YOUR_MODEL = "pages/6_Your_Model.py"


@pytest.fixture(scope="module")
def forecaster():
    """(training result, file bytes): one epoch on the default sample's first seven series, windows of 32."""
    frame = load_sample("us_macro")[US_MACRO_FIRST_SEVEN]
    result = fit_forecaster(frame, "realcons", WINDOW, mixer="cross", epochs=1, seed=0)
    return result, model_bytes(result)


@pytest.fixture(scope="module")
def functional():
    model = functional_model()
    return model, saved(model)


@pytest.fixture(scope="module")
def batch():
    """The default batch's windows, as every page feeds them."""
    return forecaster_windows(load_sample("us_macro"), US_MACRO_FIRST_SEVEN, WINDOW)


def _numpy(tensor) -> np.ndarray:
    return keras.ops.convert_to_numpy(tensor)


def _model_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    return run(at.switch_page(YOUR_MODEL))


def _upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader[0].set_value((name, data, "application/octet-stream"))
    return run(at)


def _open(at: AppTest, path: str, page: str) -> AppTest:
    """Press the Open button of the layer at `path`; the app switches to `page` (and stays there)."""
    at.button(key=f"open_{path}").click()
    run(at)
    at.switch_page(page)
    return at


def _plain(markdown: str) -> str:
    """Markdown shown by the app with its escapes removed (what the user reads)."""
    return markdown.replace("\\", "")


def test_a_learn_page_model_is_listed_and_fits_the_default_batch(forecaster):
    result, data = forecaster
    at = _upload(_model_page(), "forecaster_realcons.keras", data)
    table = at.dataframe[0].value
    assert list(table["layer"]) == ["temporal_mixing", "head_mixing", "mixer"]
    assert list(table["class"]) == ["TemporalMixing", "FeatureMixing", "CrossAttentionMixer"]
    assert list(table["weights"]) == [result.model.temporal_mixing.count_params(),
                                      result.model.head_mixing.count_params(), result.model.mixer.count_params()]
    assert list(table["input shape"]) == ["(any, 32, 7)", "(any, 2, 16)", "(any, 7, 16)"]
    summary = next(_plain(m.value) for m in at.markdown if "forecaster_realcons" in _plain(m.value))
    assert f"a Forecaster model with {result.model.count_params():,} weights" in summary
    assert "its input shape is (any, 32, 7)" in summary
    assert at.success[0].value.startswith("The batch (16, 32, 7) fits the model")
    assert [b.label for b in at.button if b.key.startswith("open_")] == [
        "Open temporal_mixing (TemporalMixing) on Feature & Temporal Mixing",
        "Open head_mixing (FeatureMixing) on Feature & Temporal Mixing",
        "Open mixer (CrossAttentionMixer) on Feature Mixers"]
    assert "both_ways" in page_figures(at)


def test_the_models_output_is_compared_with_a_fresh_layer_in_its_place(forecaster, batch):
    result, data = forecaster
    at = _upload(_model_page(), "forecaster.keras", data)
    at.selectbox(key="yourmodel_layer").set_value("mixer")
    saved_line, fresh_line = page_figures(run(at))["both_ways"]["data"]
    np.testing.assert_allclose(plotly_array(saved_line["y"]), _numpy(result.model(batch, training=False))[:, 0],
                               rtol=1e-5, atol=1e-6)
    # Reference: the same Forecaster with a fresh mixer, built as a layer page builds it (seed 0).
    reference = kflayers.Forecaster.from_config(result.model.get_config())
    reference(batch[:1])
    reference.set_weights(result.model.get_weights())
    keras.utils.set_random_seed(0)
    fresh = kflayers.CrossAttentionMixer(mod_dim=16, dropout=0.1)
    fresh.build((None, 7, 16))
    reference.mixer.set_weights(fresh.get_weights())
    np.testing.assert_allclose(plotly_array(fresh_line["y"]), _numpy(reference(batch, training=False))[:, 0],
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, bad, says", [
    ("notes.keras", b"realgdp,realcons\n1,2\n", "This file is not a .keras model archive"),
    ("lambda.keras", None, "This model contains a Lambda layer ('double')"),
    ("bomb.keras", zip_bomb(), "times its packed size, as a zip bomb does"),
    ("edited.keras", "unknown argument", "was saved with the argument `colour`"),
], ids=["not an archive", "lambda layer", "zip bomb", "unknown argument"])
def test_a_refused_file_is_one_sentence_and_the_previous_model_stays(forecaster, functional, name, bad, says):
    if bad is None:
        bad = saved(lambda_model())
    elif bad == "unknown argument":
        bad = edited_config(functional[1], lambda config: layer_config(config, "mix").update(colour="red"))
    at = _upload(_model_page(), "forecaster.keras", forecaster[1])
    at = _upload(at, name, bad)
    (error,) = at.error
    assert says in _plain(error.value) and "\n" not in error.value
    assert [_plain(i.value) for i in at.info] == ["Still using your previous model, forecaster.keras."]
    assert list(at.dataframe[0].value["layer"]) == ["temporal_mixing", "head_mixing", "mixer"]


def test_a_refused_first_file_leaves_the_page_without_a_model():
    at = _upload(_model_page(), "notes.keras", b"not a zip archive")
    assert _plain(at.error[0].value).startswith("This file is not a .keras model archive")
    assert at.info[0].value.startswith("No model is loaded yet")
    assert not at.dataframe


def test_the_mixer_opens_on_the_feature_mixers_page_with_the_models_weights(forecaster, batch):
    result, data = forecaster
    at = _open(_upload(_model_page(), "forecaster.keras", data), "mixer", MIXERS)
    figures = page_figures(run(at))
    assert [t.value for t in at.title] == ["Feature Mixers"]
    expected = _numpy(result.model.importance(batch))
    np.testing.assert_allclose(plotly_array(figures["importance_model"]["data"][0]["y"]), expected[0],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(plotly_array(figures["importance_by_window"]["data"][0]["z"]), expected,
                               rtol=1e-5, atol=1e-6)
    assert figures["importance_model"]["data"][0]["x"] == US_MACRO_FIRST_SEVEN  # one token per series
    assert not np.allclose(plotly_array(figures["importance_fresh"]["data"][0]["y"]), expected[0])
    # The config is shown, not offered as controls.
    config = at.sidebar.dataframe[0].value
    assert dict(zip(config["argument"], config["value"])) == {
        "mod_dim": "16", "n_heads": "1", "bias": "True", "dropout": "0.1", "skip": "True", "keep_dim": "False"}
    assert not [s for s in at.slider if s.key.startswith("mixers_")]
    assert "mixers_flavour" not in [s.key for s in at.selectbox]

    flavours = open_tab(at, "mixers_view", "All four flavours")["flavours"]["data"]
    assert [t["name"] for t in flavours] == ["GlobalWeightsMixer", "InstanceWeightsMixer", "SelfAttentionMixer",
                                             "CrossAttentionMixer"]
    io = open_tab(at, "mixers_view", "Input and output")["input_output"]
    assert io["data"]
    probes = open_tab(at, "mixers_view", "Dropout and training vs inference")
    assert {"dropout_band", "by_stage"} <= set(probes) and probes["by_stage"]["data"][1]["xaxis"] == "x2"
    open_tab(at, "mixers_view", "Export")
    assert [b.proto.label for b in at.get("download_button")][:3] == ["Notebook (.ipynb)", "Config (JSON)",
                                                                     "Weights, model (.npz)"]

    at.sidebar.button(key="mixers_tune_copy").click()
    figures = open_tab(at, "mixers_view", "Importance")
    assert {key: at.session_state[key] for key in ("mixers_flavour", "mixers_n_heads", "mixers_dropout",
                                                   "mixers_weights")} == {
        "mixers_flavour": "CrossAttentionMixer", "mixers_n_heads": 1, "mixers_dropout": 0.1, "mixers_weights": "fresh"}
    assert "importance" in figures and "importance_model" not in figures
    # The page's own layer is fed the batch itself: mod_dim is the window length again.
    assert at.selectbox(key="mixers_n_heads").options[-1] == "16"


def test_temporal_mixing_opens_fed_the_normalised_batch_and_every_section_works(forecaster, batch):
    result, data = forecaster
    at = _open(_upload(_model_page(), "forecaster.keras", data), "temporal_mixing", MIXING)
    figures = page_figures(run(at))
    assert any('data-testid="kf-activations"' in h.proto.body for h in at.get("html"))
    assert pipeline_texts(at)[0] == "<b>input</b><br>(16, 32, 7)<br>no weights"
    io = open_tab(at, "mix_view", "Input and output")["input_output"]
    lines = {trace["name"]: plotly_array(trace["y"]) for trace in io["data"] if trace.get("xaxis") != "x2"}
    # TemporalMixing gets each window of the batch scaled by its own mean and spread (the model's RevIN step).
    window = batch[0, :, 0]
    np.testing.assert_allclose(lines["realgdp"], (window - window.mean()) / np.sqrt(window.var() + 1e-5),
                               rtol=1e-4, atol=1e-5)
    impact = open_tab(at, "mix_view", "Cross-series impact")
    assert {"impact_fresh", "impact_model"} <= set(impact)
    off_diagonal = plotly_array(impact["impact_model"]["data"][0]["z"]) * (1 - np.eye(SERIES))
    np.testing.assert_allclose(off_diagonal, 0, atol=1e-6)  # TemporalMixing never mixes series
    probes = open_tab(at, "mix_view", "Dropout and training vs inference")
    assert {"dropout_band", "by_stage"} <= set(probes) and probes["by_stage"]["data"][1]["xaxis"] == "x2"
    open_tab(at, "mix_view", "Export")
    assert not at.exception


def test_every_layer_of_a_functional_model_opens_on_its_page(functional, batch):
    original, data = functional
    inner = original.get_layer("inner")
    embedded = _numpy(original.get_layer("embed")(batch))
    mixed = _numpy(original.get_layer("mix")(embedded, training=False))
    temporal = _numpy(inner.get_layer("temporal")(mixed, training=False))
    channels = np.transpose(_numpy(inner.get_layer("fusion")([mixed, temporal])), (0, 2, 1))

    at = _open(_upload(_model_page(), "functional.keras", data), "embed", EMBEDDING)
    kernel = plotly_array(open_tab(at, "emb_view", "Learned kernels")["kernel_model"]["data"][0]["z"])
    np.testing.assert_allclose(kernel, _numpy(original.get_layer("embed").kernel)[:, :, 0].T, rtol=1e-6)

    at.switch_page(YOUR_MODEL)
    at = _open(run(at), "inner/fusion", FUSION)
    gate_figures = open_tab(at, "gff_view", "The gate")
    gate = _numpy(inner.get_layer("fusion").trace([mixed, temporal])["gate"])
    np.testing.assert_allclose(plotly_array(gate_figures["gate_heatmap"]["data"][0]["z"]), gate[0].T, rtol=1e-5,
                               atol=1e-6)
    assert {"gate_histogram_fresh", "gate_histogram_model"} <= set(gate_figures)
    assert at.title[0].value == "Gated Feature Fusion" and not at.exception

    at.switch_page(YOUR_MODEL)
    at = _open(run(at), "attend", MIXERS)
    figures = page_figures(run(at))
    expected = _numpy(original.get_layer("attend").importance(channels))
    np.testing.assert_allclose(plotly_array(figures["importance_model"]["data"][0]["y"]), expected[0], rtol=1e-5,
                               atol=1e-6)
    assert figures["importance_model"]["data"][0]["x"] == [f"channel {i}" for i in range(1, 9)]
    assert figures["importance_by_window"]["data"][1]["xaxis"] == "x2"  # the attention map

    at.switch_page(YOUR_MODEL)
    at = _open(run(at), "mix", MIXING)
    open_tab(at, "mix_view", "Stages")
    texts = pipeline_texts(at)  # fed the embedding's 8 channels; ff_dim 12
    assert texts[0] == "<b>input</b><br>(16, 32, 8)<br>no weights"
    assert any(text.startswith("<b>dense_1</b><br>(16, 32, 12)") for text in texts)


def test_a_model_for_other_windows_says_what_it_expects_and_sets_the_batch_to_match():
    model = kflayers.Forecaster(n_series=4, input_size=8, horizon=1, target_index=0)
    model(np.zeros((1, 8, 4), dtype=np.float32))
    at = _upload(_model_page(), "small.keras", saved(model))
    assert _plain(at.warning[0].value) == ("This model expects windows of 8 time steps of 4 series (input shape (any, "
                                           "8, 4)); the batch has windows of 32 time steps of 7 series.")
    labels = [b.label for b in at.button if b.key.startswith("yourmodel_match")]
    assert labels == ["Set the window length to 8", "Use 4 series (realgdp, realcons, realinv, realgovt)"]

    at = _open(at, "temporal_mixing", MIXING)  # neither the model nor the page's batch fits it
    assert _plain(at.error[0].value) == (
        "This model expects windows of 8 time steps of 4 series (input shape (any, 8, 4)); the batch has windows of 32 "
        "time steps of 7 series; the page's own batch would give the layer inputs of shape (16, 32, 7), but it was "
        "built for (any, 8, 4), so it cannot be shown on this batch.")
    at.button(key="mix_match_window").click()
    run(at)
    at.button(key="mix_match_series").click()
    run(at)
    assert at.session_state["window"] == 8
    assert at.session_state["series"] == US_MACRO_FIRST_SEVEN[:4]
    assert not at.error and "impact_model" in open_tab(at, "mix_view", "Cross-series impact")


def test_a_layer_the_model_cannot_reach_is_fed_the_pages_batch_when_it_fits(batch):
    inputs = keras.Input((2 * WINDOW, SERIES))
    halved = keras.layers.AveragePooling1D(2)(inputs)
    mixing = kflayers.FeatureMixing(SERIES, WINDOW, 0.0, 4, name="mixing")
    model = keras.Model(inputs, keras.layers.Dense(1)(mixing(halved)))
    at = _open(_upload(_model_page(), "long.keras", saved(model)), "mixing", MIXING)
    assert "series; so the layer is fed the page's own batch, which has the shape it was built for." in _plain(
        at.sidebar.caption[-1].value)
    io = open_tab(at, "mix_view", "Input and output")["input_output"]
    np.testing.assert_allclose(plotly_array(io["data"][0]["y"]), batch[0, :, 0], rtol=1e-6)
    expected = _numpy(mixing(batch, training=False))[0, :, 0]
    outputs = [trace for trace in io["data"] if trace.get("xaxis") == "x2"]
    np.testing.assert_allclose(plotly_array(outputs[0]["y"]), expected, rtol=1e-5, atol=1e-6)


def test_a_page_whose_model_was_replaced_goes_back_to_its_own_layer(forecaster, functional):
    at = _open(_upload(_model_page(), "forecaster.keras", forecaster[1]), "mixer", MIXERS)
    at.switch_page(YOUR_MODEL)
    _upload(run(at), "functional.keras", functional[1])
    at.switch_page(MIXERS)
    figures = page_figures(run(at))
    assert at.info[0].value.startswith("The model layer this page had open is no longer loaded")
    assert "importance" in figures and "importance_model" not in figures
