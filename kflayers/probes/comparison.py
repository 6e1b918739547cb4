"""Stage comparison: how stages differ between modes, and how output series depend on input series."""

from __future__ import annotations

from collections import OrderedDict

import keras
import numpy as np
from keras import ops

from kflayers.layers.base import BATCH_STATS, stage_mode
from kflayers.probes._common import check_built, check_seed, to_numpy


def mode_difference(layer, inputs, seed: int | None = None, **call_kwargs):
    """Mean absolute difference of every stage between training and inference mode.

    The training side normalises with the batch's own statistics and applies
    dropout (masks from `seed`), but updates no moving statistic and leaves the
    layer's seed generators alone. Stages present in only one mode are left out.

    Returns:
        An ordered dict {stage name: float}.
    """
    check_built(layer, "mode_difference")
    seed = check_seed(seed)
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
            to_numpy(training[name]).astype(np.float64) - to_numpy(inference[name]).astype(np.float64)
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
    check_built(layer, "feature_impact")
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
        outputs = to_numpy(layer(everything, training=False)).astype(np.float64)
    if outputs.ndim < 2 or outputs.shape[0] != (n_series + 1) * batch:
        raise _window_shape_error(
            layer, "maps inputs of shape", f"{tuple(everything.shape)} to outputs of shape {outputs.shape}"
        )
    original = outputs[:batch]
    changed = outputs[batch:].reshape((n_series, batch) + outputs.shape[1:])
    # Average over windows and every axis but the last, so a forecaster's (batch, horizon)
    # output gives (n_series_in, horizon) just as a window layer gives (n_series_in, n_series_out).
    return np.mean(np.abs(changed - original[None]), axis=tuple(range(1, changed.ndim - 1)))
