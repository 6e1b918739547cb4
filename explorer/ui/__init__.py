"""Streamlit glue for the kflayers app: shared state, controls, data choice, page scaffolding.

Nothing here computes: numbers come from `explorer.compute`, `kflayers.probes`
and `explorer.batch`, figures from `explorer.figures`. Modules that need
TensorFlow (`explorer.ui.layers`) are imported only by the layer pages, so the home
page starts without it.
"""
