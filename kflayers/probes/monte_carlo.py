"""The Monte Carlo dropout engine: every stage's mean and spread over many dropout passes, in one batched run.

The passes run as one tiled batch (a chunk of copies at a time) through the
layer's own `call()`, with dropout masks drawn by numpy, so the same code runs
on TensorFlow, JAX and PyTorch. The layer is never changed: BatchNormalization
uses its moving statistics and the layer's seed generators are not used.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import keras
import numpy as np
from keras import ops

from kflayers.layers.base import _RECORDING, check_positive_int, stage_mode
from kflayers.probes._common import as_tensors, batch_size, check_built, check_seed, numpy_view, tile_batch, to_numpy


# Elements of the largest stage in one chunk of tiled passes. Past 32 MiB an op's output no longer
# comes from reused heap memory (glibc's largest mmap threshold) but from fresh pages, and every op
# pays the page faults: a 50 MB tensor took TensorFlow 80 ms to multiply, two 25 MB halves 20 ms.
# On the FeatureMixing (a 0.8 MB hidden stage per pass) chunks of 10-16 passes measured
# fastest; chunks of 5 passes ran about 1.5x slower, one chunk of all 64 passes about 2x slower.
_CHUNK_ELEMENTS = 2**22

# A dropout mask keeps a unit when a uniform 32-bit word is below a threshold: keep probability exact to 2**-32.
_WORD_RANGE = 2**32


def _keep_mask(seed: int, chunk: int, draw: int, shape: tuple, threshold: int) -> np.ndarray:
    """A Bernoulli keep mask: each unit is kept when a uniform 32-bit word is below `threshold`.

    Each word is drawn a byte at a time (numpy's PCG64): its top byte
    decides unless it equals the threshold's top byte, which happens for
    one unit in 256 on average; only those draw their low 24 bits. The
    masks are those of full 32-bit comparisons at the cost of about 8
    random bits per unit. Every (seed, chunk, draw) has its own stream, so
    a chunk's masks do not depend on how many chunks came before it.
    """
    size = math.prod(shape)
    bits = np.random.Generator(np.random.PCG64([seed, chunk, draw])).bit_generator
    top = bits.random_raw(-(-size // 8)).view(np.uint8)[:size]
    threshold_top, threshold_low = np.uint8(threshold >> 24), np.uint32(threshold & 0xFFFFFF)
    keep = top < threshold_top
    ties = np.flatnonzero(top == threshold_top)
    low = bits.random_raw(-(-ties.size // 2)).view(np.uint32)[: ties.size] & np.uint32(0xFFFFFF)
    keep[ties] = low < threshold_low
    return keep.reshape(shape)


class _NumpyDropout:
    """The dropout of one chunk of tiled passes (a `stage_mode` `dropout_fn`), with masks drawn by numpy.

    keras.random's generators took most of the probe's time on CPU;
    numpy's PCG64, drawing about 8 random bits per unit (see `_keep_mask`),
    is several times faster. A unit is kept when its 32-bit word is below
    round(keep * 2**32), and kept units are scaled by the inverse of that
    threshold's exact probability, so every stage keeps its expectation.
    `draws` counts the masks drawn so far in the running trace.
    """

    def __init__(self, seed, chunk):
        self._seed = seed
        self._chunk = chunk
        self.draws = 0

    def __call__(self, x, rate, noise_shape):
        threshold = min(max(round((1.0 - rate) * _WORD_RANGE), 1), _WORD_RANGE - 1)
        shape = tuple(x.shape) if noise_shape is None else tuple(
            x.shape[axis] if size is None else size for axis, size in enumerate(noise_shape)
        )
        keep = self._draw(shape, threshold)
        self.draws += 1
        return ops.where(keep, x * (_WORD_RANGE / threshold), 0.0)

    def _draw(self, shape, threshold):
        return ops.convert_to_tensor(_keep_mask(self._seed, self._chunk, self.draws, shape, threshold))


def _moment_dtype(dtype) -> np.dtype:
    """Moments are taken in float32 (in float64 for float64 stages), whatever a stage's own dtype."""
    return np.dtype(np.float64 if keras.backend.standardize_dtype(dtype) == "float64" else np.float32)


class _DeviationSums:
    """Sums of deviations (and of their squares) of a stage's passes from one reference pass.

    Taking deviations from a pass, not from zero, keeps the variance free of
    cancellation (a shifted variance), and a stage that is bit-identical in
    every pass sums to exactly 0: std exactly 0, mean exactly its value.
    Every chunk runs the same shapes, so such a stage's passes agree across
    chunks too. Each chunk's sums are float32, their totals float64.
    """

    def __init__(self, reference: np.ndarray):
        self.reference = reference
        self.passes = 0
        self.deviation_sum = np.zeros(self.reference.shape, np.float64)
        self.square_sum = np.zeros(self.reference.shape, np.float64)

    def add(self, passes: np.ndarray) -> None:
        deviations = (passes - self.reference).reshape(len(passes), -1)
        self.passes += len(passes)
        self.deviation_sum += deviations.sum(axis=0).reshape(self.reference.shape)
        self.square_sum += np.einsum("ij,ij->j", deviations, deviations).reshape(self.reference.shape)

    def mean_and_std(self):
        mean_deviation = self.deviation_sum / self.passes
        variance = np.maximum(self.square_sum / self.passes - mean_deviation**2, 0)
        dtype = self.reference.dtype
        return (self.reference + mean_deviation).astype(dtype), np.sqrt(variance).astype(dtype)


class _UntiledFront(OrderedDict):
    """The stage recorder of a chunk of tiled passes, which runs the layer's front once, not once per pass.

    Until the first dropout mask is drawn, every stage is the same in all
    passes. For each such stage the recorder hands the layer the untiled
    pass's value, tiled, in place of its own tiled computation (see
    `StagedLayer._stage`). The names of those stages are kept in `front`.
    """

    def __init__(self, untiled, copies: int, batch: int, dropout: "_NumpyDropout"):
        super().__init__()
        self._untiled = untiled
        self._copies = copies
        self._batch = batch
        self._dropout = dropout
        self.front = set()

    def __setitem__(self, name, tensor):
        value = self._untiled.get(name)
        if self._dropout.draws == 0 and value is not None:
            self.front.add(name)
            # Tile only what the tiled pass has per window (a position table is computed once for all passes).
            per_window = tensor.shape[0] == self._copies * self._batch and value.shape[0] == self._batch
            if per_window and tuple(tensor.shape[1:]) == tuple(value.shape[1:]):
                tensor = tile_batch(value, self._copies)
        super().__setitem__(name, tensor)


def dropout_variance(layer, inputs, samples: int = 64, seed: int | None = None, **call_kwargs):
    """Mean and standard deviation of every stage over `samples` passes with dropout active.

    BatchNormalization uses its moving statistics (as in inference), so all
    the spread comes from dropout. The passes run batched: the inputs (and a
    `mask` in `call_kwargs`) are tiled along the batch axis, a chunk of
    copies at a time, and traced with fresh dropout masks for every copy;
    each stage's sums over the copies are then added up in numpy. A chunk
    holds as many copies as keep the largest stage near 4M elements (all 64
    passes of a small layer fit in one; a bigger tile runs slower and needs
    more memory). The layer's own variables are read, never written, and
    its seed generators are not used.

    The dropout masks come from numpy's PCG64 generator rather than
    keras.random, which is several times faster on CPU: a unit is kept when
    a uniform 32-bit word is below round((1 - rate) * 2**32), so the keep
    probability is exact to 2**-32, and kept units are scaled by the inverse
    of that probability, so the expectation of every stage is unchanged. A
    given seed always draws the same masks.

    Stages recorded before the first dropout mask is drawn cannot depend on
    it: they are computed once, on the untiled batch, and come out as their
    value with std exactly 0 (with rate 0 that is every stage); the tiled
    passes start from them. Later stages are measured, and a stage
    that agrees in every pass (such as a skip mean after the dropout) still
    gets std exactly 0. The mean tends to the inference output as `samples`
    grows, with standard error std / sqrt(samples).

    Args:
        layer: a built `StagedLayer`.
        inputs: a batch for the layer (one tensor or a list for multi-input layers).
        samples: number of Monte Carlo passes.
        seed: integer seed of the dropout masks, for reproducible results.
        **call_kwargs: further arguments of the layer's `call()`, e.g. `mask`.

    Returns:
        An ordered dict {stage name: (mean, std)} of numpy arrays, each of the
        stage's shape for `inputs`.
    """
    check_built(layer, "dropout_variance")
    samples = check_positive_int("samples", samples)
    seed = check_seed(seed) % 2**63
    inputs, call_kwargs = as_tensors(inputs), as_tensors(call_kwargs)
    with stage_mode(batch_norm=False, dropout=False):
        untiled = layer.trace(inputs, training=False, **call_kwargs)
    largest = max(math.prod(tensor.shape) for tensor in untiled.values())
    chunks = -(-samples // max(1, _CHUNK_ELEMENTS // largest))
    # Equal chunks, so every pass runs through the same shapes; the last one counts only what is left.
    copies = -(-samples // chunks)
    batch = batch_size(inputs)
    # {stage: its value (no mask reaches it, or it is computed once for all passes) or _DeviationSums}
    stages = OrderedDict()
    for chunk in range(chunks):
        counted = min(copies, samples - chunk * copies)
        for name, tensor in _tiled_passes(layer, inputs, call_kwargs, untiled, seed, chunk, copies).items():
            if isinstance(stages.get(name), np.ndarray):
                continue
            if tensor.shape[0] != copies * batch:
                stages[name] = to_numpy(tensor).astype(_moment_dtype(tensor.dtype), copy=False)
                continue
            passes = numpy_view(tensor).astype(_moment_dtype(tensor.dtype), copy=False)
            passes = passes.reshape((copies, batch) + passes.shape[1:])
            if name not in stages:
                stages[name] = _DeviationSums(passes[0].copy())  # a copy outlives the tensor's memory
            stages[name].add(passes[:counted])
    return OrderedDict(
        (name, (entry, np.zeros_like(entry)) if isinstance(entry, np.ndarray) else entry.mean_and_std())
        for name, entry in stages.items()
    )


def _tiled_passes(layer, inputs, call_kwargs, untiled, seed: int, chunk: int, copies: int):
    """Every stage of `copies` tiled passes with dropout; the stages no mask reaches come from `untiled`."""
    tiled_kwargs = dict(call_kwargs)
    if tiled_kwargs.get("mask") is not None:
        tiled_kwargs["mask"] = tile_batch(tiled_kwargs["mask"], copies)
    dropout = _NumpyDropout(seed, chunk)
    stages = _UntiledFront(untiled, copies, batch_size(inputs), dropout)
    # As in StagedLayer.trace(), with a recorder of our own.
    token = _RECORDING.set((layer, stages))
    try:
        with stage_mode(batch_norm=False, dropout=True, dropout_fn=dropout):
            layer(tile_batch(inputs, copies), training=False, **tiled_kwargs)
    finally:
        _RECORDING.reset(token)
    return OrderedDict((name, untiled[name] if name in stages.front else tensor) for name, tensor in stages.items())


