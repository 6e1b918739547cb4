"""CrossAttentionMixer: a learned query attends over the features."""

from __future__ import annotations

import keras
from keras import ops

from kflayers.layers.mixer import ATTENTION_STAGE_WEIGHTS, AttentionMixer, mixer_stages


@keras.saving.register_keras_serializable(package="kflayers")
class CrossAttentionMixer(AttentionMixer):
    """Combines stacked feature vectors by attention from a single learned query.

    A constant vector of ones goes through the attention's query projection,
    so the projection's weights (and bias) are the learned query; it attends
    over the feature vectors, which makes the mixing independent of which
    feature asks. The importance of a feature is the query's attention weight
    averaged over heads. The attention is a `keras.layers.MultiHeadAttention`
    held as `attention`, whose projections map one to one to torch's
    `nn.MultiheadAttention`. Works with any number of features.

    Args:
        mod_dim: size of each feature vector, the last input dimension.
        n_heads: number of attention heads; must divide `mod_dim`.
        bias: whether the attention projections have biases.
        dropout: dropout rate in [0, 1) on the attention weights and on the
            mixed vector.
        skip: whether to add the mean of the (kept) input feature vectors.
        keep_dim: whether to keep the feature axis as size 1 in the output.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(..., n_features, mod_dim)`.
        mask: optional `(..., n_features)`: boolean (True keeps the feature, False ignores it;
            a mask keras propagates is used as is)
            or float (added to the attention logits, -inf ignores the feature).
        training: whether dropout is active.

    Input shape:
        `(..., n_features, mod_dim)`, any number of leading dimensions.

    Output shape:
        `(..., mod_dim)`, or `(..., 1, mod_dim)` with `keep_dim=True`.

    Example:

    >>> import keras
    >>> from kflayers import CrossAttentionMixer
    >>> mixer = CrossAttentionMixer(mod_dim=8, n_heads=2)
    >>> tuple(mixer(keras.random.normal((32, 5, 8))).shape)
    (32, 8)
    """

    STAGES = mixer_stages(
        "Attention weights of the learned query over the features, averaged over heads: summing to 1.",
        "The attention-pooled feature vectors after the output projection: one mod_dim vector per instance.",
    )
    STAGE_WEIGHTS = ATTENTION_STAGE_WEIGHTS

    def _queries(self, features, ignore):
        query = self.attention.query_dense(ops.ones((1, 1, self.mod_dim), dtype=features.dtype))
        batch = ops.shape(features)[0]
        return ops.broadcast_to(query, (batch, 1, self.n_heads, self.head_dim)), ops.ones((batch, 1), features.dtype)
