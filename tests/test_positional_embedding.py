"""PositionalEmbedding: keras harness, golden sinusoid values, odd d_model, max_len, errors."""

import keras
import numpy as np
import pytest
from keras.src import testing
from layer_checks import assert_keras_roundtrip, assert_trace_matches_call, to_numpy

from kflayers import PositionalEmbedding


def reference_table(length, d_model):
    """The Transformer encoding, entry by entry: PE[pos, j] = sin or cos of pos / 10000^(2*(j//2)/d_model)."""
    table = np.zeros((length, d_model))
    for pos in range(length):
        for j in range(d_model):
            angle = pos / 10000.0 ** (2 * (j // 2) / d_model)
            table[pos, j] = np.sin(angle) if j % 2 == 0 else np.cos(angle)
    return table


class PositionalEmbeddingHarnessTest(testing.TestCase):
    def test_keras_layer_harness(self):
        self.run_layer_test(
            PositionalEmbedding,
            init_kwargs={"max_len": 10, "d_model": 6},
            input_shape=(2, 5, 6),
            expected_output_shape=(1, 5, 6),
            expected_num_trainable_weights=0,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=0,
        )


def test_golden_values_at_position_3_for_d_model_6():
    table = to_numpy(PositionalEmbedding(max_len=8, d_model=6)(np.zeros((1, 4, 6))))
    # Published to 5 decimals (truncated), hence the 1e-5 tolerance.
    golden = [0.14112, -0.98999, 0.13879, 0.99032, 0.00646, 0.99997]
    np.testing.assert_allclose(table[0, 3], golden, atol=1e-5)


@pytest.mark.parametrize("d_model", [1, 6, 7, 16])
def test_table_matches_the_formula_for_even_and_odd_d_model(d_model):
    table = to_numpy(PositionalEmbedding(max_len=64, d_model=d_model)(np.zeros((2, 50, 3))))
    assert table.shape == (1, 50, d_model)
    np.testing.assert_allclose(table[0], reference_table(50, d_model), atol=2e-7)


def test_output_depends_only_on_the_number_of_time_steps():
    layer = PositionalEmbedding(max_len=20, d_model=4)
    ints = np.arange(24).reshape(2, 12)  # (batch, time) token ids work too
    np.testing.assert_array_equal(to_numpy(layer(ints)), to_numpy(layer(np.random.randn(5, 12, 4).astype("float32"))))
    np.testing.assert_array_equal(to_numpy(layer(np.zeros((1, 20, 4))))[:, :12], to_numpy(layer(ints)))


def test_has_no_weights_and_adds_to_an_embedding():
    layer = PositionalEmbedding(max_len=10, d_model=4)
    embedded = np.ones((3, 6, 4), "float32")
    summed = embedded + to_numpy(layer(embedded))
    assert layer.weights == []
    np.testing.assert_allclose(summed, 1.0 + reference_table(6, 4)[None].repeat(3, 0), atol=2e-7)


def test_trace_is_the_table():
    layer = PositionalEmbedding(max_len=10, d_model=6)
    stages = assert_trace_matches_call(layer, np.zeros((2, 7, 6)), ["table"])
    np.testing.assert_allclose(stages["table"][0], reference_table(7, 6), atol=2e-7)


def test_symbolic_and_dynamic_time():
    layer = PositionalEmbedding(max_len=10, d_model=6)
    out = layer(keras.Input((None, 6)))
    assert tuple(out.shape) == (1, None, 6)
    assert layer.compute_output_shape((4, 9, 2)) == (1, 9, 6)
    # In a model whose time axis is unknown, each batch still gets the table of its own length
    # (TensorFlow retraces the predict function with time=None after the first length).
    inputs = keras.Input((None, 6))
    model = keras.Model(inputs, layer(inputs))
    for time in (7, 9, 4):
        table = model.predict(np.zeros((2, time, 6), "float32"), verbose=0)
        np.testing.assert_allclose(table[0], reference_table(time, 6), atol=2e-7)


def test_save_load_roundtrip(tmp_path):
    assert_keras_roundtrip(PositionalEmbedding(max_len=12, d_model=5), np.random.randn(2, 9, 5).astype("float32"), tmp_path)


def test_time_longer_than_max_len_is_rejected():
    layer = PositionalEmbedding(max_len=8, d_model=4)
    message = r"built for at most max_len=8 time steps; got an input with time=9\. Create it with a larger max_len\."
    with pytest.raises(ValueError, match=message):
        layer(np.zeros((2, 9, 4)))
    assert tuple(layer(np.zeros((2, 8, 4))).shape) == (1, 8, 4)
    with pytest.raises(ValueError, match=message):
        layer(np.zeros((2, 9, 4)))


def test_input_without_time_axis_is_rejected():
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, time, \.\.\.\); got \(5,\)\."):
        PositionalEmbedding(max_len=8, d_model=4)(np.zeros((5,)))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_len": 0}, r"`max_len` must be a positive integer; got 0\."),
        ({"d_model": "6"}, r"`d_model` must be a positive integer; got '6'\."),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PositionalEmbedding(**{"max_len": 8, "d_model": 4, **kwargs})
