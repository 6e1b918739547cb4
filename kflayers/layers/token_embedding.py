"""TokenEmbedding: a 1D convolution that embeds the raw values of a series (Informer)."""

from __future__ import annotations

import math

import keras
from keras import ops

from kflayers.layers.base import StagedLayer, check_bool, check_choice, check_positive_int

PADDINGS = ("circular", "same", "causal")


@keras.saving.register_keras_serializable(package="kflayers")
class TokenEmbedding(StagedLayer):
    """Embeds each time step with a convolution over its neighbourhood in time.

    The window is padded along time so that the output keeps its length, then
    convolved (`d_model` filters of `kernel_size` steps spanning all `c_in`
    channels) and, if `use_bias`, shifted by a learned bias.

    Padding, for a kernel of `k` steps:
    - `"circular"`: the series wraps around, `(k - 1) // 2` steps from its end
      on the left and `k // 2` steps from its start on the right. For odd `k`
      this is exactly torch's `Conv1d(padding=(k - 1) // 2,
      padding_mode="circular")`, Informer's value embedding for `k=3`. For
      even `k` torch cannot keep the length; the output here equals torch's
      `Conv1d(padding=k // 2, padding_mode="circular")` without its first step.
    - `"same"`: zeros, split as in keras' `Conv1D(padding="same")`.
    - `"causal"`: `k - 1` zeros on the left, so no step sees the future.

    The kernel is initialised like torch's `kaiming_normal_(mode="fan_in",
    nonlinearity="leaky_relu")` with slope 0, i.e. an untruncated normal with
    std `sqrt(2 / (kernel_size * c_in))`, and the bias like torch's `Conv1d`
    default, uniform in `+-1 / sqrt(kernel_size * c_in)`.

    Args:
        c_in: number of input channels, the last input dimension.
        d_model: number of filters, the embedding size.
        kernel_size: time steps seen by each filter.
        padding: one of `"circular"`, `"same"`, `"causal"`.
        use_bias: whether to add a learned bias per filter.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Input shape:
        `(batch, time, c_in)`. With `"circular"` padding, `time` must be at
        least `kernel_size // 2` so that the wrap does not go round twice.

    Output shape:
        `(batch, time, d_model)`.

    Example:

    >>> import keras
    >>> from kflayers import TokenEmbedding
    >>> layer = TokenEmbedding(c_in=7, d_model=64)
    >>> tuple(layer(keras.random.normal((32, 96, 7))).shape)
    (32, 96, 64)
    """

    STAGES = (
        ("input", "The window as given: (batch, time, c_in)."),
        ("padded", "The window padded along time (wrapped, zeros or causal) so the convolution keeps its length."),
        ("conv", "The convolution: each output step is a learned mix of kernel_size neighbouring steps of all channels."),
        ("bias", "The learned per-filter bias added: the embedding."),
    )
    STAGE_WEIGHTS = {"kernel": "conv", "bias": "bias"}

    def __init__(self, c_in, d_model, kernel_size=3, padding="circular", use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.c_in = check_positive_int("c_in", c_in)
        self.d_model = check_positive_int("d_model", d_model)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        self.padding = check_choice("padding", padding, PADDINGS)
        self.use_bias = check_bool("use_bias", use_bias)
        if padding == "causal":
            self._pad_left, self._pad_right = kernel_size - 1, 0
        else:
            self._pad_left, self._pad_right = (kernel_size - 1) // 2, kernel_size // 2

    def _check_input_shape(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 3 or shape[2] not in (None, self.c_in):
            raise ValueError(
                f"TokenEmbedding expects inputs of shape (batch, time, c_in={self.c_in}); got {shape}."
            )
        wrap = max(self._pad_left, self._pad_right)
        if self.padding == "circular" and shape[1] is not None and shape[1] < wrap:
            raise ValueError(
                f"TokenEmbedding with circular padding and kernel_size={self.kernel_size} wraps {wrap} "
                f"time steps, so inputs need at least {wrap} time steps; got {shape[1]}. "
                f"Use a smaller kernel_size, a longer window or padding='same'."
            )

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        fan_in = self.kernel_size * self.c_in
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.kernel_size, self.c_in, self.d_model),
            initializer=keras.initializers.VarianceScaling(
                scale=2.0, mode="fan_in", distribution="untruncated_normal"
            ),
        )
        if self.use_bias:
            bound = 1.0 / math.sqrt(fan_in)
            self.bias = self.add_weight(
                name="bias",
                shape=(self.d_model,),
                initializer=keras.initializers.RandomUniform(-bound, bound),
            )
        self.built = True

    def _pad(self, x):
        left, right = self._pad_left, self._pad_right
        if self.padding != "circular":
            return ops.pad(x, ((0, 0), (left, right), (0, 0)))
        wrapped_end = [x[:, -left:, :]] if left else []
        wrapped_start = [x[:, :right, :]] if right else []
        return ops.concatenate(wrapped_end + [x] + wrapped_start, axis=1)

    def call(self, inputs):
        self._check_input_shape(inputs.shape)
        x = self._stage("input", inputs)
        padded = self._stage("padded", self._pad(x))
        embedded = self._stage("conv", ops.conv(padded, self.kernel, strides=1, padding="valid"))
        if self.use_bias:
            embedded = self._stage("bias", embedded + self.bias)
        return embedded

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.d_model)

    def get_config(self):
        config = super().get_config()
        config.update(
            c_in=self.c_in,
            d_model=self.d_model,
            kernel_size=self.kernel_size,
            padding=self.padding,
            use_bias=self.use_bias,
        )
        return config
