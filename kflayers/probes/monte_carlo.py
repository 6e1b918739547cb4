"""The Monte Carlo dropout engine: every stage's mean and spread over many dropout passes, in a few batched calls.

A chunk of passes runs as one call of the layer's own `call()`, with dropout
masks drawn by numpy, so the same code runs on TensorFlow, JAX and PyTorch.
The layer is never changed: BatchNormalization uses its moving statistics and
the layer's seed generators are not used.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import keras
import numpy as np
from keras import ops

from kflayers.layers.base import _RECORDING, check_positive_int, stage_mode
from kflayers.probes._common import as_tensors, batch_size, check_built, check_seed, numpy_view, tile_batch, to_numpy


# Elements of the largest stage in one chunk of passes. Past 32 MiB an op's output no longer
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


def _threshold(rate: float) -> int:
    """The 32-bit word below which a unit is kept, for dropout `rate` (never 0 or all words)."""
    return min(max(round((1.0 - rate) * _WORD_RANGE), 1), _WORD_RANGE - 1)


def _drop(x, keep: np.ndarray, threshold: int):
    """(x scaled by the inverse keep probability of `threshold`, and that with the units `keep` drops zeroed)."""
    scaled = x * (_WORD_RANGE / threshold)
    return scaled, ops.where(ops.convert_to_tensor(keep), scaled, 0.0)


def _moment_dtype(dtype) -> np.dtype:
    """Moments are taken in float32 (in float64 for float64 stages), whatever a stage's own dtype."""
    return np.dtype(np.float64 if keras.backend.standardize_dtype(dtype) == "float64" else np.float32)


def _value(tensor) -> np.ndarray:
    return to_numpy(tensor).astype(_moment_dtype(tensor.dtype), copy=False)


class _DeviationSums:
    """Sums of deviations (and of their squares) of a stage's passes from one reference pass.

    Taking deviations from a pass, not from zero, keeps the variance free of
    cancellation (a shifted variance), and a stage that is bit-identical in
    every pass sums to exactly 0: std exactly 0, mean exactly its value.
    Each chunk's sums are float32, their totals float64.
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
    """The passes of a dropout on a value that is the same in every pass, summed through their masks.

    Each pass is the scaled value or 0, so how many passes kept each unit
    gives the same sums as adding the passes up, without reading them: mean
    = value * f and variance = value**2 * f * (1 - f), f = kept / passes
    (exactly 0 where every pass kept, or every pass dropped, the unit).
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
        spread = np.abs(value) * np.sqrt(kept_share * (1 - kept_share))
        return (value * kept_share).astype(self.scaled.dtype), spread.astype(self.scaled.dtype)


class _Kept:
    """A chunk's stage that is a dropout of a value the same in every pass: the value scaled, and the masks."""

    def __init__(self, tensor, scaled, keep: np.ndarray):
        self.tensor = tensor
        self.scaled = scaled
        self.keep = keep


_SAME_IN_EVERY_PASS = "same in every pass"


class _Dropout:
    """The dropout of one chunk of passes (a `stage_mode` `dropout_fn`), with masks drawn by numpy.

    keras.random's generators took most of the probe's time on CPU;
    numpy's PCG64, drawing about 8 random bits per unit (see `_keep_mask`),
    is several times faster. A unit is kept when its 32-bit word is below
    round(keep * 2**32), and kept units are scaled by the inverse of that
    threshold's exact probability, so every stage keeps its expectation.
    A layout (see `_CopiesAxis`, `_TiledBatch`) decides how the chunk's
    copies of a tensor are laid out. `masks` holds the masks drawn so far
    in the running call; `kept` the outputs of dropouts on values that are
    the same in every pass, by id.
    """

    def __init__(self, layout, seed: int, chunk: int):
        self._layout = layout
        self._seed = seed
        self._chunk = chunk
        self.masks = []
        self.kept = {}

    @property
    def draws(self) -> int:
        return len(self.masks)

    def __call__(self, x, rate, noise_shape):
        threshold = _threshold(rate)
        shape, same_in_every_pass = self._layout.mask_shape(x, noise_shape, self.draws)
        keep = _keep_mask(self._seed, self._chunk, self.draws, shape, threshold)
        self.masks.append(keep)
        scaled, dropped = _drop(x, keep, threshold)
        if same_in_every_pass and shape == tuple(dropped.shape):
            self.kept[id(dropped)] = _Kept(dropped, scaled, keep)
        return dropped


