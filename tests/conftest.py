"""Shared test setup: quiet TensorFlow, deterministic seeds."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same random state."""
    keras.utils.set_random_seed(1234)
    np.random.seed(1234)
    yield


@pytest.fixture(autouse=True)
def _no_background_work_left():
    """A test's background work (scrub fills, trainings) ends with it.

    Both build layers on worker threads and seed keras' global random state to do so; left running, they would
    change the random draws of the next test (a determinism test of the Learn recipe failed that way).
    """
    yield
    scrub = sys.modules.get("explorer.scrub")
    if scrub is not None:
        scrub.FILLS.forget_all()
    layers = sys.modules.get("explorer.ui.layers")
    if layers is not None:
        layers.TRAINING.wait_all()
