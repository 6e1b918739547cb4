"""Probes: numbers about a layer's forward pass, computed by the layer itself.

Every probe runs the layer's own `call()` (through `StagedLayer.trace()`), so
what the app draws is what the layer computes. No probe changes the layer:
BatchNormalization and Dropout are steered through `stage_mode()`, which
neither updates moving statistics nor advances the layer's dropout seed
generators, and the probes that need a built layer of a given input shape
work on a fresh copy.

- `dropout_variance`: mean and spread of every stage over Monte Carlo dropout passes.
- `mode_difference`: how far each stage moves between training and inference mode.
- `feature_impact`: how much each output series depends on each input series.
- `parameter_counts` and `stage_shapes`: the pipeline diagram without data.
"""

from __future__ import annotations

import random
import threading
import weakref
from collections import OrderedDict

import keras
import numpy as np
from keras import ops

from kflayers.layers.base import _RECORDING, BATCH_STATS, check_positive_int, stage_mode

TOTAL = "total"
"""The `parameter_counts()` key of the layer's total parameter count."""


def _check_built(layer, probe: str) -> None:
    """Data probes must not build the caller's layer (that would create new weights in it)."""
    if not layer.built:
        raise ValueError(
            f"{probe}() needs a built layer, but {layer.name!r} is not built yet. "
            "Call the layer on data (or build it) first; probes never build a layer themselves."
        )


def _check_seed(seed) -> int:
    """The integer seed of a probe's dropout masks (a fresh random one for None)."""
    if seed is None:
        # Same range keras.random.SeedGenerator draws from when it gets no seed.
        return random.randint(1, 10**9)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"`seed` must be an integer or None; got {seed!r}.")
    return seed


def _to_numpy(tensor) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(tensor))


def _batch_size(inputs) -> int:
    """The batch size of `inputs` (one tensor or a structure of tensors sharing the batch axis)."""
    sizes = {int(ops.shape(leaf)[0]) for leaf in keras.tree.flatten(inputs)}
    if len(sizes) != 1:
        raise ValueError(f"All inputs must share one batch size; got batch sizes {sorted(sizes)}.")
    return sizes.pop()


def _tile_batch(structure, samples: int):
    """Repeat every tensor of `structure` `samples` times along the batch axis: [x, x, ..., x]."""
    return keras.tree.map_structure(
        lambda tensor: ops.tile(tensor, (samples,) + (1,) * (len(tensor.shape) - 1)), structure
    )


def _sample_moments(tensor, samples: int, batch: int, varies: bool):
    """(mean, std) over the `samples` passes of a stage computed on the tiled batch.

    A stage that cannot vary (`varies` False: recorded before any dropout mask
    was drawn) or whose leading axis is not the tiled batch (such as a
    position table of shape (1, time, d_model), computed once for all passes)
    has its first pass as mean and a std of zero.

    Otherwise the deviations are taken from the first pass (a shifted two-pass
    variance), so a stage that is bit-identical in every pass still gets a std
    of exactly 0 and a mean equal to its value, with no rounding residue.
    """
    if not keras.backend.is_float_dtype(tensor.dtype):
        tensor = ops.cast(tensor, keras.backend.floatx())
    batch_major = tensor.shape[0] == samples * batch
    first = tensor[:batch] if batch_major else tensor
    if not (varies and batch_major):
        return first, ops.zeros_like(first)
    passes = ops.reshape(tensor, (samples, batch) + tuple(tensor.shape[1:]))
    deviations = passes - first
    mean_deviation = ops.mean(deviations, axis=0)
    variance = ops.mean(ops.square(deviations - mean_deviation), axis=0)
    return first + mean_deviation, ops.sqrt(variance)


