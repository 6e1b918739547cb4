"""Probes: numbers about a layer's forward pass, computed by the layer itself.

Every probe runs the layer's own `call()` (through `StagedLayer.trace()`), so
what it reports is what the layer computes, on any keras backend. No probe
changes the layer: BatchNormalization and Dropout are steered through
`stage_mode()`, which neither updates moving statistics nor advances the
layer's dropout seed generators, and the probes that need a layer built for
another input shape work on a fresh copy.

- `dropout_variance` (`monte_carlo`): mean and spread of every stage over Monte Carlo dropout passes.
- `mode_difference`, `stage_differences`, `feature_impact` (`comparison`): how stages differ between
  training and inference, and how much each output series depends on each input series.
- `stage_shapes`, `stage_parameter_counts`, `parameter_counts` (`shapes`): the pipeline of a layer without a
  dataset: each stage's shape and weights, and the weights of each sub-layer.
"""

from kflayers.probes.comparison import feature_impact, mode_difference, stage_differences
from kflayers.probes.monte_carlo import dropout_variance
from kflayers.probes.shapes import TOTAL, parameter_counts, stage_parameter_counts, stage_shapes

__all__ = [
    "TOTAL",
    "dropout_variance",
    "feature_impact",
    "mode_difference",
    "parameter_counts",
    "stage_differences",
    "stage_parameter_counts",
    "stage_shapes",
]
