"""What every probe shares: argument checks and moving tensors between keras and numpy."""

from __future__ import annotations

import random

import keras
import numpy as np
from keras import ops


def check_built(layer, probe: str) -> None:
    """Data probes must not build the caller's layer (that would create new weights in it)."""
    if not layer.built:
        raise ValueError(
            f"{probe}() needs a built layer, but {layer.name!r} is not built yet. "
            "Call the layer on data (or build it) first; probes never build a layer themselves."
        )


def check_seed(seed) -> int:
    """The integer seed of a probe's dropout masks (a fresh random one for None)."""
    if seed is None:
        # Same range keras.random.SeedGenerator draws from when it gets no seed.
        return random.randint(1, 10**9)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"`seed` must be an integer or None; got {seed!r}.")
    return seed


def to_numpy(tensor) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(tensor))


def numpy_view(tensor) -> np.ndarray:
    """A read-only numpy view of `tensor`'s memory where the backend shares it (TensorFlow on CPU), else a copy."""
    try:
        return np.asarray(tensor)
    except (TypeError, RuntimeError):  # e.g. a torch tensor that requires grad, or one on a GPU
        return to_numpy(tensor)


def batch_size(inputs) -> int:
    """The batch size of `inputs` (one tensor or a structure of tensors sharing the batch axis)."""
    sizes = {int(ops.shape(leaf)[0]) for leaf in keras.tree.flatten(inputs)}
    if len(sizes) != 1:
        raise ValueError(f"All inputs must share one batch size; got batch sizes {sorted(sizes)}.")
    return sizes.pop()


def tile_batch(structure, copies: int):
    """Repeat every tensor of `structure` `copies` times along the batch axis: [x, x, ..., x]."""
    return keras.tree.map_structure(
        lambda tensor: ops.tile(tensor, (copies,) + (1,) * (len(tensor.shape) - 1)), structure
    )


def as_tensors(structure):
    """Convert the arrays and tensors in `structure` to backend tensors (other values stay as they are)."""
    return keras.tree.map_structure(
        lambda value: ops.convert_to_tensor(value) if isinstance(value, np.ndarray) or ops.is_tensor(value) else value,
        structure,
    )
