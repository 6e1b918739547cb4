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


class _KeptCounts:
    """The passes of a dropout applied to a value that is the same in every pass, summed through its masks.

    Each pass is either the scaled value or 0, so counting how many passes
    kept each unit gives the same sums as adding up the passes, without
    reading them: mean = value * kept / passes and variance = value**2 *
    f * (1 - f) with f = kept / passes (0 when every pass kept, or dropped,
    the unit).
    """

    def __init__(self, scaled: np.ndarray):
        self.scaled = scaled
        self.passes = 0
        self.kept = np.zeros(scaled.shape, np.int64)

    def add(self, keep: np.ndarray) -> None:
        self.passes += len(keep)
        self.kept += keep.sum(axis=0, dtype=np.int64)

    def mean_and_std(self):
        kept_share = self.kept / self.passes
        value = self.scaled.astype(np.float64)
        dtype = self.scaled.dtype
        return (value * kept_share).astype(dtype), (np.abs(value) * np.sqrt(kept_share * (1 - kept_share))).astype(dtype)


class _Run:
    """What every chunk of one `dropout_variance` call shares: the untiled front, its tiles, the zeros.

    The tiled passes of every chunk have the same shapes, so each tile of a
    front stage (and its scaled copy for a dropout) is made once, not once
    per chunk.
    """

    def __init__(self, layer, inputs, call_kwargs, untiled, seed: int, copies: int):
        self.layer = layer
        self.untiled = untiled
        self.seed = seed
        self.copies = copies
        self.batch = batch_size(inputs)
        self.inputs = tile_batch(inputs, copies)
        self.call_kwargs = dict(call_kwargs)
        if self.call_kwargs.get("mask") is not None:
            self.call_kwargs["mask"] = tile_batch(self.call_kwargs["mask"], copies)
        self._tiles = {}  # front stage name -> its untiled value tiled `copies` times
        self._front_of_tile = {}  # id of such a tile -> the stage's name
        self._scaled = {}  # (front stage name, scale) -> (untiled value * scale, its tile)
        self._zeros = {}

    def tile(self, name: str):
        if name not in self._tiles:
            self._tiles[name] = tile_batch(self.untiled[name], self.copies)
            self._front_of_tile[id(self._tiles[name])] = name
        return self._tiles[name]

    def front_stage_of(self, tensor) -> str | None:
        """The front stage `tensor` is the tile of, or None."""
        name = self._front_of_tile.get(id(tensor))
        return name if name is not None and self._tiles[name] is tensor else None

    def scaled(self, name: str, scale: float):
        """(the untiled front stage `name` times `scale`, and its tile)."""
        if (name, scale) not in self._scaled:
            untiled = self.untiled[name] * scale
            self._scaled[name, scale] = untiled, tile_batch(untiled, self.copies)
        return self._scaled[name, scale]

    def zeros(self, shape: tuple, dtype):
        if (shape, dtype) not in self._zeros:
            self._zeros[shape, dtype] = ops.zeros(shape, dtype)
        return self._zeros[shape, dtype]

    def chunk(self, index: int):
        """Every stage of one chunk of tiled passes, and the dropouts (see `_ChunkDropout`) that made them."""
        dropout = _ChunkDropout(self, index)
        stages = _TiledStages(self, dropout)
        # As in StagedLayer.trace(), with a recorder of our own.
        token = _RECORDING.set((self.layer, stages))
        try:
            with stage_mode(batch_norm=False, dropout=True, dropout_fn=dropout):
                self.layer(self.inputs, training=False, **self.call_kwargs)
        finally:
            _RECORDING.reset(token)
        return stages, dropout


class _ChunkDropout:
    """The dropout of one chunk of tiled passes (a `stage_mode` `dropout_fn`), with masks drawn by numpy.

    keras.random's generators took most of the probe's time on CPU;
    numpy's PCG64, drawing about 8 random bits per unit (see `_keep_mask`),
    is several times faster. A unit is kept when its 32-bit word is below
    round(keep * 2**32), and kept units are scaled by the inverse of that
    threshold's exact probability, so every stage keeps its expectation.
    `draws` counts the masks drawn so far in the running trace; `of_front`
    maps each output of a dropout on a front tile to (front stage, scale,
    keep mask), so its passes can be summed through the mask.
    """

    def __init__(self, run: _Run, chunk: int):
        self._run = run
        self._chunk = chunk
        self.draws = 0
        self.of_front = {}

    def __call__(self, x, rate, noise_shape):
        threshold = min(max(round((1.0 - rate) * _WORD_RANGE), 1), _WORD_RANGE - 1)
        scale = _WORD_RANGE / threshold
        shape = tuple(x.shape) if noise_shape is None else tuple(
            x.shape[axis] if size is None else size for axis, size in enumerate(noise_shape)
        )
        keep = _keep_mask(self._run.seed, self._chunk, self.draws, shape, threshold)
        self.draws += 1
        front = self._run.front_stage_of(x)
        scaled = x * scale if front is None else self._run.scaled(front, scale)[1]
        # A select against a ready tensor of zeros: against the scalar 0 TensorFlow broadcasts, twice as slow.
        dropped = ops.where(ops.convert_to_tensor(keep), scaled, self._run.zeros(tuple(x.shape), x.dtype))
        if front is not None and shape == tuple(x.shape):
            self.of_front[id(dropped)] = dropped, front, scale, keep
        return dropped


