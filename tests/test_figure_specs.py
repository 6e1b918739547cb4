"""Every figure builder's spec is one plotly accepts as it stands.

The builders hand plotly plain dicts without validation (`explorer.figures.common.figure`), so a misspelt
property or a value of the wrong kind would reach the browser unnoticed. Here plotly validates what each builder
made: it must raise nothing and change nothing in the JSON the browser receives.
"""

import inspect
import json
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from plotly import basedatatypes

from explorer import figures
from explorer.figures import common, learn

RNG = np.random.default_rng(0)
FRAME = pd.DataFrame(RNG.normal(size=(40, 3)), columns=["a", "b", "<i>c</i>"],
                     index=pd.date_range("2024-01-01", periods=40, freq="D"))
SERIES = ["driver", "driven", "noise"]
IMPORTANCE = dict(zip(SERIES, (0.5, 0.3, 0.2)))

CASES = [
    (figures.series_preview, (FRAME, ["a", "b", "<i>c</i>"]), dict(window_starts=[0, 10, 20], input_size=5)),
    (figures.series_preview, (FRAME.reset_index(drop=True), ["a"]), {}),
    (figures.input_output, (RNG.normal(size=(8, 2)), RNG.normal(size=(8, 2)), ["a", "b"]), {}),
    (figures.stage_heatmap, (RNG.normal(size=(8, 3)), "dense", "hidden unit", "time step"), dict(note="Reshaped.")),
    (figures.stage_heatmap, (np.zeros((8, 2)), "input", "series", "time step"), dict(row_labels=["a", "b"])),
    (figures.stage_heatmap, (RNG.uniform(size=(8, 2)), "gate", "series", "time step"), dict(value_range=(0.0, 1.0))),
    (figures.stage_histogram, (RNG.normal(size=(8, 2)), RNG.normal(size=(4, 8, 2)), "activation"), {}),
    (figures.dropout_band, (np.zeros(8), np.ones(8), np.zeros(8), "a", 16), {}),
    (figures.dropout_std_by_stage, (["input", "dropout"], [0.0, 0.3]), {}),
    (figures.mode_difference_by_stage, (["input", "batch_norm"], [0.0, 1.5]), {}),
    (figures.impact_matrix, (RNG.uniform(size=(3, 3)), ["a", "b", "c"]), {}),
    (figures.fixed_gate, (np.zeros(8), np.ones(8), np.ones(8), np.full(8, 0.5), 0.5, "a"), {}),
    (figures.padding_view, (RNG.normal(size=10), 1, 8, "a", "circular"), {}),
    (figures.padding_view, (RNG.normal(size=9), 1, 8, "a", "causal"), {}),
    (figures.kernel_heatmap, (RNG.normal(size=(3, 2)), ["a", "b"], 1, 0), {}),
    (figures.kernel_heatmap, (RNG.normal(size=(5, 40)), [f"s{i}" for i in range(40)], 4, 3), {}),
    (figures.importance_bars, (np.array([0.75, 0.0, 0.25]), ["a", "b", "c"]), dict(masked=["b"])),
    (figures.importance_by_window, (RNG.uniform(size=(4, 2)), ["a", "b"], ["w0", "w1", "w2", "w3"]), {}),
    (figures.flavour_comparison, ({"GlobalWeightsMixer": np.ones(2) / 2, "SelfAttentionMixer": np.ones(2) / 2},
                                  ["a", "b"]), {}),
    (figures.attention_map, (RNG.uniform(size=(2, 2)), ["a", "b"]), {}),
    (figures.attention_map, (RNG.uniform(size=(14, 14)), [f"s{i}" for i in range(14)]), {}),
    (figures.mixer_input_output, (RNG.normal(size=(2, 8)), RNG.normal(size=8), ["a", "b"], "output"), {}),
    (figures.panels, ([figures.stage_heatmap(RNG.normal(size=(8, 3)), "dense", "hidden unit", "time step"),
                       figures.stage_histogram(RNG.normal(size=(8, 2)), RNG.normal(size=(4, 8, 2)), "dense")],),
     dict(widths=(2, 1))),
    (learn.loss_curve, ({"loss": [2.0, 1.0], "val_loss": [1.5, 0.8]},), dict(baseline_mse=0.9, total_epochs=5)),
    (learn.loss_curve, ({"loss": [1.0, 0.0], "val_loss": [1.0, 0.5]},), {}),
    (learn.importance_before_after, (SERIES, IMPORTANCE, IMPORTANCE, 3, "driven", "driver"), {}),
    (learn.importance_over_epochs, (SERIES, IMPORTANCE, [IMPORTANCE, IMPORTANCE], "driven", "driver"), dict(epoch=1)),
    (learn.importance_over_epochs, (SERIES, IMPORTANCE, [], "noise"), {}),
    (learn.forecast_impact, (SERIES, RNG.uniform(size=(3, 2)), "driven", "driver"), {}),
]


