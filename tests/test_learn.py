"""explorer.training and the forecaster: they start at the naive forecast, split and select honestly, find planted structure."""

import keras
import numpy as np
import pytest

import kflayers  # noqa: F401  (registers the layers for loading)
from explorer.data import DataError, synthetic
from explorer.training import chronological_split, fit_forecaster, fit_selected, rows_needed
from kflayers import Forecaster, ReversibleInstanceNorm
from kflayers.mixers import MIXERS

TARGET = "driven_1"


def _trending_windows(batch=5, time=24, n_series=3, seed=0):
    """Windows far from mean 0 / std 1: a level in the thousands, a steep trend, noise."""
    rng = np.random.default_rng(seed)
    steps = np.arange(time)[None, :, None]
    level = rng.uniform(500, 5000, size=(batch, 1, n_series))
    slope = rng.uniform(-40, 40, size=(batch, 1, n_series))
    return (level + slope * steps + rng.normal(scale=5, size=(batch, time, n_series))).astype("float32")


@pytest.fixture(scope="module")
def trained():
    return fit_forecaster(synthetic(seed=0), TARGET, input_size=32, seed=0)


# The forecaster and its window normalisation


@pytest.mark.parametrize("mixer", MIXERS)
def test_untrained_forecaster_forecasts_the_last_value(mixer):
    windows = _trending_windows()
    model = Forecaster(n_series=3, input_size=24, horizon=4, target_index=1, mixer=mixer)
    forecast = np.asarray(model(windows, training=False))
    np.testing.assert_allclose(forecast, np.repeat(windows[:, -1:, 1], 4, axis=1), rtol=1e-6)


def test_instance_norm_gives_each_window_and_series_mean_0_and_std_1():
    windows = _trending_windows()
    normalised, mean, std = (np.asarray(t) for t in ReversibleInstanceNorm()(windows))
    np.testing.assert_allclose(mean[:, 0], windows.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(normalised.mean(axis=1), 0.0, atol=1e-4)
    np.testing.assert_allclose(normalised.std(axis=1), 1.0, rtol=1e-4)


def test_instance_norm_restore_undoes_the_normalisation():
    windows = _trending_windows()
    norm = ReversibleInstanceNorm()
    normalised, mean, std = norm(windows)
    np.testing.assert_allclose(np.asarray(norm.restore(normalised, mean, std)), windows, rtol=1e-5)
    # One series' forecast, (batch, horizon), restored with that series' statistics.
    restored = np.asarray(norm.restore(normalised[:, -3:, 2], mean[:, :, 2], std[:, :, 2]))
    np.testing.assert_allclose(restored, windows[:, -3:, 2], rtol=1e-5)


def test_instance_norm_of_a_constant_window_is_zero_not_nan():
    normalised, mean, std = ReversibleInstanceNorm(epsilon=1e-4)(np.full((2, 8, 1), 7.0, dtype="float32"))
    np.testing.assert_array_equal(np.asarray(normalised), 0.0)
    np.testing.assert_allclose(np.asarray(std), 1e-2, rtol=1e-5)


def test_instance_norm_validates_and_round_trips_its_config():
    with pytest.raises(ValueError, match="`epsilon` must be a positive number"):
        ReversibleInstanceNorm(epsilon=0)
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, time, n_series\)"):
        ReversibleInstanceNorm()(np.zeros((2, 8), dtype="float32"))
    layer = ReversibleInstanceNorm(epsilon=1e-3, name="norm")
    assert ReversibleInstanceNorm.from_config(layer.get_config()).epsilon == 1e-3


