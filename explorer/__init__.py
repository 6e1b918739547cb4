"""The Streamlit app's own code, beside `app.py` and `pages/`: not part of the kflayers package.

- `data`: the CSV loader, the bundled samples, the synthetic generator, windows (pandas; no keras).
- `batch`: the batch of windows every page feeds its layer.
- `figures`: plotly figures with their one-sentence captions (no keras, no Streamlit).
- `compute`: what the layer pages compute about a layer (build, trace, views, exports).
- `training`: the Learn page's training recipe around `kflayers.Forecaster`.
- `ui`: the Streamlit glue: shared state, controls, data choice, page sections.
"""
