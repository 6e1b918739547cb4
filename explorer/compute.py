"""What the app computes about a layer, without Streamlit: build, trace, views, exports.

The app's pages turn widget values into a layer config and call these
functions (through Streamlit's caches). Everything here is deterministic in
its arguments: the same config and seed always give the same weights, and
traces in training mode use a seeded dropout that leaves the layer untouched,
so a layer built once can be shared by every session without being changed.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import threading
from typing import Any, Callable

import keras
import numpy as np

import kflayers
from kflayers import probes
from kflayers.mixers import mixer_arguments
from kflayers.layers.base import BATCH_STATS, StagedLayer, stage_mode

# Building seeds keras' global random state; one build at a time keeps that
# seed from being moved by another session's build halfway through.
_BUILD_LOCK = threading.Lock()


NESTED_SIZES = {"FeatureMixing": ("ff_dim", 256), "TokenEmbedding": ("d_model", 128)}
"""Layer -> (size argument, largest value the page offers). Its weights are nested: see `build_layer`."""


def build_layer(class_name: str, config: dict[str, Any], input_shape, seed: int) -> StagedLayer:
    """A built kflayers layer whose initial weights depend only on (class_name, config, input_shape, seed).

    For a layer in `NESTED_SIZES` the weights are drawn once, for the largest
    size, and every smaller size takes their leading slice, rescaled so that
    the initializer's variance holds at that size. The layer of size k+1 is
    then the layer of size k plus one unit (and a rescale of well under 1%),
    so moving a size slider by one changes the picture by one unit's share,
    while a new seed still draws every weight anew. A size beyond the page's
    largest (a loaded model's layer) is drawn at its own size.

    Args:
        class_name: a public layer name of kflayers, e.g. "FeatureMixing".
        config: constructor arguments.
        input_shape: what `build()` receives (a shape, or a list of shapes for multi-input layers).
        seed: seeds every initializer and dropout generator the layer creates.
    """
    if class_name not in NESTED_SIZES:
        return _seeded_build(class_name, config, input_shape, seed)
    return _seeded_build(class_name, config, input_shape, seed, weights=_nested(class_name, config, input_shape, seed))


def _nested(class_name: str, config: dict[str, Any], input_shape, seed: int) -> Callable[[int, tuple], np.ndarray]:
    """(index, shape) -> the nested layer's weight `index`: the largest layer's leading slice, rescaled."""
    size_argument, largest = NESTED_SIZES[class_name]
    largest = max(largest, config[size_argument])
    largest_config = tuple(sorted({**config, size_argument: largest}.items()))
    drawn = _largest_weights(class_name, largest_config, _hashable_shape(input_shape), seed)

    def nested(index: int, shape: tuple) -> np.ndarray:
        big, big_shape, initializer = drawn[index]
        leading = big[tuple(slice(0, size) for size in shape)]
        return leading * _variance_rescale(initializer, shape, big_shape)

    return nested


def built_and_traced(class_name: str, config: dict[str, Any], input_shape, seed: int, inputs, training: bool,
                     **call_kwargs) -> tuple[StagedLayer, dict[str, np.ndarray]]:
    """(layer, trace): `build_layer` and `trace_arrays` of it, the same arrays, for a layer used only once.

    A layer of `NESTED_SIZES` is traced with its weights given as values (a `keras.StatelessScope` state
    mapping) instead of being made into variables: making a layer's variables was three quarters of its
    build (about 35 of 45 ms for FeatureMixing on a loaded 2-core machine), and a scrub's background fill
    builds one layer per value. The layer returned then holds no values: it tells its stages' shapes and
    weight counts (`pipeline`), and must not be called. `tests/test_scrub.py` checks the arrays are equal.
    """
    if class_name not in NESTED_SIZES:
        layer = build_layer(class_name, config, input_shape, seed)
        return layer, trace_arrays(layer, inputs, training, seed, **call_kwargs)
    nested = _nested(class_name, config, input_shape, seed)
    with _BUILD_LOCK:
        keras.utils.set_random_seed(seed)
        layer = getattr(kflayers, class_name)(**config)
        with keras.StatelessScope(initialize_variables=False):
            layer.build(input_shape)
    _forget_uninitialized(layer)
    index = {id(variable): i for i, variable in enumerate(layer.weights)}
    # The layer's other variables (its dropout seeds) hold what their own initializers give, as in a build.
    mapping = [(variable, keras.ops.convert_to_tensor(
        np.asarray(nested(index[id(variable)], tuple(variable.shape)), dtype=variable.dtype)
        if id(variable) in index else variable._initializer(variable.shape, variable.dtype), dtype=variable.dtype))
        for variable in layer.variables]
    seed_generator = keras.random.SeedGenerator(seed) if training else None
    with keras.StatelessScope(state_mapping=mapping):
        return layer, _trace(layer, inputs, training, seed_generator, call_kwargs)


def _forget_uninitialized(layer) -> None:
    """Keras keeps variables made without values to give them values later; these never get any."""
    from keras.src.backend.common import global_state  # keras' own (per-thread) list of them

    mine = {id(variable) for variable in layer.variables}
    waiting = global_state.get_global_attribute("uninitialized_variables") or []
    global_state.set_global_attribute("uninitialized_variables", [v for v in waiting if id(v) not in mine])


def _seeded_build(class_name: str, config: dict[str, Any], input_shape, seed: int,
                  weights: Callable[[int, tuple], np.ndarray] | None = None) -> StagedLayer:
    """The layer built with its initializers seeded by `seed`, or with `weights(index, shape)` as its weights.

    Given weights, each variable is made once, holding its value: a slider move builds a new layer, and on
    TensorFlow drawing every initial value only to overwrite it doubled the cost of the build (about 75 ms
    against 15 ms for FeatureMixing on a 2-core machine). The layer's other variables (its dropout seeds) are
    made by their own initializers, as in a plain build.
    """
    layer_class = getattr(kflayers, class_name)
    with _BUILD_LOCK:
        keras.utils.set_random_seed(seed)
        layer = layer_class(**config)
        if weights is None:
            layer.build(input_shape)
            return layer
        # Inside this scope keras creates the variables without values and keeps their initializers for later.
        with keras.StatelessScope(initialize_variables=False):
            layer.build(input_shape)
        for index, variable in enumerate(layer.weights):
            value = np.asarray(weights(index, tuple(variable.shape)), dtype=variable.dtype)
            variable._initializer = lambda shape, dtype, value=value: value
        # Leaving a stateless scope gives every variable made inside one its value, from its initializer.
        with keras.StatelessScope():
            pass
    return layer


def with_config(layer: StagedLayer, changes: dict[str, Any], input_shape) -> StagedLayer:
    """A copy of a built layer with some constructor arguments changed and the same weights (trained weights
    at another dropout rate, say); the arguments changed must not change the weights' shapes."""
    copy = type(layer).from_config({**layer.get_config(), **changes})
    copy.build(input_shape)
    if [tuple(v.shape) for v in copy.weights] != [tuple(v.shape) for v in layer.weights]:
        raise ValueError(f"changing {sorted(changes)} changes the layer's weights; it cannot keep them.")
    for target, source in zip(copy.weights, layer.weights):
        target.assign(keras.ops.convert_to_numpy(source))
    return copy


def _hashable_shape(shape):
    return tuple(_hashable_shape(s) for s in shape) if isinstance(shape, list) else tuple(shape)


@functools.lru_cache(maxsize=16)
def _largest_weights(class_name: str, config: tuple, input_shape: tuple, seed: int) -> list:
    """(values, shape, initializer) of every weight of the largest layer of a nested size, read-only, in order."""
    if input_shape and isinstance(input_shape[0], tuple):
        input_shape = list(input_shape)
    layer = _seeded_build(class_name, dict(config), input_shape, seed)
    initializers = _initializers(layer)
    drawn = []
    for variable in layer.weights:
        values = keras.ops.convert_to_numpy(variable)
        values.setflags(write=False)
        drawn.append((values, tuple(variable.shape), initializers.get(id(variable))))
    return drawn


def _initializers(layer) -> dict[int, Any]:
    """id(variable) -> the initializer its sub-layer keeps for it (Dense, EinsumDense, Conv: kernel and bias)."""
    found = {}
    for sub_layer in layer._flatten_layers(include_self=True, recursive=True):
        for weight_name in ("kernel", "bias"):
            variable = getattr(sub_layer, weight_name, None)
            initializer = getattr(sub_layer, f"{weight_name}_initializer", None)
            if variable is not None and initializer is not None:
                found[id(variable)] = initializer
    return found


def _fans(shape: tuple) -> tuple[float, float]:
    """(fan_in, fan_out) of a weight shape, as keras' initializers count them."""
    if len(shape) < 2:
        return float(shape[0]) if shape else 1.0, float(shape[0]) if shape else 1.0
    receptive = float(np.prod(shape[:-2])) if len(shape) > 2 else 1.0
    return shape[-2] * receptive, shape[-1] * receptive


def _variance_rescale(initializer, shape: tuple, largest_shape: tuple) -> float:
    """The factor that takes a leading slice of a weight drawn at `largest_shape` to the variance at `shape`."""
    small, large = _fans(shape), _fans(largest_shape)
    if isinstance(initializer, keras.initializers.VarianceScaling):
        fan = {"fan_in": lambda f: f[0], "fan_out": lambda f: f[1], "fan_avg": lambda f: (f[0] + f[1]) / 2}
        pick = fan[initializer.mode]
        return float(np.sqrt(pick(large) / pick(small)))
    if small[0] != large[0] and len(shape) > 1:
        # A weight created with add_weight keeps no initializer; the layers' own fan_in-scaled kernels
        # (TokenEmbedding) are only nested along their output axis, so their variance does not change.
        raise ValueError(f"cannot nest a weight of shape {largest_shape} along its input axis without its initializer.")
    return 1.0


def trace_arrays(layer: StagedLayer, inputs, training: bool, seed: int, **call_kwargs) -> dict[str, np.ndarray]:
    """Every stage of one pass as numpy arrays, in data-flow order.

    In training mode batch normalisation uses the batch's own statistics and
    dropout draws seeded masks, but no moving statistic is updated and no
    generator of the layer advances: the layer is the same afterwards.
    """
    return _trace(layer, inputs, training, keras.random.SeedGenerator(seed) if training else None, call_kwargs)


def _trace(layer: StagedLayer, inputs, training: bool, seed_generator, call_kwargs: dict) -> dict[str, np.ndarray]:
    if training:
        with stage_mode(batch_norm=BATCH_STATS, dropout=True, seed=seed_generator):
            stages = layer.trace(inputs, training=True, **call_kwargs)
    else:
        stages = layer.trace(inputs, training=False, **call_kwargs)
    return {name: keras.ops.convert_to_numpy(tensor) for name, tensor in stages.items()}


@dataclasses.dataclass(frozen=True)
class Pipeline:
    """The stages of a layer for a given input shape, one entry per stage in data-flow order.

    `params` counts the weights each stage uses (the layer's `STAGE_WEIGHTS`); they add up to `total`,
    the layer's weight count.
    """

    names: list[str]
    shapes: list[tuple]
    params: list[int]
    descriptions: list[str]
    total: int


def pipeline(layer: StagedLayer, stages: dict[str, np.ndarray]) -> Pipeline:
    """Each stage's name, shape, weight count and description, read off a trace of `layer`.

    Args:
        stages: what `trace_arrays` returned for this layer; the pipeline shows the stages of that pass
            (a symbolic trace, `probes.stage_shapes`, gives the same shapes but costs a build and a graph).
    """
    counts = probes.stage_parameter_counts(layer)
    descriptions = layer.stage_descriptions()
    names = list(stages)
    params = [counts[n] for n in names]
    if sum(params) != counts[probes.TOTAL]:
        # A stage with weights that this pass did not record: its weights would be missing from the boxes.
        missing = [n for n, count in counts.items() if count and n not in stages and n != probes.TOTAL]
        raise ValueError(f"The trace of {layer.name!r} lacks the stages {missing}, which hold weights.")
    return Pipeline(names, [tuple(stages[n].shape) for n in names], params, [descriptions[n] for n in names],
                    counts[probes.TOTAL])


@dataclasses.dataclass(frozen=True)
class DropoutSummary:
    """What the app draws from the Monte Carlo dropout probe.

    Attributes:
        stages: stage names in data-flow order.
        stage_std: the standard deviation over samples, averaged over all values of each stage.
        output_mean, output_std: mean and std over samples of the layer's output, shaped like the output.
    """

    stages: list[str]
    stage_std: list[float]
    output_mean: np.ndarray
    output_std: np.ndarray


def dropout_summary(layer: StagedLayer, inputs, samples: int, seed: int, **call_kwargs) -> DropoutSummary:
    """Monte Carlo dropout through every stage, summarised for the per-stage bars and the output band."""
    spread = probes.dropout_variance(layer, inputs, samples=samples, seed=seed, **call_kwargs)
    names = list(spread)
    output_mean, output_std = spread[names[-1]]
    return DropoutSummary(names, [float(np.mean(std)) for _, std in spread.values()],
                          np.asarray(output_mean), np.asarray(output_std))


def mode_difference(training_stages: dict[str, np.ndarray], inference_stages: dict[str, np.ndarray]
                    ) -> dict[str, float]:
    """Mean |training - inference| per stage, in data-flow order, from two `trace_arrays` of one layer.

    With the training trace's seed this is `probes.mode_difference` of the layer, without running it again.
    """
    return dict(probes.stage_differences(training_stages, inference_stages))


def feature_impact(layer: StagedLayer, inputs) -> np.ndarray:
    """(n_series, n_series): how much output series j moves when input series i is flattened to its mean."""
    return np.asarray(probes.feature_impact(layer, inputs), dtype=np.float64)


@dataclasses.dataclass(frozen=True)
class StageView:
    """One window of one stage, arranged for a (time x rows) heatmap.

    Attributes:
        values: (time, rows) array.
        row_title: what a row is ("series", "hidden unit").
        row_labels: a name per row, or None to number them.
        note: a sentence for the caption when the drawing differs from the tensor's own layout.
    """

    values: np.ndarray
    row_title: str
    row_labels: tuple[str, ...] | None
    note: str = ""


def thumbnail_values(array: np.ndarray, window: int) -> np.ndarray:
    """Window `window` of a stage as a 2-D array for a thumbnail: a vector becomes one column, more axes are
    flattened into the last (a stage without a batch axis of its own, like the position table, has one row)."""
    values = array[min(window, array.shape[0] - 1)] if array.ndim > 1 else array
    if values.ndim == 1:
        return values.reshape(1, -1)
    return values.reshape(values.shape[0], -1)


# Stages of the mixing layers whose last axis is not the series.
_HIDDEN_UNIT_STAGES = {
    "FeatureMixing": ("dense_1", "activation", "dropout_1"),
    "TemporalMixing": (),
}
# Stages of TemporalMixing held as (batch, series, time).
_SERIES_MAJOR_STAGES = ("transpose", "dense", "activation")


def mixing_stage_view(class_name: str, stage: str, array: np.ndarray, window: int,
                      series: tuple[str, ...]) -> StageView:
    """How to draw window `window` of a FeatureMixing/TemporalMixing stage as time x rows."""
    values = array[window]
    if values.ndim == 1:
        return StageView(values.reshape(-1, len(series)), "series", series,
                         "This stage is one flat vector of time x series values per window; it is drawn "
                         "reshaped to (time, series) so each cell sits where it came from.")
    if class_name == "TemporalMixing" and stage in _SERIES_MAJOR_STAGES:
        return StageView(values.T, "series", series,
                         "This stage holds each window as (series, time); it is drawn with time across like "
                         "the others.")
    if stage in _HIDDEN_UNIT_STAGES[class_name]:
        return StageView(values, "hidden unit", None)
    return StageView(values, "series", series)


FUSION_PAIRS = {
    "smoothed": "the raw series (a) against a moving average of them (b)",
    "token_embedding": "the raw series (a) against a TokenEmbedding projection of them (b)",
}
"""The pairs of representations the Gated Feature Fusion page can fuse, with what they are."""


def fusion_pair(pair: str, smoothing: int, n_series: int, input_size: int, seed: int):
    """The transform making two representations of the same (batch, time, series) windows for GatedFeatureFusion.

    It is written in keras ops, so the page applies it to its batch and the trained-weights model applies it
    inside itself: the layer sees the same pair either way. It returns [a, b] of equal shape.

    Args:
        pair: a key of `FUSION_PAIRS`.
        smoothing: time steps of the centred moving average ("smoothed"); the ends repeat the edge value.
        n_series, input_size: the windows' shape (the TokenEmbedding is built for it).
        seed: seeds the TokenEmbedding's weights ("token_embedding"); they stay fixed, also in training.
    """
    if pair == "smoothed":
        before = (smoothing - 1) // 2
        after = smoothing - 1 - before

        def smoothed(windows):
            x = keras.ops.convert_to_tensor(windows)
            ends = [keras.ops.repeat(x[:, :1], before, axis=1)] if before else []
            ends_after = [keras.ops.repeat(x[:, -1:], after, axis=1)] if after else []
            padded = keras.ops.concatenate(ends + [x] + ends_after, axis=1)
            sums = keras.ops.cumsum(keras.ops.pad(padded, ((0, 0), (1, 0), (0, 0))), axis=1)
            return [x, (sums[:, smoothing:] - sums[:, :-smoothing]) / smoothing]

        return smoothed
    if pair == "token_embedding":
        embedding = build_layer("TokenEmbedding", {"c_in": n_series, "d_model": n_series},
                                (None, input_size, n_series), seed)
        embedding.trainable = False

        def projected(windows):
            x = keras.ops.convert_to_tensor(windows)
            return [x, embedding(x)]

        return projected
    raise ValueError(f"`pair` must be one of {list(FUSION_PAIRS)}; got {pair!r}.")


def fusion_stage_view(stage: str, array: np.ndarray, window: int, series: tuple[str, ...]) -> StageView:
    """How to draw window `window` of a GatedFeatureFusion stage (the concat stage has both inputs' rows)."""
    values = array[window]
    if stage == "concat":
        labels = tuple(f"{name} (a)" for name in series) + tuple(f"{name} (b)" for name in series)
        return StageView(values, "feature of a, then of b", labels)
    return StageView(values, "series", series)


def fixed_gate_output(input_a: np.ndarray, input_b: np.ndarray, gate: float) -> np.ndarray:
    """What GatedFeatureFusion's output would be with every gate value fixed at `gate`: gate*a + (1-gate)*b."""
    return gate * input_a + (1.0 - gate) * input_b


def embedding_stage_view(stage: str, array: np.ndarray, window: int, series: tuple[str, ...],
                         left: int) -> StageView:
    """How to draw window `window` of a TokenEmbedding or PositionalEmbedding stage as time x rows."""
    values = array[min(window, array.shape[0] - 1)]  # the position table has a batch axis of 1
    if stage in ("input", "padded"):
        note = (f"The time axis here includes the padding: its first {left} steps come before the window."
                if stage == "padded" else "")
        return StageView(values, "series", series, note)
    return StageView(values, "embedding channel", None)


def padding_sides(window: np.ndarray, padded: np.ndarray) -> tuple[int, int]:
    """(before, after): how many steps a TokenEmbedding's padding added, read off its own trace.

    `window` is (time, series) and `padded` the padded stage of the same window;
    the window sits unchanged inside the padded steps, at the first offset
    where all series match.
    """
    extra = padded.shape[0] - window.shape[0]
    for before in range(extra + 1):
        if np.array_equal(padded[before:before + window.shape[0]], window):
            return before, extra - before
    raise ValueError("the padded stage does not contain the window unchanged.")


def token_kernel(layer: StagedLayer, channel: int) -> np.ndarray:
    """(kernel_size, c_in): the TokenEmbedding weights that produce embedding channel `channel`."""
    return keras.ops.convert_to_numpy(layer.kernel)[:, :, channel]


def mixer_config(class_name: str, **settings) -> dict[str, Any]:
    """The constructor arguments of mixer `class_name` picked from `settings` (the page sets all of them)."""
    return {name: settings[name] for name in mixer_arguments(getattr(kflayers, class_name))}


def mixer_inputs(windows):
    """(batch, time, series) windows as mixer input: one feature per series, its window as the vector (keras ops)."""
    return keras.ops.transpose(windows, (0, 2, 1))


def mixer_mask(n_windows: int, series: tuple[str, ...], masked: list[str]) -> np.ndarray | None:
    """The keras-style boolean mask (True = keep) hiding the `masked` series in every window, or None."""
    if not masked:
        return None
    keep = np.array([name not in masked for name in series])
    return np.broadcast_to(keep, (n_windows, len(series))).copy()


def attention_map(layer: StagedLayer, inputs: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(batch, n_features, n_features) self-attention weights of a SelfAttentionMixer, averaged over heads.

    Computed by the mixer's own `attention` sub-layer in inference mode, on
    the features the mixer attends over (ignored ones zeroed and never
    attended to); rows of ignored features are zero. Averaged over the kept
    rows, this is the mixer's importance.
    """
    keep = np.ones(inputs.shape[:2], dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    features = np.where(keep[..., None], inputs, 0).astype(inputs.dtype)
    attend = np.broadcast_to(keep[:, None, :], keep.shape + keep.shape[1:])
    _, scores = layer.attention(features, features, attention_mask=attend, return_attention_scores=True,
                                training=False)
    per_query = keras.ops.convert_to_numpy(keras.ops.mean(scores, axis=1))
    return np.where(keep[:, :, None], per_query, 0.0)


def config_json(layer: StagedLayer) -> str:
    """The layer's full keras config as indented JSON (what `from_config` accepts)."""
    return json.dumps(layer.get_config(), indent=2, sort_keys=True)


def weight_key(variable) -> str:
    """A variable's name inside the layer (its path without the layer's own name), as stored in `weights_npz`."""
    return variable.path.split("/", 1)[-1].replace("/", ".")


def weights_npz(layer: StagedLayer) -> bytes:
    """The layer's weights (fresh or trained) as the bytes of an .npz file, keyed by `weight_key`."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{weight_key(v): keras.ops.convert_to_numpy(v) for v in layer.weights})
    return buffer.getvalue()


def python_snippet(class_name: str, config: dict[str, Any], input_shape, weights_file: str) -> str:
    """Python that rebuilds the layer with kflayers and loads the shown weights from `weights_file` (`weights_npz`)."""
    arguments = ", ".join(f"{name}={value!r}" for name, value in config.items())
    return (
        "import keras\n"
        "import numpy as np\n"
        "import kflayers\n"
        "\n"
        f"layer = kflayers.{class_name}({arguments})\n"
        f"layer.build({_shape_literal(input_shape)})\n"
        f"weights = np.load({weights_file!r})  # the weights the app showed, fresh or trained\n"
        "for variable in layer.weights:\n"
        "    variable.assign(weights[variable.path.split('/', 1)[-1].replace('/', '.')])\n"
    )


def trace_npz(stages: dict[str, np.ndarray]) -> bytes:
    """A trace as the bytes of a compressed .npz file, one array per stage name."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **stages)
    return buffer.getvalue()


def _shape_literal(shape) -> str:
    if isinstance(shape, list):
        return "[" + ", ".join(_shape_literal(s) for s in shape) + "]"
    return repr(tuple(shape))
