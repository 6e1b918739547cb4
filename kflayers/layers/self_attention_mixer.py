"""SelfAttentionMixer: multi-head self-attention over the features, pooled over the features."""

from __future__ import annotations

import keras
from keras import ops

from kflayers.layers.mixer import ATTENTION_STAGE_WEIGHTS, AttentionMixer, mixer_stages


@keras.saving.register_keras_serializable(package="kflayers")
class SelfAttentionMixer(AttentionMixer):
    """Combines stacked feature vectors by multi-head self-attention pooling.

    Every feature vector attends to all (kept) feature vectors; the attended
    vectors are averaged over the kept features to give one vector per
    instance. The importance of a feature is its attention weight averaged
    over heads and over the kept query positions. The attention is a
    `keras.layers.MultiHeadAttention` held as `attention`, whose projections
    map one to one to torch's `nn.MultiheadAttention` (`in_proj` for query,
    key and value, `out_proj`). Works with any number of features.

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
        mask: optional `(..., n_features)`: boolean (True keeps the feature,
            False ignores it as a key and as a query; a mask keras
            propagates is used as is) or float (added to the attention
            logits of that key, -inf ignores the feature).
        training: whether dropout is active.

    Input shape:
        `(..., n_features, mod_dim)`, any number of leading dimensions.

    Output shape:
        `(..., mod_dim)`, or `(..., 1, mod_dim)` with `keep_dim=True`.

    Example:

    >>> import keras
    >>> from kflayers import SelfAttentionMixer
    >>> mixer = SelfAttentionMixer(mod_dim=8, n_heads=2)
    >>> tuple(mixer(keras.random.normal((32, 5, 8))).shape)
    (32, 8)
    """

    STAGES = mixer_stages(
        "Self-attention weights of each feature as a key, averaged over heads and kept query positions: summing to 1.",
        "The attended feature vectors (after the output projection) averaged over the kept features.",
    )
    STAGE_WEIGHTS = ATTENTION_STAGE_WEIGHTS

    def _queries(self, features, ignore):
        kept = ops.cast(ops.logical_not(ignore), features.dtype)
        share = kept / ops.maximum(ops.sum(kept, axis=-1, keepdims=True), 1.0)
        return self.attention.query_dense(features), share
