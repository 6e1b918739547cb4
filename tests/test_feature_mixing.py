"""FeatureMixing: keras harness, numpy reference, BatchNorm statistics, dropout, stages, errors."""

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

from kflayers import FeatureMixing
from kflayers.layers.base import BATCH_STATS, stage_mode

N_SERIES, INPUT_SIZE, FF_DIM = 3, 4, 5
STAGE_NAMES = [
    "input", "flatten", "batch_norm", "reshape", "dense_1",
    "activation", "dropout_1", "dense_2", "dropout_2", "residual",
]


def window(batch=6):
    return np.random.randn(batch, INPUT_SIZE, N_SERIES).astype("float32")


def layer_with_weights(dropout=0.0, activation="relu"):
    """A built FeatureMixing with random weights everywhere; returns the layer and its numpy weights."""
    layer = FeatureMixing(N_SERIES, INPUT_SIZE, dropout=dropout, ff_dim=FF_DIM, activation=activation)
    layer.build((None, INPUT_SIZE, N_SERIES))
    norm = randomise_plane_batch_norm(layer.batch_norm)
    dense = [
        np.random.randn(N_SERIES, FF_DIM).astype("float32"),
        np.random.randn(FF_DIM).astype("float32"),
        np.random.randn(FF_DIM, N_SERIES).astype("float32"),
        np.random.randn(N_SERIES).astype("float32"),
    ]
    layer.dense_1.set_weights(dense[:2])
    layer.dense_2.set_weights(dense[2:])
    return layer, norm, dense


def reference(x, normed_flat, dense, activation=lambda h: np.maximum(h, 0.0)):
    """The rest of the layer in numpy, from the normalised flat plane."""
    kernel_1, bias_1, kernel_2, bias_2 = dense
    normed = normed_flat.reshape(x.shape)
    return x + activation(normed @ kernel_1 + bias_1) @ kernel_2 + bias_2


