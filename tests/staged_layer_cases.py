"""One small, built example of every kflayers layer, shared by the trace and probe tests.

Add a case here when a layer is added to kflayers; `test_traces.py` fails
while a public layer has none.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import numpy as np

import kflayers
from kflayers.layers.mixer import AttentionMixer
from kflayers.mixers import MIXERS, make_mixer

BATCH, TIME, SERIES = 4, 12, 3
MOD_DIM, N_FEATURES = 4, 3


@dataclasses.dataclass(frozen=True)
class Case:
    """A layer factory, the inputs to call it on, and extra `call()` arguments."""

    id: str
    make: Callable[[], Any]
    inputs: Callable[[], Any]
    call_kwargs: Callable[[], dict] = dict

    def build(self):
        """(layer built on the inputs with random non-trivial weights, inputs, call kwargs)."""
        layer, inputs, call_kwargs = self.make(), self.inputs(), self.call_kwargs()
        layer(inputs, **call_kwargs)
        rng = np.random.default_rng(11)
        for weight in layer.weights:
            values = rng.normal(scale=0.5, size=weight.shape)
            if "variance" in weight.path:
                values = rng.uniform(0.5, 2.0, size=weight.shape)
            weight.assign(values.astype(weight.dtype))
        return layer, inputs, call_kwargs


def normal(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def window():
    return normal(BATCH, TIME, SERIES)


def features():
    return normal(BATCH, N_FEATURES, MOD_DIM)


def feature_mask():
    """Keeps features 0 and 2 of every instance and ignores feature 1 (keras' convention: True = keep)."""
    return np.tile(np.array([[True, False, True]]), (BATCH, 1))


def _mixer_cases():
    for flavour, mixer_class in MIXERS.items():
        heads = {"n_heads": 2} if issubclass(mixer_class, AttentionMixer) else {}
        make = functools.partial(make_mixer, flavour, MOD_DIM, N_FEATURES, dropout=0.3, **heads)
        yield Case(f"{flavour}_mixer", make, features)
        yield Case(f"{flavour}_mixer_masked", make, features, lambda: {"mask": feature_mask()})


CASES = [
    Case("feature_mixing", lambda: kflayers.FeatureMixing(n_series=SERIES, input_size=TIME, dropout=0.3, ff_dim=5), window),
    Case("temporal_mixing", lambda: kflayers.TemporalMixing(n_series=SERIES, input_size=TIME, dropout=0.3), window),
    Case("token_embedding", lambda: kflayers.TokenEmbedding(c_in=SERIES, d_model=6), window),
    Case("token_embedding_no_bias", lambda: kflayers.TokenEmbedding(c_in=SERIES, d_model=6, use_bias=False, padding="causal"), window),
    Case("positional_embedding", lambda: kflayers.PositionalEmbedding(max_len=20, d_model=6), window),
    Case("gated_feature_fusion", lambda: kflayers.GatedFeatureFusion(), lambda: [window(), normal(BATCH, TIME, SERIES, seed=1)]),
    *_mixer_cases(),
]

CASE_IDS = [case.id for case in CASES]

PUBLIC_LAYERS = sorted(
    name for name in kflayers.__all__
    if isinstance(getattr(kflayers, name), type)
    and issubclass(getattr(kflayers, name), kflayers.StagedLayer)
    and getattr(kflayers, name) is not kflayers.StagedLayer
)
"""The names of kflayers' public layers: every StagedLayer it exports, the base class aside."""


def variable_values(layer) -> list[np.ndarray]:
    """Copies of every variable of `layer`: weights, BatchNorm moving statistics and dropout seed states."""
    return [np.array(variable.numpy()) for variable in layer.variables]


def restore_variables(layer, values) -> None:
    for variable, value in zip(layer.variables, values):
        variable.assign(value)
