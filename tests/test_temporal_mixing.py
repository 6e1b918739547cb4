"""TemporalMixing: keras harness, numpy reference, BatchNorm statistics, dropout, stages, errors."""

import keras
import numpy as np
import pytest
from keras.src import testing
from layer_checks import (
    assert_keras_roundtrip,
    assert_trace_matches_call,
    batch_norm_reference,
    randomise_plane_batch_norm,
    to_numpy,
)

from kflayers import TemporalMixing

N_SERIES, INPUT_SIZE = 3, 4
STAGE_NAMES = [
    "input", "flatten", "batch_norm", "reshape", "transpose",
    "dense", "activation", "transpose_back", "dropout", "residual",
]


def window(batch=6):
    return np.random.randn(batch, INPUT_SIZE, N_SERIES).astype("float32")


def layer_with_weights(dropout=0.0, activation="relu"):
    """A built TemporalMixing with random weights everywhere; returns the layer and its numpy weights."""
    layer = TemporalMixing(N_SERIES, INPUT_SIZE, dropout=dropout, activation=activation)
    layer.build((None, INPUT_SIZE, N_SERIES))
    norm = randomise_plane_batch_norm(layer.batch_norm)
    dense = [np.random.randn(INPUT_SIZE, INPUT_SIZE).astype("float32"), np.random.randn(INPUT_SIZE).astype("float32")]
    layer.dense.set_weights(dense)
    return layer, norm, dense


def reference(x, normed_flat, dense, activation=lambda h: np.maximum(h, 0.0)):
    """The rest of the layer in numpy: output step s of series c mixes all steps of series c."""
    kernel, bias = dense
    normed = normed_flat.reshape(x.shape)  # (batch, time, series)
    mixed = np.einsum("bts,tu->bus", normed, kernel) + bias[None, :, None]
    return x + activation(mixed)


class TemporalMixingHarnessTest(testing.TestCase):
    def test_keras_layer_harness(self):
        self.run_layer_test(
            TemporalMixing,
            init_kwargs={"n_series": N_SERIES, "input_size": INPUT_SIZE, "dropout": 0.1},
            input_shape=(2, INPUT_SIZE, N_SERIES),
            expected_output_shape=(2, INPUT_SIZE, N_SERIES),
            expected_num_trainable_weights=4,  # gamma, beta, Dense kernel and bias
            expected_num_non_trainable_weights=2,  # moving mean and variance
            expected_num_seed_generators=1,
        )


@pytest.mark.parametrize("activation, fn", [("relu", lambda h: np.maximum(h, 0.0)), ("tanh", np.tanh)])
def test_inference_matches_numpy_with_moving_statistics(activation, fn):
    layer, (gamma, beta, mean, variance), dense = layer_with_weights(dropout=0.3, activation=activation)
    x = window()
    flat = x.reshape(len(x), -1).astype("float64")
    expected = reference(x, batch_norm_reference(flat, mean, variance, gamma, beta), dense, fn)
    np.testing.assert_allclose(to_numpy(layer(x, training=False)), expected, rtol=1e-4, atol=1e-4)


def test_training_normalises_with_batch_statistics():
    layer, (gamma, beta, _, _), dense = layer_with_weights(dropout=0.0)
    x = window()
    flat = x.reshape(len(x), -1).astype("float64")
    normed = batch_norm_reference(flat, flat.mean(0), flat.var(0), gamma, beta)
    np.testing.assert_allclose(to_numpy(layer(x, training=True)), reference(x, normed, dense), rtol=1e-4, atol=1e-4)


def test_series_are_mixed_over_time_independently():
    layer, _, _ = layer_with_weights()
    x = window()
    changed = x.copy()
    changed[:, :, 1] += 5.0
    delta = to_numpy(layer(changed)) - to_numpy(layer(x))
    # Moving-statistics normalisation is per cell, so series 0 and 2 cannot see series 1.
    np.testing.assert_allclose(delta[:, :, [0, 2]], 0.0, atol=1e-6)
    assert np.abs(delta[:, :, 1]).max() > 1.0


