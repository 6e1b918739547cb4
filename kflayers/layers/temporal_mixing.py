"""TemporalMixing: an MLP along the time axis of each series (TSMixer)."""

from __future__ import annotations

import keras
from keras import ops

from kflayers.layers.base import StagedLayer, check_activation, check_positive_int, check_rate
from kflayers.layers.tsmixer_helpers import PLANE_NORM_STAGES, build_plane_batch_norm, check_window_shape, normalise_plane


@keras.saving.register_keras_serializable(package="kflayers")
class TemporalMixing(StagedLayer):
    """Mixes information across the time steps of each series (TSMixer's time MLP).

    The window is batch-normalised over the whole (time x series) plane,
    transposed so that every series is a vector over time, passed through one
    Dense layer of `input_size` units (shared by all series) and the
    activation, transposed back, dropped out, and added to the input.

    Args:
        n_series: number of series (channels), the last input dimension.
        input_size: number of time steps, the middle input dimension.
        dropout: dropout rate in [0, 1) after the time MLP.
        activation: keras activation after the Dense layer.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Input shape:
        `(batch, input_size, n_series)`.

    Output shape:
        `(batch, input_size, n_series)`.

    Example:

    >>> import keras
    >>> from kflayers import TemporalMixing
    >>> layer = TemporalMixing(n_series=7, input_size=96, dropout=0.1)
    >>> tuple(layer(keras.random.normal((32, 96, 7))).shape)
    (32, 96, 7)
    """

    STAGES = PLANE_NORM_STAGES + (
        ("transpose", "Swapped to (batch, series, time): each series becomes one vector over time."),
        ("dense", "Dense layer over time: every output step is a learned mix of all input steps of the same series."),
        ("activation", "The activation applied to the mixed time steps."),
        ("transpose_back", "Swapped back to (batch, time, series)."),
        ("dropout", "Dropout on the mixed values (training only)."),
        ("residual", "The mixed values added to the input: the layer's output."),
    )
    STAGE_WEIGHTS = {"batch_norm": "batch_norm", "dense": "dense", "dropout_layer": "dropout"}

    def __init__(self, n_series, input_size, dropout, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.n_series = check_positive_int("n_series", n_series)
        self.input_size = check_positive_int("input_size", input_size)
        self.dropout = check_rate("dropout", dropout)
        self.activation = check_activation("activation", activation)
        self._activation_fn = keras.activations.get(activation)

    def build(self, input_shape):
        check_window_shape(type(self).__name__, input_shape, self.input_size, self.n_series)
        batch = input_shape[0]
        self.batch_norm = build_plane_batch_norm(self, batch, self.input_size, self.n_series)
        self.dense = keras.layers.Dense(self.input_size, dtype=self.dtype_policy, name="dense")
        self.dense.build((batch, self.n_series, self.input_size))
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name="dropout")
        self.built = True

    def call(self, inputs, training=None):
        check_window_shape(type(self).__name__, inputs.shape, self.input_size, self.n_series)
        x = self._stage("input", inputs)
        normed = normalise_plane(self, x, training)
        per_series = self._stage("transpose", ops.transpose(normed, (0, 2, 1)))
        mixed = self._stage("dense", self.dense(per_series))
        mixed = self._stage("activation", self._activation_fn(mixed))
        mixed = self._stage("transpose_back", ops.transpose(mixed, (0, 2, 1)))
        mixed = self._stage("dropout", self._dropout(self.dropout_layer, mixed, training))
        return self._stage("residual", x + mixed)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            n_series=self.n_series,
            input_size=self.input_size,
            dropout=self.dropout,
            activation=self.activation,
        )
        return config
