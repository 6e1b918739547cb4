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

import math
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


def _numpy_view(tensor) -> np.ndarray:
    """A read-only numpy view of `tensor`'s memory where the backend shares it (TensorFlow on CPU), else a copy."""
    try:
        return np.asarray(tensor)
    except (TypeError, RuntimeError):  # e.g. a torch tensor on a GPU
        return _to_numpy(tensor)


def _batch_size(inputs) -> int:
    """The batch size of `inputs` (one tensor or a structure of tensors sharing the batch axis)."""
    sizes = {int(ops.shape(leaf)[0]) for leaf in keras.tree.flatten(inputs)}
    if len(sizes) != 1:
        raise ValueError(f"All inputs must share one batch size; got batch sizes {sorted(sizes)}.")
    return sizes.pop()


def _tile_batch(structure, copies: int):
    """Repeat every tensor of `structure` `copies` times along the batch axis: [x, x, ..., x]."""
    return keras.tree.map_structure(
        lambda tensor: ops.tile(tensor, (copies,) + (1,) * (len(tensor.shape) - 1)), structure
    )


# Elements of the largest stage in one chunk of tiled passes. Past 32 MiB an op's output no longer
# comes from reused heap memory (glibc's largest mmap threshold) but from fresh pages, and every op
# pays the page faults: a 50 MB tensor took TensorFlow 80 ms to multiply, two 25 MB halves 20 ms.
# On the FeatureMixing (a 0.8 MB hidden stage per pass) chunks of 10-16 passes measured
# fastest; chunks of 5 passes ran about 1.5x slower, one chunk of all 64 passes about 2x slower.
_CHUNK_ELEMENTS = 2**22

# A dropout mask keeps a unit when a uniform 32-bit word is below a threshold: keep probability exact to 2**-32.
_WORD_RANGE = 2**32


