"""GlobalWeightsMixer: one learned weight per feature, shared by every instance."""

from __future__ import annotations

import keras
from keras import ops

from kflayers.layers.base import check_positive_int
from kflayers.layers.mixer import MIXER_STAGE_WEIGHTS, Mixer, mix_by_weights, mixer_stages


@keras.saving.register_keras_serializable(package="kflayers")
class GlobalWeightsMixer(Mixer):
    """Combines stacked feature vectors with one learned, softmax-normalised weight per feature.

    The same weights serve every instance, so they read as a global feature
    importance. The coefficients start at ones (equal weights); a float mask
    is added to them before the softmax, a boolean mask (False) drops features.

    Args:
        mod_dim: size of each feature vector, the last input dimension.
        n_features: number of feature vectors, the next-to-last input dimension.
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
    >>> from kflayers import GlobalWeightsMixer
    >>> mixer = GlobalWeightsMixer(mod_dim=8, n_features=5)
    >>> tuple(mixer(keras.random.normal((32, 5, 8))).shape)
    (32, 8)
    >>> tuple(mixer.importance(keras.random.normal((32, 5, 8))).shape)
    (32, 5)
    """

    STAGES = mixer_stages(
        "Softmax of the learned per-feature coefficients (plus a float mask): the same weights for every instance, summing to 1.",
        "The feature vectors summed with those weights: one mod_dim vector per instance.",
    )
    STAGE_WEIGHTS = {**MIXER_STAGE_WEIGHTS, "coefficients": "importance"}

    def __init__(self, mod_dim, n_features, dropout=0.0, skip=True, keep_dim=False, **kwargs):
        super().__init__(
            mod_dim=mod_dim, dropout=dropout, skip=skip, keep_dim=keep_dim,
            n_features=check_positive_int("n_features", n_features), **kwargs,
        )

    def build(self, input_shape):
        super().build(input_shape)
        self.coefficients = self.add_weight(shape=(self.n_features,), initializer="ones", name="coefficients")

    def _mix(self, features, ignore, logit_bias, training):
        logits = ops.cast(self.coefficients, features.dtype)[None, :] + logit_bias
        return mix_by_weights(logits, ignore, features)

    def get_config(self):
        config = super().get_config()
        config.update(n_features=self.n_features)
        return config
