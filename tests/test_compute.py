"""The app's computing glue on its own: batches, deterministic builds, traces, views, exports."""

import io
import json

import keras
import numpy as np
import pandas as pd
import pytest

from explorer import compute
from kflayers import probes
from kflayers.mixers import make_mixer
from explorer.batch import make_batch
from explorer.data import DataError
from staged_layer_cases import CASES

CONFIG = {"n_series": 3, "input_size": 8, "dropout": 0.5, "ff_dim": 4}


def _inputs(batch=4):
    return np.random.default_rng(0).normal(size=(batch, 8, 3)).astype("float32")


def _weights(layer):
    return [w.numpy() for w in layer.weights]


def _same_weights(first, second):
    return len(first) == len(second) and all(np.array_equal(a, b) for a, b in zip(first, second))


def test_make_batch_takes_evenly_spaced_zscored_windows():
    frame = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) ** 2, "c": np.ones(20)},
                         index=pd.date_range("2024-01-01", periods=20, freq="D"))
    batch = make_batch(frame, ["b", "a"], input_size=5, size=4)
    # 16 windows (starts 0..15); four spread evenly: 0, 5, 10, 15.
    assert batch.starts.tolist() == [0, 5, 10, 15]
    assert batch.shape == (4, 5, 2) and batch.series == ("b", "a")
    assert batch.labels == ("2024-01-01", "2024-01-06", "2024-01-11", "2024-01-16")
    a = frame["a"].to_numpy()
    expected = (a - a.mean()) / a.std()
    np.testing.assert_allclose(batch.values[2, :, 1], expected[10:15], rtol=1e-6)
    assert batch.values.dtype == np.float32


def test_make_batch_takes_all_windows_when_fewer_exist():
    batch = make_batch(pd.DataFrame({"a": np.arange(6.0)}), ["a"], input_size=4, size=10)
    assert batch.starts.tolist() == [0, 1, 2]
    assert batch.labels == ("0", "1", "2")


def test_make_batch_labels_keep_the_time_of_day_when_there_is_one():
    frame = pd.DataFrame({"a": np.arange(4.0)}, index=pd.date_range("2024-01-01", periods=4, freq="h"))
    assert make_batch(frame, ["a"], input_size=3, size=2).labels == ("2024-01-01 00:00:00", "2024-01-01 01:00:00")


def test_make_batch_too_few_rows_is_a_data_error():
    with pytest.raises(DataError):
        make_batch(pd.DataFrame({"a": np.arange(3.0)}), ["a"], input_size=5, size=2)


def test_build_layer_same_seed_same_weights_other_seed_other_weights():
    first = compute.build_layer("FeatureMixing", CONFIG, (None, 8, 3), seed=7)
    again = compute.build_layer("FeatureMixing", CONFIG, (None, 8, 3), seed=7)
    other = compute.build_layer("FeatureMixing", CONFIG, (None, 8, 3), seed=8)
    assert first.built and first.ff_dim == 4
    assert _same_weights(_weights(first), _weights(again))
    assert not _same_weights(_weights(first), _weights(other))


@pytest.mark.parametrize("class_name, config, shape", [
    ("FeatureMixing", {"n_series": 7, "input_size": 32, "dropout": 0.3, "ff_dim": 65, "activation": "relu"},
     (None, 32, 7)),
    ("TokenEmbedding", {"c_in": 7, "d_model": 17, "kernel_size": 3, "padding": "circular", "use_bias": True},
     (None, 32, 7)),
])
def test_a_nested_build_equals_a_plain_build_given_the_same_weights(class_name, config, shape):
    # build_layer makes each variable once with its nested value; a plain build draws initial values first.
    nested = compute.build_layer(class_name, config, shape, seed=3)
    plain = compute._seeded_build(class_name, config, shape, 3)
    for variable, value in zip(plain.weights, nested.weights, strict=True):
        variable.assign(value)
    assert len(nested.variables) == len(plain.variables)
    for ours, theirs in zip(nested.variables, plain.variables):  # dropout seeds included
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(ours), keras.ops.convert_to_numpy(theirs))
    x = np.random.default_rng(0).normal(size=(4, *shape[1:])).astype("float32")
    for training in (False, True):
        for name, value in compute.trace_arrays(plain, x, training, seed=3).items():
            np.testing.assert_array_equal(compute.trace_arrays(nested, x, training, seed=3)[name], value)
    with keras.StatelessScope():  # nothing was left waiting for a value, which leaving this scope would give it
        pass