def _case_id(case):
    builder, _, _ = case
    return builder.__name__


def _public_builders():
    """Every public function of explorer.figures and explorer.figures.learn that returns a Chart."""
    candidates = [(name, getattr(figures, name)) for name in figures.__all__]
    candidates += [(name, value) for name, value in vars(learn).items() if not name.startswith("_")]
    return {name for name, value in candidates
            if inspect.isfunction(value) and inspect.signature(value).return_annotation in ("Chart", figures.Chart)}


def _browser_json(figure: go.Figure) -> dict:
    """The figure as the app sends it to the browser (Streamlit serialises without validating)."""
    return json.loads(pio.to_json(figure, validate=False))


def test_every_public_builder_has_a_case():
    assert _public_builders() == {builder.__name__ for builder, _, _ in CASES}


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_plotly_validation_accepts_the_spec_unchanged(case):
    builder, args, kwargs = case
    unvalidated = builder(*args, **kwargs).figure
    validated = go.Figure(unvalidated.to_dict())
    assert _browser_json(validated) == _browser_json(unvalidated)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_building_asks_plotly_for_no_validator_but_the_numbered_axes(case, monkeypatch):
    get_validator = basedatatypes.BasePlotlyType._get_validator

    def only_for_numbered_axes(self, prop):
        # Plotly checks a layout's numbered axes (xaxis2, ...) even in a figure made with _validate=False.
        if re.fullmatch(r"[xy]axis\d+", prop) or self._path_str.startswith(("layout.xaxis", "layout.yaxis")):
            return get_validator(self, prop)
        raise AssertionError(f"{self._path_str}.{prop} went through plotly's validation")

    monkeypatch.setattr(basedatatypes.BasePlotlyType, "_get_validator", only_for_numbered_axes)
    builder, args, kwargs = case
    builder(*args, **kwargs)


def test_validation_rejects_a_misspelt_property_the_app_path_lets_through():
    # What makes the spec check above worth running.
    spec = figures.dropout_std_by_stage(["input"], [0.1]).figure.to_dict()
    spec["layout"]["xaxis"]["titel"] = {"text": "typo"}
    assert go.Figure(spec, _validate=False).to_dict()["layout"]["xaxis"]["titel"] == {"text": "typo"}
    with pytest.raises(ValueError, match="titel"):
        go.Figure(spec)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_the_trimmed_template_has_the_defaults_of_every_trace_drawn(case):
    builder, args, kwargs = case
    built = builder(*args, **kwargs).figure
    full = pio.templates[common.TEMPLATE]
    for trace in built.data:
        assert trace.type in common.TRACE_TYPES
        assert built.layout.template.data[trace.type] == full.data[trace.type]
    assert built.layout.template.layout.plot_bgcolor == full.layout.plot_bgcolor
    assert built.layout.template.layout.xaxis == full.layout.xaxis
