"""TokenEmbedding: keras harness, torch-equivalent circular convolution, padding modes, init, errors."""

import keras
import numpy as np
import pytest
from absl.testing import parameterized
from keras.src import testing
from layer_checks import assert_keras_roundtrip, assert_trace_matches_call, to_numpy

from kflayers import TokenEmbedding


def correlate(padded, torch_weight, bias=None):
    """torch's Conv1d arithmetic (cross-correlation) on a padded (batch, time, c_in) array.

    `torch_weight` has torch's layout (d_model, c_in, kernel_size).
    """
    d_model, _, kernel_size = torch_weight.shape
    steps = padded.shape[1] - kernel_size + 1
    out = np.zeros((padded.shape[0], steps, d_model))
    for t in range(steps):
        out[:, t, :] = np.einsum("bmc,ocm->bo", padded[:, t : t + kernel_size, :], torch_weight)
    return out if bias is None else out + bias


def torch_circular_conv(x, torch_weight, bias):
    """What torch.nn.Conv1d(padding=kernel_size // 2, padding_mode="circular") returns, in numpy."""
    pad = torch_weight.shape[2] // 2
    return correlate(np.pad(x, ((0, 0), (pad, pad), (0, 0)), mode="wrap"), torch_weight, bias)


def layer_with_weights(kernel_size, padding="circular", c_in=3, d_model=4, use_bias=True):
    """A built layer with random weights; also returns them in torch's layout."""
    layer = TokenEmbedding(c_in, d_model, kernel_size=kernel_size, padding=padding, use_bias=use_bias)
    layer.build((None, None, c_in))
    torch_weight = np.random.randn(d_model, c_in, kernel_size).astype("float32")
    bias = np.random.randn(d_model).astype("float32")
    layer.kernel.assign(torch_weight.transpose(2, 1, 0))
    if use_bias:
        layer.bias.assign(bias)
    return layer, torch_weight, bias


class TokenEmbeddingHarnessTest(testing.TestCase):
    @parameterized.named_parameters(
        ("circular_bias", "circular", True, 2),
        ("same_bias", "same", True, 2),
        ("causal_no_bias", "causal", False, 1),
    )
    def test_keras_layer_harness(self, padding, use_bias, n_weights):
        self.run_layer_test(
            TokenEmbedding,
            init_kwargs={"c_in": 3, "d_model": 4, "kernel_size": 3, "padding": padding, "use_bias": use_bias},
            input_shape=(2, 6, 3),
            expected_output_shape=(2, 6, 4),
            expected_num_trainable_weights=n_weights,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=0,
        )


