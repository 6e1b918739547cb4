"""The one way the benchmarks time two things against each other."""

from __future__ import annotations

import statistics
import time
from typing import Callable


def median_times(first: Callable[[], object], second: Callable[[], object], repeats: int,
                 warmups: int = 1) -> tuple[float, float]:
    """Median seconds per call of each function over `repeats` alternating calls, after `warmups` of each.

    Alternating call by call means a change in machine load hits both sides alike, so their ratio holds
    on a shared machine even when the absolute times drift.
    """
    for _ in range(warmups):
        first(), second()
    times = ([], [])
    for _ in range(repeats):
        for slot, function in enumerate((first, second)):
            start = time.perf_counter()
            function()
            times[slot].append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])
