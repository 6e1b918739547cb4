"""Scrub frames: what the browser receives equals a plain build and trace; the fill is nearest first,
shared, bounded, and within the byte budget."""

import json
import time

import numpy as np
import pytest

from explorer import compute, scrub
from explorer.figures.pictures import value_colours
from explorer.ui.scrub import payload

SERIES = tuple("abcdefg")
SHAPE = (16, 32, 7)
CONFIG = {"n_series": 7, "input_size": 32, "ff_dim": 64, "dropout": 0.1, "activation": "relu"}


def _inputs():
    return np.random.default_rng(3).normal(size=SHAPE).astype("float32")


def _view(stage, array, window):
    return compute.mixing_stage_view("FeatureMixing", stage, array, window, SERIES)


def _fill(fills, key, values, start, compute_frame, seconds=120):
    """Ask for a range as a page filling it does (again every fraction of a second) until it is complete."""
    deadline = time.monotonic() + seconds
    while len(fills.request(key, values, start, compute_frame)) < len(values):
        assert fills.status(key)[2] is None, fills.status(key)[2]
        assert time.monotonic() < deadline, "the range was not filled in time"
        time.sleep(0.05)
    return fills.request(key, values, start, compute_frame)


def _received(frames, values):
    """The frames as the browser gets them: through the payload's JSON, thumbnails resolved."""
    data = json.loads(json.dumps(payload("ff_dim", values, values[0], ("test",), frames, {})))
    for frame in data["frames"].values():
        for box in frame["boxes"]:
            if isinstance(box["thumbnail"], int):
                box["thumbnail"] = data["thumbnails"][box["thumbnail"]]
    return data


def _levels_of(values):
    """The test's own quantisation of a (time, rows) array on the picture view's diverging scale."""
    grid = np.asarray(values, dtype=np.float64).T
    limit = np.max(np.abs(grid)) or 1.0
    return (np.clip(grid / limit, -1, 1) + 1) / 2 * (scrub.LEVELS - 1), limit


@pytest.mark.parametrize("training", [False, True])
def test_frames_the_browser_receives_equal_a_plain_build_and_trace_at_each_value(training):
    inputs = _inputs()
    values = [1, 2, 17, 64, 200]
    for stage in ("dense_1", "residual"):
        spec = scrub.StageFrameSpec(window=3, view=_view, stage=stage)
        fills = scrub.FrameFills()
        frames = _fill(fills, ("t", stage, training), values, 64, lambda v: scrub.stages_frame(
            *compute.built_and_traced("FeatureMixing", {**CONFIG, "ff_dim": v}, (None, 32, 7), 0, inputs, training),
            spec))  # the fill's own path
        received = _received(frames, values)
        for value in values:
            frame = received["frames"][str(value)]
            layer = compute.build_layer("FeatureMixing", {**CONFIG, "ff_dim": value}, (None, 32, 7), 0)
            stages = compute.trace_arrays(layer, inputs, training, 0)
            rows = compute.pipeline(layer, stages)
            assert [box["name"] for box in frame["boxes"]] == rows.names
            assert [tuple(box["shape"]) for box in frame["boxes"]] == rows.shapes
            assert [box["params"] for box in frame["boxes"]] == rows.params
            assert frame["boxes"][4]["shape"] == [16, 32, value]
            expected, limit = _levels_of(_view(stage, stages[stage], 3).values)
            picture = frame["picture"]
            assert picture["high"] == pytest.approx(limit, rel=1e-6) and picture["low"] == pytest.approx(-limit, rel=1e-6)
            np.testing.assert_allclose(scrub.decoded(picture), expected, atol=0.5 + 1e-6)
            shares = np.array(picture["window_counts"]) / picture["window_size"]
            window_values = stages[stage][3].ravel()
            edges = np.linspace(stages[stage].min(), stages[stage].max(), len(shares) + 1)
            np.testing.assert_allclose(shares, np.histogram(window_values, edges)[0] / window_values.size)
            for box in frame["boxes"]:
                if box["thumbnail"] is None:
                    assert box["name"] == stage  # drawn from the picture in the browser
                    continue
                levels, _ = _levels_of(_view(box["name"], stages[box["name"]], 3).values)
                thumbnail = scrub.decoded(box["thumbnail"])
                assert thumbnail.shape == (min(levels.shape[0], 36), min(levels.shape[1], 96))
                rows_index = np.minimum(((np.arange(thumbnail.shape[0]) + 0.5) * levels.shape[0]
                                         / thumbnail.shape[0]).astype(int), levels.shape[0] - 1)
                np.testing.assert_allclose(thumbnail, levels[rows_index], atol=0.5 + 1e-6)


