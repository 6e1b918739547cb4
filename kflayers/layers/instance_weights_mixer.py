"""InstanceWeightsMixer: per-instance feature weights projected from the instance itself."""

from __future__ import annotations

import keras
from keras import ops

from kflayers.layers.base import check_bool, check_positive_int
from kflayers.layers.mixer import MIXER_STAGE_WEIGHTS, Mixer, mix_by_weights, mixer_stages


@keras.saving.register_keras_serializable(package="kflayers")
class InstanceWeightsMixer(Mixer):
    """Combines stacked feature vectors with weights computed from each instance.

    All feature vectors of an instance are concatenated into one vector of
    size `n_features * mod_dim`, a Dense layer projects it to one logit per
    feature, and a softmax turns the logits into the instance's weights, so
    they read as a per-instance feature importance. Ignored features are
    zeroed before the projection, so they cannot steer the weights of the
    others.

    Args:
        mod_dim: size of each feature vector, the last input dimension.
        n_features: number of feature vectors, the next-to-last input dimension.
        bias: whether the projection has a bias.
        dropout: dropout rate in [0, 1) on the mixed vector.
        skip: whether to add the mean of the (kept) input feature vectors.
        keep_dim: whether to keep the feature axis as size 1 in the output.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(..., n_features, mod_dim)`.
        mask: optional `(..., n_features)`: boolean (True keeps the feature, False ignores it;
            a mask keras propagates is used as is)
            or float (added to the logits, -inf ignores the feature).
        training: whether dropout is active.

    Input shape:
        `(..., n_features, mod_dim)`, any number of leading dimensions.

    Output shape:
        `(..., mod_dim)`, or `(..., 1, mod_dim)` with `keep_dim=True`.

    Example:

    >>> import keras
    >>> from kflayers import InstanceWeightsMixer
    >>> mixer = InstanceWeightsMixer(mod_dim=8, n_features=5)
    >>> tuple(mixer(keras.random.normal((32, 5, 8))).shape)
    (32, 8)
    """

    STAGES = mixer_stages(
        "Softmax of a Dense projection of the instance's concatenated feature vectors (plus a float mask): "
        "this instance's weights, summing to 1.",
        "The feature vectors summed with those weights: one mod_dim vector per instance.",
    )
    STAGE_WEIGHTS = {**MIXER_STAGE_WEIGHTS, "projection": "importance"}

    def __init__(self, mod_dim, n_features, bias=True, dropout=0.0, skip=True, keep_dim=False, **kwargs):
        super().__init__(
            mod_dim=mod_dim, dropout=dropout, skip=skip, keep_dim=keep_dim,
            n_features=check_positive_int("n_features", n_features), **kwargs,
        )
        self.bias = check_bool("bias", bias)

    def build(self, input_shape):
        super().build(input_shape)
        self.projection = keras.layers.Dense(
            self.n_features, use_bias=self.bias, dtype=self.dtype_policy, name="projection",
        )
        self.projection.build((None, self.n_features * self.mod_dim))

    def _mix(self, features, ignore, logit_bias, training):
        concatenated = ops.reshape(features, (-1, self.n_features * self.mod_dim))
        return mix_by_weights(self.projection(concatenated) + logit_bias, ignore, features)

    def get_config(self):
        config = super().get_config()
        config.update(n_features=self.n_features, bias=self.bias)
        return config