class _TiledStages(OrderedDict):
    """The stage recorder of a chunk of tiled passes, which hands the layer the front's tiles.

    Until the first dropout mask is drawn, every stage is the same in all
    passes. For each such stage the recorder hands the layer the untiled
    pass's value, tiled, in place of its own tiled computation (see
    `StagedLayer._stage`), so the passes start bit-identical. The names of
    those stages are kept in `front`.
    """

    def __init__(self, run: _Run, dropout: _ChunkDropout):
        super().__init__()
        self._run = run
        self._dropout = dropout
        self.front = set()

    def __setitem__(self, name, tensor):
        value = self._run.untiled.get(name)
        if self._dropout.draws == 0 and value is not None:
            self.front.add(name)
            # Tile only what the tiled pass has per window (a position table is computed once for all passes).
            per_window = tensor.shape[0] == self._run.copies * self._run.batch and value.shape[0] == self._run.batch
            if per_window and tuple(tensor.shape[1:]) == tuple(value.shape[1:]):
                tensor = self._run.tile(name)
        super().__setitem__(name, tensor)


class _CountingDropout:
    """A `dropout_fn` that leaves its input as it is and counts the dropouts that would act."""

    def __init__(self):
        self.draws = 0

    def __call__(self, x, rate, noise_shape):
        self.draws += 1
        return x


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
    value with std exactly 0 (with rate 0, or a layer without dropout, that
    is every stage, and no pass runs at all); the tiled passes start from
    them. Later stages are measured, and a stage that agrees in every pass
    (such as a skip mean after the dropout) still gets std exactly 0. A
    stage that is a dropout of such a front stage is summed through its
    masks (each pass is the scaled value or 0), not read back pass by pass.
    The mean tends to the inference output as `samples` grows, with
    standard error std / sqrt(samples).

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
    counting = _CountingDropout()
    with stage_mode(batch_norm=False, dropout=True, dropout_fn=counting):
        untiled = layer.trace(inputs, training=False, **call_kwargs)
    if counting.draws == 0:
        return OrderedDict((name, _mean_and_std(_value(tensor))) for name, tensor in untiled.items())
    largest = max(math.prod(tensor.shape) for tensor in untiled.values())
    chunks = -(-samples // max(1, _CHUNK_ELEMENTS // largest))
    # Equal chunks, so every pass runs through the same shapes; the last one counts only what is left.
    copies = -(-samples // chunks)
    run = _Run(layer, inputs, call_kwargs, untiled, seed, copies)
    # {stage: its value (no mask reaches it, or it is computed once for all passes) or its sums}
    stages = OrderedDict()
    for chunk in range(chunks):
        counted = min(copies, samples - chunk * copies)
        tiled, dropout = run.chunk(chunk)
        for name, tensor in tiled.items():
            if isinstance(stages.get(name), np.ndarray):
                continue
            if name in tiled.front:
                stages[name] = _value(untiled[name])
            elif tensor.shape[0] != copies * run.batch:
                stages[name] = _value(tensor)
            else:
                _add_passes(stages, name, tensor, dropout.of_front.get(id(tensor)), run, counted)
    return OrderedDict((name, _mean_and_std(entry)) for name, entry in stages.items())


def _value(tensor) -> np.ndarray:
    return to_numpy(tensor).astype(_moment_dtype(tensor.dtype), copy=False)


def _mean_and_std(entry):
    """(mean, std) of a stage's value (the same in every pass) or of its sums over the passes."""
    return (entry, np.zeros_like(entry)) if isinstance(entry, np.ndarray) else entry.mean_and_std()


def _add_passes(stages, name: str, tensor, of_front, run: _Run, counted: int) -> None:
    """Add the first `counted` passes of a chunk's stage to its sums in `stages`."""
    if of_front is not None and of_front[0] is tensor:
        _, front, scale, keep = of_front
        if name not in stages:
            stages[name] = _KeptCounts(_value(run.scaled(front, scale)[0]))
        stages[name].add(keep.reshape((run.copies, run.batch) + keep.shape[1:])[:counted])
        return
    passes = numpy_view(tensor).astype(_moment_dtype(tensor.dtype), copy=False)
    passes = passes.reshape((run.copies, run.batch) + passes.shape[1:])
    if name not in stages:
        stages[name] = _DeviationSums(passes[0].copy())  # a copy outlives the tensor's memory
    stages[name].add(passes[:counted])
