"""The Learn page's figure builders and verdicts on their own: the numbers inside each figure and sentence."""

import math

import numpy as np
import pandas as pd
import pytest

from explorer.figures import learn
from explorer.uncertainty import NaiveComparison

SERIES = ["driver_1", "driven_1", "noise"]
DEPENDENCIES = [{"driver": "driver_1", "driven": "driven_1", "lag": 3, "weight": 0.9}]


def _importance(*weights):
    return dict(zip(SERIES, weights))


def test_planted_driver_is_the_dependency_of_the_target():
    assert learn.planted_driver(DEPENDENCIES, "driven_1") == DEPENDENCIES[0]
    assert learn.planted_driver(DEPENDENCIES, "driver_1") is None
    assert learn.planted_driver(None, "driven_1") is None


def test_series_label_marks_target_and_driver_and_escapes_html():
    assert learn.series_label("driven_1", "driven_1", "driver_1") == "driven_1 (target)"
    assert learn.series_label("driver_1", "driven_1", "driver_1") == "driver_1 (planted driver)"
    assert learn.series_label("<b>x</b>", "driven_1") == "&lt;b&gt;x&lt;/b&gt;"


def test_loss_curve_draws_both_losses_per_epoch_and_the_baseline():
    history = {"loss": [2.0, 1.0, 0.5], "val_loss": [1.5, 0.8, 0.6]}
    chart = learn.loss_curve(history, baseline_mse=0.7, total_epochs=10)
    train, val, baseline_entry = chart.figure.data
    assert (train.name, val.name, baseline_entry.name) == ("training loss", "validation loss",
                                                           "naive forecast (last value)")
    assert list(train.x) == [1, 2, 3] and list(train.y) == [2.0, 1.0, 0.5]
    assert list(val.y) == [1.5, 0.8, 0.6]
    (line,) = chart.figure.layout.shapes
    assert line.y0 == line.y1 == 0.7
    # The x axis already spans every planned epoch, so the live curve does not rescale.
    assert tuple(chart.figure.layout.xaxis.range) == (0.5, 10.5)
    assert chart.figure.layout.yaxis.type == "log"
    ticks = list(chart.figure.layout.yaxis.tickvals)
    assert ticks[0] <= 0.5 and ticks[-1] >= 2.0
    assert list(chart.figure.layout.yaxis.ticktext) == [f"{t:g}" for t in ticks]
    assert "naive forecast" in chart.caption and chart.caption.endswith("(log scale).")


def test_loss_curve_without_baseline_or_with_a_zero_loss_is_linear():
    chart = learn.loss_curve({"loss": [1.0, 0.0], "val_loss": [1.0, 0.5]})
    assert not chart.figure.layout.shapes and len(chart.figure.data) == 2
    assert chart.figure.layout.yaxis.type == "linear"
    assert tuple(chart.figure.layout.xaxis.range) == (0.5, 2.5)


@pytest.mark.parametrize("low, high", [(0.4, 2.0), (0.0022, 8.5), (0.5, 0.5), (1e-5, 100.0), (3.0, 3.0)])
def test_log_ticks_are_round_numbers_covering_the_range(low, high):
    ticks = learn.log_ticks(low, high)
    assert ticks == sorted(ticks) and len(ticks) >= 2
    assert ticks[0] <= low and ticks[-1] >= high
    for tick in ticks:
        mantissa = tick / 10 ** np.floor(np.log10(tick))
        assert min(abs(mantissa - m) for m in (1, 2, 3, 5)) < 1e-9, tick


def test_importance_before_after_bars_hold_both_importances():
    initial, learned = _importance(0.3, 0.4, 0.3), _importance(0.6, 0.3, 0.1)
    chart = learn.importance_before_after(SERIES, initial, learned, 5, "driven_1", "driver_1")
    before, after, equal_share_entry = chart.figure.data
    assert equal_share_entry.name == "equal share (1/3)"
    labels = ["driver_1 (planted driver)", "driven_1 (target)", "noise"]
    assert list(before.x) == list(after.x) == labels
    assert list(before.y) == [0.3, 0.4, 0.3] and list(after.y) == [0.6, 0.3, 0.1]
    assert (before.name, after.name) == ("before training", "after epoch 5")
    assert list(after.marker.color) == [learn.DRIVER_COLOR, learn.ACCENT, learn.ACCENT]
    (equal_share,) = chart.figure.layout.shapes
    assert equal_share.y0 == pytest.approx(1 / 3)
    assert "orange bar" in chart.caption


