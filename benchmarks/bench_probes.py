"""The Dropout tab's Monte Carlo estimate and a full trace against plain calls of the same layer, in one run.

Goals:
  (a) (issue 15) The Dropout tab's estimate, 64 Monte Carlo passes taken the
      way the app takes them (`explorer.compute.dropout_summary` on a layer
      that was just built and has never been called, TensorFlow backend), is
      at least 10x faster than 64 separate `layer(x, training=True)` calls of
      the same layer. The headline is FeatureMixing(n_series=7,
      input_size=96, ff_dim=64, dropout=0.1) on (32, 96, 7); the app's other
      layers run at the app's default batch (16 windows x 32 steps x 7
      series, see `explorer/ui/data.py`). Each estimate gets a fresh layer,
      built before the clock starts (the app builds it anyway); the 64 calls
      run on one layer that has been called before.
  (b) (issue 3) A full trace (inference) of the headline layer costs at most
      1.5x a plain inference call.
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
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import median_times  # noqa: E402  (benchmarks/, the script's own folder)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from explorer import compute  # noqa: E402

SAMPLES = 64  # explorer.ui.layers.MC_SAMPLES
SPEEDUP_GOAL = 10.0
TRACE_GOAL = 1.5
APP_BATCH = (16, 32, 7)  # windows x steps x series: the app's defaults
SEED = 0

# (label, class name, config, input shapes): the layers as the app's pages configure them by default.
CASES = (
    ("FeatureMixing (32, 96, 7) ff_dim 64 [headline]", "FeatureMixing",
     dict(n_series=7, input_size=96, ff_dim=64, dropout=0.1), [(32, 96, 7)]),
    ("FeatureMixing (16, 32, 7) ff_dim 64", "FeatureMixing",
     dict(n_series=7, input_size=32, ff_dim=64, dropout=0.1), [APP_BATCH]),
    ("TemporalMixing (16, 32, 7)", "TemporalMixing", dict(n_series=7, input_size=32, dropout=0.1), [APP_BATCH]),
    ("GatedFeatureFusion 2 x (16, 32, 7)", "GatedFeatureFusion", dict(activation="sigmoid"), [APP_BATCH] * 2),
    ("SelfAttentionMixer (16, 7, 32)", "SelfAttentionMixer",
     compute.mixer_config("SelfAttentionMixer", mod_dim=32, n_features=7, n_heads=1, bias=True, dropout=0.1,
                          skip=True, keep_dim=False), [(16, 7, 32)]),
    ("TokenEmbedding (16, 32, 7) d_model 16", "TokenEmbedding",
     dict(c_in=7, d_model=16, kernel_size=3, padding="circular", use_bias=True), [APP_BATCH]),
    ("PositionalEmbedding (16, 32, 7) d_model 16", "PositionalEmbedding", dict(max_len=5000, d_model=16), [APP_BATCH]),
)


def report(name: str, ratio: float, goal: float, at_least: bool, detail: str) -> bool:
    met = ratio >= goal if at_least else ratio <= goal
    sign = ">=" if at_least else "<="
    print(f"ratio {name} {ratio:.2f} (goal {sign} {goal:g}) {'PASS' if met else 'FAIL'}: {detail}")
    return met


def app_inputs(shapes):
    """What a page passes the layer: numpy windows (one array, or a list for a two-input layer)."""
    rng = np.random.default_rng(SEED)
    arrays = [rng.normal(size=shape).astype("float32") for shape in shapes]
    return arrays[0] if len(arrays) == 1 else arrays


def estimate_speedup(label: str, class_name: str, config: dict, shapes, repeats: int) -> bool:
    inputs = app_inputs(shapes)
    build_shape = [(None, *shape[1:]) for shape in shapes]
    build_shape = build_shape[0] if len(build_shape) == 1 else build_shape

    def new_layer():
        return compute.build_layer(class_name, config, build_shape, SEED)

    called = new_layer()
    tensors = keras.tree.map_structure(keras.ops.convert_to_tensor, inputs)
    called(tensors)
    fresh = iter([new_layer() for _ in range(repeats + 1)])  # one per estimate, warm-up included

    def training_calls():
        for _ in range(SAMPLES):
            keras.ops.convert_to_numpy(called(tensors, training=True))

    calls, estimate = median_times(
        training_calls, lambda: compute.dropout_summary(next(fresh), inputs, SAMPLES, SEED), repeats)
    return report(f"{SAMPLES} training calls / Dropout-tab estimate, {label}:", calls / estimate, SPEEDUP_GOAL, True,
                  f"{calls * 1e3:.0f} ms vs {estimate * 1e3:.1f} ms")


def trace_cost(repeats: int) -> bool:
    _, class_name, config, shapes = CASES[0]
    layer = compute.build_layer(class_name, config, (None, *shapes[0][1:]), SEED)
    x = keras.ops.convert_to_tensor(app_inputs(shapes))
    plain, traced = median_times(
        lambda: keras.ops.convert_to_numpy(layer(x)),
        lambda: keras.ops.convert_to_numpy(layer.trace(x)["residual"]),
        repeats * 10,
    )
    return report("trace / plain call", traced / plain, TRACE_GOAL, False,
                  f"{traced * 1e3:.2f} ms vs {plain * 1e3:.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}")
    met = [estimate_speedup(*case, args.repeats) for case in CASES]
    met.append(trace_cost(args.repeats))
    return 0 if all(met) else 1


if __name__ == "__main__":
    sys.exit(main())