def test_the_colour_table_is_the_picture_views_own_scale():
    table = scrub.colour_table()
    assert len(table) == scrub.LEVELS
    positions = np.linspace(-1, 1, scrub.LEVELS)
    expected = ["#%02x%02x%02x" % tuple(c) for c in value_colours(positions)]
    assert table == expected
    # The ends and the middle are the diverging scale's ends and its white-ish centre.
    assert table[0] == "#%02x%02x%02x" % tuple(value_colours(np.array([-1.0]))[0])
    sequential = scrub.colour_table((0.0, 1.0))
    assert sequential[-1] == "#%02x%02x%02x" % tuple(value_colours(np.array([1.0]), (0.0, 1.0))[0])


def test_the_fill_goes_nearest_values_first():
    assert scrub.nearest_first([1, 2, 3, 4, 5, 6], 4) == [4, 3, 5, 2, 6, 1]
    assert scrub.nearest_first(["a", "b", "c"], "a") == ["a", "b", "c"]
    order = []
    fills = scrub.FrameFills()
    _fill(fills, ("order",), list(range(1, 11)), 7, lambda v: order.append(v) or {"v": v})
    assert order == [7, 6, 8, 5, 9, 4, 10, 3, 2, 1]  # the start too, as the page gave no frame for it


def test_the_page_frame_is_kept_and_a_failing_value_stops_the_fill_with_a_sentence():
    fills = scrub.FrameFills()
    ready = fills.request(("given",), [1, 2, 3], 2, lambda v: {"v": v}, start_frame={"v": "page"})
    assert ready[2] == {"v": "page"}

    def broken(value):
        raise ValueError("no such size")

    fills.request(("broken",), [1, 2], 1, broken)
    deadline = time.monotonic() + 10
    while fills.status(("broken",))[2] is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert fills.status(("broken",))[2] == "Precomputing the other values stopped at 1: no such size"


def test_ranges_are_shared_and_bounded():
    fills = scrub.FrameFills(max_ranges=3)
    calls = []
    for key in range(5):
        _fill(fills, ("k", key), [1, 2], 1, lambda v: calls.append(v) or {"v": v})
    assert len(calls) == 10
    # Asking again for a kept range computes nothing; only the last three ranges are kept.
    _fill(fills, ("k", 4), [1, 2], 2, lambda v: calls.append(v) or {"v": v})
    assert len(calls) == 10
    assert [fills.status(("k", key))[1] for key in range(5)] == [0, 0, 2, 2, 2]


def test_a_whole_ff_dim_range_fits_the_browsers_budget():
    """The worst case: the chosen stage is dense_1, whose picture grows with ff_dim (up to 32 x 256 cells)."""
    inputs = _inputs()
    spec = scrub.StageFrameSpec(window=0, view=_view, stage="dense_1")
    values = list(range(1, 257))
    frames = {v: scrub.stages_frame(*compute.built_and_traced("FeatureMixing", {**CONFIG, "ff_dim": v}, (None, 32, 7),
                                                              0, inputs, True), spec) for v in values}
    size = len(json.dumps(payload("ff_dim", values, 64, ("budget",), frames, {"stages": [], "picture": {}})))
    assert size < 2 * 1024 * 1024, size