class _FirstDrawSeedGenerator(keras.random.SeedGenerator):
    """A seed generator that notes how many stages the running trace held when the first mask was drawn.

    A stage recorded before any dropout drew its mask was computed before
    that draw, so it cannot depend on it and needs no reduction over passes:
    this skips most of the work for the deterministic front of a layer.
    """

    stages_before_first_draw: int | None = None

    def next(self, ordered=True):
        recording = _RECORDING.get()
        if self.stages_before_first_draw is None and recording is not None:
            self.stages_before_first_draw = len(recording[1])
        return super().next(ordered=ordered)


def _compile(function):
    """Compile `function` as one graph where the backend allows it from outside a layer.

    On TensorFlow this is `tf.function`: the tiled pass and its reduction run as
    one graph instead of one Python dispatch per op. Other backends run the
    same code eagerly (jax.jit would need the layer's stateless API).
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(function)
    return function


class _BatchedDropoutPass:
    """The compiled tiled pass of one layer for one sample count, with its own dropout seed generator.

    Holding the layer only weakly lets it (and this cache entry) be collected
    when the caller drops it. The seed generator is reset to the probe's seed
    before every run, so a given seed always draws the same masks.
    """

    def __init__(self, layer, samples: int):
        self._layer = weakref.ref(layer)
        self._samples = samples
        self._seed_generator = _FirstDrawSeedGenerator(0)
        self._lock = threading.Lock()
        self._run = _compile(self._moments)

    def _moments(self, inputs, call_kwargs):
        layer = self._layer()
        batch = _batch_size(inputs)
        tiled_kwargs = dict(call_kwargs)
        if tiled_kwargs.get("mask") is not None:
            tiled_kwargs["mask"] = _tile_batch(tiled_kwargs["mask"], self._samples)
        # Runs once per call eagerly, once per input signature when compiled.
        self._seed_generator.stages_before_first_draw = None
        with stage_mode(batch_norm=False, dropout=True, seed=self._seed_generator):
            stages = layer.trace(_tile_batch(inputs, self._samples), training=False, **tiled_kwargs)
        first_varying = self._seed_generator.stages_before_first_draw
        if first_varying is None:
            first_varying = len(stages)
        return {
            name: _sample_moments(tensor, self._samples, batch, varies=index >= first_varying)
            for index, (name, tensor) in enumerate(stages.items())
        }

    def __call__(self, inputs, call_kwargs, seed: int):
        with self._lock:
            state = self._seed_generator.state
            state.assign(ops.convert_to_tensor([seed, 0], dtype=state.dtype))
            return self._run(inputs, call_kwargs)


_BATCHED_PASSES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_BATCHED_PASSES_LOCK = threading.Lock()


def _batched_pass(layer, samples: int) -> _BatchedDropoutPass:
    with _BATCHED_PASSES_LOCK:
        per_layer = _BATCHED_PASSES.setdefault(layer, {})
        if samples not in per_layer:
            per_layer[samples] = _BatchedDropoutPass(layer, samples)
        return per_layer[samples]


def _as_tensors(structure):
    """Convert arrays to tensors so that a compiled pass traces once per shape, not once per array."""
    return keras.tree.map_structure(
        lambda value: ops.convert_to_tensor(value) if isinstance(value, np.ndarray) or keras.ops.is_tensor(value) else value,
        structure,
    )


def dropout_variance(layer, inputs, samples: int = 64, seed: int | None = None, **call_kwargs):
    """Mean and standard deviation of every stage over `samples` passes with dropout active.

    BatchNormalization uses its moving statistics (as in inference), so all
    the spread comes from dropout. The passes run as one batched computation:
    the inputs (and a `mask` in `call_kwargs`) are tiled `samples` times
    along the batch axis, traced once with fresh dropout masks for every
    copy, and each stage is reduced over the copies. On TensorFlow that pass
    and its reduction are compiled (`tf.function`, cached per layer and
    sample count); the layer's own variables are read, never written.

    Stages recorded before the first dropout mask is drawn cannot depend on
    it: they come out as their value with std exactly 0, without a reduction
    (with rate 0 that is every stage). Later stages are measured, and a stage
    that agrees in every pass (such as a skip mean after the dropout) still
    gets std exactly 0. The mean tends to the inference output as `samples`
    grows, with standard error std / sqrt(samples).

    Args:
        layer: a built `StagedLayer`.
        inputs: a batch for the layer (one tensor or a list for multi-input layers).
        samples: number of Monte Carlo passes.
        seed: integer seed of the dropout masks, for reproducible results.
        **call_kwargs: further arguments of the layer's `call()`, e.g. `mask`.

    Returns:
        An ordered dict {stage name: (mean, std)} of numpy arrays, each of the
        stage's shape for `inputs`.
    """
    _check_built(layer, "dropout_variance")
    samples = check_positive_int("samples", samples)
    seed = _check_seed(seed)
    moments = _batched_pass(layer, samples)(_as_tensors(inputs), _as_tensors(call_kwargs), seed)
    return OrderedDict((name, (_to_numpy(mean), _to_numpy(std))) for name, (mean, std) in moments.items())


def mode_difference(layer, inputs, seed: int | None = None, **call_kwargs):
    """Mean absolute difference of every stage between training and inference mode.

    The training side normalises with the batch's own statistics and applies
    dropout (masks from `seed`), but updates no moving statistic and leaves the
    layer's seed generators alone. Stages present in only one mode are left out.

    Returns:
        An ordered dict {stage name: float}.
    """
    _check_built(layer, "mode_difference")
    seed = _check_seed(seed)
    with stage_mode(batch_norm=False, dropout=False):
        inference = layer.trace(inputs, training=False, **call_kwargs)
    with stage_mode(batch_norm=BATCH_STATS, dropout=True, seed=keras.random.SeedGenerator(seed)):
        training = layer.trace(inputs, training=True, **call_kwargs)
    return OrderedDict(
        (name, float(np.mean(np.abs(
            _to_numpy(training[name]).astype(np.float64) - _to_numpy(inference[name]).astype(np.float64)
        ))))
        for name in training
        if name in inference
    )


def _window_shape_error(layer, what: str, got) -> ValueError:
    return ValueError(
        f"feature_impact() needs a layer from (batch, time, series) windows to (batch, ..., channels) outputs; "
        f"{layer.name!r} {what} {got}."
    )


def feature_impact(layer, inputs) -> np.ndarray:
    """How much each output series moves when one input series is flattened to its mean.

    For every input series i, a copy of the batch has series i replaced by
    its mean over time (per window); the originals and all copies go through
    the layer in inference mode in one batched call. Axis 1 is taken as
    time, so the probe suits layers on (batch, time, series) windows such as
    FeatureMixing and TemporalMixing.

    Returns:
        A float64 array (n_series_in, n_series_out): entry [i, j] is the mean
        absolute change of output series j, over windows and time steps, when
        input series i is replaced by its mean. Any model from windows to
        (batch, ..., channels) works the same way (e.g. a forecaster's
        (batch, horizon) output gives (n_series_in, horizon)).
    """
    _check_built(layer, "feature_impact")
    if isinstance(inputs, (list, tuple, dict)):
        raise _window_shape_error(layer, "was given a structure of", f"{len(inputs)} inputs")
    x = ops.convert_to_tensor(inputs)
    if len(x.shape) != 3:
        raise _window_shape_error(layer, "was given an input of shape", tuple(x.shape))
    batch, time, n_series = x.shape
    time_means = ops.mean(x, axis=1, keepdims=True)
    # replaced[i] is the batch with series i set to its time mean: (n_series, batch, time, n_series).
    is_replaced = ops.reshape(ops.eye(n_series, dtype="bool"), (n_series, 1, 1, n_series))
    replaced = ops.where(is_replaced, time_means[None], x[None])
    everything = ops.concatenate([x, ops.reshape(replaced, (n_series * batch, time, n_series))], axis=0)
    with stage_mode(batch_norm=False, dropout=False):
        outputs = _to_numpy(layer(everything, training=False)).astype(np.float64)
    if outputs.ndim < 2 or outputs.shape[0] != (n_series + 1) * batch:
        raise _window_shape_error(
            layer, "maps inputs of shape", f"{tuple(everything.shape)} to outputs of shape {outputs.shape}"
        )
    original = outputs[:batch]
    changed = outputs[batch:].reshape((n_series, batch) + outputs.shape[1:])
    # Average over windows and every axis but the last, so a forecaster's (batch, horizon)
    # output gives (n_series_in, horizon) just as a window layer gives (n_series_in, n_series_out).
    return np.mean(np.abs(changed - original[None]), axis=tuple(range(1, changed.ndim - 1)))


def _fresh_copy(layer):
    """An unbuilt twin of `layer` (same config, its own weights), so shape probes never touch the caller's layer."""
    return type(layer).from_config(layer.get_config())


