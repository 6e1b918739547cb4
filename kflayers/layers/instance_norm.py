"""ReversibleInstanceNorm: scale each window by its own statistics, and undo it on the forecast."""

from __future__ import annotations

import keras
from keras import ops

EPSILON = 1e-5


@keras.saving.register_keras_serializable(package="kflayers")
class ReversibleInstanceNorm(keras.layers.Layer):
    """Normalises every window by its own per-series mean and standard deviation, reversibly.

    A series that trends leaves, in later windows, the range of values the
    model was trained on. Scaling each window by the statistics of its own
    time steps (per window and per series) gives the model inputs of mean 0
    and standard deviation 1 wherever the series has wandered; `restore()`
    maps the model's outputs back with the same statistics, so the forecast
    follows the series' current level and spread. This is reversible instance
    normalisation (RevIN, Kim et al. 2022) without the optional learned affine
    step. The layer has no weights; used inside a model (subclassed or
    functional, with `restore()` applied to the model's symbolic outputs),
    it is saved with it.

    Args:
        epsilon: added to the variance before the square root, so a constant
            window is divided by `sqrt(epsilon)` rather than by zero.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Input shape:
        `(batch, time, n_series)`.

    Output shape:
        A tuple `(normalised, mean, std)`: `normalised` has the input's shape,
        `mean` and `std` are `(batch, 1, n_series)`.

    Example:

    >>> import keras
    >>> from kflayers import ReversibleInstanceNorm
    >>> norm = ReversibleInstanceNorm()
    >>> windows = keras.random.normal((8, 32, 3), mean=50.0, stddev=4.0)
    >>> normalised, mean, std = norm(windows)
    >>> tuple(normalised.shape), tuple(mean.shape)
    ((8, 32, 3), (8, 1, 3))
    >>> restored = norm.restore(normalised, mean, std)
    >>> float(keras.ops.max(keras.ops.abs(restored - windows))) < 1e-3
    True
    """

    def __init__(self, epsilon=EPSILON, **kwargs):
        super().__init__(**kwargs)
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon > 0:
            raise ValueError(f"`epsilon` must be a positive number; got {epsilon!r}.")
        self.epsilon = float(epsilon)

    def call(self, inputs):
        if len(inputs.shape) != 3:
            raise ValueError(f"ReversibleInstanceNorm expects inputs of shape (batch, time, n_series); "
                             f"got {tuple(inputs.shape)}.")
        mean = ops.mean(inputs, axis=1, keepdims=True)
        std = ops.sqrt(ops.var(inputs, axis=1, keepdims=True) + self.epsilon)
        return (inputs - mean) / std, mean, std

    def restore(self, outputs, mean, std):
        """Undo the normalisation: `outputs * std + mean` (the statistics broadcast over time).

        Args:
            outputs: values on the normalised scale, e.g. a forecast of shape
                `(batch, horizon, n_series)`; for one series pass its slice
                of the statistics, e.g. `mean[:, :, i]` with `(batch, horizon)`.
            mean, std: the statistics `call()` returned for the same windows.
        """
        return outputs * std + mean

    def compute_output_spec(self, inputs):
        stats_shape = (inputs.shape[0], 1, inputs.shape[2])
        return (keras.KerasTensor(inputs.shape, inputs.dtype), keras.KerasTensor(stats_shape, inputs.dtype),
                keras.KerasTensor(stats_shape, inputs.dtype))

    def get_config(self):
        config = super().get_config()
        config.update(epsilon=self.epsilon)
        return config
