"""explorer.training: the forecaster finds planted structure, and honestly so."""

import keras
import numpy as np
import pandas as pd
import pytest

import kflayers  # noqa: F401  (registers the layers for loading)
from explorer.data import DataError, synthetic
from explorer.training import VALIDATION_SHARE, chronological_split, fit_forecaster
from kflayers import Forecaster

TARGET = "driven_1"


@pytest.fixture(scope="module")
def trained():
    return fit_forecaster(synthetic(seed=0), TARGET, input_size=32, seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_driver_outranks_unrelated_series_and_model_beats_naive(seed):
    df = synthetic(seed=seed)
    (planted,) = [d for d in df.attrs["dependencies"] if d["driven"] == TARGET]
    result = fit_forecaster(df, TARGET, input_size=32, seed=seed)
    unrelated = [s for s in df.columns if s not in (TARGET, planted["driver"])]
    driver_weight = result.importance[planted["driver"]]
    assert all(driver_weight > result.importance[s] for s in unrelated), result.importance
    assert result.val_mse < result.baseline_mse


def test_result_contract(trained):
    series = list(synthetic(seed=0).columns)
    assert trained.series == series
    assert sum(trained.importance.values()) == pytest.approx(1.0, abs=1e-5)
    assert sum(trained.importance_initial.values()) == pytest.approx(1.0, abs=1e-5)
    assert len(trained.history["loss"]) == len(trained.history["val_loss"]) == 20
    assert len(trained.importance_history) == 20
    assert trained.importance_history[-1] == trained.importance
    assert trained.feature_impact.shape == (len(series), 1)
    frame = trained.history_frame()
    assert list(frame.columns[:2]) == ["loss", "val_loss"]
    assert frame.shape == (20, 2 + len(series))


def test_val_mse_and_baseline_are_measured_on_the_same_windows(trained):
    df = synthetic(seed=0)
    split = chronological_split(df, df.columns.get_loc(TARGET), 32, 1)
    naive = split.x_val[:, -1, df.columns.get_loc(TARGET)]
    assert trained.baseline_mse == pytest.approx(float(np.mean((naive - split.y_val[:, 0]) ** 2)), rel=1e-6)
    predictions = trained.model.predict(split.x_val, verbose=0)
    assert trained.val_mse == pytest.approx(float(np.mean((predictions - split.y_val) ** 2)), rel=1e-4)


def test_split_is_chronological_and_scaled_by_training_rows_only():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": np.arange(200.0), "b": rng.normal(size=200)}, dtype=np.float32)
    split = chronological_split(df, target_index=0, input_size=10, horizon=2)
    train_rows = df.to_numpy()[: int(round(200 * (1 - VALIDATION_SHARE)))]
    np.testing.assert_allclose(split.mean, train_rows.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(split.std, train_rows.std(axis=0), rtol=1e-6)
    # "a" is the row number: unscale it to find which rows each part predicts.
    train_targets = split.y_train * split.std[0] + split.mean[0]
    val_targets = split.y_val * split.std[0] + split.mean[0]
    assert train_targets.max() < len(train_rows) <= val_targets.min() + 0.5
    assert val_targets.max() == pytest.approx(199.0, abs=1e-3)


def test_on_epoch_sees_each_epoch_and_can_stop_training():
    seen = []

    def stop_after_two(epoch, logs):
        seen.append((epoch, sorted(logs)))
        return epoch < 1

    result = fit_forecaster(synthetic(n_steps=300, seed=3), TARGET, input_size=16, epochs=10, on_epoch=stop_after_two)
    assert [epoch for epoch, _ in seen] == [0, 1]
    assert all({"loss", "val_loss"} <= set(keys) for _, keys in seen)
    assert result.stopped_early and len(result.history["loss"]) == 2


def test_trained_model_round_trips_through_keras_file(trained, tmp_path):
    path = tmp_path / "forecaster.keras"
    trained.model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, Forecaster)
    x = np.random.default_rng(1).normal(size=(4, 32, 6)).astype("float32")
    for saved, restored in zip(trained.model.weights, loaded.weights):
        np.testing.assert_array_equal(restored.numpy(), saved.numpy())
    np.testing.assert_array_equal(loaded(x, training=False), trained.model(x, training=False))


def test_bad_requests_say_what_to_do():
    df = synthetic(n_steps=100, seed=0)
    with pytest.raises(DataError, match="'nope' is not one of the data's series"):
        fit_forecaster(df, "nope", input_size=16)
    with pytest.raises(DataError, match="needs at least .* rows; the data has 100"):
        fit_forecaster(df, TARGET, input_size=90)
    with pytest.raises(ValueError, match="`mixer` must be one of"):
        fit_forecaster(df, TARGET, input_size=16, mixer="average")