def _symbolic_inputs(input_shape, dtype):
    return keras.tree.map_shape_structure(lambda shape: keras.KerasTensor(tuple(shape), dtype=dtype), input_shape)


def stage_shapes(layer, input_shape, training: bool = False, dtype=None, **call_kwargs):
    """The shape of every stage for inputs of `input_shape`, without running any data.

    The stages are traced symbolically, with the backend's own shape
    inference (the machinery behind `keras.Input`): no arithmetic runs, and an
    unknown dimension (None, typically the batch) stays None in every stage
    that depends on it. The trace runs on a fresh copy of the layer built
    from its config, because a symbolic call builds a layer and records a
    graph node on it; the caller's layer is neither built nor changed.

    Args:
        layer: a `StagedLayer`, built or not.
        input_shape: a shape tuple, or a list of them for multi-input layers.
        training: the mode to trace (it decides optional stages).
        dtype: the input dtype; defaults to the layer's compute dtype.
        **call_kwargs: further `call()` arguments (a `mask` may be a `keras.KerasTensor`).

    Returns:
        An ordered dict {stage name: shape tuple}.
    """
    from keras.src.backend import compute_output_spec  # what Layer.compute_output_spec uses

    twin = _fresh_copy(layer)
    symbolic = _symbolic_inputs(input_shape, dtype or layer.compute_dtype)
    twin(symbolic, training=training, **call_kwargs)  # builds the twin for these shapes

    def traced(inputs, kwargs):
        return dict(twin.trace(inputs, training=training, **kwargs))

    specs = compute_output_spec(traced, symbolic, call_kwargs)
    names = [name for name, _ in twin.STAGES if name in specs]
    return OrderedDict((name, tuple(specs[name].shape)) for name in names)


