"""GatedFeatureFusion: a learned, per-feature blend of two representations."""

from __future__ import annotations

import keras
from keras import ops

from kflayers.layers.base import StagedLayer, check_activation


def _is_pair_of_shapes(value) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(shape, (list, tuple)) for shape in value
    )


def _shapes_match(shape_a, shape_b) -> bool:
    """Equal rank, and equal sizes wherever both are known."""
    return len(shape_a) == len(shape_b) and all(
        a is None or b is None or a == b for a, b in zip(shape_a, shape_b)
    )


@keras.saving.register_keras_serializable(package="kflayers")
class GatedFeatureFusion(StagedLayer):
    """Blends two representations of the same features with a learned gate.

    The gate is a Dense layer with one unit per feature applied to the
    concatenation of both inputs, so each feature's blend depends on the
    whole context: `gate = activation(Dense(features)([a, b]))` and
    `output = gate * a + (1 - gate) * b`. With the default sigmoid the output
    lies, feature by feature, between `a` and `b`.

    Args:
        activation: keras activation of the gate (`"sigmoid"` keeps it in (0, 1)).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Input shape:
        A list of two tensors of the same shape `(batch, ..., features)`.

    Output shape:
        `(batch, ..., features)`, the shape of each input.

    Example:

    >>> import keras
    >>> from kflayers import GatedFeatureFusion
    >>> a, b = keras.random.normal((32, 10)), keras.random.normal((32, 10))
    >>> tuple(GatedFeatureFusion()([a, b]).shape)
    (32, 10)
    """

    STAGES = (
        ("input_a", "The first representation as given."),
        ("input_b", "The second representation as given."),
        ("concat", "Both representations side by side along the features: what the gate looks at."),
        ("gate", "The gate: per feature, how much of the first representation to keep."),
        ("gated_a", "The first representation scaled by the gate."),
        ("gated_b", "The second representation scaled by one minus the gate."),
        ("output", "The sum of both scaled representations: the fused features."),
    )
    STAGE_WEIGHTS = {"gate": "gate"}

    def __init__(self, activation="sigmoid", **kwargs):
        super().__init__(**kwargs)
        self.activation = check_activation("activation", activation)

    def _check_input_shapes(self, input_shapes):
        if not _is_pair_of_shapes(input_shapes):
            raise ValueError(
                "GatedFeatureFusion expects a list of exactly two tensors [a, b]; "
                f"got inputs of shape {input_shapes}."
            )
        shape_a, shape_b = (tuple(shape) for shape in input_shapes)
        if not _shapes_match(shape_a, shape_b) or len(shape_a) < 2 or shape_a[-1] is None:
            raise ValueError(
                "GatedFeatureFusion expects two inputs of the same shape (batch, ..., features) "
                f"with known features; got {shape_a} and {shape_b}."
            )
        if self.built and shape_a[-1] != self.gate.units:
            raise ValueError(
                f"GatedFeatureFusion was built for {self.gate.units} features; got inputs of shape {shape_a}."
            )
        return shape_a

    def build(self, input_shape):
        shape = self._check_input_shapes(input_shape)
        features = shape[-1]
        self.gate = keras.layers.Dense(
            features, activation=self.activation, dtype=self.dtype_policy, name="gate"
        )
        self.gate.build(shape[:-1] + (2 * features,))
        self.built = True

    def call(self, inputs):
        is_list = isinstance(inputs, (list, tuple))
        self._check_input_shapes([tuple(x.shape) for x in inputs] if is_list else tuple(inputs.shape))
        a = self._stage("input_a", inputs[0])
        b = self._stage("input_b", inputs[1])
        both = self._stage("concat", ops.concatenate([a, b], axis=-1))
        gate = self._stage("gate", self.gate(both))
        gated_a = self._stage("gated_a", gate * a)
        gated_b = self._stage("gated_b", (1.0 - gate) * b)
        return self._stage("output", gated_a + gated_b)

    def compute_output_shape(self, input_shape):
        return self._check_input_shapes(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(activation=self.activation)
        return config
