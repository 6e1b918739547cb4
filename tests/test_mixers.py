"""The four mixers against numpy references written from the maths (torch's nn.MultiheadAttention for attention)."""

import math

import keras
import numpy as np
import pytest
from keras.src import testing
from layer_checks import to_numpy

from kflayers import GlobalWeightsMixer, InstanceWeightsMixer, SelfAttentionMixer
from kflayers.layers.mixer import AttentionMixer
from kflayers.mixers import MIXERS, mixer_arguments

MOD_DIM = 4
N_FEATURES = 3
ATOL = 1e-5
KINDS = list(MIXERS)
ATTENTION_KINDS = [kind for kind in KINDS if issubclass(MIXERS[kind], AttentionMixer)]


def mixer_kwargs(kind, mod_dim=MOD_DIM, n_features=N_FEATURES):
    """The constructor arguments of the tests' mixers: two heads for attention, `n_features` where it is fixed."""
    kwargs = {"mod_dim": mod_dim}
    if "n_features" in mixer_arguments(MIXERS[kind]):
        kwargs["n_features"] = n_features
    if kind in ATTENTION_KINDS:
        kwargs["n_heads"] = 2
    return kwargs


def make_mixer(kind, **overrides):
    return MIXERS[kind](**{**mixer_kwargs(kind), **overrides})


def randomized(layer, x=None):
    """`layer` (built on `x` unless already built) with every weight (biases too) set to random values."""
    if not layer.built:
        layer.build(x.shape)
    rng = np.random.default_rng(7)
    for weight in layer.weights:
        weight.assign(rng.normal(scale=0.7, size=weight.shape).astype("float32"))
    return layer


def sample(*shape):
    return np.random.default_rng(3).normal(size=shape).astype("float32")


# ---------------------------------------------------------------- numpy references


def softmax(logits):
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def torch_layout(attention):
    """The keras MultiHeadAttention's weights as torch's nn.MultiheadAttention holds them: W (out, in), b (out,)."""
    weights = {}
    for name, dense in (("q", attention.query_dense), ("k", attention.key_dense), ("v", attention.value_dense)):
        weights["W" + name] = dense.kernel.numpy().reshape(MOD_DIM, MOD_DIM).T
        weights["b" + name] = dense.bias.numpy().reshape(MOD_DIM)
    weights["Wo"] = attention.output_dense.kernel.numpy().reshape(MOD_DIM, MOD_DIM).T
    weights["bo"] = attention.output_dense.bias.numpy()
    return weights


def torch_multihead_attention(query, key_value, weights, n_heads, key_bias):
    """nn.MultiheadAttention(batch_first=True) with a float key_padding_mask: (output, head-averaged weights)."""
    batch, n_queries, embed = query.shape
    head_dim = embed // n_heads

    def heads(t):
        return t.reshape(batch, -1, n_heads, head_dim).transpose(0, 2, 1, 3)

    q = heads(query @ weights["Wq"].T + weights["bq"])
    k = heads(key_value @ weights["Wk"].T + weights["bk"])
    v = heads(key_value @ weights["Wv"].T + weights["bv"])
    attn = softmax(q @ k.transpose(0, 1, 3, 2) / math.sqrt(head_dim) + key_bias[:, None, None, :])
    out = (attn @ v).transpose(0, 2, 1, 3).reshape(batch, n_queries, embed)
    return out @ weights["Wo"].T + weights["bo"], attn.mean(axis=1)