def _filled(noise_shape, shape: tuple) -> tuple:
    """A dropout's mask shape for a tensor of `shape` (keras' noise_shape: None entries take the tensor's size)."""
    if noise_shape is None:
        return shape
    return tuple(size if wanted is None else wanted for size, wanted in zip(shape, noise_shape))


class _Discovery:
    """A `dropout_fn` that leaves its input as it is and notes the shape of every dropout's input."""

    def __init__(self):
        self.shapes = []

    def __call__(self, x, rate, noise_shape):
        self.shapes.append(tuple(x.shape))
        return x


# Layer classes whose call() failed on a copies axis. Trying again would cost each probe a failed call
# (keras formats the error with the call's arguments, slower than the passes of a small layer); both
# layouts give the same passes, so running a class tiled from then on changes only the speed.
_TILED_CLASSES = set()


class _NotOnACopiesAxis(Exception):
    """The layer's call() does not carry a leading copies axis through (see `_CopiesAxis`)."""


def _record(layer, inputs, call_kwargs, dropout, stages):
    """Run the layer with `dropout` and record its stages in `stages` (as StagedLayer.trace() does)."""
    token = _RECORDING.set((layer, stages))
    try:
        with stage_mode(batch_norm=False, dropout=True, dropout_fn=dropout):
            layer(inputs, training=False, **call_kwargs)
    finally:
        _RECORDING.reset(token)
    return stages


class _CopiesAxis:
    """A chunk of passes as one call on the untiled batch, the copies on a new leading axis.

    The layer's front, up to the first dropout, runs once, on the batch
    alone; each dropout on such a value returns (copies, *its shape), and
    every later tensor carries that axis through broadcasting. That needs a
    call() whose ops after a dropout broadcast over a leading axis (Dense,
    elementwise ops, residual sums), so every chunk is checked: each stage
    must come out either as its untiled shape (the same in every pass) or
    with the copies axis in front, and the first chunk's first pass must
    match that pass run on its own with the same masks. A layer that fails
    (or raises) runs as a `_TiledBatch` instead.
    """

    def __init__(self, layer, inputs, call_kwargs, untiled, discovery: _Discovery, copies: int):
        self._layer = layer
        self._inputs = inputs
        self._call_kwargs = call_kwargs
        self._untiled = untiled
        self._input_shapes = discovery.shapes
        self.copies = copies

    def mask_shape(self, x, noise_shape, draw: int):
        """(the mask shape of the `draw`-th dropout, acting on `x`; whether `x` is the same in every pass)."""
        same_in_every_pass = tuple(x.shape) == self._input_shapes[draw]
        shape = tuple(x.shape) if same_in_every_pass else tuple(x.shape[1:])
        return (self.copies,) + _filled(noise_shape, shape), same_in_every_pass

    def run(self, dropout: _Dropout):
        """{stage: `_SAME_IN_EVERY_PASS`, a `_Kept`, or its passes as a numpy array (copies, *shape)}."""
        try:
            stages = _record(self._layer, self._inputs, self._call_kwargs, dropout, OrderedDict())
        except Exception as error:  # noqa: BLE001  (any failure of the broadcast call means: run tiled)
            raise _NotOnACopiesAxis from error
        if list(stages) != list(self._untiled):
            raise _NotOnACopiesAxis
        passes = OrderedDict()
        for name, tensor in stages.items():
            shape = tuple(self._untiled[name].shape)
            if tuple(tensor.shape) == shape:
                passes[name] = _SAME_IN_EVERY_PASS
            elif tuple(tensor.shape) == (self.copies,) + shape:
                kept = dropout.kept.get(id(tensor))
                passes[name] = kept if kept is not None and kept.tensor is tensor else numpy_view(tensor)
            else:
                raise _NotOnACopiesAxis
        return passes

    def check_first_pass(self, dropout: _Dropout, passes) -> None:
        """Raise `_NotOnACopiesAxis` unless the first pass equals that pass run alone with the same masks."""
        replay = _Replay([mask[0] for mask in dropout.masks])
        try:
            alone = _record(self._layer, self._inputs, self._call_kwargs, replay, OrderedDict())
        except Exception as error:  # noqa: BLE001  (the pass alone draws more masks, or fails: run tiled)
            raise _NotOnACopiesAxis from error
        if replay.left or list(alone) != list(passes):
            raise _NotOnACopiesAxis
        for name, tensor in alone.items():
            entry = passes.get(name)
            if isinstance(entry, _Kept):
                got = numpy_view(entry.tensor)[0]
            elif isinstance(entry, np.ndarray):
                got = entry[0]
            else:
                got = _value(self._untiled[name])
            if not _agree(got, _value(tensor)):
                raise _NotOnACopiesAxis