def test_instance_norm_round_trips_inside_a_saved_functional_model(tmp_path):
    inputs = keras.Input((24, 3))
    norm = ReversibleInstanceNorm()
    normalised, mean, std = norm(inputs)
    forecast = norm.restore(keras.layers.Dense(3, name="head")(normalised[:, -1:, :]), mean, std)
    model = keras.Model(inputs, forecast)
    model.save(tmp_path / "functional.keras")
    loaded = keras.saving.load_model(tmp_path / "functional.keras")
    windows = _trending_windows()
    np.testing.assert_array_equal(np.asarray(loaded(windows)), np.asarray(model(windows)))
    # Dense of the normalised last step, mapped back with each window's own statistics.
    kernel, bias = model.get_layer("head").get_weights()
    steps = (windows - windows.mean(axis=1, keepdims=True)) / np.sqrt(windows.var(axis=1, keepdims=True) + 1e-5)
    expected = (steps[:, -1:, :] @ kernel + bias) * np.sqrt(windows.var(axis=1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(np.asarray(model(windows)), expected + windows.mean(axis=1, keepdims=True), rtol=1e-4)


# The split


def _row_numbers(n_rows=200, n_series=2):
    """Series 0 is the row number, so every window and target shows which rows it came from."""
    rng = np.random.default_rng(0)
    return np.column_stack([np.arange(n_rows, dtype=np.float32)] + [rng.normal(size=n_rows)] * (n_series - 1))


def _unscaled_rows(split, array):
    return np.rint(array * split.std[0] + split.mean[0]).astype(int)


@pytest.mark.parametrize("horizon", [1, 3])
def test_split_parts_follow_each_other_in_time(horizon):
    split = chronological_split(_row_numbers(), input_size=10, horizon=horizon, target_index=0)
    train, val, test = split.rows["train"], split.rows["validation"], split.rows["test"]
    assert (train.start, train.stop, val.stop, test.stop) == (0, 140, 170, 200)  # 70% / 15% / 15% of 200
    assert train.stop == val.start and val.stop == test.start
    parts = [(split.x_train, split.y_train, train), (split.x_val, split.y_val, val), (split.x_test, split.y_test, test)]
    for x, y, rows in parts:
        targets, inputs = _unscaled_rows(split, y), _unscaled_rows(split, x[:, :, 0])
        # Every row of the part is forecast (but the training part's first window-length rows, its first inputs).
        assert targets.min() == (10 if rows is train else rows.start) and targets.max() == rows.stop - 1
        assert y.shape == (len(x), horizon)
        # Each window forecasts the rows right after its inputs.
        np.testing.assert_array_equal(targets[:, 0], inputs[:, -1] + 1)
        np.testing.assert_array_equal(np.diff(targets, axis=1), 1)
    # Training windows read only training rows; no target of an earlier part lies in a later one.
    assert _unscaled_rows(split, split.x_train[:, :, 0]).max() < train.stop
    assert _unscaled_rows(split, split.y_train).max() < val.start and _unscaled_rows(split, split.y_val).max() < test.start


def test_split_is_scaled_by_training_rows_only_and_never_reads_the_test_rows():
    values = _row_numbers()
    split = chronological_split(values, input_size=10, horizon=2, target_index=0)
    np.testing.assert_allclose(split.mean, values[:140].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(split.std, values[:140].std(axis=0), rtol=1e-6)
    changed = values.copy()
    changed[170:] *= 1000.0  # only the test rows
    other = chronological_split(changed, input_size=10, horizon=2, target_index=0)
    for name in ("x_train", "y_train", "x_val", "y_val", "mean", "std"):
        np.testing.assert_array_equal(getattr(other, name), getattr(split, name), err_msg=name)
    assert not np.array_equal(other.y_test, split.y_test)


def test_split_without_a_target_forecasts_every_series_and_naive_repeats_the_last_value():
    values = _row_numbers(n_series=3)
    split = chronological_split(values, input_size=10, horizon=2)
    assert split.y_val.shape == (len(split.x_val), 2, 3)
    np.testing.assert_array_equal(split.naive(split.x_val), np.repeat(split.x_val[:, -1:, :], 2, axis=1))
    expected = np.mean((np.repeat(split.x_test[:, -1:, :], 2, axis=1) - split.y_test) ** 2)
    assert split.naive_mse("test") == pytest.approx(float(expected))


@pytest.mark.parametrize("input_size, horizon", [(16, 1), (32, 1), (8, 5)])
def test_too_few_rows_says_how_many_are_needed_and_that_many_suffice(input_size, horizon):
    needed = rows_needed(input_size, horizon)
    values = _row_numbers(n_rows=needed)
    split = chronological_split(values, input_size, horizon, target_index=0)
    assert min(len(split.x_train), len(split.x_val), len(split.x_test)) >= 8
    with pytest.raises(DataError, match=f"needs at least {needed} rows .*; the data has {needed - 1}\\. Use a shorter"):
        chronological_split(values[:-1], input_size, horizon, target_index=0)


# Selection


def _small_split(seed=3):
    df = synthetic(n_steps=240, n_series=3, seed=seed)
    return chronological_split(df, input_size=12, horizon=1, target_index=1)


def _small_model():
    keras.utils.set_random_seed(0)
    return Forecaster(n_series=3, input_size=12, horizon=1, target_index=1, mixer="global")


def _weights(model):
    return [np.array(w) for w in model.get_weights()]


def test_selection_keeps_the_best_validation_epoch_and_never_reads_the_test_part():
    split = _small_split()
    model, seen = _small_model(), []
    selection = fit_selected(model, split, epochs=6, seed=0, on_epoch=lambda epoch, logs: seen.append(_weights(model)),
                             patience=6, learning_rate=3e-3, min_improvement=0.0)
    val_losses = selection.history["val_loss"]
    assert len(val_losses) == 6 and selection.stop == "epochs"
    assert selection.best_epoch == int(np.argmin(val_losses)) + 1  # this data is learnable: an epoch beats epoch 0
    for kept, chosen in zip(_weights(model), seen[selection.best_epoch - 1]):
        np.testing.assert_array_equal(kept, chosen)
    assert selection.val_mse == pytest.approx(min(val_losses), rel=1e-4)
    assert selection.naive_test_mse == pytest.approx(split.naive_mse("test"))

    # The same run with the test part replaced by nonsense: the same history, epoch and weights.
    nonsense = {"x_test": split.x_test * -50.0, "y_test": split.y_test + 9.0}
    other_model = _small_model()
    other = fit_selected(other_model, type(split)(**{**split.__dict__, **nonsense}), epochs=6, seed=0, patience=6,
                         learning_rate=3e-3, min_improvement=0.0)
    assert (other.history, other.best_epoch) == (selection.history, selection.best_epoch)
    assert other.test_mse != selection.test_mse
    for a, b in zip(_weights(other_model), _weights(model)):
        np.testing.assert_array_equal(a, b)


def test_selection_stops_after_patience_epochs_without_a_better_validation_loss():
    split = _small_split()
    selection = fit_selected(_small_model(), split, epochs=30, seed=0, patience=2, learning_rate=3e-2,
                             min_improvement=0.0)
    val_losses = selection.history["val_loss"]
    assert selection.stop == "patience" and len(val_losses) == selection.best_epoch + 2 < 30
    best = val_losses[selection.best_epoch - 1] if selection.best_epoch else selection.naive_val_mse
    assert min(val_losses[selection.best_epoch:]) >= best


def test_a_gain_smaller_than_min_improvement_does_not_count():
    split = _small_split()
    model = _small_model()
    untrained = _weights(model)
    # Only a validation loss 99.9% below the untrained model's would count: no epoch does.
    selection = fit_selected(model, split, epochs=10, seed=0, patience=3, learning_rate=3e-3, min_improvement=0.999)
    assert min(selection.history["val_loss"]) < selection.naive_val_mse  # epochs did improve, by less than that
    assert selection.best_epoch == 0 and selection.stop == "patience" and len(selection.history["val_loss"]) == 3
    for kept, initial in zip(_weights(model), untrained):
        np.testing.assert_array_equal(kept, initial)
    assert selection.val_mse == pytest.approx(selection.naive_val_mse, rel=1e-5)
    with pytest.raises(ValueError, match=r"`min_improvement` must be in \[0, 1\)"):
        fit_selected(model, split, epochs=1, seed=0, min_improvement=1.0)


def test_a_diverging_training_stops_at_once_and_keeps_the_last_good_result():
    split = _small_split()
    model, seen = _small_model(), []

    def poison_after_third_epoch(epoch, logs):
        seen.append(_weights(model))
        if epoch == 2:  # the next training step then produces a NaN loss, as a diverging run does
            model.trainable_weights[0].assign(np.full(model.trainable_weights[0].shape, np.nan, dtype="float32"))

    selection = fit_selected(model, split, epochs=10, seed=0, on_epoch=poison_after_third_epoch, patience=10,
                             learning_rate=3e-3)
    assert selection.stop == "diverged"
    assert len(selection.history["loss"]) == 3 and len(seen) == 3  # epoch 4 diverged: it is not in the history
    assert all(np.isfinite(w).all() for w in _weights(model))
    assert 1 <= selection.best_epoch <= 3
    for kept, chosen in zip(_weights(model), seen[selection.best_epoch - 1]):
        np.testing.assert_array_equal(kept, chosen)
    assert np.isfinite(selection.test_mse)
    assert selection.message == (
        f"Training diverged in epoch 4 (the loss became NaN or infinite), so it stopped there and kept the best "
        f"result before it, from epoch {selection.best_epoch}; a lower learning rate or another seed may help.")


def test_a_huge_learning_rate_diverges_and_keeps_finite_weights():
    split = _small_split()
    model = _small_model()
    selection = fit_selected(model, split, epochs=5, seed=0, learning_rate=1e30)
    assert selection.stop == "diverged"
    assert all(np.isfinite(w).all() for w in _weights(model))
    assert np.isfinite(selection.val_mse) and "diverged" in selection.message


# The Learn page's forecaster on synthetic data


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_driver_outranks_unrelated_series_and_model_beats_naive(seed):
    df = synthetic(seed=seed)
    (planted,) = [d for d in df.attrs["dependencies"] if d["driven"] == TARGET]
    result = fit_forecaster(df, TARGET, input_size=32, seed=seed)
    unrelated = [s for s in df.columns if s not in (TARGET, planted["driver"])]
    driver_weight = result.importance[planted["driver"]]
    assert all(driver_weight > result.importance[s] for s in unrelated), result.importance
    assert result.selection.test_mse < result.selection.naive_test_mse


def test_result_contract(trained):
    series = list(synthetic(seed=0).columns)
    selection = trained.selection
    assert trained.series == series
    assert sum(trained.importance.values()) == pytest.approx(1.0, abs=1e-5)
    assert sum(trained.importance_initial.values()) == pytest.approx(1.0, abs=1e-5)
    epochs = len(trained.history["loss"])
    assert epochs == len(trained.history["val_loss"]) == len(trained.importance_history) >= selection.best_epoch >= 1
    assert trained.importance == trained.importance_history[selection.best_epoch - 1]
    assert trained.feature_impact.shape == (len(series), 1)
    assert [trained.rows[part] for part in ("train", "validation", "test")] == [range(0, 700), range(700, 850),
                                                                                range(850, 1000)]
    frame = trained.history_frame()
    assert list(frame.columns[:2]) == ["loss", "val_loss"]
    assert frame.shape == (epochs, 2 + len(series))


def test_test_and_naive_errors_are_measured_on_the_same_test_windows(trained):
    df = synthetic(seed=0)
    target = df.columns.get_loc(TARGET)
    split = chronological_split(df, 32, 1, target)
    naive = split.x_test[:, -1, target]
    assert trained.selection.naive_test_mse == pytest.approx(float(np.mean((naive - split.y_test[:, 0]) ** 2)), rel=1e-6)
    predictions = trained.model.predict(split.x_test, verbose=0)
    assert trained.selection.test_mse == pytest.approx(float(np.mean((predictions - split.y_test) ** 2)), rel=1e-4)
    # The verdict's interval resamples exactly these windows' errors, in time order.
    np.testing.assert_allclose(trained.selection.naive_test_errors, (naive - split.y_test[:, 0]) ** 2, rtol=1e-6)
    np.testing.assert_allclose(trained.selection.test_errors, ((predictions - split.y_test) ** 2)[:, 0], rtol=1e-4)
    comparison = trained.selection.comparison
    assert comparison.windows == len(split.x_test) and comparison.low <= comparison.ratio <= comparison.high
    assert comparison.ratio == pytest.approx(trained.selection.test_mse / trained.selection.naive_test_mse)


def test_on_epoch_sees_each_epoch_and_can_stop_training():
    seen = []

    def stop_after_two(epoch, logs):
        seen.append((epoch, sorted(logs)))
        return epoch < 1

    result = fit_forecaster(synthetic(n_steps=300, seed=3), TARGET, input_size=16, epochs=10, on_epoch=stop_after_two)
    assert [epoch for epoch, _ in seen] == [0, 1]
    assert all({"loss", "val_loss"} <= set(keys) for _, keys in seen)
    assert result.selection.stop == "caller" and len(result.history["loss"]) == 2


def test_trained_model_round_trips_through_keras_file(trained, tmp_path):
    path = tmp_path / "forecaster.keras"
    trained.model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, Forecaster) and isinstance(loaded.instance_norm, ReversibleInstanceNorm)
    x = _trending_windows(batch=4, time=32, n_series=6, seed=1)
    for saved, restored in zip(trained.model.weights, loaded.weights):
        np.testing.assert_array_equal(restored.numpy(), saved.numpy())
    np.testing.assert_array_equal(loaded(x, training=False), trained.model(x, training=False))


def test_bad_requests_say_what_to_do():
    df = synthetic(n_steps=100, seed=0)
    with pytest.raises(DataError, match="'nope' is not one of the data's series"):
        fit_forecaster(df, "nope", input_size=16)
    with pytest.raises(DataError, match="needs at least .* rows .*; the data has 100"):
        fit_forecaster(df, TARGET, input_size=90)
    with pytest.raises(ValueError, match="`mixer` must be one of"):
        fit_forecaster(df, TARGET, input_size=16, mixer="average")

