"""The staged-layer base class: one forward pass, observable stage by stage.

Every kflayers layer writes its forward pass once, in `call()`, and passes each
intermediate tensor through `self._stage(name, tensor)`. Normally that is a
no-op. `trace()` runs the very same `call()` (through `__call__`) with a
recorder switched on, so the traced stages cannot drift from what the layer
computes, and the last stage is the layer's output itself.

Probes need two things a plain call cannot give: dropout active while batch
normalization uses its moving statistics, and batch statistics without
touching the moving averages. `stage_mode()` sets that for the current
context only (a `contextvars.ContextVar`, so concurrent app sessions do not see
each other's modes), and layers route their BatchNormalization and Dropout
sub-layers through `_batch_norm()` and `_dropout()` to honour it. Probes
therefore never mutate a layer: no variable is assigned and no sub-layer's
seed state advances.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections import OrderedDict
from typing import Any, Iterator

import keras
from keras import ops

# (layer, dict) while a trace of that layer is running.
_RECORDING: contextvars.ContextVar = contextvars.ContextVar("kflayers_recording", default=None)
_MODE: contextvars.ContextVar = contextvars.ContextVar("kflayers_stage_mode", default=None)

BATCH_STATS = "batch_stats"
"""`stage_mode(batch_norm=BATCH_STATS)`: normalise with the batch's statistics, update nothing."""


@dataclasses.dataclass(frozen=True)
class StageMode:
    """How BatchNormalization and Dropout behave inside `stage_mode()`.

    Attributes:
        batch_norm: True (batch statistics and moving-average update, as in
            training), False (moving statistics, as in inference) or
            `BATCH_STATS` (batch statistics, no update).
        dropout: whether dropout is active.
        seed: a `keras.random.SeedGenerator` (or int) for the dropout masks, so
            that a probe does not advance the layers' own generators.
        dropout_fn: optional `(x, rate, noise_shape) -> tensor` replacing
            `keras.random.dropout` (then `seed` is unused): a probe's own,
            faster mask source for its batched passes.
    """

    batch_norm: bool | str = False
    dropout: bool = False
    seed: Any = None
    dropout_fn: Any = None


@contextlib.contextmanager
def stage_mode(
    batch_norm: bool | str = False, dropout: bool = False, seed: Any = None, dropout_fn: Any = None
) -> Iterator[StageMode]:
    """Override how normalization and dropout run for layers called in this block."""
    if batch_norm not in (True, False, BATCH_STATS):
        raise ValueError(f"batch_norm must be True, False or {BATCH_STATS!r}; got {batch_norm!r}.")
    mode = StageMode(batch_norm=batch_norm, dropout=bool(dropout), seed=seed, dropout_fn=dropout_fn)
    token = _MODE.set(mode)
    try:
        yield mode
    finally:
        _MODE.reset(token)


def check_positive_int(name: str, value: Any) -> int:
    """Validate a constructor argument that must be a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer; got {value!r}.")
    return value


def check_bool(name: str, value: Any) -> bool:
    """Validate a constructor argument that must be True or False."""
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be True or False; got {value!r}.")
    return value


def check_rate(name: str, value: Any) -> float:
    """Validate a dropout-like rate in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"`{name}` must be a number in [0, 1); got {value!r}.")
    return float(value)


def check_choice(name: str, value: Any, allowed: tuple) -> Any:
    """Validate an argument that must be one of a few values."""
    if value not in allowed:
        raise ValueError(f"`{name}` must be one of {list(allowed)}; got {value!r}.")
    return value


def check_activation(name: str, value: Any) -> Any:
    """Validate an activation name (a string, so the config stays JSON) by resolving it with keras."""
    try:
        if not isinstance(value, str):
            raise TypeError(value)
        keras.activations.get(value)
    except (ValueError, TypeError) as error:
        raise ValueError(f"`{name}` must be a keras activation name such as 'relu' or 'gelu'; got {value!r}.") from error
    return value