class _Replay:
    """A `dropout_fn` applying given masks in turn, scaled as `_Dropout` scales; `left` counts those unused."""

    def __init__(self, masks):
        self._masks = list(masks)
        self.left = len(self._masks)

    def __call__(self, x, rate, noise_shape):
        if not self.left:
            raise _NotOnACopiesAxis
        keep = self._masks[len(self._masks) - self.left]
        self.left -= 1
        return _drop(x, keep, _threshold(rate))[1]


def _agree(got: np.ndarray, expected: np.ndarray) -> bool:
    """Equal up to the rounding of batched versus single-pass kernels."""
    scale = float(np.max(np.abs(expected), initial=0.0))
    return got.shape == expected.shape and np.allclose(got, expected, rtol=1e-4, atol=1e-5 * max(scale, 1e-30))


class _TiledBatch:
    """A chunk of passes as one call on the batch tiled `copies` times along the batch axis: [x, x, ..., x].

    Works for any call(). Until the first dropout mask is drawn every stage
    is the same in all passes; the recorder hands the layer the untiled
    value of each such stage, tiled, in place of its own tiled computation
    (see `StagedLayer._stage`), so the passes start bit-identical.
    """

    def __init__(self, layer, inputs, call_kwargs, untiled, copies: int):
        self._layer = layer
        self._untiled = untiled
        self._batch = batch_size(inputs)
        self._inputs = tile_batch(inputs, copies)
        self._call_kwargs = dict(call_kwargs)
        if self._call_kwargs.get("mask") is not None:
            self._call_kwargs["mask"] = tile_batch(self._call_kwargs["mask"], copies)
        self.copies = copies

    def mask_shape(self, x, noise_shape, draw: int):
        return _filled(noise_shape, tuple(x.shape)), False

    def run(self, dropout: _Dropout):
        """{stage: `_SAME_IN_EVERY_PASS` or its passes as a numpy array (copies, *shape)}."""
        stages = _record(self._layer, self._inputs, self._call_kwargs, dropout, _TiledFront(self, dropout))
        passes = OrderedDict()
        for name, tensor in stages.items():
            if name in stages.front or tensor.shape[0] != self.copies * self._batch:
                passes[name] = _SAME_IN_EVERY_PASS  # also a stage without a batch axis (a position table)
            else:
                values = numpy_view(tensor)
                passes[name] = values.reshape((self.copies, self._batch) + values.shape[1:])
        return passes

    def front_value(self, name: str, tensor):
        """The tiled untiled value of front stage `name` in place of `tensor`, where it has a batch axis."""
        value = self._untiled[name]
        per_window = tensor.shape[0] == self.copies * self._batch and value.shape[0] == self._batch
        if per_window and tuple(tensor.shape[1:]) == tuple(value.shape[1:]):
            return tile_batch(value, self.copies)
        return tensor


class _TiledFront(OrderedDict):
    """The stage recorder of a `_TiledBatch` chunk; the names of the stages before the first mask are in `front`."""

    def __init__(self, layout: _TiledBatch, dropout: _Dropout):
        super().__init__()
        self._layout = layout
        self._dropout = dropout
        self.front = set()

    def __setitem__(self, name, tensor):
        if self._dropout.draws == 0:
            self.front.add(name)
            tensor = self._layout.front_value(name, tensor)
        super().__setitem__(name, tensor)