def reference(layer, x, mask=None):
    """(output, importance) of `layer` on `x` (..., n, d), computed in numpy; mask as the layer takes it
    (boolean: True keeps a feature; float: added to the logits)."""
    leading, (n, d) = x.shape[:-2], x.shape[-2:]
    flat = x.reshape(-1, n, d).astype("float64")
    if mask is None:
        key_bias = np.zeros(flat.shape[:2])
    else:
        mask = np.broadcast_to(mask, x.shape[:-1]).reshape(-1, n)
        key_bias = np.where(mask, 0.0, -np.inf) if mask.dtype == bool else mask.astype("float64")
    kept = np.isfinite(key_bias)
    flat = np.where(kept[..., None], flat, 0.0)  # masked features are zeroed before anything sees them

    if isinstance(layer, GlobalWeightsMixer):
        importance = softmax(layer.coefficients.numpy()[None, :] + key_bias)
        mixed = np.einsum("bn,bnd->bd", importance, flat)
    elif isinstance(layer, InstanceWeightsMixer):
        projection = layer.projection
        logits = flat.reshape(-1, n * d) @ projection.kernel.numpy() + projection.bias.numpy()
        importance = softmax(logits + key_bias)
        mixed = np.einsum("bn,bnd->bd", importance, flat)
    else:
        weights = torch_layout(layer.attention)
        if isinstance(layer, SelfAttentionMixer):
            out, attn = torch_multihead_attention(flat, flat, weights, layer.n_heads, key_bias)
            query_share = kept / kept.sum(axis=-1, keepdims=True)  # masked features are not pooled as queries
            mixed = np.einsum("bqd,bq->bd", out, query_share)
            importance = np.einsum("bqn,bq->bn", attn, query_share)
        else:
            ones = np.ones((flat.shape[0], 1, d))
            out, attn = torch_multihead_attention(ones, flat, weights, layer.n_heads, key_bias)
            mixed, importance = out[:, 0], attn[:, 0]
    output = mixed
    if layer.skip:
        output = output + flat.sum(axis=1) / kept.sum(axis=-1, keepdims=True)
    if layer.keep_dim:
        output = output[:, None, :]
    return output.reshape(leading + output.shape[1:]), importance.reshape(leading + (n,))


# ---------------------------------------------------------------- keras' layer harness


class MixerHarnessTest(testing.TestCase):
    def check(self, kind, input_shape, expected_output_shape, n_weights, **overrides):
        self.run_layer_test(
            MIXERS[kind],
            init_kwargs={**mixer_kwargs(kind), "dropout": 0.1, **overrides},
            input_shape=input_shape,
            expected_output_shape=expected_output_shape,
            expected_num_trainable_weights=n_weights,
            expected_num_non_trainable_weights=0,
        )

    def test_global(self):
        self.check("global", (2, N_FEATURES, MOD_DIM), (2, MOD_DIM), 1)

    def test_instance(self):
        self.check("instance", (2, 5, N_FEATURES, MOD_DIM), (2, 5, 1, MOD_DIM), 2, keep_dim=True)

    def test_instance_without_bias(self):
        self.check("instance", (2, N_FEATURES, MOD_DIM), (2, MOD_DIM), 1, bias=False, skip=False)

    def test_self_attention(self):
        self.check("self", (2, N_FEATURES, MOD_DIM), (2, MOD_DIM), 8)

    def test_cross_attention(self):
        self.check("cross", (2, 5, N_FEATURES, MOD_DIM), (2, 5, MOD_DIM), 8)

    def test_cross_attention_without_bias(self):
        self.check("cross", (2, N_FEATURES, MOD_DIM), (2, 1, MOD_DIM), 4, bias=False, keep_dim=True)


# ---------------------------------------------------------------- values against the references


def masks(shape):
    """Named masks over `shape` (the inputs' shape without mod_dim); boolean ones are True where a feature is kept."""
    keep = np.ones(shape, bool)
    keep[..., 0] = False
    keep[..., -1, 1] = False  # differs between instances, so leading dims must line up
    finite = np.random.default_rng(5).normal(size=shape).astype("float32")
    return {
        "none": None,
        "boolean": keep,
        "finite_float": finite,
        "float_with_-inf": np.where(keep, finite, -np.inf).astype("float32"),
        "shared_boolean": np.array([True, False, True]),  # one mask for every instance, broadcast
    }


@pytest.mark.parametrize("mask_name", list(masks((2, N_FEATURES))))
@pytest.mark.parametrize("kind", KINDS)
def test_output_and_importance_match_numpy_reference(kind, mask_name):
    x = sample(2, 3, N_FEATURES, MOD_DIM)
    mask = masks(x.shape[:-1])[mask_name]
    layer = randomized(make_mixer(kind), x)
    expected_output, expected_importance = reference(layer, x, mask)
    np.testing.assert_allclose(to_numpy(layer(x, mask=mask)), expected_output, atol=ATOL)
    np.testing.assert_allclose(to_numpy(layer.importance(x, mask=mask)), expected_importance, atol=ATOL)


