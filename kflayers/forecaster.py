"""Forecaster: a small multivariate forecaster built from kflayers layers.

The model, in data-flow order:

0. `ReversibleInstanceNorm` scales each window by its own per-series mean and
   standard deviation, so a trending series stays in the range seen in
   training; the forecast is mapped back with the same statistics.
1. `TemporalMixing` mixes each window along time.
2. Each series' mixed window becomes a token: one Dense projection shared by
   all series, plus a learned per-series embedding. Without that embedding
   the tokens cannot say which series they are, and the mixer's importances
   come out flat.
3. The chosen mixer pools the series tokens into one context vector; its
   `importance()` says which series the model listens to.
4. A FeatureMixing head sees the context beside the target's own token and
   predicts the change from the target's last value. The head's last Dense
   layer starts at zero, so the untrained model forecasts exactly the last
   value (the naive forecast) and training has to earn every improvement.
"""

from __future__ import annotations

import keras
from keras import ops

from kflayers.layers.base import check_choice, check_positive_int, check_rate
from kflayers.layers.feature_mixing import FeatureMixing
from kflayers.layers.instance_norm import ReversibleInstanceNorm
from kflayers.layers.temporal_mixing import TemporalMixing
from kflayers.mixers import MIXERS, make_mixer

TOKEN_DIM = 16


@keras.saving.register_keras_serializable(package="kflayers")
class Forecaster(keras.Model):
    """Forecasts `horizon` steps of one target series from a multivariate window.

    Args:
        n_series: number of input series.
        input_size: window length.
        horizon: number of future steps of the target to predict.
        target_index: position of the target among the series.
        mixer: "global", "instance", "self" or "cross".
        ff_dim: hidden units of the FeatureMixing MLP.
        dropout: dropout rate of the mixing layers and the mixer.
        token_dim: size of each series token.

    Input shape: `(batch, input_size, n_series)`, on any scale (each window
    is normalised inside the model).
    Output shape: `(batch, horizon)`, the target's next values on the input's scale.

    Example:

    >>> import keras
    >>> import numpy as np
    >>> from kflayers import Forecaster
    >>> model = Forecaster(n_series=3, input_size=16, horizon=2, target_index=0)
    >>> windows = np.random.default_rng(0).normal(size=(4, 16, 3)).astype("float32")
    >>> forecast = keras.ops.convert_to_numpy(model(windows))
    >>> forecast.shape
    (4, 2)
    >>> bool(np.allclose(forecast, windows[:, -1:, 0], atol=1e-5))  # untrained: the last value
    True
    """

    def __init__(self, n_series, input_size, horizon, target_index, mixer="cross",
                 ff_dim=32, dropout=0.1, token_dim=TOKEN_DIM, **kwargs):
        super().__init__(**kwargs)
        self.n_series = check_positive_int("n_series", n_series)
        self.input_size = check_positive_int("input_size", input_size)
        self.horizon = check_positive_int("horizon", horizon)
        if not 0 <= target_index < n_series:
            raise ValueError(f"`target_index` must be in [0, {n_series}); got {target_index!r}.")
        self.target_index = int(target_index)
        self.mixer_flavour = check_choice("mixer", mixer, tuple(MIXERS))
        self.ff_dim = check_positive_int("ff_dim", ff_dim)
        self.dropout = check_rate("dropout", dropout)
        self.token_dim = check_positive_int("token_dim", token_dim)
        self.instance_norm = ReversibleInstanceNorm(name="instance_norm")
        self.temporal_mixing = TemporalMixing(n_series, input_size, dropout, name="temporal_mixing")
        self.token_projection = keras.layers.Dense(token_dim, name="token_projection")
        self.series_embedding = keras.layers.Embedding(n_series, token_dim, name="series_embedding")
        # FeatureMixing over the head's two tokens (context, target; the token axis plays "time"):
        # an MLP per token that sits after the mixer, so the mixer stays the only path between series.
        self.head_mixing = FeatureMixing(token_dim, 2, dropout, ff_dim, name="head_mixing")
        self.mixer = make_mixer(mixer, token_dim, n_series, dropout, name="mixer")
        # Zero weights: the untrained change is 0, so the first forecast is the naive one.
        self.head = keras.layers.Dense(horizon, kernel_initializer="zeros", bias_initializer="zeros", name="head")

    def build(self, input_shape):
        batch = input_shape[0]
        self.instance_norm.build(input_shape)
        self.temporal_mixing.build(input_shape)
        self.token_projection.build((batch, self.n_series, self.input_size))
        self.series_embedding.build((self.n_series,))
        self.mixer.build((batch, self.n_series, self.token_dim))
        self.head_mixing.build((batch, 2, self.token_dim))
        self.head.build((batch, 2 * self.token_dim))
        self.built = True

    def tokens(self, normalised, training=None):
        """One token per series, from instance-normalised windows: (batch, n_series, token_dim)."""
        mixed = self.temporal_mixing(normalised, training=training)
        tokens = self.token_projection(ops.transpose(mixed, (0, 2, 1)))
        return tokens + self.series_embedding(ops.arange(self.n_series))

    def call(self, inputs, training=None):
        normalised, mean, std = self.instance_norm(inputs)
        tokens = self.tokens(normalised, training=training)
        context = self.mixer(tokens, training=training)
        target_token = tokens[:, self.target_index, :]
        head_tokens = self.head_mixing(ops.stack([context, target_token], axis=1), training=training)
        change = self.head(ops.reshape(head_tokens, (-1, 2 * self.token_dim)))
        target = slice(self.target_index, self.target_index + 1)
        forecast = normalised[:, -1, target] + change
        return self.instance_norm.restore(forecast, mean[:, 0, target], std[:, 0, target])

    def importance(self, inputs):
        """The mixer's importance of each series, per window: (batch, n_series)."""
        normalised, _, _ = self.instance_norm(inputs)
        return self.mixer.importance(self.tokens(normalised, training=False))

    def get_config(self):
        config = super().get_config()
        config.update(
            n_series=self.n_series, input_size=self.input_size, horizon=self.horizon,
            target_index=self.target_index, mixer=self.mixer_flavour, ff_dim=self.ff_dim,
            dropout=self.dropout, token_dim=self.token_dim,
        )
        return config
