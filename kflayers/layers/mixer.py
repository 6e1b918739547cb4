"""The base classes of the four mixers, which combine stacked feature vectors into one.

A mixer takes `n_features` vectors of size `mod_dim` per instance, weighs them
(the weights sum to 1 over the features and are the layer's `importance()`),
sums them up, applies dropout and, with `skip`, adds the plain mean of the
input vectors. Everything that does not depend on how the weights are made
lives in `Mixer`: any number of leading dimensions, the mask, dropout, the skip
mean, `keep_dim`, `importance()`, `new()` and `reset_parameters()`.
`AttentionMixer` adds what the two attention flavours share.

The mask, of shape (..., n_features), follows keras: boolean True marks a
real feature to keep and False one to ignore, so a mask that keras
propagates (from `Embedding(mask_zero=True)` or `Masking`) is honoured as it
is. A float mask is added to the mixing logits instead (-inf ignores the
feature). An ignored feature is zeroed before anything looks at it, so no
projection, attention query, value or skip mean can see it, and its weight
is exactly 0.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from kflayers.layers.base import StagedLayer, check_bool, check_positive_int, check_rate


def mixer_stages(importance: str, mixed: str) -> tuple[tuple[str, str], ...]:
    """The stages every mixer records, with the two descriptions that differ between mixers."""
    return (
        ("input", "The stacked feature vectors as given: (..., n_features, mod_dim)."),
        ("masked_input", "The feature vectors with every ignored feature (mask False or -inf) set to zero; only when a mask is given."),
        ("importance", importance),
        ("mixed", mixed),
        ("dropout", "Dropout on the mixed vector (training only)."),
        ("skip", "The mean of the kept input feature vectors, which the residual connection adds; only when skip=True."),
        ("output", "The mixed vector plus the skip mean: the layer's output, (..., 1, mod_dim) with keep_dim."),
    )


MIXER_STAGE_WEIGHTS = {"mixed_dropout": "dropout"}
"""The `STAGE_WEIGHTS` every mixer shares; each flavour adds what makes its weights."""

ATTENTION_STAGE_WEIGHTS = {
    **MIXER_STAGE_WEIGHTS,
    # Queries and keys make the attention weights, the importance; values and the output projection make
    # what is mixed, and dropout on the attention weights only changes that mix.
    "attention.query_dense": "importance", "attention.key_dense": "importance",
    "attention.value_dense": "mixed", "attention.output_dense": "mixed", "attention_dropout": "mixed",
}
"""The `STAGE_WEIGHTS` of both attention mixers."""


def masked_softmax(logits, ignore):
    """Softmax over the last axis in which ignored entries get exactly 0.

    A row whose entries are all ignored comes out as zeros rather than NaN.
    The ignored logits are never exponentiated, so even huge or infinite ones
    cannot leak into the result or its gradient.
    """
    ignore = ops.broadcast_to(ignore, ops.shape(logits))
    row_max = ops.max(ops.where(ignore, float("-inf"), logits), axis=-1, keepdims=True)
    row_max = ops.stop_gradient(ops.where(ops.isfinite(row_max), row_max, 0.0))
    exponentials = ops.where(ignore, 0.0, ops.exp(ops.where(ignore, 0.0, logits - row_max)))
    total = ops.sum(exponentials, axis=-1, keepdims=True)
    return exponentials / ops.where(total > 0, total, 1.0)


def mix_by_weights(logits, ignore, features):
    """(weights, weighted sum) for (batch, n_features) logits over (batch, n_features, mod_dim) features."""
    weights = masked_softmax(logits, ignore)
    return weights, ops.einsum("bn,bnd->bd", weights, features)


class Mixer(StagedLayer):
    """Base class of the mixers: (..., n_features, mod_dim) -> (..., mod_dim).

    Subclasses create their weights in `build()` (after calling
    `super().build()`) and implement `_mix(features, ignore, logit_bias,
    training)`, which gets the features flattened to (batch, n_features,
    mod_dim) with ignored features zeroed, the boolean `ignore` and the float
    `logit_bias` (both (batch, n_features)), and returns the importance
    weights (batch, n_features) and the mixed vectors (batch, mod_dim).

    Args:
        mod_dim: size of each feature vector, the last input dimension.
        dropout: dropout rate in [0, 1) on the mixed vector.
        skip: whether to add the mean of the (kept) input feature vectors.
        keep_dim: whether to keep the feature axis as size 1 in the output.
        n_features: the number of features the layer requires, or None when
            any number works.
        **kwargs: base layer arguments (`name`, `dtype`, ...).
    """

    STAGES = mixer_stages(
        "Each feature's weight in the mix, summing to 1 over the features (exactly 0 for ignored features).",
        "The weighted combination of the feature vectors: one mod_dim vector per instance.",
    )
    STAGE_WEIGHTS = MIXER_STAGE_WEIGHTS

    def __init__(self, mod_dim, dropout=0.0, skip=True, keep_dim=False, n_features=None, **kwargs):
        super().__init__(**kwargs)
        self.mod_dim = check_positive_int("mod_dim", mod_dim)
        self.dropout = check_rate("dropout", dropout)
        self.skip = check_bool("skip", skip)
        self.keep_dim = check_bool("keep_dim", keep_dim)
        self.n_features = None if n_features is None else check_positive_int("n_features", n_features)

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        self.mixed_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name="mixed_dropout")

    def call(self, inputs, mask=None, training=None):
        self._check_input_shape(inputs.shape)
        x = self._stage("input", inputs)
        n_features = x.shape[-2]
        leading = tuple(ops.shape(x)[:-2])
        features = ops.reshape(x, (-1, n_features, self.mod_dim))
        ignore, logit_bias = self._mask_parts(mask, x, features)
        if mask is not None:
            features = ops.where(ignore[..., None], ops.zeros_like(features), features)
            self._stage("masked_input", ops.reshape(features, ops.shape(x)))
        weights, mixed = self._mix(features, ignore, logit_bias, training)
        n_kept = ops.sum(ops.cast(ops.logical_not(ignore), features.dtype), axis=-1, keepdims=True)
        # With every feature ignored there is nothing to mix; attention's output bias would survive otherwise.
        mixed = ops.where(n_kept > 0, mixed, ops.zeros_like(mixed))
        self._stage("importance", ops.reshape(weights, leading + (n_features,)))
        mixed = self._stage("mixed", ops.reshape(mixed, leading + (self.mod_dim,)))
        output = self._stage("dropout", self._dropout(self.mixed_dropout, mixed, training))
        if self.skip:
            mean = ops.sum(features, axis=1) / ops.maximum(n_kept, 1.0)
            output = output + self._stage("skip", ops.reshape(mean, leading + (self.mod_dim,)))
        if self.keep_dim:
            output = ops.expand_dims(output, -2)
        return self._stage("output", output)

    def _mix(self, features, ignore, logit_bias, training):
        raise NotImplementedError(f"{type(self).__name__} must implement _mix().")

    def compute_mask(self, inputs, mask=None):
        # The mask is consumed by the mixing: the output has no feature axis left to mask.
        return None

    def importance(self, inputs, mask=None):
        """Each feature's weight in the mix, (..., n_features), summing to 1 over the features.

        Ignored features get exactly 0; an instance whose features are all
        ignored gets all zeros. Computed by an inference-mode call of the layer
        itself (building it first if needed), so it is the very weighting
        `call()` uses.
        """
        return self.trace(inputs, training=False, mask=mask)["importance"]

    def new(self):
        """A fresh instance with the same configuration and newly initialised weights."""
        fresh = type(self).from_config(self.get_config())
        if self.built:
            fresh.build_from_config(self.get_build_config())
        return fresh

    def reset_parameters(self):
        """Re-initialise every weight in place (the variables stay the same objects)."""
        if not self.built:
            return
        for variable, fresh in zip(self.weights, self.new().weights):
            variable.assign(fresh)

    def compute_output_shape(self, input_shape):
        self._check_input_shape(input_shape)
        feature_axis = (1,) if self.keep_dim else ()
        return tuple(input_shape)[:-2] + feature_axis + (self.mod_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(mod_dim=self.mod_dim, dropout=self.dropout, skip=self.skip, keep_dim=self.keep_dim)
        return config

    def _check_input_shape(self, input_shape) -> None:
        shape = tuple(input_shape)
        n_features = "n_features" if self.n_features is None else f"n_features={self.n_features}"
        if (
            len(shape) < 2
            or shape[-1] not in (None, self.mod_dim)
            or self.n_features not in (None, shape[-2])
        ):
            raise ValueError(
                f"{type(self).__name__} expects inputs of shape (..., {n_features}, "
                f"mod_dim={self.mod_dim}); got {shape}."
            )

    def _mask_parts(self, mask, inputs, features):
        """(ignore, logit_bias), both (batch, n_features), from the user's mask of shape (..., n_features)."""
        if mask is None:
            no_mask = ops.zeros(ops.shape(features)[:2], dtype=features.dtype)
            return ops.cast(no_mask, "bool"), no_mask
        mask = ops.convert_to_tensor(mask)
        dtype = keras.backend.standardize_dtype(mask.dtype)
        if dtype != "bool" and "float" not in dtype:
            raise ValueError(
                f"`mask` must be boolean (True = keep the feature, False = ignore it) or float (added to the "
                f"mixing logits); got dtype {dtype}."
            )
        mask_shape, feature_shape = tuple(mask.shape), tuple(inputs.shape[:-1])
        if (
            len(mask_shape) == 0
            or len(mask_shape) > len(feature_shape)
            or mask_shape[-1] != feature_shape[-1]
        ):
            raise ValueError(
                f"`mask` must have shape (..., n_features={feature_shape[-1]}), broadcastable to the "
                f"inputs' {feature_shape}; got {mask_shape}."
            )
        mask = ops.reshape(ops.broadcast_to(mask, ops.shape(inputs)[:-1]), ops.shape(features)[:2])
        if dtype == "bool":
            return ops.logical_not(mask), ops.zeros(ops.shape(mask), dtype=features.dtype)
        mask = ops.cast(mask, features.dtype)
        ignore = ops.isneginf(mask)
        return ignore, ops.where(ignore, ops.zeros_like(mask), mask)


