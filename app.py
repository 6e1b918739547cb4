"""kflayers explorer, home page: choose the data every page works on, and see what each page shows.

Run with `streamlit run app.py`. This page loads no layer, so it starts
without waiting for TensorFlow.
"""

import streamlit as st

from explorer.figures import series_preview
from explorer.ui import data, page, show

page.setup(__file__)
st.title("kflayers explorer")
st.write(
    "Configure each kflayers layer, feed it real or generated series, and watch the tensor at every stage "
    "of its forward pass. The data and batch you choose here are used by every page and stay chosen while "
    "you move between pages."
)

controls, preview = st.columns([2, 3], gap="large")
with controls:
    st.subheader("Data")
    data.data_controls()
    st.subheader("Batch")
    current = data.current()
with preview:
    shape = current.batch.shape
    st.subheader("What the layers receive")
    st.markdown(f"A batch tensor of shape **({shape[0]}, {shape[1]}, {shape[2]})**: "
                f"{shape[0]} windows × {shape[1]} time steps × {shape[2]} series, each series z-scored.")
    st.caption("Data in use:")
    st.text(current.dataset.label)
    if data.waiting_for_upload():
        st.info("No CSV has loaded yet, so the sample chosen under Bundled sample stands in until one does.")
    show.warnings(current.dataset.notes)
    show.chart(series_preview(current.dataset.frame, list(current.batch.series), current.batch.starts,
                              shape[1]), key="preview")
    dependencies = current.dataset.frame.attrs.get("dependencies")
    if dependencies:
        st.caption("Structure planted by the generator (driver series lead driven ones by `lag` steps):")
        st.dataframe(dependencies, hide_index=True)

st.subheader("The pages")
for entry in page.PAGES[1:]:
    st.page_link(entry.path, label=entry.title, icon=entry.icon)
    st.caption(entry.summary)
