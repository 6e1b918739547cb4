"""The Learn page through streamlit.testing: it renders, trains on a button press, shows honest results, never a traceback.

Trainings are kept tiny (a short window, one or two epochs): these tests
check the page's wiring, not what the model learns (tests/test_learn.py does).
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from app_testing import US_MACRO_FIRST_SEVEN, page_figures, plotly_array, run
from streamlit.testing.v1 import AppTest

from explorer.data import DataError, load_sample
from explorer.ui.show import plain  # the page escapes markdown; so do the expected texts

ROOT = Path(__file__).resolve().parents[1]
LEARN = "pages/5_Learn.py"
TIMEOUT = 300  # importing TensorFlow and compiling a training step on a loaded 2-core machine
RESULT = "_kf_learn_result"


def _learn_page(**query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update(query)
    return run(at.switch_page(LEARN))


def _train_button(at: AppTest):
    return at.button(key="learn_train")


@pytest.fixture(scope="module")
def trained():
    """The default sample, a window of 8, two epochs, trained by pressing Train."""
    at = _learn_page(window="8", learn_epochs="2")
    _train_button(at).click()
    return run(at)


def test_page_by_deep_link_renders_on_the_default_sample_without_training():
    at = _learn_page()
    assert at.selectbox(key="learn_target").options == US_MACRO_FIRST_SEVEN
    assert at.radio(key="learn_mixer").options == ["global", "instance", "self", "cross"]
    assert [s.label for s in at.slider if s.key.startswith("learn_")] == ["Horizon", "ff_dim", "dropout", "Epochs"]
    assert all(s.help for s in at.slider) and at.selectbox(key="learn_target").help
    assert not _train_button(at).disabled
    assert not page_figures(at) and RESULT not in at.session_state
    assert any("press Train" in i.value for i in at.info)
    assert any("us_macro: 203 rows" in t.value for t in at.text)


def test_a_window_too_long_for_the_data_is_an_error_not_an_exception():
    at = _learn_page(window="200")
    (error,) = at.error
    assert "needs at least" in error.value and "the data has 203" in error.value
    assert _train_button(at).disabled
    assert not at.info  # no invitation to press a disabled button


@pytest.mark.parametrize("problem, shown", [
    (DataError("The target is gone."), "The target is gone\\."),
    (ValueError("`ff_dim` must be positive."), "\\`ff\\_dim\\` must be positive\\."),
])
def test_an_error_during_training_is_shown_and_nothing_is_kept(monkeypatch, problem, shown):
    def refuse(*args, **kwargs):
        raise problem

    monkeypatch.setattr("explorer.training.fit_forecaster", refuse)
    at = _learn_page(window="8")
    _train_button(at).click()
    run(at)
    assert [e.value for e in at.error] == [shown]  # as typed, markdown escaped
    assert RESULT not in at.session_state and not page_figures(at)


def test_a_short_training_shows_its_results(trained):
    result = trained.session_state[RESULT].result
    figures = page_figures(trained)
    assert list(figures) == ["learn_loss", "learn_importance", "learn_importance_epochs", "learn_impact"]

    loss = figures["learn_loss"]
    np.testing.assert_allclose(plotly_array(loss["data"][0]["y"]), result.history["loss"])
    np.testing.assert_allclose(plotly_array(loss["data"][1]["y"]), result.history["val_loss"])
    assert len(result.history["loss"]) == 2
    selection = result.selection
    baseline, kept = loss["layout"]["shapes"]
    assert baseline["y0"] == pytest.approx(selection.naive_val_mse)
    assert kept["x0"] == selection.best_epoch

    # The bars show the kept epoch by default: its importances, next to those before training.
    before, after, _ = figures["learn_importance"]["data"]
    assert after["name"] == f"after epoch {selection.best_epoch}"
    np.testing.assert_allclose(plotly_array(before["y"]), [result.importance_initial[s] for s in US_MACRO_FIRST_SEVEN])
    np.testing.assert_allclose(plotly_array(after["y"]), [result.importance[s] for s in US_MACRO_FIRST_SEVEN])
    assert after["x"][0] == "realgdp (target)"

    np.testing.assert_allclose(plotly_array(figures["learn_impact"]["data"][0]["y"]), result.feature_impact.mean(axis=1))

    verdicts = [m.value for m in [*trained.success, *trained.warning]]
    assert len(verdicts) == 1 and "naive forecast" in verdicts[0]
    assert f"test MSE {selection.test_mse:.4g} against {selection.naive_test_mse:.4g}".replace(".", "\\.") in verdicts[0]
    # 203 quarters from 1959 Q1: rows 1-142 train, 143-173 validate, 174-203 test.
    captions = [c.value for c in trained.caption]
    parts = plain("training: rows 1-142 (1959-01-01 to 1994-04-01); validation (chooses the epoch): rows 143-173 "
                  "(1994-07-01 to 2002-01-01); test (the verdict): rows 174-203 (2002-04-01 to 2009-07-01)")
    assert any(parts in c for c in captions), captions
    assert any(c.startswith(plain("Training ran all 2 epochs; the model keeps")) for c in captions), captions
    assert not trained.info  # the results match the settings
    assert [b.proto.label for b in trained.get("download_button")] == ["Model (.keras)", "Scaling (JSON)",
                                                                         "History (CSV)"]


def test_the_downloaded_model_loads_with_kflayers_imported_and_forecasts_the_same(trained, tmp_path):
    from explorer.ui import learn

    stored = trained.session_state[RESULT]
    path = tmp_path / "model.keras"
    path.write_bytes(learn.model_bytes(stored.result))
    scaling = json.loads(learn.scaling_json(stored))
    frame = load_sample("us_macro")[scaling["series"]]
    window = ((frame.to_numpy()[:8] - scaling["mean"]) / scaling["std"]).astype("float32")[None]
    np.save(tmp_path / "window.npy", window)
    expected = np.asarray(stored.result.model.predict(window, verbose=0))
    code = ("import sys, numpy as np, keras, kflayers\n"
            "model = keras.saving.load_model(sys.argv[1])\n"
            "np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))\n")
    run = subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "window.npy"),
                          str(tmp_path / "out.npy")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, rtol=1e-5, atol=1e-6)
    assert scaling["input_size"] == 8 and scaling["target"] == "realgdp"
    history = stored.result.history_frame()
    assert list(history.columns[:2]) == ["loss", "val_loss"] and len(history) == 2


def test_moving_the_epoch_slider_shows_that_epoch_without_retraining(trained):
    stored = trained.session_state[RESULT]
    trained.slider(key="learn_epoch").set_value(0)
    run(trained)
    assert trained.session_state[RESULT] is stored
    before, after, _ = page_figures(trained)["learn_importance"]["data"]
    assert after["name"] == "after epoch 0"
    np.testing.assert_allclose(plotly_array(after["y"]), plotly_array(before["y"]))


def test_changed_settings_keep_the_results_and_say_what_changed(trained):
    stored = trained.session_state[RESULT]
    trained.slider(key="learn_horizon").set_value(3)
    run(trained)
    assert trained.session_state[RESULT] is stored
    (notice,) = trained.info
    assert notice.value.endswith("Changed since: horizon\\: 1 → 3. Press Train to train with the new settings.")
    assert "learn_loss" in page_figures(trained)


def test_synthetic_data_marks_the_planted_driver_of_the_target():
    at = _learn_page(source="synthetic", window="8", learn_epochs="1")
    assert at.selectbox(key="learn_target").value == "driven_1"  # a driven series is the default target
    _train_button(at).click()
    run(at)
    figures = page_figures(at)
    assert figures["learn_importance"]["data"][1]["x"][:2] == ["driver_1 (planted driver)", "driven_1 (target)"]
    assert figures["learn_impact"]["data"][0]["x"][0] == "driver_1 (planted driver)"
    planted = [m.value for m in at.markdown if m.value.startswith("Planted")]
    assert len(planted) == 1 and "driver\\_1 drives driven\\_1 3 steps later" in planted[0]
    assert list(at.dataframe[0].value["driver"]) == ["driver_1", "driver_2"]


def test_a_diverging_training_says_so_and_shows_the_last_good_result(monkeypatch):
    from explorer import training

    fit_selected = training.fit_selected

    def diverging(*args, **kwargs):
        return fit_selected(*args, **{**kwargs, "learning_rate": 1e30})

    monkeypatch.setattr("explorer.training.fit_selected", diverging)
    at = _learn_page(window="8", learn_epochs="3")
    _train_button(at).click()
    run(at)
    selection = at.session_state[RESULT].result.selection
    assert selection.stop == "diverged"
    warnings = [w.value for w in at.warning]
    assert any(w.startswith(plain("Training diverged in epoch")) and plain("kept the best result before it") in w
               for w in warnings), warnings
    assert not at.exception and "learn_loss" in page_figures(at)


def test_the_trained_model_opens_on_the_your_model_page_with_its_kflayers_layers(trained):
    at = trained
    at.button(key="learn_open_layers").click()
    run(at)
    listed = [b.proto.label for b in at.button]
    # The Learn model's TemporalMixing and its mixer are offered, each on its own layer page.
    assert any("TemporalMixing" in label and "Feature & Temporal Mixing" in label for label in listed), listed
    assert any("Mixer" in label and "Feature Mixers" in label for label in listed), listed
    assert not at.error
