"""Streamlit glue for the kflayers app: shared state, controls, data choice, page scaffolding.

Nothing here computes: numbers come from `kflayers.explore`, `kflayers.probes`
and `kflayers.batch`, figures from `kflayers.figures`. Modules that need
TensorFlow (`ui.layers`) are imported only by the layer pages, so the home
page starts without it.
"""
