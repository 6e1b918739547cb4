"""Probe and trace costs against plain calls of the same layer, measured in one run.

Goals (issue 3), for FeatureMixing(n_series=7, input_size=96, ff_dim=64, dropout=0.2)
on a batch of 32 windows:
  (a) dropout_variance(samples=64) is at least 10x faster than 64 separate
      `layer(x, training=True)` calls;
  (b) a full trace (inference) costs at most 1.5x a plain inference call.
Both sides of each ratio alternate, after a warm-up, and the ratio is taken
between medians, so machine load hits both sides alike. The script exits
non-zero if a goal is missed. Run from the repository root:

    python3 benchmarks/bench_probes.py [--repeats R]
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import median_times  # noqa: E402  (benchmarks/, the script's own folder)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kflayers import FeatureMixing  # noqa: E402
from kflayers.probes import dropout_variance  # noqa: E402

SAMPLES = 64
SPEEDUP_GOAL = 10.0
TRACE_GOAL = 1.5


def report(name: str, ratio: float, goal: float, at_least: bool, detail: str) -> bool:
    met = ratio >= goal if at_least else ratio <= goal
    sign = ">=" if at_least else "<="
    print(f"ratio {name} {ratio:.2f} (goal {sign} {goal:g}) {'PASS' if met else 'FAIL'}: {detail}")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    layer = FeatureMixing(n_series=7, input_size=96, ff_dim=64, dropout=0.2)
    x = keras.ops.convert_to_tensor(np.random.default_rng(0).normal(size=(32, 96, 7)).astype("float32"))
    layer(x)

    def separate_calls():
        for _ in range(SAMPLES):
            keras.ops.convert_to_numpy(layer(x, training=True))

    calls, probe = median_times(separate_calls, lambda: dropout_variance(layer, x, samples=SAMPLES, seed=0), args.repeats)
    speedup_met = report(
        "64 training calls / dropout_variance(samples=64)", calls / probe, SPEEDUP_GOAL, True,
        f"{calls * 1e3:.0f} ms vs {probe * 1e3:.0f} ms",
    )

    plain, traced = median_times(
        lambda: keras.ops.convert_to_numpy(layer(x)),
        lambda: keras.ops.convert_to_numpy(layer.trace(x)["residual"]),
        args.repeats * 10,
    )
    trace_met = report("trace / plain call", traced / plain, TRACE_GOAL, False, f"{traced * 1e3:.2f} ms vs {plain * 1e3:.2f} ms")
    return 0 if speedup_met and trace_met else 1


if __name__ == "__main__":
    sys.exit(main())