def test_band_frames_equal_a_plain_build_and_monte_carlo_run_at_each_rate():
    inputs = _inputs()
    fills = scrub.FrameFills()
    rates = [0.0, 0.3, 0.6]

    def pick(output):
        return output[2, :, 4]

    def band_at(rate):
        built = compute.build_layer("FeatureMixing", {**CONFIG, "dropout": rate}, (None, 32, 7), 0)
        return scrub.band_frame_at(built, inputs, 0, 16, pick)

    frames = _fill(fills, ("band",), rates, 0.3, band_at)
    data = json.loads(json.dumps(payload("dropout", rates, 0.3, ("band",), frames, {"band": {}})))
    spreads = []
    for rate in rates:
        band = data["frames"][str(rate)]["band"]
        layer = compute.build_layer("FeatureMixing", {**CONFIG, "dropout": rate}, (None, 32, 7), 0)
        summary = compute.dropout_summary(layer, inputs, 16, 0)
        inference = compute.trace_arrays(layer, inputs, False, 0)["residual"]
        np.testing.assert_allclose(band["mean"], pick(summary.output_mean), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(band["std"], pick(summary.output_std), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(band["inference"], pick(inference), rtol=1e-6, atol=1e-6)
        # The per-stage spread the page draws after a release, from the same passes.
        spread = data["frames"][str(rate)]["spread"]
        assert spread["stages"] == summary.stages
        np.testing.assert_allclose(spread["std"], summary.stage_std, rtol=1e-6, atol=1e-6)
        spreads.append(np.mean(band["std"]))
    assert spreads[0] == pytest.approx(0, abs=1e-6) and spreads[2] > spreads[1] > 0


def test_trained_weights_at_another_dropout_rate_keep_every_weight():
    """The dropout scrub on trained weights: the page's layer with only the rate changed (compute.with_config)."""
    inputs = _inputs()
    layer = compute.build_layer("FeatureMixing", CONFIG, (None, 32, 7), 5)
    for variable in layer.trainable_weights:  # stand-in for training: weights no build would draw
        variable.assign(variable * 1.5 + 0.01)
    moved = compute.with_config(layer, {"dropout": 0.6}, (None, 32, 7))
    assert moved.get_config()["dropout"] == 0.6 and layer.get_config()["dropout"] == 0.1
    for mine, theirs in zip(moved.weights, layer.weights):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))
    np.testing.assert_allclose(compute.trace_arrays(moved, inputs, False, 5)["residual"],
                               compute.trace_arrays(layer, inputs, False, 5)["residual"], rtol=1e-6, atol=1e-6)
    more = np.mean(compute.dropout_summary(moved, inputs, 16, 5).output_std)
    assert more > np.mean(compute.dropout_summary(layer, inputs, 16, 5).output_std)
    with pytest.raises(ValueError, match=r"changing \['ff_dim'\] changes the layer's weights"):
        compute.with_config(layer, {"ff_dim": 8}, (None, 32, 7))


def test_a_range_no_page_asks_for_any_more_stops_filling_until_asked_again():
    fills = scrub.FrameFills(forgotten_after=0.3)
    done = []

    def slow(value):
        time.sleep(0.05)
        done.append(value)
        return {"v": value}

    fills.request(("left",), list(range(100)), 0, slow)
    time.sleep(1.0)
    stopped = len(done)
    assert 0 < stopped < 100
    time.sleep(0.5)
    assert len(done) <= stopped + 1  # at most the value under way when it was forgotten
    _fill(fills, ("left",), list(range(100)), 0, slow, seconds=30)
    assert sorted(done) == list(range(100))


FLAVOURS = ["GlobalWeightsMixer", "InstanceWeightsMixer", "SelfAttentionMixer", "CrossAttentionMixer"]
MIXER_SETTINGS = dict(mod_dim=32, n_features=7, n_heads=1, bias=True, dropout=0.1, skip=True, keep_dim=False)


def _flavour_view(stage, array, window):
    """The Feature Mixers page's view: the importance of every window, any other stage's chosen window."""
    if stage == "importance":
        return compute.StageView(array, "series", SERIES)
    return compute.StageView(compute.thumbnail_values(array, window).T, "series", SERIES)


def _traced_frame(layer, inputs, spec, **call_kwargs):
    """A moved layer's frame as the page makes it: its plain build, traced in inference mode."""
    return scrub.stages_frame(layer, compute.trace_arrays(layer, inputs, False, 0, **call_kwargs), spec)


def _flavour_layer(name):
    return compute.build_layer(name, compute.mixer_config(name, **MIXER_SETTINGS), (None, 7, 32), 0)