class StagedLayer(keras.layers.Layer):
    """A keras layer whose forward pass can be traced stage by stage.

    Subclasses list their stages in `STAGES` as (name, description) pairs in
    data-flow order, say in `STAGE_WEIGHTS` which stage each of their weights
    and sub-layers belongs to, wrap each intermediate tensor of `call()` in
    `self._stage(name, tensor)`, and use `_batch_norm()` / `_dropout()` for
    their normalization and dropout sub-layers.
    """

    STAGES: tuple[tuple[str, str], ...] = ()
    STAGE_WEIGHTS: dict[str, str] = {}
    """{attribute: stage}: the stage that uses each weight or sub-layer the layer holds as an attribute.

    A dotted attribute names part of a sub-layer ("attention.query_dense"), for a sub-layer whose parts
    serve different stages. An attribute that a config does not create (None or absent, like a bias
    that is switched off) is skipped; `stage_weights()` raises for any weight or sub-layer no entry claims.
    """

    @classmethod
    def stage_descriptions(cls) -> dict[str, str]:
        """Stage name -> one-line description, in data-flow order."""
        return dict(cls.STAGES)

    def stage_weights(self) -> "OrderedDict[str, list]":
        """Every weight of this built layer under the stage that uses it, as `STAGE_WEIGHTS` declares.

        Returns:
            {stage name: [variables]} for every stage of `STAGES`, in data-flow order (an empty list for a
            stage without weights). Together the lists hold each of `self.weights` exactly once.

        Raises:
            ValueError: the layer is not built, a declaration names an unknown stage, or a weight or a
                sub-layer is claimed by no declaration (or a weight by two), so no weight can drop out of
                the pipeline unnoticed.
        """
        if not self.built:
            raise ValueError(f"stage_weights() of {self.name!r} needs a built layer; call it on data first.")
        stages: OrderedDict[str, list] = OrderedDict((name, []) for name, _ in self.STAGES)
        owner: dict[int, str] = {}
        declared = set()
        for attribute, stage in self.STAGE_WEIGHTS.items():
            if stage not in stages:
                raise ValueError(f"{type(self).__name__}.STAGE_WEIGHTS puts {attribute!r} in the stage {stage!r}, "
                                 f"which is not one of its STAGES ({', '.join(stages)}).")
            held = self._attribute(attribute)
            if held is None:
                continue
            declared.add(id(held))
            for weight in held.weights if isinstance(held, keras.layers.Layer) else [held]:
                if id(weight) in owner:
                    raise ValueError(f"{type(self).__name__}.STAGE_WEIGHTS claims the weight {weight.path!r} "
                                     f"twice (stages {owner[id(weight)]!r} and {stage!r}).")
                owner[id(weight)] = stage
                stages[stage].append(weight)
        unclaimed = [weight.path for weight in self.weights if id(weight) not in owner]
        # keras.layers.Layer has no public list of its direct sub-layers; this is the one Model.layers uses.
        unclaimed += [f"sub-layer {sub.name!r}" for sub in self._flatten_layers(include_self=False, recursive=False)
                      if id(sub) not in declared and not (sub.weights and all(id(w) in owner for w in sub.weights))]
        if unclaimed:
            raise ValueError(f"{type(self).__name__}.STAGE_WEIGHTS puts no stage on {', '.join(unclaimed)}; add "
                             "each to the stage that uses it (next to STAGES), so the pipeline can show it.")
        return stages

    def _attribute(self, dotted: str):
        """The weight or sub-layer at `dotted` ("attention.query_dense"), or None if this config has none."""
        held = self
        for part in dotted.split("."):
            held = getattr(held, part, None)
            if held is None:
                return None
        return held

    def trace(self, inputs, training: bool = False, **call_kwargs) -> "OrderedDict[str, Any]":
        """Run the layer once and return every stage's tensor, in data-flow order.

        The last entry is exactly (the same tensor as) what
        `layer(inputs, training=training, **call_kwargs)` returns.
        """
        stages: OrderedDict[str, Any] = OrderedDict()
        token = _RECORDING.set((self, stages))
        try:
            output = self(inputs, training=training, **call_kwargs)
        finally:
            _RECORDING.reset(token)
        last = next(reversed(stages))
        stages[last] = output
        return stages

    def _stage(self, name: str, tensor):
        """Record `tensor` as stage `name` when this layer is being traced; return what the recorder holds.

        That is `tensor` itself for `trace()`. A probe's recorder may hand back
        an equal tensor instead (`dropout_variance` computes a layer's front,
        before any dropout, once and tiles it, rather than once per pass).
        """
        recording = _RECORDING.get()
        if recording is not None and recording[0] is self:
            recording[1][name] = tensor
            return recording[1][name]
        return tensor

    def _batch_norm(self, batch_norm: keras.layers.BatchNormalization, x, training):
        """Apply `batch_norm`, honouring an active `stage_mode()`."""
        mode = _MODE.get()
        norm_training = bool(training) if mode is None else mode.batch_norm
        if norm_training != BATCH_STATS:
            return batch_norm(x, training=bool(norm_training))
        # Like keras' BatchNormalization: statistics in float32 even under mixed precision.
        x = ops.cast(x, "float32")
        mean, variance = ops.moments(x, axes=list(range(len(x.shape) - 1)))
        normed = ops.batch_normalization(
            x, mean, variance, axis=-1,
            offset=ops.cast(batch_norm.beta, "float32") if batch_norm.center else None,
            scale=ops.cast(batch_norm.gamma, "float32") if batch_norm.scale else None,
            epsilon=batch_norm.epsilon,
        )
        return ops.cast(normed, batch_norm.compute_dtype)

    def _dropout(self, dropout: keras.layers.Dropout, x, training):
        """Apply `dropout`, honouring an active `stage_mode()`."""
        mode = _MODE.get()
        if mode is None:
            return dropout(x, training=training)
        if not mode.dropout or dropout.rate == 0:
            return x
        if mode.dropout_fn is not None:
            # A probe drawing its own masks (kflayers.probes.dropout_variance); plain calls never get here.
            return mode.dropout_fn(x, dropout.rate, dropout.noise_shape)
        return keras.random.dropout(x, dropout.rate, noise_shape=dropout.noise_shape, seed=mode.seed)

    def _dropout_active(self, training) -> bool:
        """Whether dropout applies now (for sub-layers that take `training`, like attention)."""
        mode = _MODE.get()
        return bool(training) if mode is None else mode.dropout
