"""Every layer page on trained weights, and size controls that change one unit at a time."""

from pathlib import Path

import keras
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app_testing import open_tab, page_figures, plotly_array, run
from explorer import compute, trained
from explorer.training import chronological_split
from explorer.data import load_sample

ROOT = Path(__file__).resolve().parents[1]
MIXING = "pages/1_Feature_and_Temporal_Mixing.py"
FUSION = "pages/2_Gated_Feature_Fusion.py"
EMBEDDING = "pages/3_Token_and_Positional_Embedding.py"
MIXERS = "pages/4_Feature_Mixers.py"
TIMEOUT = 180

WEIGHT_KEYS = {MIXING: "mix_weights", FUSION: "gff_weights", EMBEDDING: "emb_weights", MIXERS: "mixers_weights"}
SIDE_BY_SIDE = {MIXING: ("mix_view", "Cross-series impact", "impact"),
                FUSION: ("gff_view", "The gate", "gate_histogram"),
                EMBEDDING: ("emb_view", "Learned kernels", "kernel"),
                MIXERS: ("mixers_view", "Importance", "importance")}


def layers_as_is(windows):
    return windows


def _app() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    for prefix in ("mix", "gff", "emb"):  # the activations as plotly charts, whose values can be read
        at.session_state[f"{prefix}_interactive"] = True
    return at


def _page(path: str) -> AppTest:
    return run(_app().switch_page(path))


def _training_jobs():
    from explorer.ui import layers  # loads TensorFlow: only once a layer page has run

    return layers.TRAINING


def _finish_training(at: AppTest) -> AppTest:
    """Wait for every training the page started (they run on a worker thread) and draw the page again."""
    for job in list(_training_jobs()._jobs.values()):
        job.future.exception(timeout=TIMEOUT)
    return run(at)


def _heatmap(at: AppTest) -> np.ndarray:
    return plotly_array(page_figures(at)["activations"]["data"][0]["z"])


def _weights(layer) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v) for v in layer.weights]


# ------------------------------------------------------------------ one step, one change


def _one_step_and_a_new_seed(path: str, size_key: str, size: int):
    """How much the default heatmap changes when `size_key` grows by one and when the seed goes 0 -> 1.

    Returns (mean change for the step, over the rows both sizes share; mean change for the new seed; the
    heatmap after the step).
    """
    at = _page(path)
    base = _heatmap(at)
    at.session_state[size_key] = size + 1
    grown = _heatmap(run(at))
    step = np.abs(grown[:base.shape[0]] - base).mean()
    at.session_state[size_key] = size
    at.session_state["seed"] = 1
    reseeded = np.abs(_heatmap(run(at)) - base).mean()
    return step, reseeded, grown


def test_ff_dim_step_changes_the_view_by_a_tenth_of_what_a_new_seed_changes():
    step, reseeded, grown = _one_step_and_a_new_seed(MIXING, "mix_ff_dim", 64)
    assert grown.shape[0] == 7  # the residual stage: one row per series, whatever ff_dim
    assert reseeded > 0.1
    assert step < reseeded / 10, (step, reseeded)


def test_d_model_step_changes_the_view_by_a_tenth_of_what_a_new_seed_changes():
    step, reseeded, grown = _one_step_and_a_new_seed(EMBEDDING, "emb_d_model", 16)
    assert grown.shape[0] == 17  # one row per embedding channel
    assert reseeded > 0.1
    assert step < reseeded / 10, (step, reseeded)