def test_flavour_frames_equal_a_plain_build_and_trace_of_each_flavour():
    """The flavour scrub: one frame per mixer class, each read off that class's own trace (masked series too)."""
    inputs = np.transpose(_inputs(), (0, 2, 1))  # as the page feeds a mixer: (windows, series, time)
    mask = compute.mixer_mask(16, SERIES, ["c"])
    spec = scrub.StageFrameSpec(window=2, view=_flavour_view, stage="importance",
                                value_ranges=(("importance", (0.0, 2 / 7)),))  # the page's: twice the equal share
    frames = _fill(scrub.FrameFills(), ("flavours",), FLAVOURS, "SelfAttentionMixer", lambda name: _traced_frame(
        _flavour_layer(name), inputs, spec, mask=mask))
    data = json.loads(json.dumps(payload("flavour", FLAVOURS, "SelfAttentionMixer", ("flavours",), frames, {})))
    assert data["labels"] == FLAVOURS and data["numeric"] is None  # the input steps through the four by position
    importances = []
    for name in FLAVOURS:
        frame = data["frames"][name]
        layer = _flavour_layer(name)
        assert type(layer).__name__ == name
        stages = compute.trace_arrays(layer, inputs, False, 0, mask=mask)
        rows = compute.pipeline(layer, stages)
        assert [box["name"] for box in frame["boxes"]] == rows.names
        assert [box["params"] for box in frame["boxes"]] == rows.params and frame["total"] == rows.total
        importance = stages["importance"]  # (windows, series), drawn series x windows on the fixed scale
        picture = frame["picture"]
        assert picture["stage"] == "importance" and (picture["low"], picture["high"]) == (0.0, pytest.approx(2 / 7))
        expected = np.clip(importance.T / (2 / 7), 0, 1) * (scrub.LEVELS - 1)
        np.testing.assert_allclose(scrub.decoded(picture), expected, atol=0.5 + 1e-6)
        assert np.all(scrub.decoded(picture)[2] == 0)  # the masked series gets no weight
        importances.append(importance)
    # The global mixer weighs every window alike and fresh it weighs the kept series equally; the others do not.
    np.testing.assert_allclose(importances[0], np.where(np.arange(7) == 2, 0, 1 / 6)[None].repeat(16, 0), atol=1e-6)
    assert all(not np.allclose(importances[0], other, atol=1e-3) for other in importances[1:])
    # The weight counts tell the flavours apart: 7 coefficients, a Dense projection, attention projections.
    counts = [data["frames"][name]["total"] for name in FLAVOURS]
    assert counts[0] == 7 and len(set(counts)) >= 3


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("class_name, config, size, values", [
    ("FeatureMixing", CONFIG, "ff_dim", [1, 2, 17, 64, 200, 256]),
    ("FeatureMixing", {**CONFIG, "dropout": 0.5}, "ff_dim", [3, 130]),
    ("TokenEmbedding", {"c_in": 7, "d_model": 16, "kernel_size": 3, "padding": "circular"}, "d_model", [1, 16, 128]),
])
def test_the_fill_traces_without_variables_exactly_as_a_plain_build(class_name, config, size, values, training):
    from keras.src.backend.common import global_state

    inputs = _inputs()
    for value in values:
        changed = {**config, size: value}
        layer, stages = compute.built_and_traced(class_name, changed, (None, 32, 7), 0, inputs, training)
        plain = compute.build_layer(class_name, changed, (None, 32, 7), 0)
        expected = compute.trace_arrays(plain, inputs, training, 0)
        assert list(stages) == list(expected)
        for name in expected:
            np.testing.assert_array_equal(stages[name], expected[name], err_msg=f"{class_name} {size}={value} {name}")
        assert compute.pipeline(layer, stages) == compute.pipeline(plain, expected)
        # Its variables never get values, and keras is not left waiting to give them any.
        assert not global_state.get_global_attribute("uninitialized_variables")


def test_a_ready_frame_is_read_without_starting_anything():
    """The run after a release reuses the fill's frame of the released value instead of making it again."""
    fills = scrub.FrameFills()
    made = []
    assert fills.frame(("r",), 1) is None  # an unknown range is not created
    assert fills.status(("r",)) == (0, 0, None)
    _fill(fills, ("r",), [1, 2, 3], 2, lambda v: made.append(v) or {"v": v})
    assert fills.frame(("r",), 3) == {"v": 3} and fills.frame(("r",), 4) is None
    assert sorted(made) == [1, 2, 3]
