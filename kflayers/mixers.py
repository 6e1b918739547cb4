"""The four mixers by short name: the one list every caller (the forecaster, the app) reads."""

from __future__ import annotations

import inspect

from kflayers.layers.base import check_choice
from kflayers.layers.cross_attention_mixer import CrossAttentionMixer
from kflayers.layers.global_weights_mixer import GlobalWeightsMixer
from kflayers.layers.instance_weights_mixer import InstanceWeightsMixer
from kflayers.layers.self_attention_mixer import SelfAttentionMixer

MIXERS = {
    "global": GlobalWeightsMixer,
    "instance": InstanceWeightsMixer,
    "self": SelfAttentionMixer,
    "cross": CrossAttentionMixer,
}
"""Short name -> mixer class, in the order the app lists them."""


def mixer_arguments(mixer_class) -> tuple[str, ...]:
    """The constructor arguments of a mixer class (without the base layer's `**kwargs`)."""
    parameters = inspect.signature(mixer_class.__init__).parameters.values()
    return tuple(p.name for p in parameters if p.name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD)


def make_mixer(flavour: str, mod_dim: int, n_features: int, dropout: float = 0.0, **kwargs):
    """A mixer by its short name; `n_features` is passed only to the flavours that fix it.

    Example:

    >>> mixer = make_mixer("global", mod_dim=8, n_features=3)
    >>> type(mixer).__name__
    'GlobalWeightsMixer'
    """
    mixer_class = MIXERS[check_choice("mixer", flavour, tuple(MIXERS))]
    if "n_features" in mixer_arguments(mixer_class):
        kwargs["n_features"] = n_features
    return mixer_class(mod_dim, dropout=dropout, **kwargs)