def parameter_counts(layer, input_shape=None):
    """Number of weights (trainable and not, as in `model.summary()`) per sub-layer, plus the total.

    Sub-layers appear under their names in creation order, weightless ones
    (Dropout) with 0; weights the layer creates itself appear under their own
    names. An unbuilt layer is counted through a fresh copy built for
    `input_shape`, leaving the caller's layer unbuilt.

    Returns:
        A dict {name: count} whose last entry, `TOTAL`, is the layer's total.
    """
    if not layer.built:
        if input_shape is None:
            raise ValueError(
                f"parameter_counts() of the unbuilt layer {layer.name!r} needs `input_shape` "
                "(the weights' sizes depend on it); pass it, or build the layer first."
            )
        layer = _fresh_copy(layer)
        layer(_symbolic_inputs(input_shape, layer.compute_dtype))
    counts: dict[str, int] = {}
    sub_layer_weights = set()
    # keras.layers.Layer has no public list of its direct sub-layers; this is the one Model.layers uses.
    for sub_layer in layer._flatten_layers(include_self=False, recursive=False):
        counts[sub_layer.name] = sum(int(np.prod(weight.shape)) for weight in sub_layer.weights)
        sub_layer_weights.update(id(weight) for weight in sub_layer.weights)
    for weight in layer.weights:
        if id(weight) not in sub_layer_weights:
            counts[weight.name] = int(np.prod(weight.shape))
    counts[TOTAL] = sum(int(np.prod(weight.shape)) for weight in layer.weights)
    return counts
