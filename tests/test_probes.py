"""kflayers.probes: numbers checked against numpy references and statistics, and layers left untouched."""

import keras
import numpy as np
import pytest
from layer_checks import to_numpy

from kflayers import FeatureMixing, GatedFeatureFusion, GlobalWeightsMixer, PositionalEmbedding, TemporalMixing, TokenEmbedding
from kflayers.probes import (
    TOTAL,
    dropout_variance,
    feature_impact,
    mode_difference,
    parameter_counts,
    stage_parameter_counts,
    stage_shapes,
)
from staged_layer_cases import BATCH, CASE_IDS, CASES, SERIES, TIME, Case, normal, variable_values, window

DROPOUT = 0.3
FF_DIM = 5


def feature_mixing(dropout=DROPOUT, ff_dim=FF_DIM):
    return Case("fm", lambda: FeatureMixing(n_series=SERIES, input_size=TIME, dropout=dropout, ff_dim=ff_dim), window).build()


def run_in_chunks_of(monkeypatch, passes):
    """Make dropout_variance run `feature_mixing()`'s passes `passes` at a time (its largest stage is dense_1)."""
    monkeypatch.setattr("kflayers.probes.monte_carlo._CHUNK_ELEMENTS", passes * BATCH * TIME * FF_DIM)


def feature_mixing_reference(layer, x):
    """FeatureMixing in inference mode, written from its definition in float64."""
    gamma, beta, moving_mean, moving_variance = (w.numpy().astype(np.float64) for w in layer.batch_norm.weights)
    flat = x.reshape(len(x), -1).astype(np.float64)
    normed = ((flat - moving_mean) / np.sqrt(moving_variance + layer.batch_norm.epsilon) * gamma + beta).reshape(x.shape)
    w1, b1 = (w.numpy().astype(np.float64) for w in layer.dense_1.weights)
    w2, b2 = (w.numpy().astype(np.float64) for w in layer.dense_2.weights)
    return x + np.maximum(normed @ w1 + b1, 0.0) @ w2 + b2


# ------------------------------------------------------------------ no probe changes the layer

PROBES = {
    "dropout_variance": lambda layer, inputs, kwargs: dropout_variance(layer, inputs, samples=8, seed=3, **kwargs),
    "mode_difference": lambda layer, inputs, kwargs: mode_difference(layer, inputs, seed=3, **kwargs),
    "stage_shapes": lambda layer, inputs, kwargs: stage_shapes(
        layer, keras.tree.map_structure(lambda x: x.shape, inputs), **kwargs
    ),
    "parameter_counts": lambda layer, inputs, kwargs: parameter_counts(layer),
    "stage_parameter_counts": lambda layer, inputs, kwargs: stage_parameter_counts(layer),
}