def test_python_snippet_rebuilds_the_same_layer_from_the_weights_file(tmp_path, monkeypatch):
    layer = compute.build_layer("FeatureMixing", CONFIG, (None, 8, 3), seed=3)
    (tmp_path / "w.npz").write_bytes(compute.weights_npz(layer))
    snippet = compute.python_snippet("FeatureMixing", CONFIG, (None, 8, 3), "w.npz")
    assert "kflayers.FeatureMixing(n_series=3, input_size=8, dropout=0.5, ff_dim=4)" in snippet
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(snippet, namespace)
    rebuilt = namespace["layer"]
    assert rebuilt.get_config()["ff_dim"] == 4
    assert _same_weights(_weights(layer), _weights(rebuilt))


def test_trace_inference_matches_a_call_and_changes_nothing():
    layer = compute.build_layer("FeatureMixing", CONFIG, (None, 8, 3), seed=1)
    before = _weights(layer)
    stages = compute.trace_arrays(layer, _inputs(), training=False, seed=0)
    assert list(stages) == list(layer.stage_descriptions())
    assert all(isinstance(v, np.ndarray) for v in stages.values())
    np.testing.assert_array_equal(stages["residual"], keras.ops.convert_to_numpy(layer(_inputs(), training=False)))
    assert _same_weights(before, _weights(layer))


def test_trace_training_is_seeded_and_leaves_the_layer_untouched():
    layer = compute.build_layer("FeatureMixing", CONFIG, (None, 8, 3), seed=1)
    before = _weights(layer)  # includes BatchNorm's moving mean and variance
    first = compute.trace_arrays(layer, _inputs(), training=True, seed=5)
    again = compute.trace_arrays(layer, _inputs(), training=True, seed=5)
    other = compute.trace_arrays(layer, _inputs(), training=True, seed=6)
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert not np.array_equal(first["dropout_1"], other["dropout_1"])
    assert _same_weights(before, _weights(layer))
    # Dropout at rate 0.5 zeroes units and scales the kept ones by 2.
    kept = first["dropout_1"] != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(first["dropout_1"][kept], 2 * first["activation"][kept], rtol=1e-6)
    # Batch statistics: every (time, series) cell of the normalised batch has mean ~0 over the batch.
    np.testing.assert_allclose(first["batch_norm"].mean(axis=0), 0, atol=1e-5)


def test_mixing_stage_view_puts_time_first_and_names_the_rows():
    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(2, 8, 4))
    series = ("a", "b", "c")
    view = compute.mixing_stage_view("FeatureMixing", "dense_1", hidden, window=1, series=series)
    np.testing.assert_array_equal(view.values, hidden[1])
    assert (view.row_title, view.row_labels) == ("hidden unit", None)

    flat = rng.normal(size=(2, 24))
    view = compute.mixing_stage_view("FeatureMixing", "batch_norm", flat, window=0, series=series)
    np.testing.assert_array_equal(view.values, flat[0].reshape(8, 3))
    assert view.row_labels == series and "reshaped" in view.note

    series_major = rng.normal(size=(2, 3, 8))
    view = compute.mixing_stage_view("TemporalMixing", "dense", series_major, window=1, series=series)
    np.testing.assert_array_equal(view.values, series_major[1].T)
    assert view.row_labels == series and "(series, time)" in view.note

    plain = rng.normal(size=(2, 8, 3))
    view = compute.mixing_stage_view("TemporalMixing", "residual", plain, window=0, series=series)
    np.testing.assert_array_equal(view.values, plain[0])
    assert (view.row_title, view.note) == ("series", "")


def test_trace_npz_holds_every_stage():
    stages = {"input": np.arange(6.0).reshape(2, 3), "output": np.ones((2, 3), dtype="float32")}
    loaded = np.load(io.BytesIO(compute.trace_npz(stages)))
    assert sorted(loaded.files) == ["input", "output"]
    np.testing.assert_array_equal(loaded["input"], stages["input"])
    assert loaded["output"].dtype == np.float32