def test_importance_before_after_without_planted_driver_says_nothing_of_orange():
    chart = learn.importance_before_after(SERIES, _importance(1, 0, 0), _importance(0, 1, 0), 0, "noise")
    assert list(chart.figure.data[1].marker.color) == [learn.ACCENT] * 3
    assert "orange" not in chart.caption


def test_importance_over_epochs_starts_at_the_untrained_model():
    initial = _importance(0.2, 0.3, 0.5)
    history = [_importance(0.4, 0.3, 0.3), _importance(0.7, 0.2, 0.1)]
    chart = learn.importance_over_epochs(SERIES, initial, history, "driven_1", "driver_1", epoch=1)
    traces = {t.name: t for t in chart.figure.data}
    assert list(traces) == ["driver_1 (planted driver)", "driven_1 (target)", "noise"]
    assert list(traces["noise"].x) == [0, 1, 2]
    assert list(traces["driver_1 (planted driver)"].y) == [0.2, 0.4, 0.7]
    assert list(traces["driven_1 (target)"].y) == [0.3, 0.3, 0.2]
    assert traces["driver_1 (planted driver)"].line.width > traces["noise"].line.width
    assert traces["driven_1 (target)"].line.dash == "dot"
    (marker,) = chart.figure.layout.shapes
    assert marker.x0 == marker.x1 == 1


def test_forecast_impact_bars_average_the_horizon():
    impact = np.array([[0.2, 0.4], [1.0, 0.0], [0.05, 0.05]])
    chart = learn.forecast_impact(SERIES, impact, "driven_1", "driver_1")
    (bars,) = chart.figure.data
    np.testing.assert_allclose(bars.y, [0.3, 0.5, 0.05])
    assert list(bars.customdata) == ["t+1: 0.200, t+2: 0.400", "t+1: 1.000, t+2: 0.000", "t+1: 0.050, t+2: 0.050"]
    assert list(bars.marker.color) == [learn.DRIVER_COLOR, learn.MUTED, learn.ACCENT]
    assert "averaged over the 2 forecast steps" in chart.caption


def test_forecast_impact_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match=r"impact must be \(n_series, horizon\) for 3 series; got \(2, 1\)"):
        learn.forecast_impact(SERIES, np.zeros((2, 1)), "noise")


def test_loss_curve_marks_the_kept_epoch():
    history = {"loss": [2.0, 1.0, 0.5], "val_loss": [1.5, 0.8, 0.9]}
    chart = learn.loss_curve(history, baseline_mse=0.7, chosen_epoch=2)
    baseline, kept = chart.figure.layout.shapes
    assert baseline.y0 == 0.7 and kept.x0 == kept.x1 == 2
    assert chart.figure.data[-1].name == "kept: epoch 2"
    assert tuple(chart.figure.layout.xaxis.range) == (0.5, 3.5)
    assert "marks the kept epoch" in chart.caption
    untrained = learn.loss_curve(history, baseline_mse=0.7, chosen_epoch=0)
    assert untrained.figure.layout.shapes[1].x0 == 0 and untrained.figure.layout.xaxis.range[0] < 0
    assert untrained.figure.data[-1].name == "kept: untrained (epoch 0)"


def test_baseline_verdict_states_who_won_on_the_test_rows_how_surely_and_by_how_much():
    assert learn.beat_naive(0.75, 1.0) and not learn.beat_naive(1.2, 1.0) and not learn.beat_naive(0.1, 0.0)
    assert learn.baseline_verdict(0.75, 1.0, NaiveComparison(0.75, 0.6, 0.9, 40)) == (
        "The model beat the naive forecast: its error is 0.75x the naive error (95% interval 0.60–0.90 over 40 "
        "test windows): the model beats the naive forecast on the test part (test MSE 0.75 against 1 for the "
        "naive forecast that repeats the last value, on the last rows, which neither training nor the choice of "
        "epoch saw).")
    worse = learn.baseline_verdict(1.2, 1.0, NaiveComparison(1.2, 1.1, 1.3, 40))
    assert worse.startswith("The model did not beat the naive forecast: its error is 1.20x the naive error (95% "
                            "interval 1.10–1.30 over 40 test windows): the model is worse than the naive forecast")
    assert worse.endswith("A longer window (in the Batch panel), more epochs or another target may help; a series "
                          "that moves like a random walk, such as a share price, has no better forecast than its "
                          "last value.")
    assert "nothing to beat" in learn.baseline_verdict(0.1, 0.0, NaiveComparison(math.inf, math.inf, math.inf, 9))


