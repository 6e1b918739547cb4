"""FeatureMixing: an MLP across the series of a multivariate window (TSMixer)."""

from __future__ import annotations

import keras

from kflayers.layers.base import StagedLayer, check_activation, check_positive_int, check_rate
from kflayers.layers.tsmixer_helpers import PLANE_NORM_STAGES, build_plane_batch_norm, check_window_shape, normalise_plane


@keras.saving.register_keras_serializable(package="kflayers")
class FeatureMixing(StagedLayer):
    """Mixes information across the series of each time step (TSMixer's feature MLP).

    The window is batch-normalised over the whole (time x series) plane, then a
    two-layer MLP (`ff_dim` hidden units) runs across the series of every time
    step, with dropout after each Dense layer, and the result is added back to
    the input.

    Args:
        n_series: number of series (channels), the last input dimension.
        input_size: number of time steps, the middle input dimension.
        dropout: dropout rate in [0, 1) after each Dense layer.
        ff_dim: hidden units of the MLP.
        activation: keras activation after the first Dense layer.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Input shape:
        `(batch, input_size, n_series)`.

    Output shape:
        `(batch, input_size, n_series)`.

    Example:

    >>> import keras
    >>> from kflayers import FeatureMixing
    >>> layer = FeatureMixing(n_series=7, input_size=96, dropout=0.1, ff_dim=64)
    >>> tuple(layer(keras.random.normal((32, 96, 7))).shape)
    (32, 96, 7)
    """

    STAGES = PLANE_NORM_STAGES + (
        ("dense_1", "First Dense layer: each time step's series vector projected to ff_dim hidden units."),
        ("activation", "The activation applied to the hidden units."),
        ("dropout_1", "Dropout on the hidden units (training only)."),
        ("dense_2", "Second Dense layer: hidden units projected back to one value per series."),
        ("dropout_2", "Dropout on the mixed series (training only)."),
        ("residual", "The mixed series added to the input: the layer's output."),
    )
    STAGE_WEIGHTS = {"batch_norm": "batch_norm", "dense_1": "dense_1", "dropout_1": "dropout_1",
                     "dense_2": "dense_2", "dropout_2": "dropout_2"}

    def __init__(self, n_series, input_size, dropout, ff_dim, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.n_series = check_positive_int("n_series", n_series)
        self.input_size = check_positive_int("input_size", input_size)
        self.dropout = check_rate("dropout", dropout)
        self.ff_dim = check_positive_int("ff_dim", ff_dim)
        self.activation = check_activation("activation", activation)
        self._activation_fn = keras.activations.get(activation)

    def build(self, input_shape):
        check_window_shape(type(self).__name__, input_shape, self.input_size, self.n_series)
        batch = input_shape[0]
        self.batch_norm = build_plane_batch_norm(self, batch, self.input_size, self.n_series)
        self.dense_1 = keras.layers.Dense(self.ff_dim, dtype=self.dtype_policy, name="dense_1")
        self.dense_1.build((batch, self.input_size, self.n_series))
        self.dropout_1 = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name="dropout_1")
        self.dense_2 = keras.layers.Dense(self.n_series, dtype=self.dtype_policy, name="dense_2")
        self.dense_2.build((batch, self.input_size, self.ff_dim))
        self.dropout_2 = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name="dropout_2")
        self.built = True

    def call(self, inputs, training=None):
        check_window_shape(type(self).__name__, inputs.shape, self.input_size, self.n_series)
        x = self._stage("input", inputs)
        normed = normalise_plane(self, x, training)
        hidden = self._stage("dense_1", self.dense_1(normed))
        hidden = self._stage("activation", self._activation_fn(hidden))
        hidden = self._stage("dropout_1", self._dropout(self.dropout_1, hidden, training))
        mixed = self._stage("dense_2", self.dense_2(hidden))
        mixed = self._stage("dropout_2", self._dropout(self.dropout_2, mixed, training))
        return self._stage("residual", x + mixed)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            n_series=self.n_series,
            input_size=self.input_size,
            dropout=self.dropout,
            ff_dim=self.ff_dim,
            activation=self.activation,
        )
        return config
