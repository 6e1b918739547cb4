"""kflayers.probes.dropout_variance against references that share nothing with its batched engine.

Two references: every pass run on its own through the layer, replaying the
masks the engine drew (so the two must agree to rounding), and FeatureMixing
written out in float64 numpy. Plus statistics against keras' own dropout,
the front's exact zeros, seeds, chunking, and the layer left untouched.
Backend-neutral: run with any KERAS_BACKEND.
"""

from collections import defaultdict

import keras
import numpy as np
import pytest

from explorer import compute
from kflayers import FeatureMixing, GlobalWeightsMixer
from kflayers.layers.base import stage_mode
from kflayers.probes import dropout_variance, monte_carlo
from staged_layer_cases import BATCH, CASE_IDS, CASES, SERIES, TIME, Case, variable_values, window

DROPOUT = 0.3
CASES_WITH_DROPOUT = [case for case in CASES if "embedding" not in case.id and "fusion" not in case.id]


def to_numpy(tensor):
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def feature_mixing(dropout=DROPOUT, ff_dim=5):
    return Case("fm", lambda: FeatureMixing(n_series=SERIES, input_size=TIME, dropout=dropout, ff_dim=ff_dim),
                window).build()


class MaskSpy:
    """Records every keep mask the engine draws, as {draw: [mask of each pass, in pass order]}."""

    def __init__(self, monkeypatch, batch):
        self.batch = batch
        self.masks = defaultdict(list)
        self._draw = monte_carlo._keep_mask
        monkeypatch.setattr(monte_carlo, "_keep_mask", self._record)

    def _record(self, seed, chunk, draw, shape, threshold):
        keep = self._draw(seed, chunk, draw, shape, threshold)
        # A chunk's tiled batch is [copy 0, copy 1, ...], each `batch` windows long.
        self.masks[draw].extend(np.split(keep, shape[0] // self.batch))
        return keep

    def passes(self, samples):
        """[[each draw's mask] for every pass], the first `samples` passes (a last chunk may hold more)."""
        return [[self.masks[draw][p] for draw in sorted(self.masks)] for p in range(samples)]


def replayed_passes(layer, inputs, call_kwargs, masks_per_pass):
    """Each pass alone through the layer's own call(), its dropouts applying the given masks in turn."""
    traces = []
    for masks in masks_per_pass:
        replay = iter(masks)

        def dropout_fn(x, rate, noise_shape):
            return keras.ops.where(next(replay), x / (1.0 - rate), keras.ops.zeros_like(x))

        with stage_mode(batch_norm=False, dropout=True, dropout_fn=dropout_fn):
            traces.append({name: to_numpy(t).astype(np.float64) for name, t in
                           layer.trace(inputs, **call_kwargs).items()})
    return {name: np.stack([trace[name] for trace in traces]) for name in traces[0]}


def assert_matches_passes(result, passes):
    assert list(result) == list(passes)
    for name, (mean, std) in result.items():
        values = passes[name]
        np.testing.assert_allclose(mean, values.mean(axis=0), rtol=1e-5, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(std, values.std(axis=0), rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("case", CASES_WITH_DROPOUT, ids=[case.id for case in CASES_WITH_DROPOUT])
def test_estimates_match_each_pass_run_alone_with_the_same_masks(case, monkeypatch):
    layer, inputs, call_kwargs = case.build()
    spy = MaskSpy(monkeypatch, BATCH)
    samples = 12
    result = dropout_variance(layer, inputs, samples=samples, seed=7, **call_kwargs)
    assert spy.masks, "the engine drew no masks"
    assert_matches_passes(result, replayed_passes(layer, inputs, call_kwargs, spy.passes(samples)))


def test_estimates_in_uneven_chunks_count_every_pass_once(monkeypatch):
    # Chunks of at most 3 passes (the largest stage, dense_1, has BATCH * TIME * 5 elements):
    # 8 passes run as 3 chunks of 3, the last of which counts only 2.
    monkeypatch.setattr(monte_carlo, "_CHUNK_ELEMENTS", 3 * BATCH * TIME * 5)
    layer, x, _ = feature_mixing()
    spy = MaskSpy(monkeypatch, BATCH)
    result = dropout_variance(layer, x, samples=8, seed=2)
    assert len(spy.masks[0]) == 9
    assert_matches_passes(result, replayed_passes(layer, x, {}, spy.passes(8)))


def feature_mixing_in_numpy(layer, x, masks_per_pass):
    """Every stage after the first dropout, per pass, from FeatureMixing's definition in float64."""
    gamma, beta, moving_mean, moving_variance = (w.numpy().astype(np.float64) for w in layer.batch_norm.weights)
    flat = x.reshape(len(x), -1).astype(np.float64)
    normed = ((flat - moving_mean) / np.sqrt(moving_variance + layer.batch_norm.epsilon) * gamma + beta)
    w1, b1 = (w.numpy().astype(np.float64) for w in layer.dense_1.weights)
    w2, b2 = (w.numpy().astype(np.float64) for w in layer.dense_2.weights)
    hidden = np.maximum(normed.reshape(x.shape) @ w1 + b1, 0.0)
    stages = defaultdict(list)
    for first, second in masks_per_pass:
        stages["dropout_1"].append(hidden * first / (1 - layer.dropout))
        stages["dense_2"].append(stages["dropout_1"][-1] @ w2 + b2)
        stages["dropout_2"].append(stages["dense_2"][-1] * second / (1 - layer.dropout))
        stages["residual"].append(x + stages["dropout_2"][-1])
    return {name: np.stack(values) for name, values in stages.items()}


def test_feature_mixing_estimates_match_its_definition_in_numpy(monkeypatch):
    layer, x, _ = feature_mixing()
    spy = MaskSpy(monkeypatch, BATCH)
    result = dropout_variance(layer, x, samples=16, seed=4)
    passes = feature_mixing_in_numpy(layer, x, spy.passes(16))
    for name, values in passes.items():
        mean, std = result[name]
        np.testing.assert_allclose(mean, values.mean(axis=0), rtol=1e-4, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(std, values.std(axis=0), rtol=1e-4, atol=1e-5, err_msg=name)


def test_masks_keep_units_at_the_layer_rate():
    layer, x, _ = feature_mixing(ff_dim=64)
    samples = 64
    mean, _ = dropout_variance(layer, x, samples=samples, seed=9)["dropout_1"]
    hidden = to_numpy(layer.trace(x)["activation"])
    active = hidden > 0.05
    # A kept unit is hidden / keep, a dropped one 0: the mean counts the passes that kept it.
    kept = mean[active] * samples * (1 - DROPOUT) / hidden[active]
    np.testing.assert_allclose(kept, np.round(kept), atol=1e-3)
    draws = kept.size * samples
    assert draws > 20_000
    assert abs(np.round(kept).sum() / draws - (1 - DROPOUT)) < 4 * np.sqrt(DROPOUT * (1 - DROPOUT) / draws)


def test_estimates_agree_with_passes_through_keras_dropout():
    # Independent masks (keras.random, the layer's own Dropout path) and many passes on both sides:
    # the per-stage spreads and the output means agree within sampling error.
    layer, x, _ = feature_mixing(ff_dim=16)
    samples = 400
    result = dropout_variance(layer, x, samples=samples, seed=1)
    generator = keras.random.SeedGenerator(5)
    with stage_mode(batch_norm=False, dropout=True, seed=generator):
        traces = [layer.trace(x) for _ in range(samples)]
    for name in ("dropout_1", "dense_2", "dropout_2", "residual"):
        keras_passes = np.stack([to_numpy(trace[name]) for trace in traces]).astype(np.float64)
        ours, theirs = result[name][1].mean(), keras_passes.std(axis=0).mean()
        assert abs(ours / theirs - 1) < 0.05, name
    mean, std = result["residual"]
    keras_mean = np.stack([to_numpy(trace["residual"]) for trace in traces]).mean(axis=0)
    z = (mean - keras_mean) / np.sqrt(2 * std**2 / samples + 1e-12)
    assert np.sqrt(np.mean(z**2)) < 1.3


def test_front_stages_are_the_inference_values_with_std_exactly_zero():
    layer, x, _ = feature_mixing()
    result = dropout_variance(layer, x, samples=16, seed=1)
    inference = layer.trace(x)
    for name in ("input", "flatten", "batch_norm", "reshape", "dense_1", "activation"):
        assert np.all(result[name][1] == 0.0), name
        np.testing.assert_array_equal(result[name][0], to_numpy(inference[name]), err_msg=name)
    # Dropout scales a hidden unit by 0 or 1 / keep: units the activation zeroed stay 0 in every pass.
    active = to_numpy(inference["activation"]) != 0
    assert np.all(result["dropout_1"][1][~active] == 0.0)
    assert np.mean(result["dropout_1"][1][active] > 0) > 0.95
    for name in ("dense_2", "dropout_2", "residual"):
        assert np.mean(result[name][1] > 0) > 0.95, name


def test_a_stage_that_ignores_the_masks_has_std_exactly_zero():
    # The skip mean is recorded after the mixer's dropout but does not depend on it.
    layer = GlobalWeightsMixer(mod_dim=4, n_features=3, dropout=0.5)
    x = np.random.default_rng(3).normal(size=(BATCH, 3, 4)).astype("float32")
    layer(x)
    result = dropout_variance(layer, x, samples=16, seed=0)
    assert list(result).index("skip") > list(result).index("dropout")
    assert np.all(result["skip"][1] == 0.0)
    np.testing.assert_allclose(result["skip"][0], x.mean(axis=1), rtol=1e-6, atol=1e-7)
    assert np.all(result["dropout"][1] > 0)


@pytest.mark.parametrize("case", [case for case in CASES if case not in CASES_WITH_DROPOUT],
                         ids=[case.id for case in CASES if case not in CASES_WITH_DROPOUT])
def test_layers_without_dropout_give_their_inference_values_and_no_spread(case):
    layer, inputs, call_kwargs = case.build()
    result = dropout_variance(layer, inputs, samples=8, seed=0, **call_kwargs)
    inference = layer.trace(inputs, **call_kwargs)
    assert list(result) == list(inference)
    for name, (mean, std) in result.items():
        np.testing.assert_array_equal(mean, to_numpy(inference[name]), err_msg=name)
        assert np.all(std == 0.0), name


def test_rate_zero_gives_no_spread():
    layer, x, _ = feature_mixing(dropout=0.0)
    for name, (mean, std) in dropout_variance(layer, x, samples=8, seed=0).items():
        assert np.all(std == 0.0), name


def test_the_same_seed_gives_the_same_estimates_and_another_seed_others():
    layer, x, _ = feature_mixing()
    first = dropout_variance(layer, x, samples=8, seed=4)
    again = dropout_variance(layer, x, samples=8, seed=4)
    other = dropout_variance(layer, x, samples=8, seed=5)
    for name in first:
        for got, expected in zip(again[name], first[name]):
            np.testing.assert_array_equal(got, expected, err_msg=name)
    assert not np.array_equal(first["residual"][1], other["residual"][1])


def test_chunking_changes_the_masks_not_the_statistics(monkeypatch):
    layer, x, _ = feature_mixing(ff_dim=16)
    samples = 256
    whole = dropout_variance(layer, x, samples=samples, seed=3)
    monkeypatch.setattr(monte_carlo, "_CHUNK_ELEMENTS", 7 * BATCH * TIME * 16)  # 37 chunks of 7 passes
    chunked = dropout_variance(layer, x, samples=samples, seed=3)
    for name in ("dropout_1", "dense_2", "residual"):
        (whole_mean, whole_std), (chunked_mean, chunked_std) = whole[name], chunked[name]
        assert abs(chunked_std.mean() / whole_std.mean() - 1) < 0.05, name
        varying = whole_std > 1e-3
        z = (chunked_mean - whole_mean)[varying] / np.sqrt(2 / samples) / whole_std[varying]
        assert np.sqrt(np.mean(z**2)) < 1.3, name


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_the_layer_is_unchanged(case):
    layer, inputs, call_kwargs = case.build()
    before = variable_values(layer)
    paths = [variable.path for variable in layer.variables]
    output = to_numpy(layer(inputs, **call_kwargs))
    dropout_variance(layer, inputs, samples=8, seed=3, **call_kwargs)
    assert [variable.path for variable in layer.variables] == paths
    for path, old, new in zip(paths, before, variable_values(layer)):
        np.testing.assert_array_equal(new, old, err_msg=path)
    np.testing.assert_array_equal(to_numpy(layer(inputs, **call_kwargs)), output)


def test_the_dropout_tab_summary_is_the_full_estimate_averaged():
    layer = compute.build_layer("FeatureMixing", dict(n_series=SERIES, input_size=TIME, ff_dim=8, dropout=0.2),
                                (None, TIME, SERIES), seed=0)
    x = window()
    summary = compute.dropout_summary(layer, x, 16, 5)
    full = dropout_variance(layer, x, samples=16, seed=5)
    assert summary.stages == list(full)
    np.testing.assert_allclose(summary.stage_std, [std.mean() for _, std in full.values()], rtol=1e-6)
    np.testing.assert_array_equal(summary.output_mean, full["residual"][0])
    np.testing.assert_array_equal(summary.output_std, full["residual"][1])
