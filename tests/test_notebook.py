"""The notebook each layer page exports: executed for real in a fresh Jupyter kernel, and compared with the page.

Each case gathers a page's view as the page does (`explorer.ui.layers.notebook_view`, from the layer, its inputs
and the page's own trace), writes the notebook, and runs it top to bottom with nbclient in a new ipykernel. A cell
error fails the test. A last cell, added here, saves what the notebook computed: every stage of its trace, the
stage heatmap's array and the lesson's values, which must equal the page's own to float tolerance. The cases
cover fresh weights (nested sizes included), trained weights (windows normalised as the page feeds them), a layer
opened from a model file, training mode, a mask, and both inputs of GatedFeatureFusion.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import keras
import nbformat
import numpy as np
import pytest
from model_files import functional_model, saved
from nbclient import NotebookClient
from streamlit.testing.v1 import AppTest

import kflayers
from explorer import compute, model_file, notebook, trained
from explorer.batch import make_batch
from explorer.data import load_sample
from explorer.ui import data, layers

ROOT = Path(__file__).resolve().parents[1]
SERIES = ["realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1"]
LESSON_VALUES = {"impact": "z", "gate_histogram": "x", "importance": "y", "kernels": "z"}


@pytest.fixture(scope="module")
def current() -> data.Current:
    frame = load_sample("us_macro")
    batch = make_batch(frame, SERIES, 24, 6)
    return data.Current(data.Dataset("us_macro", "US macro <sample>", frame), batch, 3)


@dataclasses.dataclass
class PageView:
    """A page's view and what the notebook must reproduce: the page's trace, heatmap array and lesson values."""

    view: notebook.View
    stages: dict
    heatmap: np.ndarray
    lesson: np.ndarray | None


def _page_view(choice, shown, inputs, training, source, stage, fresh=None, call_kwargs=None) -> PageView:
    """The view as the page's export gathers it, with the page's own trace of `shown`."""
    stages = compute.trace_arrays(shown, inputs, training, choice.seed, **(call_kwargs or {}))
    view = layers.notebook_view(choice, stages, training, source, stage, shown, fresh)
    if source.view:
        heatmap = source.view(view.stage, stages[view.stage], source.window).values
    else:
        held = stages[view.stage][min(source.window, len(stages[view.stage]) - 1)]
        heatmap = held.reshape(-1, 1) if held.ndim == 1 else held
    window = source.window
    lesson = {
        "impact": lambda: compute.feature_impact(shown, inputs),
        "gate_histogram": lambda: stages["gate"][window].ravel(),
        "importance": lambda: stages["importance"][window],
        "kernels": lambda: compute.token_kernel(shown, source.channel).T,
        None: lambda: None,
    }[view.lesson]()
    return PageView(view, stages, heatmap, lesson)


def execute(book: nbformat.NotebookNode, folder: Path) -> nbformat.NotebookNode:
    """Run `book` top to bottom in a fresh python3 kernel started in `folder`; a cell error raises.

    The kernel imports this checkout's kflayers (PYTHONPATH) on TensorFlow, as a user's kernel would an
    installed one.
    """
    environment = {"KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    previous = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)  # the kernel process inherits this environment
    try:
        return NotebookClient(book, timeout=600, kernel_name="python3",
                              resources={"metadata": {"path": str(folder)}}).execute()
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _executed(page: PageView, tmp_path: Path) -> dict[str, np.ndarray]:
    """Run the exported notebook in a fresh kernel; return what its added last cell saved."""
    book = notebook.notebook(page.view)
    nbformat.validate(book)
    saved_file = tmp_path / "computed.npz"
    lesson = (f"lesson_values = np.asarray(lesson(layer).{LESSON_VALUES[page.view.lesson]}, dtype=float)"
              if page.view.lesson else "lesson_values = np.zeros(0)")
    book.cells.append(nbformat.v4.new_code_cell(
        f"{lesson}\n"
        f"np.savez({str(saved_file)!r}, **{{'stage/' + k: v for k, v in stages.items()}}, heatmap=view, "
        "lesson=lesson_values)"))
    execute(book, tmp_path)
    with np.load(saved_file) as arrays:
        return {name: arrays[name] for name in arrays.files}


def _assert_reproduced(page: PageView, computed: dict[str, np.ndarray]) -> None:
    stages = {name.removeprefix("stage/"): values for name, values in computed.items() if name.startswith("stage/")}
    assert list(stages) == list(page.stages)
    for name, values in page.stages.items():
        np.testing.assert_allclose(stages[name], values, atol=1e-5, rtol=1e-5, err_msg=f"stage {name}")
    np.testing.assert_allclose(computed["heatmap"], page.heatmap, atol=1e-5, rtol=1e-5)
    if page.lesson is not None:
        np.testing.assert_allclose(computed["lesson"], np.asarray(page.lesson, dtype=float), atol=1e-5, rtol=1e-5)


def _source(current, inputs, window, lesson, **kwargs) -> layers.NotebookSource:
    return layers.NotebookSource(current, inputs, window, lesson, "What the page feeds.", **kwargs)


def _perturbed(layer, seed: int = 5):
    """A copy of `layer` with every weight moved off its initial value, as training moves it."""
    copy = type(layer).from_config(layer.get_config())
    copy.build_from_config(layer.get_build_config())
    rng = np.random.default_rng(seed)
    copy.set_weights([w + rng.normal(scale=0.2, size=w.shape).astype(w.dtype) for w in layer.get_weights()])
    return copy


@pytest.mark.slow
def test_feature_mixing_fresh_with_nested_weights_reproduces_the_page(current, tmp_path):
    config = {"n_series": 7, "input_size": 24, "ff_dim": 20, "dropout": 0.1, "activation": "relu"}
    choice = layers.LayerChoice.of("FeatureMixing", config, current)
    shown = compute.build_layer("FeatureMixing", config, choice.build_shape, choice.seed)
    inputs = current.batch.values

    def view(stage, array, index):
        return compute.mixing_stage_view("FeatureMixing", stage, array, index, current.batch.series)

    page = _page_view(choice, shown, inputs, False, _source(current, inputs, 2, "impact", view=view), "dense_1")
    # The nested weights are not what a plain seeded build gives: the notebook must embed them.
    keras.utils.set_random_seed(choice.seed)
    plain = kflayers.FeatureMixing(**config)
    plain.build(choice.build_shape)
    assert len(plain.weights) == len(page.view.weights)
    assert not all(np.allclose(keras.ops.convert_to_numpy(p), w) for p, w in zip(plain.weights, page.view.weights))
    _assert_reproduced(page, _executed(page, tmp_path))


@pytest.mark.slow
def test_temporal_mixing_trained_in_training_mode_reproduces_the_page(current, tmp_path):
    config = {"n_series": 7, "input_size": 24, "dropout": 0.3, "activation": "gelu"}
    choice = layers.LayerChoice.of("TemporalMixing", config, current, weights="trained")
    fresh = compute.build_layer("TemporalMixing", config, choice.build_shape, choice.seed)
    inputs = trained.normalize_windows(current.batch.values)

    def view(stage, array, index):
        return compute.mixing_stage_view("TemporalMixing", stage, array, index, current.batch.series)

    page = _page_view(choice, _perturbed(fresh), inputs, True, _source(current, inputs, 4, "impact", view=view),
                      "transpose", fresh=fresh)
    assert page.view.arrangement == "transpose" and page.view.fresh_weights is not None
    assert "normalised" in page.view.fed
    _assert_reproduced(page, _executed(page, tmp_path))


@pytest.mark.slow
def test_gated_feature_fusion_of_a_token_embedding_pair_reproduces_the_page(current, tmp_path):
    choice = layers.LayerChoice.of("GatedFeatureFusion", {"activation": "sigmoid"}, current,
                                   input_shape=(current.batch.shape, current.batch.shape), variant=("token", 1))
    shown = compute.build_layer("GatedFeatureFusion", {"activation": "sigmoid"}, choice.build_shape, choice.seed)
    pair = compute.fusion_pair("token_embedding", 1, 7, 24, choice.seed)
    inputs = [keras.ops.convert_to_numpy(x) for x in pair(current.batch.values)]

    def view(stage, array, index):
        return compute.fusion_stage_view(stage, array, index, current.batch.series)

    source = _source(current, inputs, 1, "gate_histogram", view=view, value_ranges={"gate": (0.0, 1.0)})
    page = _page_view(choice, shown, inputs, False, source, "gate")
    assert page.view.value_range == (0.0, 1.0)
    _assert_reproduced(page, _executed(page, tmp_path))


@pytest.mark.slow
def test_token_embedding_fresh_with_nested_weights_reproduces_the_page_and_its_kernel(current, tmp_path):
    config = {"c_in": 7, "d_model": 12, "kernel_size": 5, "padding": "causal", "use_bias": True}
    choice = layers.LayerChoice.of("TokenEmbedding", config, current)
    shown = compute.build_layer("TokenEmbedding", config, choice.build_shape, choice.seed)
    inputs = current.batch.values
    stages = compute.trace_arrays(shown, inputs, False, choice.seed)
    left, _ = compute.padding_sides(stages["input"][0], stages["padded"][0])

    def view(stage, array, index):
        return compute.embedding_stage_view(stage, array, index, current.batch.series, left)

    page = _page_view(choice, shown, inputs, False, _source(current, inputs, 3, "kernels", view=view, channel=7),
                      "padded")
    _assert_reproduced(page, _executed(page, tmp_path))


@pytest.mark.slow
def test_positional_embedding_table_reproduces_the_page_for_a_later_window(current, tmp_path):
    config = {"max_len": 100, "d_model": 12}
    choice = layers.LayerChoice.of("PositionalEmbedding", config, current)
    shown = compute.build_layer("PositionalEmbedding", config, choice.build_shape, choice.seed)
    inputs = current.batch.values
    def view(stage, array, index):
        return compute.embedding_stage_view(stage, array, index, current.batch.series, 1)

    page = _page_view(choice, shown, inputs, False,
                      _source(current, inputs, 5, None, view=view, value_ranges={"table": (-1.0, 1.0)}), None)
    assert page.view.weights == [] and page.view.stage == "table"
    assert page.view.row_title == "embedding channel" and page.view.value_range == (-1.0, 1.0)
    _assert_reproduced(page, _executed(page, tmp_path))


@pytest.mark.slow
def test_a_masked_self_attention_mixer_in_training_mode_reproduces_the_page(current, tmp_path):
    settings = dict(mod_dim=24, n_features=7, n_heads=2, bias=True, dropout=0.2, skip=True, keep_dim=False)
    config = compute.mixer_config("SelfAttentionMixer", **settings)
    choice = layers.LayerChoice.of("SelfAttentionMixer", config, current, input_shape=(6, 7, 24),
                                   call=("realinv",))
    shown = compute.build_layer("SelfAttentionMixer", config, choice.build_shape, choice.seed)
    inputs = keras.ops.convert_to_numpy(compute.mixer_inputs(current.batch.values))
    call_kwargs = {"mask": compute.mixer_mask(6, current.batch.series, ["realinv"])}
    page = _page_view(choice, shown, inputs, True,
                      _source(current, inputs, 0, "importance", call_kwargs=call_kwargs), None,
                      call_kwargs=call_kwargs)
    assert page.stages["importance"][0][SERIES.index("realinv")] == 0
    assert "realinv" in notebook.notebook(page.view).cells[1].source
    _assert_reproduced(page, _executed(page, tmp_path))


@pytest.mark.parametrize("path", ["mix", "inner/fusion"])
@pytest.mark.slow
def test_a_layer_opened_from_a_model_file_reproduces_the_page(current, tmp_path, path):
    loaded = model_file.STORE.load(saved(functional_model(window=24)))
    entry = loaded.layer(path)
    inputs = model_file.layer_inputs(loaded, current.batch.values)[path][0]
    weights = loaded.weights_source(path)
    shape = [np.shape(x) for x in inputs] if isinstance(inputs, list) else np.shape(inputs)
    choice = layers.LayerChoice.of(entry.class_name, entry.config, current,
                                   input_shape=tuple(shape) if isinstance(shape, list) else shape, weights=weights)
    shown = model_file.layer_copy_from(weights)
    fresh = compute.build_layer(entry.class_name, entry.config, choice.build_shape, choice.seed)
    lesson = "impact" if entry.class_name == "FeatureMixing" else "gate_histogram"
    page = _page_view(choice, shown, inputs, False, _source(current, inputs, 1, lesson), None, fresh=fresh)
    assert page.view.weights_kind == "model"
    _assert_reproduced(page, _executed(page, tmp_path))


def test_a_view_over_the_size_limit_gets_no_notebook_and_a_sentence_saying_why(current):
    config = {"max_len": 100, "d_model": 4}
    choice = layers.LayerChoice.of("PositionalEmbedding", config, current)
    shown = compute.build_layer("PositionalEmbedding", config, choice.build_shape, choice.seed)
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(64, 90, 1000)).astype(np.float32)  # 23 MB of incompressible values
    stages = compute.trace_arrays(shown, inputs[:, :, :4], False, 0)
    view = layers.notebook_view(choice, stages, False, _source(current, inputs, 0, None), None, shown)
    assert notebook.embedded_size_bound(view) > notebook.MAX_EMBEDDED_BYTES
    refusal = notebook.size_refusal(view)
    assert refusal.startswith("No notebook:") and "20 MB" in refusal
    with pytest.raises(notebook.NotebookTooLarge, match="20 MB"):
        notebook.notebook(view)
    small = dataclasses.replace(view, inputs=inputs[:2, :, :4])
    assert notebook.size_refusal(small) is None


def test_a_window_whose_trace_is_not_finite_gets_no_notebook(current):
    stages = {"input": current.batch.values, "output": np.where(np.arange(6)[:, None, None] == 2, np.nan, 1.0)}
    assert layers.notebook_refusal(current, stages, 1) is None
    assert "not finite" in layers.notebook_refusal(current, stages, 2)
    empty = data.Current(current.dataset, dataclasses.replace(current.batch, values=np.zeros((0, 24, 7))), 0)
    assert "no data" in layers.notebook_refusal(empty, stages, 0)


EXPORT_TABS = {"pages/1_Feature_and_Temporal_Mixing.py": "mix_view", "pages/2_Gated_Feature_Fusion.py": "gff_view",
               "pages/3_Token_and_Positional_Embedding.py": "emb_view", "pages/4_Feature_Mixers.py": "mixers_view"}


def _export_tab(at: AppTest, tab_key: str) -> AppTest:
    at.session_state[tab_key] = "Export"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.slow
@pytest.mark.parametrize("page", list(EXPORT_TABS))
def test_every_layer_pages_export_tab_offers_the_notebook(page):
    at = _export_tab(AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).switch_page(page), EXPORT_TABS[page])
    labels = [button.proto.label for button in at.get("download_button")]
    layers_exported = 2 if "Token" in page else 1  # TokenEmbedding and PositionalEmbedding
    assert labels.count("Notebook (.ipynb)") == layers_exported
    assert labels[0] == "Notebook (.ipynb)" and "Config (JSON)" in labels
    assert not [m.value for m in at.info if "No notebook" in m.value]


@pytest.mark.slow
def test_a_model_layer_whose_trace_is_not_finite_offers_no_notebook_and_says_why():
    model = functional_model()
    mix = next(layer for layer in model.layers if layer.name == "mix")
    mix.weights[0].assign(np.full(mix.weights[0].shape, np.nan, dtype="float32"))  # as a diverged training leaves it
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).switch_page("pages/6_Your_Model.py")
    at.run()
    at.file_uploader[0].set_value(("diverged.keras", saved(model), "application/octet-stream"))
    at.run()
    at.button(key="open_mix").click()
    at.run()
    at.switch_page("pages/1_Feature_and_Temporal_Mixing.py")
    at = _export_tab(at, "mix_view")
    labels = [button.proto.label for button in at.get("download_button")]
    assert "Notebook (.ipynb)" not in labels and "Config (JSON)" in labels
    refusals = [m.value for m in at.info if "No notebook" in m.value]
    assert refusals and "not finite" in refusals[0]
