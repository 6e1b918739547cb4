"""Figures and plain-words verdicts of the Learn page: losses, importances, impact, planted truth.

Inputs are the plain numbers of a `explorer.training.ForecastResult` (lists,
dicts and arrays), so these builders need neither TensorFlow nor a trained
model. Series can be marked as the target (the series forecast) and as the
planted driver (on synthetic data, the series the generator made drive the
target); the marks go into the axis labels, so they read the same in every
figure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
from plotly.colors import qualitative

from explorer.figures.common import ACCENT, INK, MUTED, Chart, figure, horizontal_line, plot_text, vertical_line

if TYPE_CHECKING:
    from explorer.uncertainty import NaiveComparison

BASELINE_COLOR = "#dc2626"
DRIVER_COLOR = "#f59e0b"
TARGET_MARK = " (target)"
DRIVER_MARK = " (planted driver)"


def planted_driver(dependencies: Sequence[Mapping] | None, target: str) -> dict | None:
    """The planted dependency whose driven series is `target` (None when nothing drives it)."""
    for dependency in dependencies or ():
        if dependency["driven"] == target:
            return dict(dependency)
    return None


def series_label(name: str, target: str, driver: str | None = None) -> str:
    """A series name as the figures show it, with the target and the planted driver marked."""
    mark = TARGET_MARK if name == target else DRIVER_MARK if name == driver else ""
    return plot_text(name) + mark


def loss_curve(history: Mapping[str, Sequence[float]], baseline_mse: float | None = None,
               total_epochs: int | None = None, chosen_epoch: int | None = None) -> Chart:
    """Training and validation loss per epoch, with the naive forecast's validation error as a horizontal line.

    Args:
        history: "loss" and "val_loss", one value per finished epoch.
        baseline_mse: MSE of the naive last-value forecast on the validation windows (no line when None).
        total_epochs: epochs planned; fixes the x axis so a curve drawn during training does not rescale.
        chosen_epoch: the epoch whose weights the model kept (0: the untrained model), marked by a vertical line.
    """
    loss, val_loss = list(history["loss"]), list(history["val_loss"])
    epochs = list(range(1, len(loss) + 1))
    lines = [
        dict(type="scatter", x=epochs, y=loss, mode="lines+markers", name="training loss", line=dict(color=ACCENT)),
        dict(type="scatter", x=epochs, y=val_loss, mode="lines+markers", name="validation loss",
             line=dict(color=INK, dash="dot")),
    ]
    last = max(total_epochs or 0, len(epochs), 1)
    first = -0.5 if chosen_epoch == 0 else 0.5  # room for the untrained model's line when it is the one kept
    layout = dict(xaxis=dict(title=dict(text="epoch"), range=[first, last + 0.5], dtick=max(1, last // 10)))
    shapes = []
    values = loss + val_loss
    if baseline_mse is not None:
        values.append(baseline_mse)
        baseline_line = dict(color=BASELINE_COLOR, dash="dash", width=1.5)
        shapes.append(horizontal_line(baseline_mse, baseline_line))
        # Named in the legend: plotly places a line's own label wrongly on a log axis.
        lines.append(dict(type="scatter", x=[None], y=[None], mode="lines", line=baseline_line,
                          name="naive forecast (last value)"))
    if chosen_epoch is not None:
        chosen_line = dict(color=MUTED, width=2)
        shapes.append(vertical_line(chosen_epoch, chosen_line))
        lines.append(dict(type="scatter", x=[None], y=[None], mode="lines", line=chosen_line,
                          name=f"kept: epoch {chosen_epoch}" if chosen_epoch else "kept: untrained (epoch 0)"))
    if shapes:
        layout["shapes"] = shapes
    log_scale = bool(values) and min(values) > 0
    layout["yaxis"] = dict(title=dict(text="mean squared error (z-scored units)"),
                           type="log" if log_scale else "linear")
    if log_scale:
        ticks = log_ticks(min(values), max(values))
        layout["yaxis"].update(tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])
    caption = (
        "Error of the forecast after each epoch on the training windows (blue) and on the later validation "
        "windows (dotted), which choose the epoch the model keeps; the dashed red line is the naive forecast that "
        "repeats the last value, on the same validation windows"
    )
    if chosen_epoch is not None:
        caption += ", and the grey vertical line marks the kept epoch (the lowest validation loss; 0 is the untrained model)"
    caption += " (log scale)." if log_scale else "."
    return Chart(figure(lines, layout, height=340), caption)


def log_ticks(low: float, high: float) -> list[float]:
    """Round tick values (1, 2, 3, 5 times a power of ten) covering [low, high] on a log axis.

    Plotly's own ticks on a log axis spanning less than a decade are bare
    digits (9 8 7 6 5...), which read as nonsense; these read as numbers.
    """
    decades = np.log10(high) - np.log10(low)
    multipliers = (1, 2, 3, 5) if decades < 1 else (1, 3) if decades < 3 else (1,)
    exponents = range(int(np.floor(np.log10(low))) - 1, int(np.floor(np.log10(high))) + 2)
    candidates = [float(f"{m * 10.0**e:.3g}") for e in exponents for m in multipliers]
    inside = [t for t in candidates if low <= t <= high]
    # One tick beyond each end, so the curve never runs off the labelled range.
    below = [t for t in candidates if t < low][-1:]
    above = [t for t in candidates if t > high][:1]
    return below + inside + above


def importance_before_after(series: Sequence[str], initial: Mapping[str, float], learned: Mapping[str, float],
                            epoch: int, target: str, driver: str | None = None) -> Chart:
    """The mixer's importance of each series before training against after `epoch` epochs.

    Args:
        series: the input series in model order.
        initial, learned: series name -> importance (each sums to 1) before training and after `epoch`.
        epoch: the epoch `learned` belongs to (0 means before training).
        target: the forecast series; driver: the planted driver of the target, if known.
    """
    labels = [series_label(name, target, driver) for name in series]
    equal_share = dict(color=INK, dash="dot", width=1)
    traces = [
        dict(type="bar", x=labels, y=[initial[name] for name in series], name="before training",
             marker=dict(color=MUTED)),
        dict(type="bar", x=labels, y=[learned[name] for name in series], name=f"after epoch {epoch}",
             marker=dict(color=[DRIVER_COLOR if name == driver else ACCENT for name in series])),
        # A legend entry for the line (a label on the line itself would sit on the bars).
        dict(type="scatter", x=[None], y=[None], mode="lines", line=equal_share,
             name=f"equal share (1/{len(series)})"),
    ]
    layout = dict(barmode="group", shapes=[horizontal_line(1.0 / len(series), equal_share)],
                  xaxis=dict(title=dict(text="input series"), type="category"),
                  yaxis=dict(title=dict(text="mixer importance (sums to 1)"), rangemode="tozero"))
    caption = (
        "How much weight the mixer gives each series when it pools them into one context for the forecast, "
        "averaged over the validation windows: grey before training, coloured after the chosen epoch; bars above "
        "the dotted equal-share line are series the model leans on."
    )
    if driver is not None:
        caption = caption[:-1] + ", and the orange bar is the series the generator planted as the target's driver."
    return Chart(figure(traces, layout, height=360), caption)


def importance_over_epochs(series: Sequence[str], initial: Mapping[str, float],
                           history: Sequence[Mapping[str, float]], target: str, driver: str | None = None,
                           epoch: int | None = None) -> Chart:
    """One line per series: its mixer importance from before training (epoch 0) to the last epoch.

    Args:
        series: the input series in model order.
        initial: importances before training; history: importances after each epoch.
        target: the forecast series; driver: the planted driver of the target, if known.
        epoch: an epoch to mark with a vertical line (the one the bar chart shows).
    """
    epochs = list(range(len(history) + 1))
    colors = qualitative.Plotly
    lines = [
        dict(type="scatter", x=epochs, y=[initial[name]] + [step[name] for step in history], mode="lines",
             name=series_label(name, target, driver),
             line=dict(width=3.5 if name == driver else 1.5,
                       color=DRIVER_COLOR if name == driver else colors[i % len(colors)],
                       dash="dot" if name == target else "solid"))
        for i, name in enumerate(series)
    ]
    layout = dict(
        xaxis=dict(title=dict(text="epoch (0 = before training)"), range=[0, max(1, len(history))]),
        yaxis=dict(title=dict(text="mixer importance"), rangemode="tozero"),
        legend=dict(orientation="v", y=1, x=1.02, yanchor="top"),
    )
    if epoch is not None:
        layout["shapes"] = [vertical_line(epoch, dict(color=MUTED, width=1))]
    caption = (
        "Each series' mixer importance after every epoch, starting from the untrained model at epoch 0 (the "
        "target's own line is dotted; the grey vertical line marks the epoch chosen above): lines that climb "
        "are series the model learns to use."
    )
    return Chart(figure(lines, layout, height=340), caption)


def forecast_impact(series: Sequence[str], impact: np.ndarray, target: str, driver: str | None = None) -> Chart:
    """How far the trained model's forecast moves when each input series is flattened.

    Args:
        series: the input series in model order.
        impact: (n_series, horizon); entry [i, h] is the mean absolute change of forecast step h+1 when input
            series i is replaced by its mean over the window.
        target: the forecast series; driver: the planted driver of the target, if known.
    """
    impact = np.asarray(impact, dtype=np.float64)
    if impact.ndim != 2 or impact.shape[0] != len(series):
        raise ValueError(f"impact must be (n_series, horizon) for {len(series)} series; got {impact.shape}.")
    horizon = impact.shape[1]
    mean_impact = impact.mean(axis=1)
    steps = [", ".join(f"t+{h + 1}: {v:.3f}" for h, v in enumerate(row)) for row in impact]
    bars = dict(
        type="bar", x=[series_label(name, target, driver) for name in series], y=mean_impact,
        marker=dict(color=[DRIVER_COLOR if name == driver else MUTED if name == target else ACCENT
                           for name in series]),
        customdata=steps, hovertemplate="%{x}<br>mean |change| %{y:.4f}<br>%{customdata}<extra></extra>",
    )
    layout = dict(xaxis=dict(title=dict(text="input series flattened to its mean"), type="category"),
                  yaxis=dict(title=dict(text="mean |change| of the forecast"), rangemode="tozero"))
    averaged = f", averaged over the {horizon} forecast steps" if horizon > 1 else ""
    caption = (
        "How much the trained model's forecast of the target moves (mean absolute change on the validation "
        f"windows, z-scored units{averaged}) when one input series is flattened to its mean over the window: a "
        "tall bar is a series the forecast depends on; the target's own bar (grey) includes its last value, "
        "which the model starts from."
    )
    return Chart(figure([bars], layout, height=340), caption)


MATCH_TOLERANCE = 0.005
"""Errors within this share of each other count as a tie: the untrained model repeats the last value up to rounding."""

ADVICE = ("A longer window (in the Batch panel), more epochs or another target may help; a series that moves "
          "like a random walk, such as a share price, has no better forecast than its last value.")


def beat_naive(test_mse: float, naive_mse: float) -> bool:
    """Whether the model's error is lower than the naive forecast's by more than a rounding difference."""
    return naive_mse > 0 and test_mse < naive_mse * (1.0 - MATCH_TOLERANCE)


def baseline_verdict(test_mse: float, naive_mse: float, comparison: NaiveComparison) -> str:
    """Whether the model beat the naive last-value forecast on the test windows, how sure that is, what may help.

    Args:
        test_mse, naive_mse: the two errors on the test part.
        comparison: their ratio with its bootstrap interval (`explorer.training.Selection.comparison`).
    """
    numbers = (f"test MSE {test_mse:.4g} against {naive_mse:.4g} for the naive forecast that repeats the last "
               "value, on the last rows, which neither training nor the choice of epoch saw")
    if naive_mse <= 0:
        return f"The naive forecast is exact on these test windows ({numbers}); there is nothing to beat."
    if abs(test_mse - naive_mse) < MATCH_TOLERANCE * naive_mse:
        return f"The model did not beat the naive forecast, it only matched it ({numbers}). {ADVICE}"
    if comparison.outcome == "better":
        return (f"The model beat the naive forecast: its error is {comparison.sentence()} ({numbers}).")
    if comparison.outcome == "undecided":
        return (f"The model's error is {comparison.sentence()} ({numbers}). Another seed, window or stretch of data "
                f"could turn this result around. {ADVICE}")
    return (f"The model did not beat the naive forecast: its error is {comparison.sentence()} ({numbers}). "
            f"Whatever its importances show, it has not learned a better forecast than repeating the last value. "
            f"{ADVICE}")


def stop_note(stop: str, epochs_run: int, chosen_epoch: int, patience: int) -> str:
    """One sentence on how training ended and which epoch the model kept.

    Args:
        stop: "epochs", "patience", "diverged" or "caller", as `explorer.training.Selection.stop`.
        epochs_run: epochs with a finite loss; chosen_epoch: the kept epoch (0: the untrained model).
        patience: epochs without a better validation loss that end training.
    """
    kept = (f"the weights of epoch {chosen_epoch}, the lowest validation loss" if chosen_epoch else
            "its untrained weights (the naive forecast), because no epoch had a lower validation loss")
    ended = {
        "epochs": f"Training ran all {epochs_run} epochs",
        "patience": f"Training stopped after epoch {epochs_run}: the validation loss had not improved for {patience} "
                    "epochs",
        "diverged": f"Training stopped after epoch {epochs_run}, when the loss became NaN or infinite",
        "caller": f"Training was stopped after epoch {epochs_run}",
    }[stop]
    return f"{ended}; the model keeps {kept}."


def parts_note(rows: Mapping[str, range], index: Sequence) -> str:
    """Which rows (and, with a date index, which dates) train, validate and test the model.

    Args:
        rows: "train", "validation", "test" -> range of row positions, as `explorer.training.Split.rows`.
        index: the data's row labels; dates name the first and last day of each part.
    """
    names = {"train": "training", "validation": "validation (chooses the epoch)", "test": "test (the verdict)"}
    dated = len(index) > 0 and hasattr(index[0], "strftime")
    parts = []
    for part, name in names.items():
        span = rows[part]
        dates = (f" ({index[span.start]:%Y-%m-%d} to {index[span.stop - 1]:%Y-%m-%d})" if dated else "")
        parts.append(f"{name}: rows {span.start + 1}-{span.stop}{dates}")
    return ("Rows in time order, " + "; ".join(parts) + ". Validation and test windows read their inputs from the "
            "rows just before them.")


def planted_verdict(dependencies: Sequence[Mapping] | None, target: str, importance: Mapping[str, float]) -> str | None:
    """On synthetic data, what was planted for `target` set against where the trained mixer put its weight.

    Returns None when the data carries no planted structure (real or uploaded data).
    """
    if not dependencies:
        return None
    others = {name: weight for name, weight in importance.items() if name != target}
    ranked = sorted(others, key=others.get, reverse=True)
    dependency = planted_driver(dependencies, target)
    if dependency is None:
        return (f"The generator planted no driver for {target}: no other series carries information about its "
                f"future, so no series should stand out (the mixer's top other series is {ranked[0]}, "
                f"importance {others[ranked[0]]:.2f}).")
    driver = dependency["driver"]
    planted = f"Planted: {driver} drives {target} {dependency['lag']} steps later."
    if driver not in others:
        return f"{planted} {driver} is not among the series the model saw; add it to the batch's series to test it."
    rank = ranked.index(driver) + 1
    unrelated = [weight for name, weight in others.items() if name != driver]
    driver_text, strongest_text = _told_apart(others[driver], max(unrelated) if unrelated else others[driver])
    strongest = f"the strongest other series has {strongest_text}" if unrelated else "there is no other series"
    if rank == 1:
        return (f"{planted} Found: the mixer ranks {driver} first among the other series, importance "
                f"{driver_text}, while {strongest}.")
    return (f"{planted} Not found: the mixer ranks {driver} only number {rank} of {len(others)} other series "
            f"(importance {driver_text}, while {strongest}); more epochs or another seed may help.")


def _told_apart(first: float, second: float, max_decimals: int = 6) -> tuple[str, str]:
    """Both numbers with two decimals, or with as many more as it takes for a narrow lead to show."""
    for decimals in range(2, max_decimals + 1):
        texts = f"{first:.{decimals}f}", f"{second:.{decimals}f}"
        if texts[0] != texts[1]:
            return texts
    return texts