@pytest.mark.parametrize("kernel_size", [1, 3, 5])
def test_circular_equals_torch_conv1d_for_odd_kernels(kernel_size):
    layer, torch_weight, bias = layer_with_weights(kernel_size)
    x = np.random.randn(2, 7, 3).astype("float32")
    np.testing.assert_allclose(to_numpy(layer(x)), torch_circular_conv(x, torch_weight, bias), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernel_size", [2, 4])
def test_circular_even_kernel_is_torch_conv1d_without_its_first_step(kernel_size):
    layer, torch_weight, bias = layer_with_weights(kernel_size)
    x = np.random.randn(2, 7, 3).astype("float32")
    torch_out = torch_circular_conv(x, torch_weight, bias)
    assert torch_out.shape[1] == 8  # torch cannot keep the length for an even kernel
    np.testing.assert_allclose(to_numpy(layer(x)), torch_out[:, 1:], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernel_size", [2, 3, 4])
@pytest.mark.parametrize("padding", ["same", "causal"])
def test_zero_paddings_match_keras_conv1d_and_numpy(padding, kernel_size):
    layer, torch_weight, bias = layer_with_weights(kernel_size, padding=padding)
    x = np.random.randn(2, 6, 3).astype("float32")
    left = kernel_size - 1 if padding == "causal" else (kernel_size - 1) // 2
    padded = np.pad(x, ((0, 0), (left, kernel_size - 1 - left), (0, 0)))
    np.testing.assert_allclose(to_numpy(layer(x)), correlate(padded, torch_weight, bias), rtol=1e-5, atol=1e-5)
    conv = keras.layers.Conv1D(4, kernel_size, padding=padding)
    conv.build((None, None, 3))
    conv.set_weights([torch_weight.transpose(2, 1, 0), bias])
    np.testing.assert_allclose(to_numpy(layer(x)), to_numpy(conv(x)), rtol=1e-5, atol=1e-5)


def test_impulse_at_first_step_wraps_to_the_last_output_step():
    layer, torch_weight, _ = layer_with_weights(3, c_in=1, d_model=1, use_bias=False)
    taps = torch_weight[0, 0]  # the kernel's three taps, oldest first
    impulse = np.zeros((1, 6, 1), "float32")
    impulse[0, 0, 0] = 1.0
    out = to_numpy(layer(impulse))[0, :, 0]
    # Step t sees (t-1, t, t+1); only steps 0, 1 and (wrapped) 5 see the impulse at step 0.
    np.testing.assert_allclose(out, [taps[1], taps[0], 0, 0, 0, taps[2]], rtol=1e-6)


@pytest.mark.parametrize("padding, expected", [("same", "t1 t0 0 0 0 0"), ("causal", "t2 t1 t0 0 0 0")])
def test_impulse_does_not_wrap_with_zero_padding(padding, expected):
    layer, torch_weight, _ = layer_with_weights(3, padding=padding, c_in=1, d_model=1, use_bias=False)
    taps = {f"t{m}": torch_weight[0, 0, m] for m in range(3)} | {"0": 0.0}
    impulse = np.zeros((1, 6, 1), "float32")
    impulse[0, 0, 0] = 1.0
    out = to_numpy(layer(impulse))[0, :, 0]
    np.testing.assert_allclose(out, [taps[name] for name in expected.split()], rtol=1e-6)


def test_trace_stages_and_padded_values():
    layer, _, _ = layer_with_weights(3)
    x = np.random.randn(2, 5, 3).astype("float32")
    stages = assert_trace_matches_call(layer, x, ["input", "padded", "conv", "bias"])
    np.testing.assert_array_equal(stages["padded"], np.pad(x, ((0, 0), (1, 1), (0, 0)), mode="wrap"))
    np.testing.assert_allclose(stages["bias"] - stages["conv"], np.broadcast_to(layer.bias, (2, 5, 4)), atol=1e-6)

    no_bias, _, _ = layer_with_weights(3, use_bias=False)
    assert_trace_matches_call(no_bias, x, ["input", "padded", "conv"])


def test_initialisation_is_untruncated_kaiming_normal_and_torch_bias():
    c_in, d_model, kernel_size = 16, 256, 3
    layer = TokenEmbedding(c_in, d_model, kernel_size=kernel_size)
    layer.build((None, None, c_in))
    kernel = layer.kernel.numpy().ravel()
    std = np.sqrt(2.0 / (kernel_size * c_in))
    assert abs(kernel.mean()) < 0.03 * std
    assert kernel.std() == pytest.approx(std, rel=0.03)
    # A truncated normal stops at about 2.3 std; ~1% of 12288 untruncated draws lie beyond 2.5 std.
    assert np.abs(kernel).max() > 2.5 * std

    bias = layer.bias.numpy()
    bound = 1.0 / np.sqrt(kernel_size * c_in)
    assert np.abs(bias).max() <= bound
    assert bias.max() > 0.9 * bound and bias.min() < -0.9 * bound


def test_output_shape_and_symbolic_time():
    layer = TokenEmbedding(3, 8, kernel_size=5, padding="causal")
    assert layer.compute_output_shape((4, 11, 3)) == (4, 11, 8)
    out = layer(keras.Input((None, 3)))
    assert tuple(out.shape) == (None, None, 8)


def test_training_flag_does_not_change_the_output():
    layer, _, _ = layer_with_weights(3)
    x = np.random.randn(2, 5, 3).astype("float32")
    np.testing.assert_array_equal(to_numpy(layer(x, training=True)), to_numpy(layer(x, training=False)))


def test_save_load_roundtrip(tmp_path):
    layer, _, _ = layer_with_weights(3, padding="circular")
    assert_keras_roundtrip(layer, np.random.randn(2, 6, 3).astype("float32"), tmp_path)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"c_in": 0}, r"`c_in` must be a positive integer; got 0\."),
        ({"d_model": 2.5}, r"`d_model` must be a positive integer; got 2\.5\."),
        ({"kernel_size": True}, r"`kernel_size` must be a positive integer; got True\."),
        ({"padding": "valid"}, r"`padding` must be one of \['circular', 'same', 'causal'\]; got 'valid'\."),
        ({"use_bias": 1}, r"`use_bias` must be True or False; got 1\."),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TokenEmbedding(**{"c_in": 3, "d_model": 4, **kwargs})


@pytest.mark.parametrize(
    "shape, message",
    [
        ((2, 5), r"expects inputs of shape \(batch, time, c_in=3\); got \(2, 5\)\."),
        ((2, 5, 4), r"expects inputs of shape \(batch, time, c_in=3\); got \(2, 5, 4\)\."),
    ],
)
def test_wrong_input_shape(shape, message):
    with pytest.raises(ValueError, match=message):
        TokenEmbedding(3, 4)(np.zeros(shape, "float32"))


def test_circular_padding_needs_enough_time_steps():
    layer = TokenEmbedding(3, 4, kernel_size=7)
    message = r"kernel_size=7 wraps 3 time steps, so inputs need at least 3 time steps; got 2\."
    with pytest.raises(ValueError, match=message):
        layer(np.zeros((1, 2, 3), "float32"))
    assert layer(np.zeros((1, 3, 3), "float32")).shape == (1, 3, 4)
    assert TokenEmbedding(3, 4, kernel_size=7, padding="same")(np.zeros((1, 2, 3), "float32")).shape == (1, 2, 4)
