"""kflayers: tested Keras 3 layers for time-series and tabular models.

`import kflayers` registers every layer with keras' serialization, so a saved
`.keras` model that uses them loads with `keras.saving.load_model`.

One exception keeps the Streamlit app's home page fast: when Streamlit is
already imported, the layers (and with them TensorFlow, ~3 s) load on first
use of any layer name instead, so pages that only need `kflayers.data` never
wait for TensorFlow.
"""

import importlib
import sys

__version__ = "0.1.0"

# Public layer name -> module that defines it. To add a layer, add one line here.
_LAYER_MODULES = {
    "FeatureMixing": "kflayers.layers.feature_mixing",
    "TemporalMixing": "kflayers.layers.temporal_mixing",
    "GlobalWeightsMixer": "kflayers.layers.global_weights_mixer",
    "InstanceWeightsMixer": "kflayers.layers.instance_weights_mixer",
    "SelfAttentionMixer": "kflayers.layers.self_attention_mixer",
    "CrossAttentionMixer": "kflayers.layers.cross_attention_mixer",
    "TokenEmbedding": "kflayers.layers.token_embedding",
    "PositionalEmbedding": "kflayers.layers.positional_embedding",
    "GatedFeatureFusion": "kflayers.layers.gated_feature_fusion",
}

__all__ = sorted(_LAYER_MODULES)


def _load_layers() -> None:
    """Import every layer module (registering the layers) and bind the names here."""
    module_globals = globals()
    for name, module in _LAYER_MODULES.items():
        module_globals[name] = getattr(importlib.import_module(module), name)
    # Registers kflayers.learn.Forecaster too, so the Learn page's .keras downloads load with kflayers imported.
    importlib.import_module("kflayers.learn")


def __getattr__(name):
    if name in _LAYER_MODULES:
        _load_layers()
        return globals()[name]
    raise AttributeError(f"module 'kflayers' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAYER_MODULES))


if "streamlit" not in sys.modules:
    _load_layers()
