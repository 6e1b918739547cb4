"""Your model: load a trained .keras file, see its kflayers layers, and open each on its page."""

import streamlit as st

from explorer.ui import page, show

page.setup(__file__)
current = page.data_sidebar()

from explorer.ui import model  # noqa: E402  (TensorFlow loads after the sidebar is drawn)

st.title("Your model")
st.write("Load a model saved as a .keras file: the Learn page's download, or any Keras model with kflayers layers "
         "in it, nested models included. The page lists its kflayers layers; open one on its page to see it with "
         "the model's weights, fed what it receives inside the model when the model runs on the current batch. "
         "Files are loaded in Keras' safe mode: a model holding Python code (a Lambda layer, a custom class) is "
         "refused, and so is an archive too large to unpack.")
model.upload_control()
kept = model.session_model()
if kept is None:
    st.info("No model is loaded yet. Train one on the Learn page and download it (Model, .keras), or choose any "
            ".keras file with kflayers layers.")
    st.stop()

loaded = kept.loaded
model.model_summary(kept)
model.batch_fit(loaded, current, "yourmodel")

st.subheader("Its kflayers layers")
st.dataframe(model.layer_table(loaded), hide_index=True)
st.caption(show.plain(model.other_layers_text(loaded)))
model.open_buttons(kept)

st.subheader("The layers' weights against fresh ones")
if loaded.input_problem(current.batch.shape) is None:
    model.both_ways(kept, current)
else:
    st.caption("The model cannot run on this batch (see above), so its output cannot be compared here; the layer "
               "pages still compare each layer with a fresh one on the page's own batch where it fits.")
