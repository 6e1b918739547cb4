"""Smoke-check an installed kflayers wheel, from a directory outside the checkout.

    python wheel_smoke.py path/to/kflayers-*.whl

.ci/run installs the wheel with one keras backend in a fresh virtual
environment and runs this script with that environment's python. It checks
what a user of the package meets first: the wheel holds only `kflayers`,
`import kflayers` pulls in none of the app's libraries, every docstring
example runs, every layer works in a functional model with a mask that keras
propagates, and a `.keras` file of that model loads back to identical outputs.
Only the standard library, keras and numpy are used.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import sys
import tempfile
import zipfile
from pathlib import Path

APP_LIBRARIES = ("streamlit", "plotly", "pandas", "tensorflow")
"""Libraries of the app (and the TensorFlow backend) that `import kflayers` must not import."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"wheel smoke check failed: {message}")


def say(message: str) -> None:
    print(f"[wheel] {message}", flush=True)


def check_wheel_contents(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top_level = sorted({name.split("/")[0] for name in names})
    unexpected = [name for name in top_level if name != "kflayers" and not name.endswith(".dist-info")]
    check(not unexpected, f"{wheel.name} holds more than the kflayers package: {unexpected}")
    check("kflayers/probes/monte_carlo.py" in names, f"{wheel.name} lacks kflayers/probes: {names}")
    say(f"{wheel.name} holds only kflayers ({len(names)} files)")


def import_installed_kflayers():
    before = set(sys.modules)
    kflayers = importlib.import_module("kflayers")
    importlib.import_module("kflayers.probes")
    location = Path(kflayers.__file__).resolve()
    check("site-packages" in location.parts, f"kflayers was imported from {location}, not from the installed wheel")
    imported = sorted({name.split(".")[0] for name in set(sys.modules) - before} & set(APP_LIBRARIES))
    check(not imported, f"import kflayers imported {imported}; the package must need only keras and numpy")
    import keras

    say(f"import kflayers from {location.parent} on keras {keras.__version__} ({keras.backend.backend()}); "
        f"none of {', '.join(APP_LIBRARIES)} imported")
    return kflayers


def run_docstring_examples(kflayers) -> None:
    attempted = failed = 0
    for module_info in pkgutil.walk_packages(kflayers.__path__, prefix="kflayers."):
        result = doctest.testmod(importlib.import_module(module_info.name), optionflags=doctest.ELLIPSIS)
        attempted += result.attempted
        failed += result.failed
    check(attempted > 0, "found no docstring examples in the installed kflayers")
    check(failed == 0, f"{failed} of {attempted} docstring examples failed (see above)")
    say(f"all {attempted} docstring examples ran")


def every_layer_model(kflayers):
    """A functional model that uses every kflayers layer; the mixers get the mask of Embedding(mask_zero=True)."""
    import keras

    time, series, width = 12, 3, 8
    window = keras.Input((time, series), name="window")
    tokens = keras.Input((4,), dtype="int32", name="tokens")
    mixed = kflayers.FeatureMixing(series, time, dropout=0.1, ff_dim=16)(window)
    mixed = kflayers.TemporalMixing(series, time, dropout=0.1)(mixed)
    embedded = kflayers.TokenEmbedding(series, width)(mixed)
    embedded = embedded + kflayers.PositionalEmbedding(max_len=time, d_model=width)(embedded)
    over_time = keras.layers.GlobalAveragePooling1D()(embedded)
    token_vectors = keras.layers.Embedding(10, width, mask_zero=True, name="token_embedding")(tokens)
    pooled = [
        kflayers.GlobalWeightsMixer(width, n_features=4)(token_vectors),
        kflayers.InstanceWeightsMixer(width, n_features=4)(token_vectors),
        kflayers.SelfAttentionMixer(width, n_heads=2)(token_vectors),
        kflayers.CrossAttentionMixer(width, n_heads=2)(token_vectors),
    ]
    fused = kflayers.GatedFeatureFusion()([over_time, pooled[0]])
    return keras.Model([window, tokens], keras.layers.Concatenate()([fused, *pooled[1:]]))


def check_model_and_round_trip(kflayers) -> None:
    import keras
    import numpy as np

    model = every_layer_model(kflayers)
    used = {type(layer).__name__ for layer in model.layers} & set(kflayers.__all__)
    missing = {name for name in kflayers.__all__ if isinstance(getattr(kflayers, name), type)
               and issubclass(getattr(kflayers, name), kflayers.StagedLayer)} - used - {"StagedLayer"}
    check(not missing, f"the smoke model leaves out {sorted(missing)}")
    rng = np.random.default_rng(0)
    inputs = [rng.normal(size=(3, 12, 3)).astype("float32"), np.array([[0, 0, 3, 4], [5, 0, 7, 2], [1, 2, 3, 4]])]
    output = keras.ops.convert_to_numpy(model(inputs, training=False))
    check(output.shape == (3, 32) and bool(np.all(np.isfinite(output))), f"bad output of shape {output.shape}")

    # Padding (token 0) is masked for every mixer, so its embedding row cannot reach the output.
    table = model.get_layer("token_embedding").embeddings
    changed = keras.ops.convert_to_numpy(table)
    changed[0] += 100.0
    table.assign(changed)
    check(np.array_equal(keras.ops.convert_to_numpy(model(inputs, training=False)), output),
          "changing the padding token's embedding changed the output: the mask did not reach the mixers")
    say(f"a functional model of {len(used)} kflayers layers runs, the embedding's mask reaching its mixers")

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "smoke.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
    reloaded = keras.ops.convert_to_numpy(loaded(inputs, training=False))
    check(np.array_equal(reloaded, output), "the model loaded from its .keras file gives different outputs")
    say("saved as .keras and loaded back: identical outputs")


def check_a_probe(kflayers) -> None:
    import numpy as np
    from kflayers.probes import dropout_variance

    layer = kflayers.FeatureMixing(3, 12, dropout=0.3, ff_dim=8)
    x = np.random.default_rng(1).normal(size=(4, 12, 3)).astype("float32")
    layer(x)
    mean, std = dropout_variance(layer, x, samples=8, seed=0)["residual"]
    check(mean.shape == std.shape == (4, 12, 3) and np.mean(std > 0) > 0.9, "dropout_variance gave no spread")
    say("kflayers.probes.dropout_variance runs")


def main(argv: list[str]) -> int:
    check(len(argv) == 2, "usage: python wheel_smoke.py path/to/kflayers-*.whl")
    check_wheel_contents(Path(argv[1]))
    kflayers = import_installed_kflayers()
    run_docstring_examples(kflayers)
    check_model_and_round_trip(kflayers)
    check_a_probe(kflayers)
    say("every smoke check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
