"""Shape inspection: the pipeline of a layer (stage shapes, weight counts) without a dataset."""

from __future__ import annotations

from collections import OrderedDict

import keras
import numpy as np
from keras import ops

TOTAL = "total"
"""The `parameter_counts()` key of the layer's total parameter count."""


def _fresh_copy(layer):
    """An unbuilt twin of `layer` (same config, its own weights), so shape probes never touch the caller's layer."""
    return type(layer).from_config(layer.get_config())


def stage_shapes(layer, input_shape, training: bool = False, dtype=None, **call_kwargs):
    """The shape of every stage for inputs of `input_shape`, an unknown dimension kept unknown.

    A fresh copy of the layer (built from its config, so the caller's layer
    is neither built nor changed) is traced twice on zeros, with every
    unknown dimension (None, typically the batch) set to 2 and then to 3. A
    dimension of a stage that differs between the two runs depends on an
    unknown one and comes out as None. The same code runs on every backend.

    Args:
        layer: a `StagedLayer`, built or not.
        input_shape: a shape tuple, or a list of them for multi-input layers.
        training: the mode to trace (it decides optional stages).
        dtype: the input dtype; defaults to the layer's compute dtype.
        **call_kwargs: further `call()` arguments; a `mask` may be given as
            a `keras.KerasTensor` (it is filled with "keep everything").

    Returns:
        An ordered dict {stage name: shape tuple}.
    """
    twin = _fresh_copy(layer)
    dtype = dtype or layer.compute_dtype
    runs = []
    for size in (2, 3):
        inputs = keras.tree.map_shape_structure(lambda shape: ops.zeros(_known(shape, size), dtype), input_shape)
        kwargs = {name: _concrete_argument(value, size) for name, value in call_kwargs.items()}
        stages = twin.trace(inputs, training=training, **kwargs)
        runs.append(OrderedDict((name, tuple(tensor.shape)) for name, tensor in stages.items()))
    first, second = runs
    return OrderedDict(
        (name, tuple(a if a == b else None for a, b in zip(first[name], second[name]))) for name in first
    )


def _known(shape, size: int) -> tuple:
    return tuple(size if dim is None else int(dim) for dim in shape)


def _concrete_argument(value, size: int):
    """A call argument given symbolically, as a tensor of "keep" values (True, or 0 for a float mask)."""
    if isinstance(value, keras.KerasTensor):
        fill = ops.ones if value.dtype == "bool" else ops.zeros
        return fill(_known(value.shape, size), value.dtype)
    return value


def stage_parameter_counts(layer, input_shape=None):
    """Number of weights (trainable and not) each stage uses, as the layer's `STAGE_WEIGHTS` declares, plus the total.

    Every weight of the layer is counted under exactly one stage, so the stages' counts add up to the
    layer's `count_params()`; `StagedLayer.stage_weights()` raises when a weight is claimed by no stage.
    An unbuilt layer is counted through a fresh copy built for `input_shape`.

    Returns:
        A dict {stage name: count} for every stage of the layer's `STAGES`, in data-flow order (0 for a
        stage without weights), whose last entry, `TOTAL`, is the layer's total.
    """
    layer = _built(layer, input_shape, "stage_parameter_counts")
    counts = {stage: sum(int(np.prod(weight.shape)) for weight in weights)
              for stage, weights in layer.stage_weights().items()}
    counts[TOTAL] = sum(int(np.prod(weight.shape)) for weight in layer.weights)
    return counts


def _built(layer, input_shape, caller: str):
    """`layer` if built, else a fresh copy built for `input_shape`, leaving the caller's layer unbuilt."""
    if layer.built:
        return layer
    if input_shape is None:
        raise ValueError(
            f"{caller}() of the unbuilt layer {layer.name!r} needs `input_shape` "
            "(the weights' sizes depend on it); pass it, or build the layer first."
        )
    layer = _fresh_copy(layer)
    layer.build(input_shape)
    return layer


def parameter_counts(layer, input_shape=None):
    """Number of weights (trainable and not, as in `model.summary()`) per sub-layer, plus the total.

    Sub-layers appear under their names in creation order, weightless ones
    (Dropout) with 0; weights the layer creates itself appear under their own
    names. An unbuilt layer is counted through a fresh copy built for
    `input_shape`, leaving the caller's layer unbuilt.

    Returns:
        A dict {name: count} whose last entry, `TOTAL`, is the layer's total.
    """
    layer = _built(layer, input_shape, "parameter_counts")
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
