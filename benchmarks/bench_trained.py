"""How long each layer page's "trained" weights take, and how the trained model compares with the naive forecast.

For every bundled sample and every layer page, with the page's default settings (the first seven series, a
window of 32, seed 0), this trains the page's layer the way the page does (`explorer.trained.train_layer`) and
prints the wall time, the epochs run and kept, and the model's test MSE over the naive forecast's. Goal: at
most about 15 s per training on a 2-core machine.

    python3 benchmarks/bench_trained.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer import compute, trained  # noqa: E402
from explorer.batch import labels_of, zscored_rows  # noqa: E402
from explorer.data import SAMPLES, load_sample  # noqa: E402

GOAL_SECONDS = 15.0
WINDOW = 32


def page_layers(n_series: int, seed: int):
    """(page, class, config, build shape, transform) of each layer page at its defaults."""
    window_shape = (None, WINDOW, n_series)
    mixer = compute.mixer_config("SelfAttentionMixer", mod_dim=WINDOW, n_features=n_series, n_heads=1, bias=True,
                                 dropout=0.1, skip=True, keep_dim=False)
    return [
        ("Feature & Temporal Mixing", "FeatureMixing",
         {"n_series": n_series, "input_size": WINDOW, "ff_dim": 64, "dropout": 0.1, "activation": "relu"},
         window_shape, lambda windows: windows),
        ("Gated Feature Fusion", "GatedFeatureFusion", {"activation": "sigmoid"}, [window_shape, window_shape],
         compute.fusion_pair("smoothed", 5, n_series, WINDOW, seed)),
        ("Token & Positional Embedding", "TokenEmbedding",
         {"c_in": n_series, "d_model": 16, "kernel_size": 3, "padding": "circular", "use_bias": True},
         window_shape, lambda windows: windows),
        ("Feature Mixers", "SelfAttentionMixer", mixer, (None, n_series, WINDOW), compute.mixer_inputs),
    ]


def main() -> int:
    print(f"{'sample':<14} {'page':<30} {'seconds':>8} {'epochs':>7} {'kept':>5} {'model/naive':>12}")
    worst = 0.0
    for name in SAMPLES:
        frame = load_sample(name)
        series = tuple(frame.columns[:7])
        values = zscored_rows(frame, series)
        for page, class_name, config, shape, transform in page_layers(len(series), seed=0):
            start = time.perf_counter()
            result = trained.train_layer(class_name, config, shape, 0, values, WINDOW, transform,
                                         labels=labels_of(frame.index))
            seconds = time.perf_counter() - start
            worst = max(worst, seconds)
            print(f"{name:<14} {page:<30} {seconds:8.1f} {result.epochs:7d} {result.best_epoch:5d} "
                  f"{result.test_mse / result.naive_mse:12.3f}")
    verdict = "PASS" if worst <= GOAL_SECONDS else "FAIL"
    print(f"slowest training: {worst:.1f} s (goal <= {GOAL_SECONDS:.0f} s): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
