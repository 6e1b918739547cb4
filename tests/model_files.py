"""Model files for the Your model tests: saved by the project's own code, and files built to be bad.

The good files are a Learn-page Forecaster (trained with `explorer.training.fit_forecaster` and saved as the
page's download saves it) and a functional model with several kflayers layers, one of them inside a nested
model. The bad ones are made from good ones by editing their config.json, or built from scratch.
"""

from __future__ import annotations

import io
import json
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import keras
import numpy as np

import kflayers

WINDOW, SERIES = 32, 7
"""The shape of the app's default batch windows (the default sample's first seven series)."""


def saved(model: keras.Model) -> bytes:
    """`model` saved with model.save, as the bytes of the .keras file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        return path.read_bytes()


def functional_model(window: int = WINDOW, n_series: int = SERIES) -> keras.Model:
    """TokenEmbedding -> FeatureMixing -> a nested model (TemporalMixing, GatedFeatureFusion) -> a mixer -> Dense.

    The nested model fuses its input with its TemporalMixing output; the mixer treats each embedding channel as
    a feature whose vector is the window.
    """
    keras.utils.set_random_seed(7)
    d_model = 8
    inputs = keras.Input((window, n_series), name="windows")
    embedded = kflayers.TokenEmbedding(c_in=n_series, d_model=d_model, name="embed")(inputs)
    mixed = kflayers.FeatureMixing(n_series=d_model, input_size=window, dropout=0.1, ff_dim=12, name="mix")(embedded)
    inner_inputs = keras.Input((window, d_model))
    temporal = kflayers.TemporalMixing(d_model, window, 0.1, name="temporal")(inner_inputs)
    fused = kflayers.GatedFeatureFusion(name="fusion")([inner_inputs, temporal])
    inner = keras.Model(inner_inputs, fused, name="inner")
    channels = keras.layers.Permute((2, 1), name="channels")(inner(mixed))
    pooled = kflayers.SelfAttentionMixer(mod_dim=window, n_heads=2, name="attend")(channels)
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(pooled), name="outer")
    # Move every weight off its initial value, as training would, so that a loaded layer cannot pass for a fresh one.
    for variable in model.weights:
        variable.assign(variable + keras.random.normal(variable.shape, stddev=0.1, seed=3))
    return model


def edited_config(data: bytes, change: Callable[[dict], None]) -> bytes:
    """A copy of a .keras file whose config.json `change` has edited (the weights stay as they are)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for member in source.infolist():
            content = source.read(member.filename)
            if member.filename == "config.json":
                config = json.loads(content)
                change(config)
                content = json.dumps(config).encode()
            target.writestr(member, content)
    return buffer.getvalue()


def layer_config(config: dict, name: str) -> dict:
    """The config of the layer called `name`, anywhere in a model's config.json (nested models included)."""
    found = _find(config, name)
    if found is None:
        raise KeyError(name)
    return found


def _find(tree, name: str):
    if isinstance(tree, dict):
        if isinstance(tree.get("config"), dict) and "class_name" in tree and tree["config"].get("name") == name:
            return tree["config"]
        children = tree.values()
    elif isinstance(tree, list):
        children = tree
    else:
        return None
    for child in children:
        found = _find(child, name)
        if found is not None:
            return found
    return None


def lambda_model() -> keras.Model:
    """A model with a Python lambda in it (it saves fine; loading it needs safe mode off)."""
    inputs = keras.Input((WINDOW, SERIES))
    doubled = keras.layers.Lambda(lambda x: x * 2.0, name="double")(inputs)
    return keras.Model(inputs, kflayers.FeatureMixing(SERIES, WINDOW, 0.0, 4)(doubled))


def dense_only_model() -> keras.Model:
    inputs = keras.Input((WINDOW, SERIES))
    return keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(inputs)))


def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def zip_bomb(unpacked_bytes: int = 64 * 2**20) -> bytes:
    """A model-like archive whose weights member is `unpacked_bytes` of zeros, deflated about a thousandfold."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", b"{}")
        with archive.open("model.weights.h5", "w", force_zip64=True) as weights:
            chunk = bytes(2**20)
            for _ in range(unpacked_bytes // len(chunk)):
                weights.write(chunk)
    return buffer.getvalue()


def lying_directory(data: bytes, claimed_bytes: int) -> bytes:
    """`data` (a zip archive) with its central directory claiming that its first member unpacks to `claimed_bytes`.

    The member itself is unchanged: only the size the directory declares (offset 24 of the central directory
    header) is rewritten, as a crafted archive would.
    """
    header = data.rindex(b"PK\x01\x02")  # the last member's central directory header
    return data[:header + 24] + struct.pack("<I", claimed_bytes) + data[header + 28:]


def forecaster_windows(frame, series: list[str], window: int) -> np.ndarray:
    """The windows the app's default batch holds for `frame` (16 evenly spaced, z-scored over all rows)."""
    from explorer.batch import make_batch

    return make_batch(frame, series, window, 16).values
