"""Checks every kflayers layer test runs: the `.keras` round trip and trace-vs-call identity."""

import keras
import numpy as np


def to_numpy(tensor) -> np.ndarray:
    """A numpy copy of a tensor of any backend (a torch tensor that requires grad included)."""
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def assert_keras_roundtrip(layer, inputs, tmp_path):
    """Save a model around `layer` as `.keras`, load it, and require identical outputs and config.

    `inputs` is one array or a list of arrays (for multi-input layers).
    """
    arrays = inputs if isinstance(inputs, list) else [inputs]
    symbolic = [keras.Input(shape=array.shape[1:], dtype=str(array.dtype)) for array in arrays]
    model_inputs = symbolic if isinstance(inputs, list) else symbolic[0]
    model = keras.Model(model_inputs, layer(model_inputs))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    loaded_layer = loaded.get_layer(layer.name)
    assert type(loaded_layer) is type(layer)
    assert loaded_layer.get_config() == layer.get_config()
    np.testing.assert_array_equal(to_numpy(loaded(inputs, training=False)), to_numpy(model(inputs, training=False)))


def assert_trace_matches_call(layer, inputs, expected_stages):
    """In inference, `trace()` yields `expected_stages` in order, the last bit-identical to a call.

    Returns the stages as numpy arrays.
    """
    stages = layer.trace(inputs)
    assert list(stages) == list(expected_stages)
    assert all(name in layer.stage_descriptions() for name in stages)
    np.testing.assert_array_equal(to_numpy(stages[expected_stages[-1]]), to_numpy(layer(inputs)))
    return {name: to_numpy(tensor) for name, tensor in stages.items()}


def batch_norm_reference(x, mean, variance, gamma, beta, epsilon=1e-3):
    """Batch normalisation by its definition, in float64."""
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta


def randomise_plane_batch_norm(batch_norm, rng=np.random):
    """Give a built BatchNormalization random gamma, beta and moving statistics; return them."""
    size = batch_norm.gamma.shape[0]
    values = [
        rng.uniform(0.5, 1.5, size),  # gamma
        rng.randn(size),  # beta
        rng.randn(size),  # moving mean
        rng.uniform(0.5, 2.0, size),  # moving variance
    ]
    values = [v.astype("float32") for v in values]
    batch_norm.set_weights(values)
    return values