def test_one_training_call_moves_statistics_by_one_percent():
    layer, (_, _, mean, variance), _ = layer_with_weights()
    x = window()
    flat = x.reshape(len(x), -1).astype("float64")
    layer(x, training=True)
    np.testing.assert_allclose(layer.batch_norm.moving_mean, 0.99 * mean + 0.01 * flat.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        layer.batch_norm.moving_variance, 0.99 * variance + 0.01 * flat.var(0), rtol=1e-5, atol=1e-6
    )


def test_dropout_acts_in_training_only():
    rate = 0.5
    layer, _, _ = layer_with_weights(dropout=rate, activation="tanh")
    x = window(batch=8)
    training = {k: to_numpy(v) for k, v in layer.trace(x, training=True).items()}
    kept = training["dropout"] != 0
    assert 0.3 < kept.mean() < 0.7
    np.testing.assert_allclose(training["dropout"][kept], training["transpose_back"][kept] / (1 - rate), rtol=1e-5)

    inference = {k: to_numpy(v) for k, v in layer.trace(x, training=False).items()}
    np.testing.assert_array_equal(inference["dropout"], inference["transpose_back"])
    np.testing.assert_array_equal(to_numpy(layer(x)), to_numpy(layer(x)))


def test_trace_stages_follow_the_data_flow():
    layer, _, _ = layer_with_weights(dropout=0.2)
    x = window()
    stages = assert_trace_matches_call(layer, x, STAGE_NAMES)
    assert [name for name, _ in TemporalMixing.STAGES] == STAGE_NAMES
    np.testing.assert_array_equal(stages["transpose"], np.transpose(stages["reshape"], (0, 2, 1)))
    np.testing.assert_array_equal(stages["transpose_back"], np.transpose(stages["activation"], (0, 2, 1)))


def test_save_load_roundtrip_keeps_moving_statistics(tmp_path):
    layer, _, _ = layer_with_weights(dropout=0.2)
    x = window()
    layer(x, training=True)
    assert_keras_roundtrip(layer, x, tmp_path)


def test_output_shape():
    layer = TemporalMixing(N_SERIES, INPUT_SIZE, dropout=0.0)
    assert layer.compute_output_shape((None, INPUT_SIZE, N_SERIES)) == (None, INPUT_SIZE, N_SERIES)
    assert tuple(layer(keras.Input((INPUT_SIZE, N_SERIES))).shape) == (None, INPUT_SIZE, N_SERIES)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_series": -1}, r"`n_series` must be a positive integer; got -1\."),
        ({"input_size": 4.0}, r"`input_size` must be a positive integer; got 4\.0\."),
        ({"dropout": 1.5}, r"`dropout` must be a number in \[0, 1\); got 1\.5\."),
        ({"dropout": True}, r"`dropout` must be a number in \[0, 1\); got True\."),
        ({"activation": None}, r"`activation` must be a keras activation name .*; got None\."),
    ],
)
def test_invalid_arguments(kwargs, message):
    base = {"n_series": N_SERIES, "input_size": INPUT_SIZE, "dropout": 0.1}
    with pytest.raises(ValueError, match=message):
        TemporalMixing(**{**base, **kwargs})


@pytest.mark.parametrize("shape", [(2, INPUT_SIZE), (2, INPUT_SIZE + 1, N_SERIES), (2, INPUT_SIZE, N_SERIES - 1)])
def test_wrong_input_shape_before_and_after_build(shape):
    message = rf"expects inputs of shape \(batch, input_size=4, n_series=3\); got \({', '.join(map(str, shape))}\)\."
    with pytest.raises(ValueError, match=message):
        TemporalMixing(N_SERIES, INPUT_SIZE, dropout=0.0)(np.zeros(shape, "float32"))
    layer, _, _ = layer_with_weights()
    with pytest.raises(ValueError, match=message):
        layer(np.zeros(shape, "float32"))