@pytest.mark.parametrize("kind", KINDS)
def test_skip_off_and_keep_dim_match_reference(kind):
    x = sample(2, N_FEATURES, MOD_DIM)
    layer = randomized(make_mixer(kind, skip=False, keep_dim=True), x)
    output = to_numpy(layer(x))
    assert output.shape == (2, 1, MOD_DIM)
    np.testing.assert_allclose(output, reference(layer, x)[0], atol=ATOL)


@pytest.mark.parametrize("kind", KINDS)
def test_importance_sums_to_one_and_masked_features_get_exactly_zero(kind):
    x = sample(2, 3, N_FEATURES, MOD_DIM)
    keep = masks(x.shape[:-1])["boolean"]
    layer = randomized(make_mixer(kind), x)
    importance = to_numpy(layer.importance(x, mask=keep))
    assert importance.shape == (2, 3, N_FEATURES)
    np.testing.assert_allclose(importance.sum(axis=-1), 1.0, atol=1e-6)
    assert np.all(importance[~keep] == 0.0)
    assert np.all(importance[keep] > 0.0)


@pytest.mark.parametrize("mask_kind", ["boolean", "float_with_-inf"])
@pytest.mark.parametrize("kind", KINDS)
def test_masked_features_cannot_influence_anything(kind, mask_kind):
    x = sample(2, 3, N_FEATURES, MOD_DIM)
    mask = masks(x.shape[:-1])[mask_kind]
    ignored = np.isneginf(mask) if mask.dtype != bool else ~mask
    changed = x.copy()
    changed[ignored] = 1e4
    changed[0, 0, 0] = np.nan  # even NaN in an ignored feature stays out
    layer = randomized(make_mixer(kind), x)
    np.testing.assert_array_equal(to_numpy(layer(changed, mask=mask)), to_numpy(layer(x, mask=mask)))
    np.testing.assert_array_equal(
        to_numpy(layer.importance(changed, mask=mask)), to_numpy(layer.importance(x, mask=mask))
    )


@pytest.mark.parametrize("kind", KINDS)
def test_minus_inf_float_mask_equals_boolean_mask(kind):
    x = sample(2, 3, N_FEATURES, MOD_DIM)
    keep = masks(x.shape[:-1])["boolean"]
    as_float = np.where(keep, 0.0, -np.inf).astype("float32")
    layer = randomized(make_mixer(kind), x)
    np.testing.assert_allclose(to_numpy(layer(x, mask=as_float)), to_numpy(layer(x, mask=keep)), atol=1e-6)
    np.testing.assert_allclose(
        to_numpy(layer.importance(x, mask=as_float)), to_numpy(layer.importance(x, mask=keep)), atol=1e-6
    )


@pytest.mark.parametrize("kind", KINDS)
def test_finite_float_mask_shifts_the_logits(kind):
    """Adding log(2) to one feature's logit doubles its odds against every other feature (one query, one head)."""
    x = sample(2, N_FEATURES, MOD_DIM)
    one_head = dict(n_heads=1) if kind in ATTENTION_KINDS else {}
    layer = randomized(make_mixer(kind, **one_head), x)
    shift = np.array([math.log(2.0), 0.0, 0.0], "float32")
    plain, shifted = to_numpy(layer.importance(x)), to_numpy(layer.importance(x, mask=shift))
    if isinstance(layer, SelfAttentionMixer):  # averaged over queries, so compare with the reference instead
        np.testing.assert_allclose(shifted, reference(layer, x, shift)[1], atol=ATOL)
        assert np.all(shifted[:, 0] > plain[:, 0])
    else:
        np.testing.assert_allclose(shifted[:, 0] / shifted[:, 1], 2 * plain[:, 0] / plain[:, 1], rtol=1e-5)
        np.testing.assert_allclose(shifted[:, 1] / shifted[:, 2], plain[:, 1] / plain[:, 2], rtol=1e-5)