def test_nested_weights_keep_the_initializer_variance_and_the_shared_units():
    config = {"n_series": 7, "input_size": 32, "dropout": 0.1, "ff_dim": 8, "activation": "relu"}
    small = compute.build_layer("FeatureMixing", config, (None, 32, 7), seed=0)
    large = compute.build_layer("FeatureMixing", {**config, "ff_dim": 200}, (None, 32, 7), seed=0)
    kernel_small = keras.ops.convert_to_numpy(small.dense_1.kernel)
    kernel_large = keras.ops.convert_to_numpy(large.dense_1.kernel)
    # Glorot uniform: limit sqrt(6 / (fan_in + fan_out)), so the shared units differ by exactly that ratio.
    np.testing.assert_allclose(kernel_small, kernel_large[:, :8] * np.sqrt((7 + 200) / (7 + 8)), rtol=1e-5)
    assert abs(kernel_large.std() - np.sqrt(2 / (7 + 200))) < 0.1 * np.sqrt(2 / (7 + 200))
    assert np.abs(kernel_small).max() <= np.sqrt(6 / (7 + 8)) + 1e-6
    other_seed = compute.build_layer("FeatureMixing", config, (None, 32, 7), seed=1)
    assert not np.allclose(kernel_small, keras.ops.convert_to_numpy(other_seed.dense_1.kernel))


# ------------------------------------------------------------------ the recipe


def test_untrained_model_is_the_naive_forecast_and_training_beats_it_on_a_learnable_series():
    steps = np.arange(400)
    values = np.stack([np.sin(steps * 2 * np.pi / 12), np.cos(steps * 2 * np.pi / 12)], axis=1).astype(np.float32)
    config = {"n_series": 2, "input_size": 24, "dropout": 0.0, "ff_dim": 16, "activation": "relu"}
    layer = compute.build_layer("FeatureMixing", config, (None, 24, 2), seed=0)
    model = trained.NextStepModel(layer, layers_as_is, 2, name="next_step_model")
    windows = chronological_split(values, 24).x_test
    untrained = keras.ops.convert_to_numpy(model(windows))
    np.testing.assert_allclose(untrained[:, 0, :], windows[:, -1, :], atol=1e-5)  # the naive forecast

    result = trained.train_layer("FeatureMixing", config, (None, 24, 2), 0, values, 24, layers_as_is)
    assert result.beats_naive and result.test_mse < 0.5 * result.naive_mse
    assert "does not" not in result.verdict()
    fresh = compute.build_layer("FeatureMixing", config, (None, 24, 2), seed=0)
    assert not all(np.allclose(a, b) for a, b in zip(_weights(fresh), _weights(result.layer)))


def test_training_jobs_share_one_result_and_keep_a_failure():
    jobs = trained.TrainingJobs()
    calls = []

    def train(report):
        calls.append(1)
        report(1.0, "done")
        return "result"

    first = jobs.start(("a",), train)
    assert first.future.result(timeout=30) == "result"
    assert jobs.start(("a",), train) is first and len(calls) == 1

    def fail(report):
        raise trained.TrainingFailed("Too few rows.")

    failed = jobs.start(("b",), fail)
    failed.future.exception(timeout=30)
    assert failed.error == "Too few rows."
    assert jobs.start(("b",), fail) is failed


def test_a_training_survives_streamlits_clear_session_between_other_script_runs():
    import time

    from explorer.ui import tensorflow  # noqa: F401  (what every layer page imports first)

    frame = load_sample("us_macro")
    values = frame[list(frame.columns[:7])].to_numpy(dtype=np.float32)
    values = (values - values.mean(axis=0)) / values.std(axis=0)
    jobs = trained.TrainingJobs()
    job = jobs.start(("clear_session",), lambda report: trained.train_layer(
        "FeatureMixing", {"n_series": 7, "input_size": 32, "dropout": 0.1, "ff_dim": 70, "activation": "relu"},
        (None, 32, 7), 5, values, 32, layers_as_is, on_progress=report))
    # Streamlit calls this after every script run of every session, while the training goes on.
    while not job.done:
        keras.backend.clear_session()
        time.sleep(0.002)
    assert job.error is None, job.error
    assert job.result.epochs >= 1 and np.isfinite(job.result.test_mse)


# ------------------------------------------------------------------ the pages


