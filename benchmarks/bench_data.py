"""load_csv against a bare pandas.read_csv of the same 1,000,000 x 8 CSV, in one run.

Goal (issue 4): load_csv takes at most 3x the time of pandas.read_csv.
Two files are timed: a date column plus 7 value columns (load_csv also parses
the dates and builds a DatetimeIndex), and 8 value columns without dates.
Each timing is the best of a few alternating repeats, so a busy machine hurts
both sides alike; wall-clock and CPU time are both reported, CPU time being the
steadier of the two when other processes compete for the cores. Run from the repository root:

    python3 benchmarks/bench_data.py [--rows N] [--repeats R]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.data.loader import load_csv  # noqa: E402

GOAL = 3.0


def write_csv(path: Path, n_rows: int, with_dates: bool) -> None:
    rng = np.random.default_rng(0)
    n_values = 7 if with_dates else 8
    frame = pd.DataFrame(
        rng.standard_normal((n_rows, n_values)).cumsum(axis=0).round(4),
        columns=[f"series_{i}" for i in range(n_values)],
    )
    if with_dates:
        frame.insert(0, "time", pd.date_range("2000-01-01", periods=n_rows, freq="min").strftime("%Y-%m-%d %H:%M:%S"))
    frame.to_csv(path, index=False)


def best_times(first, second, repeats: int) -> list[tuple[float, float]]:
    """Best (wall, CPU) seconds of each function, alternating them so machine load hits both alike."""
    best = [[float("inf"), float("inf")], [float("inf"), float("inf")]]
    for _ in range(repeats):
        for slot, function in enumerate((first, second)):
            wall, cpu = time.perf_counter(), time.process_time()
            function()
            best[slot][0] = min(best[slot][0], time.perf_counter() - wall)
            best[slot][1] = min(best[slot][1], time.process_time() - cpu)
    return [tuple(b) for b in best]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    worst = 0.0
    with tempfile.TemporaryDirectory() as folder:
        for with_dates in (True, False):
            path = Path(folder) / f"bench_{'dates' if with_dates else 'plain'}.csv"
            write_csv(path, args.rows, with_dates)
            size_mb = path.stat().st_size / 1e6
            (bare_wall, bare_cpu), (ours_wall, ours_cpu) = best_times(
                lambda: pd.read_csv(path), lambda: load_csv(path), args.repeats
            )
            label = "date + 7 values" if with_dates else "8 values"
            print(f"{args.rows:,} rows x 8 columns ({label}, {size_mb:.0f} MB):")
            for kind, bare, ours in (("wall", bare_wall, ours_wall), ("CPU", bare_cpu, ours_cpu)):
                ratio = ours / bare
                worst = max(worst, ratio)
                print(
                    f"  {kind:4s} time: pandas.read_csv {bare:.3f} s, load_csv {ours:.3f} s, "
                    f"ratio {ratio:.2f} (goal <= {GOAL:.2f})"
                )
    print(f"worst ratio {worst:.2f} (goal <= {GOAL:.2f}): {'PASS' if worst <= GOAL else 'FAIL'}")


if __name__ == "__main__":
    main()