class AttentionMixer(Mixer):
    """Base class of the attention mixers: a `keras.layers.MultiHeadAttention` held as `attention`.

    The attention is computed here from the sub-layer's own query, key, value
    and output projections (so its weights map one to one to torch's
    `nn.MultiheadAttention`), because the float mask must be added to the
    logits and the attention weights are the importance. Subclasses implement
    `_queries(features, ignore)` -> (projected queries (batch, n_queries,
    n_heads, head_dim), each query's share in the pooled output (batch,
    n_queries)).

    Args:
        mod_dim: size of each feature vector; the attention's model size.
        n_heads: number of attention heads; must divide `mod_dim`.
        bias: whether the attention projections have biases.
        dropout: dropout rate in [0, 1) on the attention weights and on the
            mixed vector.
        skip: whether to add the mean of the (kept) input feature vectors.
        keep_dim: whether to keep the feature axis as size 1 in the output.
        **kwargs: base layer arguments (`name`, `dtype`, ...).
    """

    def __init__(self, mod_dim, n_heads=1, bias=True, dropout=0.0, skip=True, keep_dim=False, **kwargs):
        super().__init__(mod_dim=mod_dim, dropout=dropout, skip=skip, keep_dim=keep_dim, **kwargs)
        self.n_heads = check_positive_int("n_heads", n_heads)
        if mod_dim % n_heads:
            raise ValueError(f"`n_heads` must divide `mod_dim`={mod_dim}; got n_heads={n_heads}.")
        self.bias = check_bool("bias", bias)
        self.head_dim = mod_dim // n_heads

    def build(self, input_shape):
        super().build(input_shape)
        self.attention = keras.layers.MultiHeadAttention(
            num_heads=self.n_heads, key_dim=self.head_dim, use_bias=self.bias, dropout=self.dropout,
            dtype=self.dtype_policy, name="attention",
        )
        any_sequence = (None, None, self.mod_dim)
        self.attention.build(query_shape=any_sequence, value_shape=any_sequence)
        self.attention_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name="attention_dropout")

    def _mix(self, features, ignore, logit_bias, training):
        queries, query_share = self._queries(features, ignore)
        keys = self.attention.key_dense(features)
        values = self.attention.value_dense(features)
        scale = ops.cast(1.0 / math.sqrt(self.head_dim), queries.dtype)
        logits = ops.einsum("bqhk,bshk->bhqs", queries * scale, keys) + logit_bias[:, None, None, :]
        weights = masked_softmax(logits, ignore[:, None, None, :])
        importance = ops.mean(ops.einsum("bhqs,bq->bhs", weights, query_share), axis=1)
        dropped = self._dropout(self.attention_dropout, weights, training)
        attended = self.attention.output_dense(ops.einsum("bhqs,bshk->bqhk", dropped, values))
        return importance, ops.einsum("bqd,bq->bd", attended, query_share)

    def _queries(self, features, ignore):
        raise NotImplementedError(f"{type(self).__name__} must implement _queries().")

    def get_config(self):
        config = super().get_config()
        config.update(n_heads=self.n_heads, bias=self.bias)
        return config