@pytest.mark.parametrize("probe", PROBES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_probes_leave_the_layer_unchanged(case, probe):
    layer, inputs, call_kwargs = case.build()
    before = variable_values(layer)
    paths = [variable.path for variable in layer.variables]
    PROBES[probe](layer, inputs, call_kwargs)
    assert [variable.path for variable in layer.variables] == paths
    for path, old, new in zip(paths, before, variable_values(layer)):
        np.testing.assert_array_equal(new, old, err_msg=path)


def test_feature_impact_leaves_the_layer_unchanged():
    layer, x, _ = feature_mixing()
    before = variable_values(layer)
    feature_impact(layer, x)
    for old, new in zip(before, variable_values(layer)):
        np.testing.assert_array_equal(new, old)


@pytest.mark.parametrize(
    "probe",
    [
        lambda layer, x: dropout_variance(layer, x),
        lambda layer, x: mode_difference(layer, x),
        lambda layer, x: feature_impact(layer, x),
    ],
    ids=["dropout_variance", "mode_difference", "feature_impact"],
)
def test_data_probes_refuse_to_build_a_layer(probe):
    layer = FeatureMixing(n_series=SERIES, input_size=TIME, dropout=DROPOUT, ff_dim=5)
    with pytest.raises(ValueError, match="needs a built layer, but 'feature_mixing.*' is not built yet"):
        probe(layer, window())
    assert not layer.built


# ------------------------------------------------------------------ dropout_variance


def test_dropout_variance_std_is_zero_before_the_first_dropout_and_positive_after():
    layer, x, _ = feature_mixing()
    result = dropout_variance(layer, x, samples=16, seed=1)
    inference = layer.trace(x)
    assert list(result) == list(inference)
    for name, (mean, std) in result.items():
        assert mean.shape == std.shape == tuple(inference[name].shape), name
    for name in ("input", "flatten", "batch_norm", "reshape", "dense_1", "activation"):
        assert np.all(result[name][1] == 0.0), name
        np.testing.assert_allclose(result[name][0], to_numpy(inference[name]), rtol=1e-6, atol=1e-6)
    # Dropout scales each hidden unit by 0 or 1 / (1 - p): units the activation zeroed stay at 0.
    active = to_numpy(inference["activation"]) != 0
    assert np.all(result["dropout_1"][1][~active] == 0.0)
    assert np.mean(result["dropout_1"][1][active] > 0) > 0.95
    for name in ("dense_2", "dropout_2", "residual"):
        assert np.mean(result[name][1] > 0) > 0.9, name


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_dropout_variance_without_dropout_has_zero_std_everywhere(case):
    layer, inputs, call_kwargs = case.build()
    for sub_layer in layer._flatten_layers():
        if isinstance(sub_layer, keras.layers.Dropout):
            sub_layer.rate = 0.0
        if isinstance(sub_layer, keras.layers.MultiHeadAttention):
            sub_layer._dropout = 0.0
            sub_layer._dropout_layer.rate = 0.0
    result = dropout_variance(layer, inputs, samples=4, seed=0, **call_kwargs)
    for name, (_, std) in result.items():
        assert np.all(std == 0.0), name


@pytest.mark.parametrize("chunk_passes", [None, 5], ids=["one_chunk", "chunks_of_5_passes"])
def test_dropout_variance_of_the_dropout_stage_matches_bernoulli_maths(monkeypatch, chunk_passes):
    # dropout_1 = h * keep / (1 - p) with keep ~ Bernoulli(1 - p): mean h, variance h^2 p / (1 - p).
    if chunk_passes:
        run_in_chunks_of(monkeypatch, chunk_passes)  # 64 passes: 13 chunks of 5, the last counting 4
    layer, x, _ = feature_mixing()
    samples = 64
    mean, std = dropout_variance(layer, x, samples=samples, seed=5)["dropout_1"]
    hidden = to_numpy(layer.trace(x)["activation"]).astype(np.float64)
    active = hidden > 0.1
    assert active.sum() > 50
    expected_variance = hidden[active] ** 2 * DROPOUT / (1 - DROPOUT)
    # The population-form sample variance has expectation (n - 1) / n of the true one.
    ratio = np.mean(std[active] ** 2 / expected_variance) * samples / (samples - 1)
    assert abs(ratio - 1) < 0.1
    z = (mean[active] - hidden[active]) / np.sqrt(expected_variance / samples)
    assert abs(np.sqrt(np.mean(z**2)) - 1) < 0.2


def kept_counts(layer, x, samples, seed):
    """How many of the passes kept each clearly active hidden unit, read back from dropout_1's mean.

    A kept unit is h / keep and a dropped one 0, so the mean over the passes is h * kept / (samples * keep).
    """
    mean, _ = dropout_variance(layer, x, samples=samples, seed=seed)["dropout_1"]
    hidden = to_numpy(layer.trace(x)["activation"]).astype(np.float64)
    active = hidden > 0.1
    return mean[active] * samples * (1 - layer.dropout) / hidden[active]


def test_dropout_variance_in_chunks_counts_every_pass_once(monkeypatch):
    # 8 passes run as 3 equal chunks of 3, of which the last counts 2.
    run_in_chunks_of(monkeypatch, 3)
    layer, x, _ = feature_mixing()
    kept = kept_counts(layer, x, samples=8, seed=7)
    np.testing.assert_allclose(kept, np.round(kept), atol=1e-3)
    assert np.round(kept).min() >= 0 and np.round(kept).max() <= 8
    assert len(np.unique(np.round(kept))) > 3
    mixer = GlobalWeightsMixer(mod_dim=4, n_features=3, dropout=0.5)
    features = normal(BATCH, 3, 4)
    mixer(features)
    skip_mean, skip_std = dropout_variance(mixer, features, samples=8, seed=0)["skip"]
    assert np.all(skip_std == 0.0)
    np.testing.assert_allclose(skip_mean, features.mean(axis=1), rtol=1e-6, atol=1e-7)


def test_dropout_masks_keep_the_exact_rate_below_the_first_random_byte():
    # keep = 2**-9 = 2**23 / 2**32: a unit's first random byte never decides (it is kept only when
    # that byte is 0 and the next bits fall below 2**23), so this checks the masks' finest resolution.
    layer, x, _ = Case(
        "fm", lambda: FeatureMixing(n_series=SERIES, input_size=TIME, dropout=1 - 2**-9, ff_dim=64), window
    ).build()
    samples = 256
    kept = kept_counts(layer, x, samples=samples, seed=3)
    np.testing.assert_allclose(kept, np.round(kept), atol=1e-2)
    draws, keep = kept.size * samples, 2**-9
    assert draws * keep > 300
    assert abs(np.round(kept).sum() - draws * keep) < 5 * np.sqrt(draws * keep * (1 - keep))


def test_dropout_variance_mean_converges_to_the_inference_output():
    layer, x, _ = feature_mixing()
    samples = 256
    mean, std = dropout_variance(layer, x, samples=samples, seed=2)["residual"]
    inference = feature_mixing_reference(layer, x)
    # Inverted dropout before and after a linear layer keeps the expectation: the error is pure
    # sampling noise, std / sqrt(samples) per element.
    standard_error = std / np.sqrt(samples)
    varying = standard_error > 1e-6
    z = (mean[varying] - inference[varying]) / standard_error[varying]
    assert np.all(np.abs(z) < 6)
    assert 0.7 < np.sqrt(np.mean(z**2)) < 1.3
    np.testing.assert_allclose(mean[~varying], inference[~varying], atol=1e-5)


def test_dropout_variance_counts_the_leading_passes_of_the_last_chunk(monkeypatch):
    # In chunks of 3, both 8 and 9 passes run the same three chunks with the same masks; the 8-pass
    # run leaves the last pass out. So 9 * mean_9 - 8 * mean_8 is that ninth pass alone: a real
    # dropout outcome, in which every hidden unit is either 0 or h / (1 - p).
    run_in_chunks_of(monkeypatch, 3)
    layer, x, _ = feature_mixing()
    hidden = to_numpy(layer.trace(x)["activation"]).astype(np.float64)
    mean_8, _ = dropout_variance(layer, x, samples=8, seed=7)["dropout_1"]
    mean_9, _ = dropout_variance(layer, x, samples=9, seed=7)["dropout_1"]
    ninth = 9 * mean_9.astype(np.float64) - 8 * mean_8.astype(np.float64)
    dropped = np.isclose(ninth, 0.0, atol=1e-4)
    kept = np.isclose(ninth, hidden / (1 - DROPOUT), rtol=1e-4, atol=1e-4)
    assert np.all(dropped | kept)
    active = hidden > 0.1
    assert 0.4 < kept[active].mean() < 0.95  # about 1 - p of the active units are kept


def test_dropout_variance_tiles_the_mask():
    layer, inputs, call_kwargs = next(case for case in CASES if case.id == "self_mixer_masked").build()
    result = dropout_variance(layer, inputs, samples=8, seed=1, **call_kwargs)
    mean, std = result["importance"]
    assert np.all(mean[:, 1] == 0.0) and np.all(std[:, 1] == 0.0)
    np.testing.assert_allclose(mean, to_numpy(layer.importance(inputs, **call_kwargs)), rtol=1e-6, atol=1e-7)
    assert np.all(std == 0.0)  # the importance is the attention weights before attention dropout
    assert np.all(result["mixed"][1] > 0)  # which then acts on the mix


def test_dropout_variance_of_a_batch_free_table():
    layer = PositionalEmbedding(max_len=20, d_model=6)
    x = window()
    layer(x)
    mean, std = dropout_variance(layer, x, samples=4)["table"]
    np.testing.assert_array_equal(mean, to_numpy(layer(x)))
    assert np.all(std == 0.0)


@pytest.mark.parametrize("samples", [0, -3, 2.5, True])
def test_dropout_variance_rejects_bad_sample_counts(samples):
    layer, x, _ = feature_mixing()
    with pytest.raises(ValueError, match=r"`samples` must be a positive integer; got"):
        dropout_variance(layer, x, samples=samples)


def test_dropout_variance_rejects_bad_seeds():
    layer, x, _ = feature_mixing()
    with pytest.raises(ValueError, match=r"`seed` must be an integer or None; got 1.5"):
        dropout_variance(layer, x, seed=1.5)


# ------------------------------------------------------------------ mode_difference


def test_mode_difference_of_batch_norm_matches_numpy():
    layer, x, _ = feature_mixing(dropout=0.0)
    result = mode_difference(layer, x)
    gamma, beta, moving_mean, moving_variance = (w.numpy().astype(np.float64) for w in layer.batch_norm.weights)
    flat = x.reshape(len(x), -1).astype(np.float64)
    epsilon = layer.batch_norm.epsilon
    batch_normed = (flat - flat.mean(0)) / np.sqrt(flat.var(0) + epsilon) * gamma + beta
    moving_normed = (flat - moving_mean) / np.sqrt(moving_variance + epsilon) * gamma + beta
    assert result["input"] == result["flatten"] == 0.0
    np.testing.assert_allclose(result["batch_norm"], np.mean(np.abs(batch_normed - moving_normed)), rtol=1e-4)
    assert result["residual"] > 0


def test_mode_difference_with_dropout_only():
    layer = GlobalWeightsMixer(mod_dim=4, n_features=3, dropout=0.5)
    x = normal(BATCH, 3, 4)
    layer(x)
    result = mode_difference(layer, x, seed=0)
    assert result["input"] == result["importance"] == result["mixed"] == result["skip"] == 0.0
    assert result["dropout"] > 0 and result["output"] > 0


def test_mode_difference_is_zero_for_a_layer_without_modes():
    layer = GatedFeatureFusion()
    a, b = window(), normal(BATCH, TIME, SERIES, seed=1)
    layer([a, b])
    assert set(mode_difference(layer, [a, b]).values()) == {0.0}


# ------------------------------------------------------------------ feature_impact


def feature_impact_reference(layer, x):
    """The perturbation loop written out in numpy over the float64 reference."""
    original = feature_mixing_reference(layer, x)
    impact = np.zeros((SERIES, SERIES))
    for i in range(SERIES):
        replaced = x.copy()
        replaced[:, :, i] = x[:, :, i].mean(axis=1, keepdims=True)
        impact[i] = np.abs(feature_mixing_reference(layer, replaced) - original).mean(axis=(0, 1))
    return impact


def test_feature_impact_matches_numpy_reference():
    layer, x, _ = feature_mixing()
    np.testing.assert_allclose(feature_impact(layer, x), feature_impact_reference(layer, x), rtol=1e-4, atol=1e-6)


def test_series_without_mlp_weights_only_moves_itself():
    layer, x, _ = feature_mixing()
    kernel = layer.dense_1.kernel.numpy()
    kernel[1] = 0.0
    layer.dense_1.kernel.assign(kernel)
    impact = feature_impact(layer, x)
    assert np.all(impact[1, [0, 2]] == 0.0)
    own_change = np.abs(x[:, :, 1] - x[:, :, 1].mean(axis=1, keepdims=True)).mean()
    np.testing.assert_allclose(impact[1, 1], own_change, rtol=1e-5)
    assert np.all(impact[[0, 2]][:, [0, 2]] > 0)


def test_temporal_mixing_impact_is_diagonal():
    layer, x, _ = Case("tm", lambda: TemporalMixing(n_series=SERIES, input_size=TIME, dropout=DROPOUT), window).build()
    impact = feature_impact(layer, x)
    assert np.all(impact[~np.eye(SERIES, dtype=bool)] == 0.0)
    assert np.all(np.diag(impact) > 0)


def test_feature_impact_rejects_non_window_layers():
    table = PositionalEmbedding(max_len=20, d_model=6)
    table(window())
    with pytest.raises(ValueError, match=r"needs a layer from \(batch, time, series\) windows.*maps inputs of shape \(16, 12, 3\) to outputs of shape \(1, 12, 6\)"):
        feature_impact(table, window())
    fusion = GatedFeatureFusion()
    fusion([window(), window()])
    with pytest.raises(ValueError, match=r"was given a structure of 2 inputs"):
        feature_impact(fusion, [window(), window()])
    with pytest.raises(ValueError, match=r"was given an input of shape \(4, 12\)"):
        feature_impact(fusion, window()[:, :, 0])


# ------------------------------------------------------------------ parameter_counts and stage_shapes


def test_parameter_counts_of_feature_mixing():
    layer, _, _ = feature_mixing(ff_dim=5)
    plane = TIME * SERIES
    expected = {
        "batch_norm": 4 * plane,
        "dense_1": SERIES * 5 + 5,
        "dropout_1": 0,
        "dense_2": 5 * SERIES + SERIES,
        "dropout_2": 0,
    }
    expected[TOTAL] = sum(expected.values())
    assert parameter_counts(layer) == expected
    assert expected[TOTAL] == layer.count_params()


def test_parameter_counts_of_own_weights_and_of_an_unbuilt_layer():
    layer = TokenEmbedding(c_in=SERIES, d_model=6, kernel_size=3)
    counts = parameter_counts(layer, input_shape=(None, TIME, SERIES))
    assert counts == {"kernel": 3 * SERIES * 6, "bias": 6, TOTAL: 3 * SERIES * 6 + 6}
    assert not layer.built
    with pytest.raises(ValueError, match=r"parameter_counts\(\) of the unbuilt layer 'token_embedding.*' needs `input_shape`"):
        parameter_counts(layer)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_stage_shapes_match_a_real_trace(case):
    layer, inputs, call_kwargs = case.build()
    traced = layer.trace(inputs, **call_kwargs)
    input_shape = keras.tree.map_structure(lambda x: x.shape, inputs)
    shapes = stage_shapes(layer, input_shape, **call_kwargs)
    assert shapes == {name: tuple(tensor.shape) for name, tensor in traced.items()}
    assert list(shapes) == list(traced)


def test_stage_shapes_keep_an_unknown_batch_and_leave_the_layer_unbuilt():
    layer = FeatureMixing(n_series=SERIES, input_size=TIME, dropout=DROPOUT, ff_dim=5)
    shapes = stage_shapes(layer, (None, TIME, SERIES))
    assert shapes["flatten"] == (None, TIME * SERIES)
    assert shapes["dense_1"] == (None, TIME, 5)
    assert shapes["residual"] == (None, TIME, SERIES)
    assert not layer.built
    assert stage_shapes(PositionalEmbedding(max_len=20, d_model=6), (None, TIME, SERIES)) == {"table": (1, TIME, 6)}


# ------------------------------------------------------------------ stage_parameter_counts: every weight in one stage

D, F = 8, 3  # mixers: mod_dim and n_features


def _dense(n_in, n_out, bias=True):
    return n_in * n_out + (n_out if bias else 0)


def _attention_counts(bias):
    # Four mod_dim x mod_dim projections (query and key make the importance, value and output the mix).
    return {"importance": 2 * _dense(D, D, bias), "mixed": 2 * _dense(D, D, bias)}


def _mixers():
    import kflayers

    for keep_dim in (False, True):
        for skip in (True, False):
            common = {"dropout": 0.2, "skip": skip, "keep_dim": keep_dim}
            tag = f"keep_dim={keep_dim},skip={skip}"
            yield (f"global,{tag}", lambda c=common: kflayers.GlobalWeightsMixer(D, F, **c), {"importance": F})
            for bias in (True, False):
                yield (f"instance,bias={bias},{tag}", lambda c=common, b=bias: kflayers.InstanceWeightsMixer(D, F, bias=b, **c),
                       {"importance": _dense(F * D, F, bias)})
                for heads in (1, 2, 4):
                    for name, cls in (("self", kflayers.SelfAttentionMixer), ("cross", kflayers.CrossAttentionMixer)):
                        yield (f"{name},heads={heads},bias={bias},{tag}",
                               lambda c=common, b=bias, h=heads, k=cls: k(D, n_heads=h, bias=b, **c),
                               _attention_counts(bias))


STAGE_COUNT_CASES = [
    ("feature_mixing", lambda: FeatureMixing(n_series=SERIES, input_size=TIME, dropout=0.1, ff_dim=5), window,
     {"batch_norm": 4 * TIME * SERIES, "dense_1": _dense(SERIES, 5), "dense_2": _dense(5, SERIES)}),
    ("temporal_mixing", lambda: TemporalMixing(n_series=SERIES, input_size=TIME, dropout=0.1), window,
     {"batch_norm": 4 * TIME * SERIES, "dense": _dense(TIME, TIME)}),
    *[(f"token_embedding,bias={bias},{padding}",
       lambda b=bias, p=padding: TokenEmbedding(c_in=SERIES, d_model=6, kernel_size=3, padding=p, use_bias=b), window,
       {"conv": 3 * SERIES * 6, **({"bias": 6} if bias else {})})
      for bias in (True, False) for padding in ("circular", "causal")],
    ("positional_embedding", lambda: PositionalEmbedding(max_len=20, d_model=6), window, {}),
    ("gated_feature_fusion", lambda: GatedFeatureFusion(), lambda: [window(), normal(BATCH, TIME, SERIES, seed=1)],
     {"gate": _dense(2 * SERIES, SERIES)}),
    *[(name, make, lambda: normal(BATCH, F, D), expected) for name, make, expected in _mixers()],
]


@pytest.mark.parametrize("make, inputs, expected", [case[1:] for case in STAGE_COUNT_CASES],
                         ids=[case[0] for case in STAGE_COUNT_CASES])
def test_every_weight_is_counted_in_the_stage_that_uses_it(make, inputs, expected):
    layer = make()
    traced = layer.trace(inputs())
    counts = stage_parameter_counts(layer)
    assert list(counts) == [*layer.stage_descriptions(), TOTAL]
    assert {stage: count for stage, count in counts.items() if count and stage != TOTAL} == expected
    # The stages the pipeline shows (those of a trace) hold every weight of the layer.
    assert sum(counts[stage] for stage in traced) == counts[TOTAL] == layer.count_params() == sum(expected.values())
    assert sum(len(weights) for weights in layer.stage_weights().values()) == len(layer.weights)


def test_stage_parameter_counts_of_an_unbuilt_layer_leave_it_unbuilt():
    layer = TokenEmbedding(c_in=SERIES, d_model=6, kernel_size=3)
    counts = stage_parameter_counts(layer, input_shape=(None, TIME, SERIES))
    assert counts == {"input": 0, "padded": 0, "conv": 3 * SERIES * 6, "bias": 6, TOTAL: 3 * SERIES * 6 + 6}
    assert not layer.built
    with pytest.raises(ValueError, match=r"stage_parameter_counts\(\) of the unbuilt layer 'token_embedding.*' needs"):
        stage_parameter_counts(layer)


def _renamed(stage_weights):
    """A GlobalWeightsMixer whose declaration is `stage_weights`, built."""

    class Renamed(GlobalWeightsMixer):
        STAGE_WEIGHTS = stage_weights

    layer = Renamed(mod_dim=D, n_features=F)
    layer(normal(BATCH, F, D))
    return layer


def test_a_weight_or_sub_layer_that_no_stage_claims_is_an_error_not_a_missing_count():
    with pytest.raises(ValueError, match=r"Renamed.STAGE_WEIGHTS puts no stage on renamed.*/coefficients; add each to "
                                         r"the stage that uses it"):
        stage_parameter_counts(_renamed({"mixed_dropout": "dropout", "weights": "importance"}))
    with pytest.raises(ValueError, match=r"puts no stage on sub-layer 'mixed_dropout'"):
        stage_parameter_counts(_renamed({"coefficients": "importance"}))
    with pytest.raises(ValueError, match=r"puts 'coefficients' in the stage 'weights', which is not one of its STAGES "
                                         r"\(input, masked_input, importance, mixed, dropout, skip, output\)"):
        stage_parameter_counts(_renamed({"mixed_dropout": "dropout", "coefficients": "weights"}))


def test_a_weight_claimed_twice_is_an_error():
    import kflayers

    class Twice(kflayers.SelfAttentionMixer):
        STAGE_WEIGHTS = {**kflayers.SelfAttentionMixer.STAGE_WEIGHTS, "attention": "mixed"}

    layer = Twice(mod_dim=D)
    layer(normal(BATCH, F, D))
    with pytest.raises(ValueError, match=r"claims the weight '.*attention/query/kernel' twice \(stages 'importance' and "
                                         r"'mixed'\)"):
        layer.stage_weights()
