"""PositionalEmbedding: the fixed sinusoidal position table of the Transformer (Informer)."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from kflayers.layers.base import StagedLayer, check_positive_int


def sinusoid_table(max_len: int, d_model: int) -> np.ndarray:
    """The (max_len, d_model) table: column 2i is sin(pos * w_i), column 2i + 1 is cos(pos * w_i).

    w_i = 10000 ** (-2i / d_model). Computed in float64 and rounded once to
    float32. For odd d_model the last column is a sine.
    """
    positions = np.arange(max_len, dtype=np.float64)[:, None]
    frequencies = np.exp(np.arange(0, d_model, 2, dtype=np.float64) * (-math.log(10000.0) / d_model))
    angles = positions * frequencies
    # (max_len, pairs, 2) -> (max_len, 2 * pairs) interleaves sin and cos column by column.
    table = np.stack([np.sin(angles), np.cos(angles)], axis=-1).reshape(max_len, -1)
    return table[:, :d_model].astype(np.float32)


@keras.saving.register_keras_serializable(package="kflayers")
class PositionalEmbedding(StagedLayer):
    """Returns the fixed sinusoidal encoding of the first `time` positions.

    Position `pos` is encoded as `sin(pos * w_i)` in column `2i` and
    `cos(pos * w_i)` in column `2i + 1`, with `w_i = 10000 ** (-2i / d_model)`:
    the interleaved layout of Informer and keras-hub. Nothing is learned; the
    output has a batch dimension of 1 so that it can be added to a
    `(batch, time, d_model)` embedding.

    Args:
        max_len: the longest sequence the layer accepts.
        d_model: embedding size (any positive integer, odd included).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Input shape:
        `(batch, time, ...)`: only `time` is used, and it must be at most `max_len`.

    Output shape:
        `(1, time, d_model)`.

    Example:

    >>> import keras
    >>> from kflayers import PositionalEmbedding, TokenEmbedding
    >>> x = keras.random.normal((32, 96, 7))
    >>> embedded = TokenEmbedding(c_in=7, d_model=64)(x)
    >>> tuple((embedded + PositionalEmbedding(max_len=512, d_model=64)(embedded)).shape)
    (32, 96, 64)
    """

    STAGES = (
        ("table", "The sinusoidal position table for the window's time steps: sine in even columns, cosine in odd ones."),
    )
    STAGE_WEIGHTS = {}  # the table is fixed: no weights

    def __init__(self, max_len, d_model, **kwargs):
        super().__init__(**kwargs)
        self.max_len = check_positive_int("max_len", max_len)
        self.d_model = check_positive_int("d_model", d_model)
        self._table = sinusoid_table(max_len, d_model)

    def _check_input_shape(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) < 2:
            raise ValueError(
                f"PositionalEmbedding expects inputs of shape (batch, time, ...); got {shape}."
            )
        if shape[1] is not None and shape[1] > self.max_len:
            raise ValueError(
                f"PositionalEmbedding was built for at most max_len={self.max_len} time steps; "
                f"got an input with time={shape[1]}. Create it with a larger max_len."
            )

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        self.built = True

    def call(self, inputs):
        self._check_input_shape(inputs.shape)
        time = inputs.shape[1]
        if time is not None:
            # Slice before converting: only `time` rows are copied to the device.
            table = ops.convert_to_tensor(self._table[:time], dtype=self.compute_dtype)
        else:
            table = ops.convert_to_tensor(self._table, dtype=self.compute_dtype)[: ops.shape(inputs)[1]]
        return self._stage("table", ops.expand_dims(table, 0))

    def compute_output_shape(self, input_shape):
        return (1, input_shape[1], self.d_model)

    def get_config(self):
        config = super().get_config()
        config.update(max_len=self.max_len, d_model=self.d_model)
        return config