@pytest.mark.parametrize("mask_kind", ["boolean", "float"])
@pytest.mark.parametrize("kind", KINDS)
def test_all_features_masked_gives_zeros_not_nan(kind, mask_kind):
    x = sample(2, N_FEATURES, MOD_DIM)
    keep = np.array([[False] * N_FEATURES, [False, True, False]])
    mask = keep if mask_kind == "boolean" else np.where(keep, 0.0, -np.inf).astype("float32")
    layer = randomized(make_mixer(kind), x)
    output, importance = to_numpy(layer(x, mask=mask)), to_numpy(layer.importance(x, mask=mask))
    np.testing.assert_array_equal(output[0], 0.0)
    np.testing.assert_array_equal(importance[0], 0.0)
    expected_output, expected_importance = reference(layer, x[1:], keep[1:])
    np.testing.assert_allclose(output[1:], expected_output, atol=ATOL)
    np.testing.assert_allclose(importance[1:], expected_importance, atol=ATOL)


def output_sum(y_true, y_pred):
    return keras.ops.sum(y_pred)


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_stay_finite_with_masked_rows(kind):
    # One plain SGD step with learning rate 1 moves every weight by minus its gradient of the
    # output's sum, so the step shows the gradients on any backend.
    x = sample(2, N_FEATURES, MOD_DIM)
    x[0] = 1e4
    keep = np.array([[False] * N_FEATURES, [True, False, True]])
    features, mask = keras.Input((N_FEATURES, MOD_DIM)), keras.Input((N_FEATURES,), dtype="bool")
    layer = make_mixer(kind)
    model = keras.Model([features, mask], layer(features, mask=mask))
    randomized(layer)
    before = [weight.numpy() for weight in layer.trainable_weights]
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss=output_sum)
    model.train_on_batch([x, keep], np.zeros((2, MOD_DIM), "float32"))
    gradients = [old - weight.numpy() for old, weight in zip(before, layer.trainable_weights)]
    assert all(np.all(np.isfinite(gradient)) for gradient in gradients)
    assert any(np.any(gradient != 0) for gradient in gradients)


@pytest.mark.parametrize("kind", KINDS)
def test_leading_dims_are_flattened_and_restored(kind):
    x = sample(2, 3, N_FEATURES, MOD_DIM)
    keep = masks(x.shape[:-1])["boolean"]
    layer = randomized(make_mixer(kind), x)
    flat_output = to_numpy(layer(x.reshape(6, N_FEATURES, MOD_DIM), mask=keep.reshape(6, N_FEATURES)))
    np.testing.assert_allclose(to_numpy(layer(x, mask=keep)), flat_output.reshape(2, 3, MOD_DIM), atol=1e-6)
    single = to_numpy(layer(x[1, 2]))  # no leading dims at all
    assert single.shape == (MOD_DIM,)
    np.testing.assert_allclose(single, to_numpy(layer(x))[1, 2], atol=1e-6)


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_attention_mixers_take_any_number_of_features(kind):
    layer = randomized(make_mixer(kind), sample(2, N_FEATURES, MOD_DIM))
    x = sample(2, 6, MOD_DIM)
    np.testing.assert_allclose(to_numpy(layer(x)), reference(layer, x)[0], atol=ATOL)


# ---------------------------------------------------------------- dropout, stages


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_only_in_training(kind):
    x = sample(4, N_FEATURES, MOD_DIM)
    layer = randomized(make_mixer(kind, dropout=0.5), x)
    np.testing.assert_allclose(to_numpy(layer(x, training=False)), reference(layer, x)[0], atol=ATOL)
    stages = {name: to_numpy(tensor) for name, tensor in layer.trace(x, training=True).items()}
    mixed, dropped = stages["mixed"], stages["dropout"]
    assert np.any(dropped == 0.0) and not np.any(mixed == 0.0)
    kept = dropped != 0.0
    np.testing.assert_allclose(dropped[kept], mixed[kept] / 0.5, rtol=1e-5)
    np.testing.assert_allclose(stages["output"], dropped + stages["skip"], atol=1e-6)


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_attention_weights_dropout_changes_mix_but_not_importance(kind):
    x = sample(4, N_FEATURES, MOD_DIM)
    layer = randomized(make_mixer(kind, dropout=0.5), x)
    trained = layer.trace(x, training=True)
    np.testing.assert_allclose(to_numpy(trained["importance"]), reference(layer, x)[1], atol=ATOL)
    assert not np.allclose(to_numpy(trained["mixed"]), to_numpy(layer.trace(x)["mixed"]))


