"""GatedFeatureFusion: keras harness, numpy reference, gate limits, stages, errors."""

import numpy as np
import pytest
from keras.src import testing
from layer_checks import assert_keras_roundtrip, assert_trace_matches_call, to_numpy

from kflayers import GatedFeatureFusion


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def random_pair(*shape):
    return np.random.randn(*shape).astype("float32"), np.random.randn(*shape).astype("float32")


def fusion_with_weights(features, activation="sigmoid", kernel=None, bias=None):
    layer = GatedFeatureFusion(activation=activation)
    layer.build([(None, features), (None, features)])
    kernel = np.random.randn(2 * features, features).astype("float32") if kernel is None else kernel
    bias = np.random.randn(features).astype("float32") if bias is None else bias
    layer.gate.set_weights([kernel, bias])
    return layer, kernel, bias


class GatedFeatureFusionHarnessTest(testing.TestCase):
    def test_keras_layer_harness(self):
        self.run_layer_test(
            GatedFeatureFusion,
            init_kwargs={"activation": "sigmoid"},
            input_shape=((2, 3, 4), (2, 3, 4)),
            expected_output_shape=(2, 3, 4),
            expected_num_trainable_weights=2,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=0,
        )


@pytest.mark.parametrize("activation, gate_fn", [("sigmoid", sigmoid), ("tanh", np.tanh)])
def test_matches_numpy_reference(activation, gate_fn):
    layer, kernel, bias = fusion_with_weights(4, activation)
    a, b = random_pair(2, 3, 4)
    gate = gate_fn(np.concatenate([a, b], axis=-1) @ kernel + bias)
    np.testing.assert_allclose(to_numpy(layer([a, b])), gate * a + (1 - gate) * b, rtol=1e-5, atol=1e-6)


def test_saturated_gate_selects_one_input():
    a, b = random_pair(5, 3)
    zeros = np.zeros((6, 3), "float32")
    keep_a, _, _ = fusion_with_weights(3, kernel=zeros, bias=np.full(3, 50.0, "float32"))
    keep_b, _, _ = fusion_with_weights(3, kernel=zeros, bias=np.full(3, -50.0, "float32"))
    np.testing.assert_allclose(to_numpy(keep_a([a, b])), a, atol=1e-6)
    np.testing.assert_allclose(to_numpy(keep_b([a, b])), b, atol=1e-6)


def test_sigmoid_output_lies_between_the_inputs():
    layer, _, _ = fusion_with_weights(8)
    a, b = random_pair(16, 8)
    out = to_numpy(layer([a, b]))
    assert np.all(out >= np.minimum(a, b) - 1e-6) and np.all(out <= np.maximum(a, b) + 1e-6)


def test_trace_stages_and_values():
    layer, _, _ = fusion_with_weights(4)
    a, b = random_pair(3, 4)
    names = ["input_a", "input_b", "concat", "gate", "gated_a", "gated_b", "output"]
    stages = assert_trace_matches_call(layer, [a, b], names)
    np.testing.assert_array_equal(stages["concat"], np.concatenate([a, b], axis=-1))
    np.testing.assert_allclose(stages["gated_a"], stages["gate"] * a, rtol=1e-6)
    np.testing.assert_allclose(stages["gated_b"], (1 - stages["gate"]) * b, rtol=1e-6)
    np.testing.assert_allclose(stages["output"], stages["gated_a"] + stages["gated_b"], rtol=1e-6)


@pytest.mark.parametrize("shape", [(4, 6), (2, 3, 5, 6)])
def test_any_rank_and_output_shape(shape):
    layer = GatedFeatureFusion()
    a, b = random_pair(*shape)
    assert tuple(layer([a, b]).shape) == shape
    assert layer.compute_output_shape([shape, shape]) == shape
    assert tuple(layer.gate.kernel.shape) == (12, 6)


def test_training_flag_does_not_change_the_output():
    layer, _, _ = fusion_with_weights(4)
    a, b = random_pair(3, 4)
    np.testing.assert_array_equal(to_numpy(layer([a, b], training=True)), to_numpy(layer([a, b], training=False)))


def test_save_load_roundtrip(tmp_path):
    layer, _, _ = fusion_with_weights(4, activation="tanh")
    assert_keras_roundtrip(layer, list(random_pair(3, 4)), tmp_path)


def test_invalid_activation():
    with pytest.raises(ValueError, match=r"`activation` must be a keras activation name .*; got 'nope'\."):
        GatedFeatureFusion(activation="nope")


@pytest.mark.parametrize(
    "make_inputs, message",
    [
        (lambda a: [a], r"expects a list of exactly two tensors \[a, b\]; got inputs of shape \[\(2, 4\)\]\."),
        (lambda a: [a, a, a], r"exactly two tensors \[a, b\]; got inputs of shape \[\(2, 4\), \(2, 4\), \(2, 4\)\]\."),
        (lambda a: a, r"exactly two tensors \[a, b\]; got inputs of shape \(2, 4\)\."),
        (lambda a: [a, a[:, :3]], r"two inputs of the same shape .*; got \(2, 4\) and \(2, 3\)\."),
        (lambda a: [a, a[:1]], r"two inputs of the same shape .*; got \(2, 4\) and \(1, 4\)\."),
        (lambda a: [a[0], a[1]], r"two inputs of the same shape \(batch, \.\.\., features\) .*; got \(4,\) and \(4,\)\."),
    ],
)
def test_wrong_inputs_are_rejected_before_and_after_build(make_inputs, message):
    a = np.zeros((2, 4), "float32")
    with pytest.raises(ValueError, match=message):
        GatedFeatureFusion()(make_inputs(a))
    built = GatedFeatureFusion()
    built([a, a])
    with pytest.raises(ValueError, match=message):
        built(make_inputs(a))


def test_built_layer_rejects_a_different_feature_count():
    layer = GatedFeatureFusion()
    layer(list(random_pair(2, 4)))
    with pytest.raises(ValueError, match=r"was built for 4 features; got inputs of shape \(2, 5\)\."):
        layer(list(random_pair(2, 5)))


def test_compute_output_shape_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"got \(None, 4\) and \(None, 5\)\."):
        GatedFeatureFusion().compute_output_shape([(None, 4), (None, 5)])
    assert GatedFeatureFusion().compute_output_shape([(None, 4), (8, 4)]) == (None, 4)
