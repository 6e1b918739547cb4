"""Load TensorFlow and the kflayers layers once per server, then keep them out of garbage collection.

Pages import this module where they first need the layers (never the home
page). After every script run Streamlit calls keras.backend.clear_session(),
whose gc.collect() would walk TensorFlow's ~400,000 long-lived objects
(~180 ms on a 2-core machine). Freezing them once keeps them out of that
walk; objects made later are collected as before.
"""

import gc

import kflayers  # noqa: F401  (imports keras and TensorFlow, and registers every layer)

gc.freeze()
