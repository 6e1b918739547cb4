"""kflayers: tested Keras 3 layers for time-series and tabular models.

`import kflayers` registers every layer (and the `Forecaster` model) with
keras' serialization, so a saved `.keras` model that uses them loads with
`keras.saving.load_model`. The package needs only keras and numpy; keras runs
it on whichever backend `KERAS_BACKEND` names (TensorFlow, JAX or PyTorch).

Masks follow keras: `mask` True means "a real value, keep it".
"""

from kflayers.forecaster import Forecaster
from kflayers.layers.cross_attention_mixer import CrossAttentionMixer
from kflayers.layers.feature_mixing import FeatureMixing
from kflayers.layers.gated_feature_fusion import GatedFeatureFusion
from kflayers.layers.global_weights_mixer import GlobalWeightsMixer
from kflayers.layers.instance_norm import ReversibleInstanceNorm
from kflayers.layers.instance_weights_mixer import InstanceWeightsMixer
from kflayers.layers.positional_embedding import PositionalEmbedding
from kflayers.layers.self_attention_mixer import SelfAttentionMixer
from kflayers.layers.temporal_mixing import TemporalMixing
from kflayers.layers.token_embedding import TokenEmbedding
from kflayers.layers.base import StagedLayer, stage_mode

__version__ = "0.1.0"

__all__ = [
    "CrossAttentionMixer",
    "FeatureMixing",
    "Forecaster",
    "GatedFeatureFusion",
    "GlobalWeightsMixer",
    "InstanceWeightsMixer",
    "PositionalEmbedding",
    "ReversibleInstanceNorm",
    "SelfAttentionMixer",
    "StagedLayer",
    "TemporalMixing",
    "TokenEmbedding",
    "stage_mode",
]