def _keep_mask(seed: int, chunk: int, draw: int, shape: tuple, threshold: int) -> np.ndarray:
    """A Bernoulli keep mask: each unit is kept when a uniform 32-bit word is below `threshold`.

    Each word is drawn a byte at a time (numpy's PCG64): its top byte
    decides unless it equals the threshold's top byte, which happens for
    one unit in 256 on average; only those draw their low 24 bits. The
    masks are those of full 32-bit comparisons at the cost of about 8
    random bits per unit. Every (seed, chunk, draw) has its own stream, so
    the masks do not depend on the order in which a compiled graph runs its draws.
    """
    size = math.prod(shape)
    bits = np.random.Generator(np.random.PCG64([seed, chunk, draw])).bit_generator
    top = bits.random_raw(-(-size // 8)).view(np.uint8)[:size]
    threshold_top, threshold_low = np.uint8(threshold >> 24), np.uint32(threshold & 0xFFFFFF)
    keep = top < threshold_top
    ties = np.flatnonzero(top == threshold_top)
    low = bits.random_raw(-(-ties.size // 2)).view(np.uint32)[: ties.size] & np.uint32(0xFFFFFF)
    keep[ties] = low < threshold_low
    return keep.reshape(shape)


class _NumpyDropout:
    """The dropout of one chunk of tiled passes (a `stage_mode` `dropout_fn`), with masks drawn by numpy.

    TensorFlow's Philox generator took most of the probe's time on CPU;
    numpy's PCG64, drawing about 8 random bits per unit (see `_keep_mask`),
    is several times faster. A unit is kept when its 32-bit word is below
    round(keep * 2**32), and kept units are scaled by the inverse of that
    threshold's exact probability, so every stage keeps its expectation.
    `draws` counts the masks drawn so far in the running trace.
    """

    def __init__(self, seed, chunk):
        self._seed = seed
        self._chunk = chunk
        self.draws = 0

    def __call__(self, x, rate, noise_shape):
        threshold = min(max(round((1.0 - rate) * _WORD_RANGE), 1), _WORD_RANGE - 1)
        shape = tuple(x.shape) if noise_shape is None else tuple(
            x.shape[axis] if size is None else size for axis, size in enumerate(noise_shape)
        )
        keep = self._draw(shape, threshold)
        self.draws += 1
        return ops.where(keep, x * (_WORD_RANGE / threshold), 0.0)

    def _draw(self, shape, threshold):
        draw = self.draws
        if keras.backend.backend() != "tensorflow":
            return ops.convert_to_tensor(_keep_mask(int(self._seed), int(self._chunk), draw, shape, threshold))
        import tensorflow as tf

        # Runs numpy inside the compiled graph, once per execution.
        keep = tf.numpy_function(
            lambda seed, chunk: _keep_mask(int(seed), int(chunk), draw, shape, threshold),
            [self._seed, self._chunk], tf.bool, stateful=False,
        )
        return tf.ensure_shape(keep, shape)


def _moment_dtype(dtype) -> np.dtype:
    """Moments are taken in float32 (in float64 for float64 stages), whatever a stage's own dtype."""
    return np.dtype(np.float64 if keras.backend.standardize_dtype(dtype) == "float64" else np.float32)


class _DeviationSums:
    """Sums of deviations (and of their squares) of a stage's passes from one reference pass.

    Taking deviations from a pass, not from zero, keeps the variance free of
    cancellation (a shifted variance), and a stage that is bit-identical in
    every pass sums to exactly 0: std exactly 0, mean exactly its value.
    Every chunk runs the same shapes, so such a stage's passes agree across
    chunks too. Each chunk's sums are float32, their totals float64.
    """

    def __init__(self, reference: np.ndarray):
        self.reference = reference
        self.passes = 0
        self.deviation_sum = np.zeros(self.reference.shape, np.float64)
        self.square_sum = np.zeros(self.reference.shape, np.float64)

    def add(self, passes: np.ndarray) -> None:
        deviations = (passes - self.reference).reshape(len(passes), -1)
        self.passes += len(passes)
        self.deviation_sum += deviations.sum(axis=0).reshape(self.reference.shape)
        self.square_sum += np.einsum("ij,ij->j", deviations, deviations).reshape(self.reference.shape)

    def mean_and_std(self):
        mean_deviation = self.deviation_sum / self.passes
        variance = np.maximum(self.square_sum / self.passes - mean_deviation**2, 0)
        dtype = self.reference.dtype
        return (self.reference + mean_deviation).astype(dtype), np.sqrt(variance).astype(dtype)


def _compile(function):
    """Compile `function` as one graph where the backend allows it from outside a layer.

    On TensorFlow this is `tf.function`: a chunk of tiled passes runs as one
    graph instead of one Python dispatch per op. Other
    backends run the same code eagerly (jax.jit would need the layer's
    stateless API).
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(function)
    return function


def _shape_key(structure) -> tuple:
    return tuple(tuple(leaf.shape) if hasattr(leaf, "shape") else leaf for leaf in keras.tree.flatten(structure))


class _UntiledFront(OrderedDict):
    """The stage recorder of a chunk of tiled passes, which runs the layer's front once, not once per pass.

    Until the first dropout mask is drawn, every stage is the same in all
    passes. For each such stage the recorder hands the layer the untiled
    pass's value, tiled, in place of its own tiled computation (see
    `StagedLayer._stage`); in a compiled graph the unused tiled computation
    is then pruned. The names of those stages are kept in `front`.
    """

    def __init__(self, untiled, copies: int, batch: int, dropout: "_NumpyDropout"):
        super().__init__()
        self._untiled = untiled
        self._copies = copies
        self._batch = batch
        self._dropout = dropout
        self.front = set()

    def __setitem__(self, name, tensor):
        value = self._untiled.get(name)
        if self._dropout.draws == 0 and value is not None:
            self.front.add(name)
            # Tile only what the tiled pass has per window (a position table is computed once for all passes).
            per_window = tensor.shape[0] == self._copies * self._batch and value.shape[0] == self._batch
            if per_window and tuple(tensor.shape[1:]) == tuple(value.shape[1:]):
                tensor = _tile_batch(value, self._copies)
        super().__setitem__(name, tensor)


class _BatchedDropoutPass:
    """The compiled chunk of tiled passes of one layer for one sample count.

    Holding the layer only weakly lets it (and this cache entry) be collected
    when the caller drops it. A chunk's seed and index are tensors, so one
    trace serves every chunk and every seed.
    """

    def __init__(self, layer, samples: int):
        self._layer = weakref.ref(layer)
        self._samples = samples
        self._largest_stages: dict[tuple, int] = {}
        self._compiled = _compile(self._chunk)
        self._calls = 0

    def _chunk(self, inputs, call_kwargs, seed, chunk, copies: int):
        """Every stage of `copies` tiled passes; one untiled pass of the stages no mask can reach."""
        layer = self._layer()
        with stage_mode(batch_norm=False, dropout=False):
            untiled = layer.trace(inputs, training=False, **call_kwargs)
        tiled_kwargs = dict(call_kwargs)
        if tiled_kwargs.get("mask") is not None:
            tiled_kwargs["mask"] = _tile_batch(tiled_kwargs["mask"], copies)
        dropout = _NumpyDropout(seed, chunk)
        stages = _UntiledFront(untiled, copies, _batch_size(inputs), dropout)
        # As in StagedLayer.trace(), with a recorder of our own.
        token = _RECORDING.set((layer, stages))
        try:
            with stage_mode(batch_norm=False, dropout=True, dropout_fn=dropout):
                layer(_tile_batch(inputs, copies), training=False, **tiled_kwargs)
        finally:
            _RECORDING.reset(token)
        return OrderedDict((name, untiled[name] if name in stages.front else tensor) for name, tensor in stages.items())

    def _largest_stage(self, inputs, call_kwargs) -> int:
        """Elements of the layer's largest stage in one pass (from one inference trace per input shape)."""
        key = _shape_key((inputs, call_kwargs))
        if key not in self._largest_stages:
            with stage_mode(batch_norm=False, dropout=False):
                stages = self._layer().trace(inputs, training=False, **call_kwargs)
            self._largest_stages[key] = max(math.prod(tensor.shape) for tensor in stages.values())
        return self._largest_stages[key]

    def __call__(self, inputs, call_kwargs, seed: int):
        chunks = -(-self._samples // max(1, _CHUNK_ELEMENTS // self._largest_stage(inputs, call_kwargs)))
        # Equal chunks, so every pass runs through the same shapes; the last one counts only what is left.
        copies = -(-self._samples // chunks)
        batch = _batch_size(inputs)
        seed = ops.convert_to_tensor(seed % 2**63, dtype="int64")
        # Tracing a graph costs more than it saves on one call (measured 170-380 ms compiled against
        # 60-170 ms eager for a fresh FeatureMixing), and the app probes each new layer once:
        # the first call on a layer runs eagerly, later ones reuse the compiled graph.
        run = self._compiled if self._calls else self._chunk
        self._calls += 1
        # {stage: its value (no mask reaches it, or it is computed once for all passes) or _DeviationSums}
        stages = OrderedDict()
        for chunk in range(chunks):
            counted = min(copies, self._samples - chunk * copies)
            tiled = run(inputs, call_kwargs, seed, ops.convert_to_tensor(chunk, dtype="int64"), copies)
            for name, tensor in tiled.items():
                if isinstance(stages.get(name), np.ndarray):
                    continue
                if tensor.shape[0] != copies * batch:
                    stages[name] = _to_numpy(tensor).astype(_moment_dtype(tensor.dtype), copy=False)
                    continue
                passes = _numpy_view(tensor).astype(_moment_dtype(tensor.dtype), copy=False)
                passes = passes.reshape((copies, batch) + passes.shape[1:])
                if name not in stages:
                    stages[name] = _DeviationSums(passes[0].copy())  # a copy outlives the tensor's memory
                stages[name].add(passes[:counted])
        return OrderedDict(
            (name, (entry, np.zeros_like(entry)) if isinstance(entry, np.ndarray) else entry.mean_and_std())
            for name, entry in stages.items()
        )


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
    the spread comes from dropout. The passes run batched: the inputs (and a
    `mask` in `call_kwargs`) are tiled along the batch axis, a chunk of
    copies at a time, and traced with fresh dropout masks for every copy;
    each stage's sums over the copies are then added up in numpy. A chunk
    holds as many copies as keep the largest stage near 4M elements (all 64
    passes of a small layer fit in one; a bigger tile runs slower and needs
    more memory). On TensorFlow a chunk is compiled (`tf.function`, cached
    per layer and sample count); the layer's own variables are read, never
    written, and its seed generators are not used.

    The dropout masks come from numpy's PCG64 generator rather than
    keras.random, which is several times faster on CPU: a unit is kept when
    a uniform 32-bit word is below round((1 - rate) * 2**32), so the keep
    probability is exact to 2**-32, and kept units are scaled by the inverse
    of that probability, so the expectation of every stage is unchanged. A
    given seed always draws the same masks.

    Stages recorded before the first dropout mask is drawn cannot depend on
    it: they are computed once, on the untiled batch, and come out as their
    value with std exactly 0 (with rate 0 that is every stage); the tiled
    passes start from them. Later stages are measured, and a stage
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
    return _batched_pass(layer, samples)(_as_tensors(inputs), _as_tensors(call_kwargs), seed)


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
    return stage_differences(training, inference)


def stage_differences(training, inference):
    """Mean absolute difference of every stage two traces of one layer share, in data-flow order.

    `mode_difference` is this applied to a training-mode and an inference-mode
    trace; a caller that already holds both traces gets the same numbers without
    running the layer again.

    Returns:
        An ordered dict {stage name: float}.
    """
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
