"""What TSMixer's two blocks (FeatureMixing, TemporalMixing) share: the input check and the plane norm."""

from __future__ import annotations

import keras
from keras import ops

from kflayers.layers.base import StagedLayer

# Keras' BatchNormalization keeps running = momentum * running + (1 - momentum) * batch,
# so TSMixer's 0.99/0.01 update is momentum=0.99 here (torch would call it 0.01).
BATCH_NORM_MOMENTUM = 0.99
BATCH_NORM_EPSILON = 1e-3


def build_plane_batch_norm(layer: StagedLayer, batch, input_size: int, n_series: int):
    """The BatchNormalization over a flattened (time x series) plane, built for `layer`."""
    batch_norm = keras.layers.BatchNormalization(
        axis=-1, momentum=BATCH_NORM_MOMENTUM, epsilon=BATCH_NORM_EPSILON,
        dtype=layer.dtype_policy, name="batch_norm",
    )
    batch_norm.build((batch, input_size * n_series))
    return batch_norm


PLANE_NORM_STAGES = (
    ("input", "The window as given: (batch, time, series)."),
    ("flatten", "Time and series flattened into one plane per window, so each (time, series) cell is normalised on its own."),
    ("batch_norm", "Batch normalisation of every cell: batch statistics in training, moving averages in inference."),
    ("reshape", "The normalised plane reshaped back to (batch, time, series)."),
)
"""The first stages of both blocks, which `normalise_plane` records after the input."""


def normalise_plane(layer: StagedLayer, x, training):
    """Batch-normalise every (time, series) cell of the window `x` with `layer.batch_norm`, recording the stages."""
    flat = layer._stage("flatten", ops.reshape(x, (-1, layer.input_size * layer.n_series)))
    normed = layer._stage("batch_norm", layer._batch_norm(layer.batch_norm, flat, training))
    return layer._stage("reshape", ops.reshape(normed, (-1, layer.input_size, layer.n_series)))


def check_window_shape(layer_name: str, input_shape, input_size: int, n_series: int) -> None:
    """Raise a ValueError unless `input_shape` is (batch, input_size, n_series)."""
    shape = tuple(input_shape)
    if len(shape) != 3 or shape[1] not in (None, input_size) or shape[2] not in (None, n_series):
        raise ValueError(
            f"{layer_name} expects inputs of shape (batch, input_size={input_size}, "
            f"n_series={n_series}); got {shape}."
        )