@pytest.mark.parametrize("model_mse", [0.5, 2.39])
def test_baseline_verdict_says_the_test_part_cannot_tell_when_the_interval_spans_one(model_mse):
    verdict = learn.baseline_verdict(model_mse, 1.0, NaiveComparison(model_mse, 0.8, 4.1, 12))
    assert verdict.startswith(f"The model's error is {model_mse:.2f}x the naive error (95% interval 0.80–4.10 over "
                              "12 test windows): the test part cannot tell this model from the naive forecast (test")
    assert "beat" not in verdict.split("(test MSE")[0] and verdict.endswith(learn.ADVICE)


@pytest.mark.parametrize("model_mse", [1.0, 1.004, 0.996])
def test_baseline_verdict_calls_a_rounding_difference_a_tie_and_says_what_may_help(model_mse):
    verdict = learn.baseline_verdict(model_mse, 1.0, NaiveComparison(model_mse, model_mse - 0.01, model_mse, 30))
    assert not learn.beat_naive(model_mse, 1.0)
    assert verdict.startswith("The model did not beat the naive forecast, it only matched it")
    assert verdict.endswith(learn.ADVICE)


def test_stop_note_says_how_training_ended_and_what_was_kept():
    assert learn.stop_note("patience", 12, 7, 5) == (
        "Training stopped after epoch 12: the validation loss had not improved for 5 epochs; the model keeps the "
        "weights of epoch 7, the lowest validation loss.")
    assert learn.stop_note("epochs", 30, 30, 5).startswith("Training ran all 30 epochs; the model keeps the weights "
                                                           "of epoch 30")
    assert learn.stop_note("patience", 5, 0, 5).endswith(
        "the model keeps its untrained weights (the naive forecast), because no epoch had a lower validation loss.")
    assert "when the loss became NaN or infinite" in learn.stop_note("diverged", 3, 2, 5)


def test_parts_note_names_rows_and_dates_of_each_part():
    rows = {"train": range(0, 7), "validation": range(7, 9), "test": range(9, 10)}
    dates = pd.date_range("2020-01-01", periods=10, freq="D")
    assert learn.parts_note(rows, dates) == (
        "Rows in time order, training: rows 1-7 (2020-01-01 to 2020-01-07); validation (chooses the epoch): rows "
        "8-9 (2020-01-08 to 2020-01-09); test (the verdict): rows 10-10 (2020-01-10 to 2020-01-10). Validation and "
        "test windows read their inputs from the rows just before them.")
    plain = learn.parts_note(rows, pd.RangeIndex(10))
    assert "training: rows 1-7; validation (chooses the epoch): rows 8-9; test (the verdict): rows 10-10." in plain


def test_planted_verdict_found_when_the_driver_ranks_first():
    text = learn.planted_verdict(DEPENDENCIES, "driven_1", _importance(0.45, 0.4, 0.15))
    assert text == ("Planted: driver_1 drives driven_1 3 steps later. Found: the mixer ranks driver_1 first among "
                    "the other series, importance 0.45, while the strongest other series has 0.15.")


def test_planted_verdict_not_found_gives_the_rank():
    text = learn.planted_verdict(DEPENDENCIES, "driven_1", _importance(0.1, 0.2, 0.7))
    assert "Not found: the mixer ranks driver_1 only number 2 of 2 other series (importance 0.10" in text


def test_planted_verdict_for_undriven_targets_and_missing_drivers():
    assert "planted no driver for noise" in learn.planted_verdict(DEPENDENCIES, "noise", _importance(0.5, 0.2, 0.3))
    missing = learn.planted_verdict(DEPENDENCIES, "driven_1", {"driven_1": 0.6, "noise": 0.4})
    assert "driver_1 is not among the series the model saw" in missing
    assert learn.planted_verdict([], "driven_1", _importance(1, 0, 0)) is None


def test_planted_verdict_shows_enough_decimals_to_tell_a_narrow_lead():
    verdict = learn.planted_verdict(DEPENDENCIES, "driven_1", {"driver_1": 0.17123, "driven_1": 0.5, "noise": 0.17091})
    assert "importance 0.1712, while the strongest other series has 0.1709" in verdict
    clear = learn.planted_verdict(DEPENDENCIES, "driven_1", {"driver_1": 0.4, "driven_1": 0.3, "noise": 0.1})
    assert "importance 0.40, while the strongest other series has 0.10" in clear