@pytest.mark.parametrize("path", [MIXING, FUSION, EMBEDDING, MIXERS])
def test_trained_view_traces_the_trained_weights_next_to_the_fresh_ones(path):
    at = _page(path)
    at.session_state[WEIGHT_KEYS[path]] = "trained"
    run(at)
    assert at.get("progress") or at.success or at.warning  # training started (or was already shared)
    at = _finish_training(at)
    verdicts = [m.value for m in at.success] + [m.value for m in at.warning]
    assert any("naive forecast" in v for v in verdicts), (verdicts, [e.value for e in at.error])
    assert not at.error
    tab_key, tab, chart = SIDE_BY_SIDE[path]
    figures = open_tab(at, tab_key, tab)
    assert {f"{chart}_fresh", f"{chart}_trained"} <= set(figures), list(figures)
    fresh = plotly_array(figures[f"{chart}_fresh"]["data"][0]["y" if chart != "kernel" and chart != "impact" else "z"])
    trained_values = plotly_array(
        figures[f"{chart}_trained"]["data"][0]["y" if chart != "kernel" and chart != "impact" else "z"])
    assert not np.allclose(fresh, trained_values)
    figures = open_tab(at, tab_key, "Export")
    assert len(at.get("download_button")) >= 4
    assert "np.load(" in at.code[0].value and "_trained_weights.npz" in at.code[0].value


def test_traced_layer_is_the_trained_one():
    from explorer.ui import layers

    at = _page(MIXING)
    at.session_state["mix_weights"] = "trained"
    at = _finish_training(run(at))
    trained_jobs = [job.result for job in layers.TRAINING._jobs.values()
                    if job.done and job.error is None and job.result.layer.__class__.__name__ == "FeatureMixing"]
    assert trained_jobs
    heatmap = _heatmap(at)
    values = load_sample("us_macro")
    assert len(values) > 100
    # The heatmap is window 0 of the residual stage: recompute it from the trained layer itself.
    from explorer.batch import make_batch
    from explorer.data import windows  # noqa: F401

    batch = make_batch(values, list(values.columns[:7]), 32, 16)
    normalized = trained.normalize_windows(batch.values)
    matches = [np.allclose(keras.ops.convert_to_numpy(r.layer(normalized, training=False))[0].T, heatmap, atol=1e-5)
               for r in trained_jobs]
    assert any(matches)


def test_training_that_cannot_run_says_why_and_stays_on_fresh_weights():
    at = _app()
    run(at)
    at.radio(key="source").set_value("upload")
    run(at)
    rng = np.random.default_rng(0)
    lines = ["date,a,b,c"] + [f"2024-{1 + d // 28:02d}-{1 + d % 28:02d}," + ",".join(f"{v:.3f}" for v in rng.normal(size=3))
                              for d in range(60)]
    at.file_uploader[0].set_value(("short.csv", ("\n".join(lines) + "\n").encode(), "text/csv"))
    run(at)
    at.switch_page(MIXING)
    run(at)
    fresh_heatmap = _heatmap(at)
    at.session_state["mix_weights"] = "trained"
    at = _finish_training(run(at))
    assert any("rows" in e.value and "needs at least" in e.value for e in at.error), [e.value for e in at.error]
    assert _heatmap(at).shape == fresh_heatmap.shape


def test_all_four_flavours_with_trained_weights_show_the_trained_one_beside_fresh_others():
    at = _page(MIXERS)
    at.session_state["mixers_weights"] = "trained"
    at = _finish_training(run(at))
    figures = open_tab(at, "mixers_view", "All four flavours")
    assert [bar["name"] for bar in figures["flavours"]["data"]] == [
        "GlobalWeightsMixer", "InstanceWeightsMixer", "SelfAttentionMixer", "CrossAttentionMixer"]
    assert any("SelfAttentionMixer with its trained weights" in c.value for c in at.caption)