def test_config_json_rebuilds_the_layer_with_from_config():
    layer = compute.build_layer("TemporalMixing", {"n_series": 3, "input_size": 8, "dropout": 0.2}, (None, 8, 3), 0)
    config = json.loads(compute.config_json(layer))
    assert (config["n_series"], config["input_size"], config["dropout"]) == (3, 8, 0.2)
    rebuilt = type(layer).from_config(config)
    assert rebuilt.get_config() == layer.get_config()
    assert isinstance(rebuilt, keras.layers.Layer)


def test_pipeline_lists_every_stage_with_shape_weights_and_description():
    layer = compute.build_layer("FeatureMixing", CONFIG, (None, 8, 3), seed=0)
    rows = compute.pipeline(layer, compute.trace_arrays(layer, _inputs(), training=False, seed=0))
    assert rows.names == list(layer.stage_descriptions())
    shapes = dict(zip(rows.names, rows.shapes))
    assert shapes["input"] == (4, 8, 3) and shapes["flatten"] == (4, 24) and shapes["dense_1"] == (4, 8, 4)
    params = dict(zip(rows.names, rows.params))
    # BatchNorm over 24 cells: gamma, beta, moving mean, moving variance; Dense 3->4 and 4->3 with biases.
    assert params == {"input": 0, "flatten": 0, "batch_norm": 96, "reshape": 0, "dense_1": 16, "activation": 0,
                      "dropout_1": 0, "dense_2": 15, "dropout_2": 0, "residual": 0}
    assert rows.total == 96 + 16 + 15 == layer.count_params()
    assert rows.descriptions == list(layer.stage_descriptions().values())


@pytest.mark.parametrize("flavour, importance, mixed", [
    ("global", 7, 0),                                  # one coefficient per series
    ("instance", 7 * 32 * 7 + 7, 0),                   # Dense from the 7 x 32 concatenation to 7 logits
    ("self", 2 * (32 * 32 + 32), 2 * (32 * 32 + 32)),  # query and key make the weights, value and output the mix
    ("cross", 2 * (32 * 32 + 32), 2 * (32 * 32 + 32)),
])
def test_pipeline_of_each_mixer_shows_its_weights_in_the_stages_that_use_them(flavour, importance, mixed):
    # The Feature Mixers page's default: 7 series as features, windows of 32 steps.
    layer = make_mixer(flavour, 32, 7)
    inputs = np.random.default_rng(0).normal(size=(4, 7, 32)).astype("float32")
    rows = compute.pipeline(layer, compute.trace_arrays(layer, inputs, training=False, seed=0))
    params = dict(zip(rows.names, rows.params))
    assert params["importance"] == importance and params["mixed"] == mixed
    assert sum(rows.params) == rows.total == layer.count_params() == importance + mixed


def test_pipeline_of_token_embedding_puts_the_kernel_in_the_conv_box():
    layer = compute.build_layer("TokenEmbedding", {"c_in": 7, "d_model": 16, "kernel_size": 3, "padding": "circular",
                                                   "use_bias": True}, (None, 8, 7), seed=0)
    inputs = np.random.default_rng(0).normal(size=(4, 8, 7)).astype("float32")
    rows = compute.pipeline(layer, compute.trace_arrays(layer, inputs, training=False, seed=0))
    assert dict(zip(rows.names, rows.params)) == {"input": 0, "padded": 0, "conv": 3 * 7 * 16, "bias": 16}
    assert rows.total == 3 * 7 * 16 + 16


def test_pipeline_refuses_a_trace_that_lacks_a_stage_holding_weights():
    layer = compute.build_layer("FeatureMixing", CONFIG, (None, 8, 3), seed=0)
    stages = compute.trace_arrays(layer, _inputs(), training=False, seed=0)
    del stages["dense_2"]
    with pytest.raises(ValueError, match=r"lacks the stages \['dense_2'\], which hold weights"):
        compute.pipeline(layer, stages)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_pipeline_shapes_are_the_symbolic_stage_shapes(case):
    layer, inputs, call_kwargs = case.build()
    stages = {name: keras.ops.convert_to_numpy(tensor)
              for name, tensor in layer.trace(inputs, training=False, **call_kwargs).items()}
    input_shape = [np.shape(x) for x in inputs] if isinstance(inputs, (list, tuple)) else np.shape(inputs)
    symbolic = {name: keras.KerasTensor(np.shape(value), dtype=str(np.asarray(value).dtype))
                for name, value in call_kwargs.items()}
    expected = probes.stage_shapes(layer, input_shape, **symbolic)
    rows = compute.pipeline(layer, stages)
    assert dict(zip(rows.names, rows.shapes)) == dict(expected)


