"""explorer.model_file: loading a user's .keras file safely, and what its kflayers layers hold and receive.

The good files are saved by the project's own code (a Learn-page Forecaster, a functional model with a nested
model); every expectation about them is computed from the in-memory model that was saved, not by the loader.
The bad files are built to be bad, and each must give one sentence naming what is wrong.
"""

import keras
import numpy as np
import pytest
from model_files import (dense_only_model, edited_config, functional_model, lambda_model, layer_config,
                         lying_directory, saved, zip_bomb, zip_of)

import kflayers
from explorer import model_file
from explorer.data import synthetic
from explorer.training import fit_forecaster
from explorer.ui.learn import model_bytes
from explorer.model_file import ModelFileError

TARGET = 1


@pytest.fixture(scope="module")
def forecaster():
    """(training result, file bytes): a Forecaster trained for two epochs on 4 synthetic series, windows of 8."""
    frame = synthetic(n_steps=240, n_series=4, seed=0)
    result = fit_forecaster(frame, frame.columns[TARGET], 8, mixer="cross", epochs=2, seed=0)
    return result, model_bytes(result)


@pytest.fixture(scope="module")
def functional():
    model = functional_model()
    return model, saved(model)


def _windows(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _numpy(tensor) -> np.ndarray:
    return keras.ops.convert_to_numpy(tensor)


def _one_sentence(message: str) -> bool:
    return "\n" not in message and message.endswith(".") and "Traceback" not in message


def test_a_learn_page_forecaster_lists_its_kflayers_layers(forecaster):
    result, data = forecaster
    loaded = model_file.load(data)
    original = result.model
    assert [(e.path, e.class_name) for e in loaded.layers] == [
        ("temporal_mixing", "TemporalMixing"), ("head_mixing", "FeatureMixing"), ("mixer", "CrossAttentionMixer")]
    by_path = {e.path: e for e in loaded.layers}
    # What Forecaster(n_series=4, input_size=8, ff_dim=32, dropout=0.1, token_dim=16) builds:
    assert by_path["temporal_mixing"].config == {"n_series": 4, "input_size": 8, "dropout": 0.1, "activation": "relu"}
    assert by_path["head_mixing"].config == {"n_series": 16, "input_size": 2, "dropout": 0.1, "ff_dim": 32,
                                             "activation": "relu"}
    assert by_path["mixer"].config == {"mod_dim": 16, "n_heads": 1, "bias": True, "dropout": 0.1, "skip": True,
                                       "keep_dim": False}
    assert [e.input_shape for e in loaded.layers] == [(None, 8, 4), (None, 2, 16), (None, 4, 16)]
    assert [e.params for e in loaded.layers] == [original.temporal_mixing.count_params(),
                                                 original.head_mixing.count_params(), original.mixer.count_params()]
    # token_projection and head; series_embedding; instance_norm (a kflayers layer without a page: no stages)
    assert loaded.other_layers == {"Dense": 2, "Embedding": 1, "ReversibleInstanceNorm": 1}
    assert loaded.input_shapes == ((None, 8, 4),)
    assert loaded.params == original.count_params()


def test_the_loaded_layers_hold_the_saved_weights(forecaster):
    result, data = forecaster
    loaded = model_file.load(data)
    originals = (result.model.temporal_mixing, result.model.head_mixing, result.model.mixer)
    for entry, layer in zip(loaded.layers, originals, strict=True):
        copy = model_file.layer_copy(entry)
        assert copy is not entry.layer
        for copied, original in zip(copy.get_weights(), layer.get_weights(), strict=True):
            np.testing.assert_array_equal(copied, original)


def test_the_forecasters_mixer_receives_its_tokens_and_gives_its_importance(forecaster):
    result, data = forecaster
    loaded = model_file.load(data)
    windows = _windows((5, 8, 4))
    received = model_file.layer_inputs(loaded, windows)
    assert {path: len(calls) for path, calls in received.items()} == {"temporal_mixing": 1, "head_mixing": 1,
                                                                       "mixer": 1}
    # TemporalMixing gets every window scaled by its own mean and spread per series (the model's RevIN step).
    mean, variance = windows.mean(axis=1, keepdims=True), windows.var(axis=1, keepdims=True)
    normalised = (windows - mean) / np.sqrt(variance + 1e-5)
    np.testing.assert_allclose(received["temporal_mixing"][0], normalised, rtol=1e-4, atol=1e-5)
    tokens = _numpy(result.model.tokens(normalised, training=False))
    np.testing.assert_allclose(received["mixer"][0], tokens, rtol=1e-4, atol=1e-5)
    mixer = model_file.layer_copy(loaded.layer("mixer"))
    np.testing.assert_allclose(_numpy(mixer.importance(received["mixer"][0])),
                               _numpy(result.model.importance(windows)), rtol=1e-6, atol=1e-7)


def test_nested_layers_of_a_functional_model_receive_what_the_layers_before_them_give(functional):
    original, data = functional
    loaded = model_file.load(data)
    assert [(e.path, e.class_name) for e in loaded.layers] == [
        ("embed", "TokenEmbedding"), ("mix", "FeatureMixing"), ("inner/temporal", "TemporalMixing"),
        ("inner/fusion", "GatedFeatureFusion"), ("attend", "SelfAttentionMixer")]
    assert loaded.other_layers == {"Permute": 1, "Dense": 1}
    assert loaded.layer("inner/fusion").input_shape == [(None, 32, 8), (None, 32, 8)]
    windows = _windows((3, 32, 7))
    received = model_file.layer_inputs(loaded, windows)
    # The same path by hand, through the in-memory layers that were saved.
    inner = original.get_layer("inner")
    embedded = _numpy(original.get_layer("embed")(windows))
    mixed = _numpy(original.get_layer("mix")(embedded, training=False))
    temporal = _numpy(inner.get_layer("temporal")(mixed, training=False))
    fused = _numpy(inner.get_layer("fusion")([mixed, temporal]))
    np.testing.assert_allclose(received["mix"][0], embedded, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(received["inner/temporal"][0], mixed, rtol=1e-5, atol=1e-6)
    fusion_a, fusion_b = received["inner/fusion"][0]
    np.testing.assert_allclose(fusion_a, mixed, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fusion_b, temporal, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(received["attend"][0], np.transpose(fused, (0, 2, 1)), rtol=1e-5, atol=1e-6)


def test_a_fresh_layer_swapped_in_changes_that_layer_only_and_the_model_is_left_as_it_was(forecaster):
    result, data = forecaster
    loaded = model_file.load(data)
    windows = _windows((6, 8, 4), seed=1)
    before = _numpy(loaded.model(windows, training=False))
    fresh = kflayers.CrossAttentionMixer(mod_dim=16, dropout=0.1)
    fresh.build((None, 4, 16))
    saved_output, swapped = model_file.outputs_with_fresh_layer(loaded, windows, "mixer", fresh)
    # Reference: the same Forecaster rebuilt with the saved weights, then given the fresh mixer's weights.
    reference = kflayers.Forecaster.from_config(result.model.get_config())
    reference(windows[:1])
    reference.set_weights(result.model.get_weights())
    np.testing.assert_allclose(saved_output, _numpy(reference(windows, training=False)), rtol=1e-5, atol=1e-6)
    reference.mixer.set_weights(fresh.get_weights())
    np.testing.assert_allclose(swapped, _numpy(reference(windows, training=False)), rtol=1e-5, atol=1e-6)
    assert not np.allclose(swapped, saved_output)
    assert all("call" not in vars(entry.layer) for entry in loaded.layers)
    np.testing.assert_array_equal(_numpy(loaded.model(windows, training=False)), before)


def test_a_run_that_fails_still_gives_every_layer_its_own_call_back(forecaster):
    loaded = model_file.load(forecaster[1])
    with pytest.raises(ValueError):
        model_file.layer_inputs(loaded, _windows((2, 9, 4)))  # one time step too many
    assert all("call" not in vars(entry.layer) for entry in loaded.layers)


def test_the_input_problem_says_what_the_model_expects(forecaster):
    loaded = model_file.load(forecaster[1])
    assert loaded.input_problem((16, 8, 4)) is None
    assert loaded.input_problem((16, 32, 7)) == (
        "This model expects windows of 8 time steps of 4 series (input shape (any, 8, 4)); the batch has windows "
        "of 32 time steps of 7 series.")
    assert loaded.window_shape == (8, 4)


def test_the_store_loads_a_file_once_and_forgets_the_least_recently_used(forecaster, functional):
    store = model_file.ModelStore(max_entries=1)
    first = store.load(forecaster[1])
    assert store.load(forecaster[1]) is first
    second = store.load(functional[1])
    assert store.get(first.digest) is None and store.get(second.digest) is second
    source = second.weights_source("inner/fusion")
    assert source == f"model:{second.digest}:inner/fusion"
    assert type(model_file.layer_copy_from(source, store)).__name__ == "GatedFeatureFusion"
    with pytest.raises(ModelFileError, match="no longer loaded"):
        model_file.layer_copy_from(first.weights_source("mixer"), store)


def _without_argument(name, argument):
    return lambda config: layer_config(config, name).pop(argument)


def _with_argument(name, **arguments):
    return lambda config: layer_config(config, name).update(arguments)


def _renamed_class(name, class_name):
    def change(config):
        for item in _items(config):
            if isinstance(item.get("config"), dict) and item["config"].get("name") == name:
                item["class_name"], item["registered_name"] = class_name, f"kflayers>{class_name}"
    return change


def _outside_module(name):
    def change(config):
        for item in _items(config):
            if isinstance(item.get("config"), dict) and item["config"].get("name") == name:
                item["module"] = "mypackage.layers"
    return change


def _items(tree):
    if isinstance(tree, dict):
        yield tree
        for value in tree.values():
            yield from _items(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _items(value)


@pytest.mark.parametrize("change, message", [
    (_with_argument("mix", colour="red"),
     "Layer 'mix' (FeatureMixing) was saved with the argument `colour`, which FeatureMixing of kflayers 0.1.0 does "
     "not take: the file was probably saved by another kflayers version, so save the model again with this one."),
    (_without_argument("mix", "ff_dim"),
     "Layer 'mix' (FeatureMixing) was saved without the argument `ff_dim`, which FeatureMixing of kflayers 0.1.0 "
     "requires: the file was probably saved by another kflayers version, so save the model again with this one."),
    (_with_argument("embed", padding="mirror"),
     "Layer 'embed' (TokenEmbedding) has a config kflayers 0.1.0 refuses: `padding` must be one of "
     "['circular', 'same', 'causal']; got 'mirror'."),
    (_renamed_class("attend", "FancyMixer"),
     "Layer 'attend' is a kflayers FancyMixer, which kflayers 0.1.0 does not have: the file was probably saved by "
     "another kflayers version."),
    (_with_argument("mix", ff_dim=11),  # the config no longer fits the weights saved beside it
     "The saved weights do not fit the model's config: mix/dense_1/kernel has shape (8, 12) in the weights file, "
     "but the config makes it (8, 11); the two were not saved together (was config.json edited?), so save the "
     "model again."),
    (_outside_module("out"),
     "This model uses Dense from the module 'mypackage.layers', which is neither Keras nor kflayers; the app "
     "refuses it, because loading a class from other code would run that code on the server."),
], ids=["unknown argument", "missing argument", "refused value", "unknown class", "weights of the wrong shape",
        "class from other code"])
def test_an_edited_config_is_refused_with_the_layer_and_argument(functional, change, message):
    with pytest.raises(ModelFileError) as refused:
        model_file.load(edited_config(functional[1], change))
    assert str(refused.value) == message


def test_a_forecaster_saved_with_another_argument_names_it(forecaster):
    data = edited_config(forecaster[1], lambda config: config["config"].update(n_lags=3))
    with pytest.raises(ModelFileError, match=r"^Layer 'forecaster' \(Forecaster\) was saved with the argument "
                                             r"`n_lags`, which Forecaster of kflayers"):
        model_file.load(data)


def test_a_lambda_layer_is_refused_as_code():
    data = saved(lambda_model())
    with pytest.raises(ModelFileError) as refused:
        model_file.load(data)
    assert str(refused.value).startswith("This model contains a Lambda layer ('double'), which the app does not load")
    assert "arbitrary commands on the server" in str(refused.value) and _one_sentence(str(refused.value))


def test_keras_safe_mode_refuses_the_lambda_too_when_loading_is_reached():
    """The second guard: keras' own safe mode, reached here without the config check before it."""
    with pytest.raises(ModelFileError) as refused:
        model_file._load_keras(saved(lambda_model()))
    assert str(refused.value).startswith("This model contains Python code, which the app does not load")


def test_a_model_without_kflayers_layers_is_refused():
    with pytest.raises(ModelFileError) as refused:
        model_file.load(saved(dense_only_model()))
    assert str(refused.value) == (
        "This model has no kflayers layer (it has Dense, Flatten); the pages can only open kflayers layers, so load "
        "a model built with them, such as the Learn page's download.")


@pytest.mark.parametrize("data, start", [
    (b"date,a,b\n2024-01-01,1,2\n", "This file is not a .keras model archive"),
    (zip_of({"model.weights.h5": b"\x89HDF"}), "This zip archive has no config.json, so it is not a Keras model file"),
    (zip_of({"config.json": b"{not json"}), "This archive's config.json cannot be read as JSON"),
    (bytes(model_file.MAX_FILE_BYTES + 2**20), "This file is 65.0 MB; the app loads model files of up to 64.0 MB."),
], ids=["not a zip", "no config.json", "config.json not JSON", "over the size limit"])
def test_a_file_that_is_not_a_model_archive_is_refused_in_one_sentence(data, start):
    with pytest.raises(ModelFileError) as refused:
        model_file.load(data)
    assert str(refused.value).startswith(start) and _one_sentence(str(refused.value))


def test_a_zip_bomb_is_refused_from_its_directory():
    bomb = zip_bomb()
    assert len(bomb) < 2**20  # 64 MB of zeros packed into well under a megabyte
    with pytest.raises(ModelFileError) as refused:
        model_file.load(bomb)
    assert str(refused.value).startswith("This archive unpacks to ")
    assert "times its packed size, as a zip bomb does" in str(refused.value)


def test_an_archive_claiming_a_huge_member_is_refused_before_unpacking():
    crafted = lying_directory(zip_of({"config.json": b"{}"}), claimed_bytes=3 * 2**30)
    with pytest.raises(ModelFileError) as refused:
        model_file.load(crafted)
    assert str(refused.value) == ("This archive would unpack to 3,072.0 MB, more than the 256.0 MB the app unpacks, "
                                  "so it is refused.")
