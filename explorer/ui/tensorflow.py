"""Load TensorFlow and the kflayers layers once per server, and keep keras' state safe across threads.

Pages import this module where they first need the layers (never the home
page). Two things follow from Streamlit calling keras.backend.clear_session()
after every script run:

- clear_session() replaces keras' per-thread state for every thread at once.
  A training on the worker thread (explorer.trained) or another session's
  script building a layer at that moment loses its scopes and pending
  variables halfway ("You cannot add new elements of state to a layer that
  is already built", "EagerTensor has no attribute _unique_id"). The app
  never needs that reset, so here clear_session() only collects garbage,
  which is what Streamlit calls it for.
- That collection would walk TensorFlow's ~400,000 long-lived objects
  (~180 ms on a 2-core machine). Freezing them once keeps them out of the
  walk; objects made later are collected as before.
"""

import gc

import keras

import kflayers  # noqa: F401  (imports keras and TensorFlow, and registers every layer)


def _collect_garbage_only(free_memory: bool = True) -> None:
    """What Streamlit's call of keras.backend.clear_session() is for, without resetting other threads' state."""
    if free_memory:
        gc.collect()


keras.backend.clear_session = _collect_garbage_only
gc.freeze()