def test_dropout_summary_spread_comes_from_dropout_only():
    inputs = _inputs()
    layer = compute.build_layer("FeatureMixing", CONFIG, (None, 8, 3), seed=0)
    summary = compute.dropout_summary(layer, inputs, samples=32, seed=1)
    assert summary.stages == list(layer.stage_descriptions())
    assert summary.output_mean.shape == summary.output_std.shape == (4, 8, 3)
    stage_std = dict(zip(summary.stages, summary.stage_std))
    assert stage_std["dense_1"] == pytest.approx(0, abs=1e-6) and stage_std["dropout_1"] > 0
    assert summary.output_std.mean() == pytest.approx(stage_std["residual"])

    quiet = compute.build_layer("FeatureMixing", {**CONFIG, "dropout": 0.0}, (None, 8, 3), seed=0)
    still = compute.dropout_summary(quiet, inputs, samples=8, seed=1)
    assert max(still.stage_std) == pytest.approx(0, abs=1e-6)
    inference = compute.trace_arrays(quiet, inputs, training=False, seed=0)["residual"]
    np.testing.assert_allclose(still.output_mean, inference, atol=1e-5)


def test_mode_difference_of_two_traces_is_the_probe_of_the_layer():
    layer = compute.build_layer("FeatureMixing", CONFIG, (None, 8, 3), seed=0)
    training = compute.trace_arrays(layer, _inputs(), training=True, seed=3)
    inference = compute.trace_arrays(layer, _inputs(), training=False, seed=3)
    difference = compute.mode_difference(training, inference)
    assert list(difference) == list(layer.stage_descriptions())
    assert difference["input"] == 0 and difference["batch_norm"] > 0
    assert difference == dict(probes.mode_difference(layer, _inputs(), seed=3))


def test_feature_impact_of_temporal_mixing_stays_on_the_diagonal():
    layer = compute.build_layer("TemporalMixing", {"n_series": 3, "input_size": 8, "dropout": 0.2}, (None, 8, 3), 0)
    impact = compute.feature_impact(layer, _inputs())
    assert impact.shape == (3, 3) and impact.dtype == np.float64
    assert np.all(np.diag(impact) > 0)
    np.testing.assert_allclose(impact - np.diag(np.diag(impact)), 0, atol=1e-6)


def test_fusion_pair_smoothed_is_a_centred_moving_average_with_edge_values():
    values = np.arange(12.0, dtype="float32").reshape(1, 6, 2) ** 2
    a, b = (keras.ops.convert_to_numpy(t) for t in compute.fusion_pair("smoothed", 3, 2, 6, seed=0)(values))
    np.testing.assert_array_equal(a, values)
    assert b.shape == values.shape and b.dtype == np.float32
    series = values[0, :, 1]
    padded = np.concatenate([[series[0]], series, [series[-1]]])
    expected = np.array([padded[i:i + 3].mean() for i in range(6)])
    np.testing.assert_allclose(b[0, :, 1], expected, rtol=1e-6)


def test_fusion_pair_token_embedding_is_a_seeded_projection_of_the_same_shape():
    values = _inputs()
    _, first = compute.fusion_pair("token_embedding", 1, 3, 8, seed=4)(values)
    _, again = compute.fusion_pair("token_embedding", 1, 3, 8, seed=4)(values)
    assert tuple(first.shape) == values.shape
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(first), keras.ops.convert_to_numpy(again))
    with pytest.raises(ValueError, match="`pair` must be one of"):
        compute.fusion_pair("nonsense", 1, 3, 8, seed=0)


def test_fixed_gate_output_blends_the_two_inputs():
    a, b = np.array([2.0, 4.0]), np.array([0.0, 8.0])
    np.testing.assert_array_equal(compute.fixed_gate_output(a, b, 1.0), a)
    np.testing.assert_array_equal(compute.fixed_gate_output(a, b, 0.0), b)
    np.testing.assert_array_equal(compute.fixed_gate_output(a, b, 0.5), [1.0, 6.0])


