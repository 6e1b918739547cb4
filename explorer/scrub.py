"""Frames for a scrub control, and the shared background worker that fills a control's range.

A scrub control (see `explorer.ui.scrub`) redraws its views in the browser on every `input` event, from
frames the server sent beforehand: one frame per value of the control, each read off a trace of the layer
built at that value (`explorer.compute.build_layer` and `trace_arrays`, never a second implementation).
The browser only maps the frames' quantised numbers to colours, through a 256-entry table taken from the
picture view's own colour mapping (`explorer.figures.pictures.value_colours`).

The current value is computed by the page at once; the rest of the range is filled by one worker thread,
nearest values first, one value per unit of work, into a cache keyed by everything but the scrubbed
control, shared by sessions and bounded (least recently asked range dropped first), so memory stays flat.
This module does not import Streamlit.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import threading
import time
import zlib
from typing import Callable, Sequence

import numpy as np

from explorer import compute
from explorer.figures.pictures import THUMBNAIL_HEIGHT, THUMBNAIL_MAX_WIDTH, value_colours
from explorer.figures.stages import histogram_shares, symmetric_limit

LEVELS = 64
"""Colour levels of a quantised picture: one byte per cell."""


def colour_table(value_range: tuple[float, float] | None = None) -> list[str]:
    """The picture view's colours at each of the `LEVELS` quantisation levels, as CSS hex strings.

    Level q stands for position q / 255 on the scale: the diverging scale from -limit to +limit, or the
    sequential scale from low to high (`value_colours`).
    """
    positions = np.linspace(0.0, 1.0, LEVELS)
    rgb = value_colours(positions * 2 - 1) if value_range is None else value_colours(positions, (0.0, 1.0))
    return ["#%02x%02x%02x" % tuple(int(c) for c in colour) for colour in rgb]


def quantised(grid: np.ndarray, value_range: tuple[float, float] | None = None) -> tuple[np.ndarray, float, float]:
    """(levels as uint8, low end, high end) of `grid` on the scale `value_colours` draws it with."""
    grid = np.asarray(grid, dtype=np.float64)
    if value_range is None:
        limit = symmetric_limit(grid) or 1.0
        position, low, high = (np.clip(grid / limit, -1.0, 1.0) + 1.0) / 2.0, -limit, limit
    else:
        low, high = value_range
        position = np.clip((grid - low) / ((high - low) or 1.0), 0.0, 1.0)
    return np.round(position * (LEVELS - 1)).astype(np.uint8), float(low), float(high)


def _nearest_indices(size: int, target: int) -> np.ndarray:
    """Source indices picked by a nearest-neighbour resize from `size` to `target` cells (as PIL's NEAREST)."""
    return np.minimum(((np.arange(target) + 0.5) * size / target).astype(int), size - 1)


def _picture(values: np.ndarray, value_range, max_rows: int | None = None, max_columns: int | None = None) -> dict:
    """A (time, rows) array as a rows x time quantised grid, reduced to what a thumbnail can show."""
    grid = np.asarray(values, dtype=np.float64).T
    levels, low, high = quantised(grid, value_range)
    if max_rows and levels.shape[0] > max_rows:
        levels = levels[_nearest_indices(levels.shape[0], max_rows)]
    if max_columns and levels.shape[1] > max_columns:
        levels = levels[:, _nearest_indices(levels.shape[1], max_columns)]
    # Compressed: a range's frames then fit the browser's budget (see `tests/test_scrub.py`).
    packed = zlib.compress(np.ascontiguousarray(levels).tobytes(), 6)
    # The ends are shown to 3 significant digits; 7 keep them exact to float32.
    return {"rows": int(levels.shape[0]), "columns": int(levels.shape[1]),
            "low": float(f"{low:.7g}"), "high": float(f"{high:.7g}"),
            "scale": "diverging" if value_range is None else "sequential",
            "levels": base64.b64encode(packed).decode("ascii")}


def decoded(picture: dict) -> np.ndarray:
    """The (rows, columns) uint8 levels of a picture made by this module (what the browser decodes)."""
    raw = np.frombuffer(zlib.decompress(base64.b64decode(picture["levels"])), dtype=np.uint8)
    return raw.reshape(picture["rows"], picture["columns"])


@dataclasses.dataclass(frozen=True)
class StageFrameSpec:
    """What a stages frame shows: the chosen window, how a stage is drawn, the chosen stage.

    Attributes:
        window: the window of the batch the pictures show.
        view: arranges (stage, array, window) as time x rows (`compute.mixing_stage_view` and the like).
        stage: the stage drawn large, with its colour bar and distribution.
        value_ranges: stages drawn on a fixed sequential range instead of the diverging scale.
    """

    window: int
    view: Callable[[str, np.ndarray, int], compute.StageView]
    stage: str
    value_ranges: tuple = ()


def stages_frame(layer, stages: dict[str, np.ndarray], spec: StageFrameSpec) -> dict:
    """One value's frame: every stage's shape, weight count and thumbnail, the layer's total and the stage picture.

    Args:
        layer: the layer built at this value.
        stages: its trace (`compute.trace_arrays`).
    """
    ranges = dict(spec.value_ranges)
    rows = compute.pipeline(layer, stages)
    boxes = []
    stage = spec.stage if spec.stage in stages else rows.names[-1]
    for name, shape, params in zip(rows.names, rows.shapes, rows.params):
        # The chosen stage's thumbnail is its picture, sampled down in the browser exactly as here.
        thumbnail = None if name == stage else _picture(spec.view(name, stages[name], spec.window).values,
                                                         ranges.get(name), THUMBNAIL_HEIGHT, THUMBNAIL_MAX_WIDTH)
        boxes.append({"name": name, "shape": list(shape), "params": params, "thumbnail": thumbnail})
    shown = spec.view(stage, stages[stage], spec.window)
    window_values = stages[stage][min(spec.window, stages[stage].shape[0] - 1)]
    edges, batch_share, window_share = histogram_shares(window_values, stages[stage])
    picture = _picture(shown.values, ranges.get(stage))
    # Shares as counts over sizes: exact, and a few digits each.
    picture.update(stage=stage, edges=[float(edges[0]), float(edges[-1])],
                   batch_counts=_counts(batch_share, stages[stage].size), batch_size=int(stages[stage].size),
                   window_counts=_counts(window_share, window_values.size), window_size=int(window_values.size))
    return {"boxes": boxes, "total": rows.total, "picture": picture}


def band_frame_at(built, inputs, seed: int, samples: int, pick: Callable[[np.ndarray], np.ndarray],
                  call_kwargs: dict | None = None) -> dict:
    """The Monte Carlo band of layer `built`: `samples` seeded passes, as the Dropout tab runs them."""
    call_kwargs = call_kwargs or {}
    summary = compute.dropout_summary(built, inputs, samples, seed, **call_kwargs)
    inference = list(compute.trace_arrays(built, inputs, False, seed, **call_kwargs).values())[-1]
    return band_frame(summary, inference, pick)


def _counts(shares: np.ndarray, size: int) -> list[int]:
    return [int(round(share * max(1, size))) for share in shares]


def band_frame(summary: compute.DropoutSummary, inference: np.ndarray,
               pick: Callable[[np.ndarray], np.ndarray]) -> dict:
    """One dropout rate's Monte Carlo band, exact floats: mean, std and the inference output of the picked series;
    and the spread per stage, which the page draws once the hand lets go."""
    return {"band": {"mean": [float(v) for v in pick(summary.output_mean)],
                     "std": [float(v) for v in pick(summary.output_std)],
                     "inference": [float(v) for v in pick(inference)]},
            "spread": {"stages": list(summary.stages), "std": [float(v) for v in summary.stage_std]}}


def nearest_first(values: Sequence, start) -> list:
    """`values` ordered by distance (in steps of the range) from `start`, nearest first, lower first on ties."""
    values = list(values)
    middle = values.index(start) if start in values else 0
    return sorted(values, key=lambda v: (abs(values.index(v) - middle), values.index(v)))


class _Range:
    def __init__(self, values: list, compute_frame: Callable[[object], dict]):
        self.values = values
        self.compute_frame = compute_frame
        self.frames: dict = {}
        self.pending: list = []
        self.error: str | None = None
        self.asked = time.monotonic()

    @property
    def complete(self) -> bool:
        return len(self.frames) == len(self.values) or self.error is not None


class FrameFills:
    """A control's range of frames per key, filled by one shared worker thread, nearest values first.

    The worker computes one value at a time and sleeps briefly between values, so the sessions' own script
    runs get the processor in between. The most recently asked range is filled first, and a range no page has
    asked for in `forgotten_after` seconds waits until one does. At most `max_ranges` ranges are kept; the one
    asked for longest ago is dropped first.
    """

    def __init__(self, max_ranges: int = 6, pause: float = 0.002, forgotten_after: float = 5.0):
        self._ranges: collections.OrderedDict[tuple, _Range] = collections.OrderedDict()
        self._max_ranges = max_ranges
        self._pause = pause
        # A page that shows a range being filled asks for it every fraction of a second; a range nobody has
        # asked for this long (its page closed or moved on) is not filled further until it is asked again.
        self._forgotten_after = forgotten_after
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._idle = threading.Condition(self._lock)
        self._computing = False
        self._worker: threading.Thread | None = None

    def request(self, key: tuple, values: Sequence, start, compute_frame: Callable[[object], dict],
                start_frame: dict | None = None) -> dict:
        """The frames of `key`'s range ready so far ({value: frame}); starts filling the rest in the background.

        Args:
            values: the control's values, in order.
            start: the value under the hand now: the fill goes outward from it.
            compute_frame: value -> frame, run on the worker thread.
            start_frame: the frame of `start`, when the page has just computed it.
        """
        with self._lock:
            fill = self._ranges.get(key)
            if fill is None:
                fill = self._ranges[key] = _Range(list(values), compute_frame)
                while len(self._ranges) > self._max_ranges:
                    self._ranges.popitem(last=False)
            self._ranges.move_to_end(key)
            fill.asked = time.monotonic()
            if start_frame is not None:
                fill.frames.setdefault(start, start_frame)
            fill.pending = [v for v in nearest_first(fill.values, start) if v not in fill.frames]
            if fill.pending and fill.error is None:
                self._ensure_worker()
                self._wake.notify()
            return dict(fill.frames)

    def frame(self, key: tuple, value) -> dict | None:
        """The frame of `value` in `key`'s range if it is ready, else None (nothing is started)."""
        with self._lock:
            fill = self._ranges.get(key)
            return fill.frames.get(value) if fill else None

    def status(self, key: tuple) -> tuple[int, int, str | None]:
        """(values ready, values in the range, error) of `key`'s range; (0, 0, None) for an unknown key."""
        with self._lock:
            fill = self._ranges.get(key)
            return (len(fill.frames), len(fill.values), fill.error) if fill else (0, 0, None)

    def _ensure_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._run, name="kf-scrub-fill", daemon=True)
            self._worker.start()

    def _next_unit(self):
        now = time.monotonic()
        for key in reversed(self._ranges):
            fill = self._ranges[key]
            if now - fill.asked > self._forgotten_after:
                continue
            while fill.pending and fill.error is None:
                value = fill.pending.pop(0)
                if value not in fill.frames:
                    return fill, value
        return None, None

    def _run(self) -> None:
        while True:
            with self._lock:
                fill, value = self._next_unit()
                while fill is None:
                    self._wake.wait()  # until a page asks for a range again
                    fill, value = self._next_unit()
                self._computing = True
            try:
                frame, error = fill.compute_frame(value), None
            except Exception as failure:  # noqa: BLE001  (shown to the user as one sentence by the page)
                frame, error = None, f"Precomputing the other values stopped at {value}: {failure}"
            with self._lock:
                if error is None:
                    fill.frames[value] = frame
                else:
                    fill.error = error
                self._computing = False
                self._idle.notify_all()
            time.sleep(self._pause)

    def forget_all(self) -> None:
        """Drop every range and return once no value is being computed: no background work is left running.

        The tests call it between tests, so that a fill started by one (its builds seed keras' global random
        state) cannot run into the next one's seeded random draws.
        """
        with self._lock:
            self._ranges.clear()
            while self._computing:
                self._idle.wait()


FILLS = FrameFills()
"""Every session's scrub ranges, in this server process."""