@pytest.mark.parametrize("kind", KINDS)
def test_trace_stages(kind):
    x = sample(2, N_FEATURES, MOD_DIM)
    layer = randomized(make_mixer(kind, keep_dim=True), x)
    keep = np.array([False, True, True])
    masked = {name: to_numpy(tensor) for name, tensor in layer.trace(x, mask=keep).items()}
    assert list(masked) == ["input", "masked_input", "importance", "mixed", "dropout", "skip", "output"]
    assert set(masked) <= set(layer.stage_descriptions())
    np.testing.assert_array_equal(masked["output"], to_numpy(layer(x, mask=keep)))
    np.testing.assert_array_equal(masked["masked_input"][:, 0], 0.0)
    np.testing.assert_array_equal(masked["masked_input"][:, 1:], x[:, 1:])
    np.testing.assert_allclose(np.sum(masked["importance"], axis=-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(masked["skip"], x[:, 1:].mean(axis=1), atol=1e-6)
    plain = make_mixer(kind, skip=False).trace(x)
    assert list(plain) == ["input", "importance", "mixed", "dropout", "output"]


# ---------------------------------------------------------------- masks that keras propagates

VOCABULARY, EMBED_DIM = 10, 8
# Token 0 is padding. Each row is one instance, each token one feature; the last row is all padding.
TOKENS = np.array([[0, 0, 3, 4], [5, 0, 7, 2], [0, 0, 0, 0]], "int32")


def token_model(kind):
    """(batch, n_features) token ids -> Embedding(mask_zero=True) -> mixer, with keras passing the mask on."""
    tokens = keras.Input((TOKENS.shape[1],), dtype="int32")
    embedding = keras.layers.Embedding(VOCABULARY, EMBED_DIM, mask_zero=True)
    mixer = make_mixer(kind, **mixer_kwargs(kind, mod_dim=EMBED_DIM, n_features=TOKENS.shape[1]))
    model = keras.Model(tokens, mixer(embedding(tokens)))
    randomized(mixer)
    return model, embedding, mixer


def test_global_mixer_gives_padding_tokens_no_importance():
    # The example: a fresh GlobalWeightsMixer weighs the kept tokens equally and the padding not at all.
    tokens = TOKENS[:1]
    embedding = keras.layers.Embedding(VOCABULARY, EMBED_DIM, mask_zero=True)
    mixer = GlobalWeightsMixer(mod_dim=EMBED_DIM, n_features=4)
    importance = to_numpy(mixer.importance(embedding(tokens), mask=embedding.compute_mask(tokens)))
    np.testing.assert_array_equal(importance[0, :2], 0.0)
    np.testing.assert_allclose(importance[0, 2:], 0.5, rtol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_padding_tokens_get_exactly_zero_importance(kind):
    _, embedding, mixer = token_model(kind)
    embedded, mask = embedding(TOKENS), embedding.compute_mask(TOKENS)
    padding = TOKENS == 0
    importance = to_numpy(mixer.importance(embedded, mask=mask))
    assert np.all(importance[padding] == 0.0)
    assert np.all(importance[~padding] > 0.0)
    np.testing.assert_allclose(importance[:2].sum(axis=-1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(importance[2], 0.0)  # nothing to weigh in an all-padding row
    # The embedding's output carries its mask, and the mixer picks it up without being told.
    np.testing.assert_array_equal(to_numpy(mixer.importance(embedded)), importance)
    np.testing.assert_array_equal(to_numpy(mixer.trace(embedded, mask=mask)["importance"]), importance)


@pytest.mark.parametrize("kind", KINDS)
def test_padding_embedding_cannot_reach_the_output(kind):
    model, embedding, _ = token_model(kind)
    before = to_numpy(model(TOKENS))
    table = embedding.embeddings.numpy()
    table[0] = 1e3  # the embedding row of padding
    embedding.embeddings.assign(table)
    np.testing.assert_array_equal(to_numpy(model(TOKENS)), before)
    np.testing.assert_allclose(model.predict(TOKENS, verbose=0), before, atol=1e-6)  # compiled, too
    changed = TOKENS.copy()
    changed[0, 2] = 9  # a real token
    assert not np.allclose(to_numpy(model(changed))[0], before[0], atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_all_padding_row_gives_a_finite_zero_output(kind):
    model, _, _ = token_model(kind)
    output = to_numpy(model(TOKENS))
    assert np.all(np.isfinite(output))
    np.testing.assert_array_equal(output[2], 0.0)
    assert np.all(np.abs(output[:2]).max(axis=-1) > 0)


@pytest.mark.parametrize("kind", KINDS)
def test_masking_layer_hides_all_zero_features(kind):
    x = sample(2, N_FEATURES, MOD_DIM)
    x[0, 1] = 0.0  # Masking(0.0) hides a feature whose values are all 0
    keep = np.array([[True, False, True], [True, True, True]])
    features = keras.Input((N_FEATURES, MOD_DIM))
    mixer = make_mixer(kind)
    model = keras.Model(features, mixer(keras.layers.Masking(0.0)(features)))
    randomized(mixer)
    output = to_numpy(model(x))
    np.testing.assert_allclose(output, reference(mixer, x, keep)[0], atol=ATOL)
    # Without the mask the zero feature would take part in the mix and the mean.
    assert not np.allclose(output[0], reference(mixer, x)[0][0], atol=1e-3)


# ---------------------------------------------------------------- lifecycle, serialization


@pytest.mark.parametrize("kind", KINDS)
def test_importance_works_before_any_call(kind):
    layer = make_mixer(kind)
    assert not layer.built
    importance = to_numpy(layer.importance(sample(2, N_FEATURES, MOD_DIM)))
    assert layer.built and importance.shape == (2, N_FEATURES)
    np.testing.assert_allclose(importance.sum(axis=-1), 1.0, atol=1e-6)


def test_fresh_global_mixer_weighs_features_equally():
    importance = to_numpy(GlobalWeightsMixer(MOD_DIM, N_FEATURES).importance(sample(2, N_FEATURES, MOD_DIM)))
    np.testing.assert_allclose(importance, np.full((2, N_FEATURES), 1 / N_FEATURES), atol=1e-7)


def initial_values(layer):
    """What every weight of a freshly initialised `layer` must look like, per weight: ones, zeros or random."""
    if isinstance(layer, GlobalWeightsMixer):
        return ["ones"]
    return ["zeros" if weight.name == "bias" else "random" for weight in layer.weights]


def assert_freshly_initialised(layer, previous):
    for weight, kind, old in zip(layer.weights, initial_values(layer), previous):
        value = weight.numpy()
        if kind == "random":
            assert not np.allclose(value, old) and np.std(value) > 0
        else:
            np.testing.assert_array_equal(value, 1.0 if kind == "ones" else 0.0)


@pytest.mark.parametrize("kind", KINDS)
def test_reset_parameters_reinitialises_in_place(kind):
    x = sample(2, N_FEATURES, MOD_DIM)
    layer = randomized(make_mixer(kind), x)
    variables = list(layer.weights)
    previous = [weight.numpy() for weight in variables]
    layer.reset_parameters()
    assert all(a is b for a, b in zip(layer.weights, variables))
    assert_freshly_initialised(layer, previous)


@pytest.mark.parametrize("kind", KINDS)
def test_new_is_a_fresh_instance_with_the_same_config(kind):
    x = sample(2, N_FEATURES, MOD_DIM)
    layer = randomized(make_mixer(kind, dropout=0.2, skip=False, keep_dim=True), x)
    previous = [weight.numpy() for weight in layer.weights]
    fresh = layer.new()
    assert fresh is not layer and fresh.get_config() == layer.get_config() and fresh.built
    assert not any(a is b for a, b in zip(fresh.weights, layer.weights))
    assert_freshly_initialised(fresh, previous)
    np.testing.assert_array_equal(layer.weights[0].numpy(), previous[0])  # the original is untouched
    assert tuple(fresh(x).shape) == (2, 1, MOD_DIM)
    unbuilt = make_mixer(kind).new()
    assert not unbuilt.built


@pytest.mark.parametrize("kind", KINDS)
def test_keras_file_round_trip_with_mask(kind, tmp_path):
    x = sample(2, 3, N_FEATURES, MOD_DIM)
    keep = masks(x.shape[:-1])["boolean"]
    features = keras.Input((3, N_FEATURES, MOD_DIM))
    mask = keras.Input((3, N_FEATURES), dtype="bool")
    layer = make_mixer(kind, keep_dim=True)
    model = keras.Model([features, mask], layer(features, mask=mask))
    randomized(layer, x)
    path = tmp_path / "mixer.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    output = to_numpy(model([x, keep]))
    np.testing.assert_array_equal(to_numpy(loaded([x, keep])), output)
    np.testing.assert_allclose(output, reference(layer, x, keep)[0], atol=ATOL)


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "kind, overrides, message",
    [
        ("global", dict(mod_dim=0), r"`mod_dim` must be a positive integer; got 0"),
        ("global", dict(n_features=2.5), r"`n_features` must be a positive integer; got 2.5"),
        ("instance", dict(n_features=0), r"`n_features` must be a positive integer; got 0"),
        ("global", dict(dropout=1.0), r"`dropout` must be a number in \[0, 1\); got 1.0"),
        ("instance", dict(skip="yes"), r"`skip` must be True or False; got 'yes'"),
        ("self", dict(keep_dim=1), r"`keep_dim` must be True or False; got 1"),
        ("instance", dict(bias=None), r"`bias` must be True or False; got None"),
        ("cross", dict(bias=0), r"`bias` must be True or False; got 0"),
        ("self", dict(n_heads=0), r"`n_heads` must be a positive integer; got 0"),
        ("cross", dict(n_heads=3), r"`n_heads` must divide `mod_dim`=4; got n_heads=3"),
        ("self", dict(mod_dim=6, n_heads=4), r"`n_heads` must divide `mod_dim`=6; got n_heads=4"),
    ],
)
def test_invalid_arguments(kind, overrides, message):
    with pytest.raises(ValueError, match=message):
        make_mixer(kind, **overrides)


@pytest.mark.parametrize(
    "kind, shape, message",
    [
        ("global", (2, N_FEATURES, 5), r"GlobalWeightsMixer expects inputs of shape \(\.\.\., n_features=3, mod_dim=4\); got \(2, 3, 5\)"),
        ("instance", (2, 4, MOD_DIM), r"InstanceWeightsMixer expects .*n_features=3, mod_dim=4\); got \(2, 4, 4\)"),
        ("self", (2, N_FEATURES, 8), r"SelfAttentionMixer expects inputs of shape \(\.\.\., n_features, mod_dim=4\); got \(2, 3, 8\)"),
        ("cross", (MOD_DIM,), r"CrossAttentionMixer expects .*; got \(4,\)"),
    ],
)
def test_wrong_input_shape(kind, shape, message):
    layer = make_mixer(kind)
    with pytest.raises(ValueError, match=message):
        layer(np.zeros(shape, "float32"))
    with pytest.raises(ValueError, match=message):
        layer.compute_output_shape(shape)


@pytest.mark.parametrize(
    "mask, message",
    [
        (np.zeros((2, 4), bool), r"`mask` must have shape \(\.\.\., n_features=3\), broadcastable to the inputs' \(2, 3\); got \(2, 4\)"),
        (np.zeros((1, 2, 3), bool), r"`mask` must have shape .*; got \(1, 2, 3\)"),
        (np.zeros((2, 3), "int32"), r"`mask` must be boolean \(True = keep the feature, False = ignore it\) or float .*; got dtype int32"),
    ],
)
@pytest.mark.parametrize("kind", ["global", "self"])
def test_wrong_mask(kind, mask, message):
    layer = make_mixer(kind)
    with pytest.raises(ValueError, match=message):
        layer(sample(2, N_FEATURES, MOD_DIM), mask=mask)