def dropout_variance(layer, inputs, samples: int = 64, seed: int | None = None, **call_kwargs):
    """Mean and standard deviation of every stage over `samples` passes with dropout active.

    BatchNormalization uses its moving statistics (as in inference), so all
    the spread comes from dropout. The passes run batched, a chunk of
    copies at a time, with fresh dropout masks for every copy; each stage's
    sums over the copies are added up in numpy. A chunk holds as many
    copies as keep the largest stage near 4M elements (all 64 passes of a
    small layer fit in one; a bigger one runs slower and needs more
    memory). Where the layer's call() allows it, a chunk is one call on the
    batch itself whose dropouts add a leading copies axis, so the layer's
    front runs once, not once per pass; otherwise (attention over dropped
    weights, for one) the batch is tiled along its batch axis. Both give
    the same passes for the same seed. The layer's own variables are read,
    never written, and its seed generators are not used.

    The dropout masks come from numpy's PCG64 generator rather than
    keras.random, which is several times faster on CPU: a unit is kept when
    a uniform 32-bit word is below round((1 - rate) * 2**32), so the keep
    probability is exact to 2**-32, and kept units are scaled by the inverse
    of that probability, so the expectation of every stage is unchanged. A
    given seed always draws the same masks.

    Stages recorded before the first dropout mask is drawn cannot depend on
    it: they come out as their inference value with std exactly 0 (with rate
    0, or in a layer without dropout, that is every stage, and no pass runs
    at all). A later stage that agrees in every pass (such as a skip mean
    after the dropout) gets std exactly 0 too. A dropout of a value that is
    the same in every pass is summed through its masks (each pass is the
    scaled value or 0) rather than read back pass by pass. The mean tends to
    the inference output as `samples` grows, with standard error std /
    sqrt(samples).

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
    discovery = _Discovery()
    with stage_mode(batch_norm=False, dropout=True, dropout_fn=discovery):
        untiled = layer.trace(inputs, training=False, **call_kwargs)
    if not discovery.shapes:
        return OrderedDict((name, _constant(_value(tensor))) for name, tensor in untiled.items())
    largest = max(math.prod(tensor.shape) for tensor in untiled.values())
    chunks = -(-samples // max(1, _CHUNK_ELEMENTS // largest))
    # Equal chunks, so every pass runs through the same shapes; the last one counts only what is left.
    copies = -(-samples // chunks)
    if type(layer) not in _TILED_CLASSES:
        try:
            layout = _CopiesAxis(layer, inputs, call_kwargs, untiled, discovery, copies)
            return _estimate(layout, untiled, seed, samples, chunks)
        except _NotOnACopiesAxis:
            _TILED_CLASSES.add(type(layer))
    return _estimate(_TiledBatch(layer, inputs, call_kwargs, untiled, copies), untiled, seed, samples, chunks)


def _constant(value: np.ndarray):
    return value, np.zeros_like(value)


def _estimate(layout, untiled, seed: int, samples: int, chunks: int):
    """Every stage's (mean, std) over `samples` passes, run as `chunks` chunks of `layout.copies`."""
    # {stage: its value (the same in every pass) or its sums}
    stages = OrderedDict()
    for chunk in range(chunks):
        counted = min(layout.copies, samples - chunk * layout.copies)
        dropout = _Dropout(layout, seed, chunk)
        passes = layout.run(dropout)
        if chunk == 0 and isinstance(layout, _CopiesAxis):
            layout.check_first_pass(dropout, passes)
        for name, entry in passes.items():
            if name not in stages:
                stages[name] = (_value(untiled[name]) if entry is _SAME_IN_EVERY_PASS else
                                _KeptCounts(_value(entry.scaled)) if isinstance(entry, _Kept) else
                                _DeviationSums(entry[0].astype(_moment_dtype(entry.dtype))))
            if isinstance(entry, _Kept):
                stages[name].add(entry.keep[:counted])
            elif entry is not _SAME_IN_EVERY_PASS:
                stages[name].add(entry[:counted].astype(stages[name].reference.dtype, copy=False))
    return OrderedDict(
        (name, _constant(entry) if isinstance(entry, np.ndarray) else entry.mean_and_std())
        for name, entry in stages.items()
    )
