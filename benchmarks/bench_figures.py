"""What each figure builder costs, against what plotly's validation of the same figure would cost, in one run.

For every public builder in `explorer.figures` and `explorer.figures.learn`, on inputs the size of a layer page's
(7 series, 96-step windows, 5,000 rows in the preview), two things are timed:
  - build: the builder call as the app makes it (plain dicts handed to plotly unvalidated);
  - validate: `go.Figure(spec)` on the builder's own figure as a dict (`figure.to_dict()`), the price of letting
    plotly check every property, template included, as a validating builder would pay on each call.
Both alternate call by call after a warm-up and each is the median over the repeats, so machine load hits both
alike. The script prints milliseconds per builder and the ratio validate / build; it has no goal and exits 0.
Run from the repository root:

    python3 benchmarks/bench_figures.py [--repeats R]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import median_times  # noqa: E402  (benchmarks/, the script's own folder)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402

from explorer import figures  # noqa: E402
from explorer.figures import learn  # noqa: E402

N_SERIES = 7
WINDOW = 96
PREVIEW_ROWS = 5000


def page_sized_calls() -> dict[str, Callable[[], figures.Chart]]:
    """One call per builder, on random inputs shaped like a layer page's and the Learn page's."""
    rng = np.random.default_rng(0)
    names = [f"series_{i}" for i in range(N_SERIES)]
    frame = pd.DataFrame(rng.standard_normal((PREVIEW_ROWS, N_SERIES)).cumsum(axis=0), columns=names,
                         index=pd.date_range("2000-01-01", periods=PREVIEW_ROWS, freq="h"))
    batch = rng.normal(size=(32, WINDOW, N_SERIES))
    window, output = batch[0], rng.normal(size=(WINDOW, N_SERIES))
    one_series = rng.normal(size=WINDOW)
    stages = ["input", "dense_1", "activation", "dropout_1", "dense_2", "residual", "output"]
    per_stage = rng.uniform(size=len(stages))
    impact = rng.uniform(size=(N_SERIES, N_SERIES))
    weights = rng.dirichlet(np.ones(N_SERIES), size=32)
    importance = dict(zip(names, weights[0]))
    history = [dict(zip(names, row)) for row in weights[:20]]
    return {
        "series_preview": lambda: figures.series_preview(frame, names, list(range(0, 4000, 125)), WINDOW),
        "input_output": lambda: figures.input_output(window, output, names),
        "stage_heatmap": lambda: figures.stage_heatmap(output, "output", "series", "time step", names),
        "stage_histogram": lambda: figures.stage_histogram(output, batch, "output"),
        "dropout_band": lambda: figures.dropout_band(one_series, np.abs(one_series), one_series, names[0], 64),
        "dropout_std_by_stage": lambda: figures.dropout_std_by_stage(stages, per_stage),
        "mode_difference_by_stage": lambda: figures.mode_difference_by_stage(stages, per_stage),
        "impact_matrix": lambda: figures.impact_matrix(impact, names),
        "fixed_gate": lambda: figures.fixed_gate(one_series, -one_series, one_series, 0 * one_series, 0.5, names[0]),
        "padding_view": lambda: figures.padding_view(np.r_[one_series[-1], one_series, one_series[0]], 1, WINDOW,
                                                     names[0], "circular"),
        "kernel_heatmap": lambda: figures.kernel_heatmap(window[:3], names, 1, 0),
        "importance_bars": lambda: figures.importance_bars(weights[0], names, masked=names[:1]),
        "importance_by_window": lambda: figures.importance_by_window(weights, names, [str(i) for i in range(32)]),
        "flavour_comparison": lambda: figures.flavour_comparison(
            {f"mixer {i}": weights[i] for i in range(4)}, names),
        "attention_map": lambda: figures.attention_map(weights[:N_SERIES], names),
        "mixer_input_output": lambda: figures.mixer_input_output(window.T, one_series, names, "output"),
        "loss_curve": lambda: learn.loss_curve({"loss": list(np.geomspace(1, 0.2, 20)),
                                                "val_loss": list(np.geomspace(1.1, 0.3, 20))}, 0.5, 30),
        "importance_before_after": lambda: learn.importance_before_after(names, importance, history[-1], 20,
                                                                         names[1], names[0]),
        "importance_over_epochs": lambda: learn.importance_over_epochs(names, importance, history, names[1],
                                                                       names[0], epoch=10),
        "forecast_impact": lambda: learn.forecast_impact(names, impact[:, :4], names[1], names[0]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    print(f"{'builder':<26}{'build ms':>10}{'validate ms':>13}{'validate / build':>18}")
    totals = [0.0, 0.0]
    for name, build in page_sized_calls().items():
        spec = build().figure.to_dict()
        built, validated = median_times(build, lambda: go.Figure(spec), args.repeats)
        totals[0] += built
        totals[1] += validated
        print(f"{name:<26}{built * 1e3:>10.2f}{validated * 1e3:>13.2f}{validated / built:>17.1f}x")
    print(f"{'all builders':<26}{totals[0] * 1e3:>10.2f}{totals[1] * 1e3:>13.2f}{totals[1] / totals[0]:>17.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
