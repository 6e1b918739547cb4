"""Token & Positional Embedding: a convolution that embeds each time step, and the sinusoid position table."""

import streamlit as st

from explorer.ui import controls, page, show

page.setup(__file__)
current = page.data_sidebar()

from explorer import compute, figures  # noqa: E402  (TensorFlow loads after the sidebar is drawn)
from kflayers.layers.token_embedding import PADDINGS  # noqa: E402
from explorer.ui import layers, model, scrub  # noqa: E402

# A TokenEmbedding opened from your model replaces the page's own; its inputs stand in for the batch.
opened = model.opened("emb", current, layers.as_is)
if opened:
    current = opened.current
n_windows, input_size, n_series = current.batch.shape
D_MODELS = list(range(1, compute.NESTED_SIZES["TokenEmbedding"][1] + 1))
D_MODEL_HELP = ("Embedding channels per time step (the convolution's filters). The weights are nested: one more "
                "channel keeps every filter the smaller layer had.")

with st.sidebar:
    st.header("TokenEmbedding")
    if opened:
        weights = opened.weights
        d_model, kernel_size, padding, use_bias = (opened.config[name] for name in
                                                   ("d_model", "kernel_size", "padding", "use_bias"))
        model.panel(opened)
    else:
        weights = layers.weights_control("emb_weights")
        d_model = scrub.value("emb_d_model", D_MODELS, 16)
        if weights == "fresh":
            st.caption(f"d_model = {d_model}: move it on the Stages tab, where every stage follows the hand.")
        else:
            st.caption(f"d_model = {d_model}: trained weights were trained at this size, so it stays fixed; switch "
                       "Weights to Fresh to move it.")
        kernel_size = controls.slider("kernel_size", "emb_kernel_size", 1, 15, 3, 1,
                                      help="Time steps each filter looks at around the output step.")
        padding = controls.select("padding", "emb_padding", PADDINGS, "circular",
                                  help="How the window is extended so the output keeps its length: circular wraps "
                                       "the other end around, same adds zeros on both sides, causal adds zeros "
                                       "before the start only.")
        use_bias = controls.toggle("use_bias", "emb_use_bias", True,
                                   help="Add a learned bias per embedding channel.")
    st.header("PositionalEmbedding")
    max_len = controls.slider("max_len", "emb_max_len", input_size, max(input_size, 10_000), max(input_size, 5000),
                              1, help="Longest sequence the table covers; the window uses its first rows.")
    st.caption(f"c_in = {n_series} comes from the {'layer' if opened else 'batch'}; d_model is shared by both "
               "layers.")
    training = layers.mode_toggle("emb_training")

st.title("Token & Positional Embedding")
st.write("TokenEmbedding turns the series of every time step into d_model channels with a 1-D convolution over "
         "time, after padding the window so its length stays the same. PositionalEmbedding adds no weights: it "
         "is a fixed table of sines and cosines that tells a model where in the window each step is.")

token = layers.LayerChoice.of("TokenEmbedding", {"c_in": n_series, "d_model": d_model, "kernel_size": kernel_size,
                                                 "padding": padding, "use_bias": use_bias}, current, weights=weights)
inputs = layers.page_inputs(token, current, layers.as_is)
token = layers.resolve_weights(token, current, layers.as_is)
# The position table has no weights to train: it is the same fixed table either way.
position = layers.LayerChoice.of("PositionalEmbedding", {"max_len": max_len, "d_model": d_model}, current)
stages = layers.trace(token, training, inputs)
table = layers.trace(position, training, inputs)

left_pad, _ = compute.padding_sides(stages["input"][0], stages["padded"][0])
window = layers.window_select(current, "emb_window")

stages_tab, embedding_tab, padding_tab, kernels_tab, table_tab, modes_tab, export_tab = controls.tabs(
    "emb_view", ["Stages", "Input and embedding", "Padding", "Learned kernels", "Position table",
                 "Training vs inference", "Export"])
if stages_tab.open:
    with stages_tab:
        def view(stage, array, index):
            return compute.embedding_stage_view(stage, array, index, current.batch.series, left_pad)

        if token.weights == "fresh" and not opened:
            layers.scrub_stages_section(token, "d_model", "emb_d_model", D_MODELS, inputs, stages, window, training,
                                        view, "emb", title="Pipeline of TokenEmbedding", fallback=lambda: controls.slider(
                                            "d_model", "emb_d_model", 1, D_MODELS[-1], 16, 1, help=D_MODEL_HELP))
        else:
            layers.pipeline_section(token, stages, window, title="Pipeline of TokenEmbedding", view=view)
            layers.activations_section(token, stages, window, view, "emb")
if embedding_tab.open:
    with embedding_tab:
        output_stage = list(stages)[-1]
        left, right = st.columns(2)
        with left:
            show.chart(figures.stage_heatmap(stages["input"][window], "input", "series", "time step",
                                             current.batch.series), key="input_heatmap")
        with right:
            show.chart(figures.stage_heatmap(stages[output_stage][window], output_stage, "embedding channel",
                                             "time step"), key="output_heatmap")
if padding_tab.open:
    with padding_tab:
        column = layers.series_select("Series", current, "emb_series")
        show.chart(figures.padding_view(stages["padded"][window, :, column], left_pad, input_size,
                                        current.batch.series[column], padding), key="padding")
if kernels_tab.open:
    with kernels_tab:
        channel = controls.slider("Embedding channel", "emb_channel", 0, d_model - 1, 0, 1,
                                  help="Which output channel's filter to show.")
        layers.side_by_side(token, lambda shown, suffix: show.chart(
            figures.kernel_heatmap(compute.token_kernel(layers.layer(shown), channel), current.batch.series,
                                   left_pad, channel), key="kernel" + suffix))
if table_tab.open:
    with table_tab:
        layers.pipeline_section(position, table, window, title="PositionalEmbedding: the table",
                                value_ranges={"table": (-1.0, 1.0)})
        show.chart(figures.stage_heatmap(table["table"][0], "table", "embedding channel", "time step",
                                         value_range=(-1.0, 1.0)), key="position_table")
if modes_tab.open:
    with modes_tab:
        layers.mode_difference_chart(
            token, inputs, note="Neither layer has dropout or batch normalisation, so training and inference mode "
                                "compute the same thing: every bar below is zero.")
if export_tab.open:
    with export_tab:
        layers.export_section(token, stages, training, title="TokenEmbedding")
        layers.export_section(position, table, training, title="PositionalEmbedding")
