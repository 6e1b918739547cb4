"""One small, built example of every kflayers layer, shared by the trace and probe tests.

Add a case here when a layer is added to kflayers; `test_traces.py` fails
while a public layer has none.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import keras
import numpy as np

import kflayers

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
    """Ignores feature 1 of every instance."""
    return np.tile(np.array([[False, True, False]]), (BATCH, 1))


def _mixer_cases():
    factories = {
        "global_weights_mixer": lambda: kflayers.GlobalWeightsMixer(mod_dim=MOD_DIM, n_features=N_FEATURES, dropout=0.3),
        "instance_weights_mixer": lambda: kflayers.InstanceWeightsMixer(mod_dim=MOD_DIM, n_features=N_FEATURES, dropout=0.3),
        "self_attention_mixer": lambda: kflayers.SelfAttentionMixer(mod_dim=MOD_DIM, n_heads=2, dropout=0.3),
        "cross_attention_mixer": lambda: kflayers.CrossAttentionMixer(mod_dim=MOD_DIM, n_heads=2, dropout=0.3),
    }
    for name, make in factories.items():
        yield Case(name, make, features)
        yield Case(f"{name}_masked", make, features, lambda: {"mask": feature_mask()})


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


def variable_values(layer) -> list[np.ndarray]:
    """Copies of every variable of `layer`: weights, BatchNorm moving statistics and dropout seed states."""
    return [np.array(variable.numpy()) for variable in layer.variables]


def restore_variables(layer, values) -> None:
    for variable, value in zip(layer.variables, values):
        variable.assign(value)