class FeatureMixingHarnessTest(testing.TestCase):
    def test_keras_layer_harness(self):
        self.run_layer_test(
            FeatureMixing,
            init_kwargs={"n_series": N_SERIES, "input_size": INPUT_SIZE, "dropout": 0.1, "ff_dim": FF_DIM},
            input_shape=(2, INPUT_SIZE, N_SERIES),
            expected_output_shape=(2, INPUT_SIZE, N_SERIES),
            expected_num_trainable_weights=6,  # gamma, beta, two Dense kernels and biases
            expected_num_non_trainable_weights=2,  # moving mean and variance
            expected_num_seed_generators=2,  # one per Dropout
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


def test_one_training_call_moves_statistics_by_one_percent():
    layer, (_, _, mean, variance), _ = layer_with_weights()
    x = window()
    flat = x.reshape(len(x), -1).astype("float64")
    layer(x, training=False)
    np.testing.assert_allclose(layer.batch_norm.moving_mean, mean, rtol=0, atol=0)
    layer(x, training=True)
    # running = 0.99 * running + 0.01 * batch (keras momentum=0.99); keras uses the biased batch variance.
    np.testing.assert_allclose(layer.batch_norm.moving_mean, 0.99 * mean + 0.01 * flat.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        layer.batch_norm.moving_variance, 0.99 * variance + 0.01 * flat.var(0), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("dtype", ["float32", "mixed_float16"])
def test_batch_statistics_mode_normalises_like_training_without_updating(dtype):
    layer = FeatureMixing(N_SERIES, INPUT_SIZE, dropout=0.0, ff_dim=FF_DIM, dtype=dtype)
    x = window() * 10 + 100
    layer(x)
    moving = [v.numpy() for v in layer.batch_norm.non_trainable_variables]
    with stage_mode(batch_norm=BATCH_STATS):
        batch_stats = layer(x)
    for before, variable in zip(moving, layer.batch_norm.non_trainable_variables):
        np.testing.assert_array_equal(variable, before)
    assert keras.backend.standardize_dtype(batch_stats.dtype) == layer.compute_dtype
    np.testing.assert_array_equal(to_numpy(batch_stats), to_numpy(layer(x, training=True)))


def test_dropout_acts_in_training_only():
    rate = 0.5
    layer, _, _ = layer_with_weights(dropout=rate)
    x = window(batch=8)
    training = {k: to_numpy(v) for k, v in layer.trace(x, training=True).items()}
    for before, after in (("activation", "dropout_1"), ("dense_2", "dropout_2")):
        kept = training[after] != 0
        assert 0.3 < kept[training[before] != 0].mean() < 0.7, f"{after} should zero about half of {before}"
        np.testing.assert_allclose(training[after][kept], training[before][kept] / (1 - rate), rtol=1e-5)
    np.testing.assert_allclose(training["residual"], training["input"] + training["dropout_2"], rtol=1e-5, atol=1e-6)

    inference = {k: to_numpy(v) for k, v in layer.trace(x, training=False).items()}
    np.testing.assert_array_equal(inference["dropout_1"], inference["activation"])
    np.testing.assert_array_equal(inference["dropout_2"], inference["dense_2"])
    np.testing.assert_array_equal(to_numpy(layer(x)), to_numpy(layer(x)))


def test_trace_stages_follow_the_data_flow():
    layer, _, _ = layer_with_weights(dropout=0.2)
    x = window()
    stages = assert_trace_matches_call(layer, x, STAGE_NAMES)
    assert [name for name, _ in FeatureMixing.STAGES] == STAGE_NAMES
    np.testing.assert_array_equal(stages["flatten"], x.reshape(len(x), -1))
    np.testing.assert_array_equal(stages["reshape"], np.reshape(stages["batch_norm"], x.shape))


def test_save_load_roundtrip_keeps_moving_statistics(tmp_path):
    layer, _, _ = layer_with_weights(dropout=0.2)
    x = window()
    layer(x, training=True)
    assert_keras_roundtrip(layer, x, tmp_path)


def test_output_shape():
    layer = FeatureMixing(N_SERIES, INPUT_SIZE, dropout=0.0, ff_dim=FF_DIM)
    assert layer.compute_output_shape((None, INPUT_SIZE, N_SERIES)) == (None, INPUT_SIZE, N_SERIES)
    assert tuple(layer(keras.Input((INPUT_SIZE, N_SERIES))).shape) == (None, INPUT_SIZE, N_SERIES)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_series": 0}, r"`n_series` must be a positive integer; got 0\."),
        ({"input_size": -2}, r"`input_size` must be a positive integer; got -2\."),
        ({"dropout": 1.0}, r"`dropout` must be a number in \[0, 1\); got 1\.0\."),
        ({"dropout": -0.1}, r"`dropout` must be a number in \[0, 1\); got -0\.1\."),
        ({"ff_dim": "8"}, r"`ff_dim` must be a positive integer; got '8'\."),
        ({"activation": "nope"}, r"`activation` must be a keras activation name .*; got 'nope'\."),
    ],
)
def test_invalid_arguments(kwargs, message):
    base = {"n_series": N_SERIES, "input_size": INPUT_SIZE, "dropout": 0.1, "ff_dim": FF_DIM}
    with pytest.raises(ValueError, match=message):
        FeatureMixing(**{**base, **kwargs})


@pytest.mark.parametrize("shape", [(2, INPUT_SIZE * N_SERIES), (2, INPUT_SIZE + 1, N_SERIES), (2, INPUT_SIZE, N_SERIES + 1)])
def test_wrong_input_shape_before_and_after_build(shape):
    message = rf"expects inputs of shape \(batch, input_size=4, n_series=3\); got \({', '.join(map(str, shape))}\)\."
    with pytest.raises(ValueError, match=message):
        FeatureMixing(N_SERIES, INPUT_SIZE, dropout=0.0, ff_dim=FF_DIM)(np.zeros(shape, "float32"))
    layer, _, _ = layer_with_weights()
    with pytest.raises(ValueError, match=message):
        layer(np.zeros(shape, "float32"))
