"""Every kflayers layer traces: named, described stages in data-flow order, the last one bit-identical to a call."""

import re

import keras
import numpy as np
import pytest
from layer_checks import to_numpy

import kflayers
from staged_layer_cases import CASE_IDS, CASES, PUBLIC_LAYERS, restore_variables, variable_values

SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def test_every_public_layer_has_a_case():
    covered = {type(case.make()).__name__ for case in CASES}
    assert covered == set(PUBLIC_LAYERS)


@pytest.mark.parametrize("layer_name", PUBLIC_LAYERS)
def test_stage_names_and_descriptions(layer_name):
    stages = getattr(kflayers, layer_name).STAGES
    names = [name for name, _ in stages]
    assert names and len(set(names)) == len(names)
    for name, description in stages:
        assert SNAKE_CASE.match(name), name
        assert isinstance(description, str) and description.strip() and "\n" not in description, name
    assert getattr(kflayers, layer_name).stage_descriptions() == dict(stages)


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_stages_follow_data_flow_order(case, training):
    layer, inputs, call_kwargs = case.build()
    recorded = list(layer.trace(inputs, training=training, **call_kwargs))
    declared = [name for name, _ in layer.STAGES]
    assert set(recorded) <= set(declared), set(recorded) - set(declared)
    assert recorded == [name for name in declared if name in recorded]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_last_stage_is_the_inference_call(case):
    layer, inputs, call_kwargs = case.build()
    stages = layer.trace(inputs, training=False, **call_kwargs)
    np.testing.assert_array_equal(
        to_numpy(next(reversed(stages.values()))), to_numpy(layer(inputs, training=False, **call_kwargs))
    )


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_last_stage_is_the_training_call(case):
    # A training call moves BatchNorm statistics and dropout seed states; rewinding them between the
    # trace and the call gives both the same batch statistics and the same dropout masks. The torch
    # backend draws an unseeded layer's dropout masks from torch's global generator instead, which
    # set_random_seed rewinds.
    layer, inputs, call_kwargs = case.build()
    start = variable_values(layer)
    keras.utils.set_random_seed(5)
    traced = to_numpy(next(reversed(layer.trace(inputs, training=True, **call_kwargs).values())))
    restore_variables(layer, start)
    keras.utils.set_random_seed(5)
    called = to_numpy(layer(inputs, training=True, **call_kwargs))
    np.testing.assert_array_equal(traced, called)
    inference = to_numpy(layer(inputs, training=False, **call_kwargs))
    if any(sub.__class__.__name__ in ("Dropout", "BatchNormalization") for sub in layer._flatten_layers()):
        # The comparison above is only meaningful if training mode differs from inference.
        assert not np.array_equal(called, inference)