def test_fusion_stage_view_labels_both_inputs_in_the_concat_stage():
    view = compute.fusion_stage_view("concat", np.zeros((2, 5, 4)), 1, ("x", "y"))
    assert view.row_labels == ("x (a)", "y (a)", "x (b)", "y (b)")
    assert compute.fusion_stage_view("gate", np.zeros((2, 5, 2)), 0, ("x", "y")).row_labels == ("x", "y")


@pytest.mark.parametrize("padding, kernel_size, sides", [("circular", 3, (1, 1)), ("causal", 3, (2, 0)),
                                                         ("same", 4, None)])
def test_padding_sides_read_off_the_trace(padding, kernel_size, sides):
    layer = compute.build_layer("TokenEmbedding", {"c_in": 3, "d_model": 2, "kernel_size": kernel_size,
                                                   "padding": padding}, (None, 8, 3), 0)
    stages = compute.trace_arrays(layer, _inputs(), training=False, seed=0)
    before, after = compute.padding_sides(stages["input"][0], stages["padded"][0])
    assert before + after == kernel_size - 1
    if sides is not None:
        assert (before, after) == sides
    if padding == "circular":
        np.testing.assert_array_equal(stages["padded"][0, 0], stages["input"][0, -1])  # the end wraps around
    kernel = compute.token_kernel(layer, channel=1)
    assert kernel.shape == (kernel_size, 3)
    # Channel 1 of the convolution at step 0 is the kernel applied to the padded steps it covers.
    expected = np.sum(kernel * stages["padded"][0, :kernel_size], dtype=np.float64)
    assert stages["conv"][0, 0, 1] == pytest.approx(expected, rel=1e-5)


def test_mixer_glue_masks_and_attention_map_agree_with_the_layer():
    assert compute.mixer_config("GlobalWeightsMixer", mod_dim=8, n_features=3, n_heads=2, bias=True, dropout=0.1,
                                skip=True, keep_dim=False) == {"mod_dim": 8, "n_features": 3, "dropout": 0.1,
                                                               "skip": True, "keep_dim": False}
    inputs = keras.ops.convert_to_numpy(compute.mixer_inputs(_inputs()))  # (4, 3 series, 8 steps)
    assert inputs.shape == (4, 3, 8)
    np.testing.assert_array_equal(inputs[1, 2], _inputs()[1, :, 2])
    assert compute.mixer_mask(4, ("a", "b", "c"), []) is None
    mask = compute.mixer_mask(4, ("a", "b", "c"), ["b"])
    assert mask.shape == (4, 3) and not mask[:, 1].any() and mask[:, [0, 2]].all()  # True = keep, as in keras

    config = compute.mixer_config("SelfAttentionMixer", mod_dim=8, n_features=3, n_heads=2, bias=True,
                                  dropout=0.0, skip=True, keep_dim=False)
    layer = compute.build_layer("SelfAttentionMixer", config, (None, 3, 8), 0)
    scores = compute.attention_map(layer, inputs, mask)
    assert scores.shape == (4, 3, 3)
    np.testing.assert_allclose(scores[:, [0, 2]].sum(-1), 1, rtol=1e-5)
    assert not scores[:, 1].any() and not scores[:, :, 1].any()
    importance = compute.trace_arrays(layer, inputs, training=False, seed=0, mask=mask)["importance"]
    np.testing.assert_allclose(scores.sum(1) / 2, importance, atol=1e-6)


def test_make_batch_labels_a_yearly_index_by_its_years_and_a_quarterly_one_by_its_days():
    years = pd.DataFrame({"flow": np.arange(6.0)}, index=pd.to_datetime([f"{y}-01-01" for y in range(1871, 1877)]))
    assert make_batch(years, ["flow"], input_size=3, size=2).labels == ("1871", "1874")
    quarters = pd.DataFrame({"gdp": np.arange(6.0)}, index=pd.date_range("1959-01-01", periods=6, freq="QS"))
    assert make_batch(quarters, ["gdp"], input_size=3, size=2).labels == ("1959-01-01", "1959-10-01")
