"""kflayers: tested Keras 3 layers for time-series and tabular models.

Importing this package registers every layer with keras' serialization, so a
saved `.keras` model that uses them loads with `keras.saving.load_model`.
"""

from kflayers.layers.feature_mixing import FeatureMixing
from kflayers.layers.temporal_mixing import TemporalMixing

__all__ = [
    "FeatureMixing",
    "TemporalMixing",
]

__version__ = "0.1.0"
