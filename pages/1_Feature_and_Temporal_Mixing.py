"""Feature & Temporal Mixing: TSMixer's two MLP blocks, stage by stage."""

import streamlit as st

from explorer.ui import controls, page

page.setup(__file__)
current = page.data_sidebar()

from explorer import compute  # noqa: E402  (TensorFlow loads after the sidebar is drawn)
from explorer.ui import layers, model, scrub  # noqa: E402

# A layer opened from your model replaces the page's own; its inputs stand in for the batch.
opened = model.opened("mix", current, layers.as_is)
if opened:
    current = opened.current
FF_DIMS = list(range(1, compute.NESTED_SIZES["FeatureMixing"][1] + 1))
FF_DIM_HELP = ("Hidden units of the MLP across series: every time step's series vector is projected to ff_dim units "
               "and back. The weights are nested: one more unit keeps every weight the smaller layer had, so a "
               "move by one changes the picture by one unit's share.")
DROPOUTS = [round(0.05 * step, 2) for step in range(19)]
DROPOUT_HELP = "Rate of the dropout after each Dense layer; active in training mode only."
ACTIVATIONS = ("relu", "gelu", "tanh", "sigmoid", "swish", "linear")
n_series, input_size = current.batch.shape[2], current.batch.shape[1]

with st.sidebar:
    st.header("Layer")
    if opened:
        weights, class_name, config = opened.weights, opened.class_name, opened.config
        model.panel(opened)
    else:
        weights = layers.weights_control("mix_weights")
        class_name = controls.select(
            "Layer", "mix_layer", ["FeatureMixing", "TemporalMixing"], "FeatureMixing", radio=True,
            help="FeatureMixing mixes the series at each time step; TemporalMixing mixes the time steps of each "
                 "series.")
        config = {"n_series": n_series, "input_size": input_size}
        if class_name == "FeatureMixing":
            config["ff_dim"] = scrub.value("mix_ff_dim", FF_DIMS, 64)
            if weights == "fresh":
                st.caption(f"ff_dim = {config['ff_dim']}: move it on the Stages tab, where every stage follows "
                           "the hand.")
            else:
                st.caption(f"ff_dim = {config['ff_dim']}: trained weights were trained at this size, so it stays "
                           "fixed; switch Weights to Fresh to move it.")
        config["dropout"] = scrub.value("mix_dropout", DROPOUTS, 0.1)
        st.caption(f"dropout = {config['dropout']}: move it on the Dropout tab, or on the Stages tab in training "
                   "mode, where the pictures follow the hand.")
        config["activation"] = controls.select(
            "activation", "mix_activation", ACTIVATIONS, "relu",
            help="The keras activation after the first Dense layer.")
        st.caption(f"n_series = {n_series} and input_size = {input_size} come from the batch.")
    training = layers.mode_toggle("mix_training")

st.title("Feature & Temporal Mixing")
if class_name == "FeatureMixing":
    st.write("FeatureMixing normalises the window, then runs a two-layer MLP across the series of every time "
             "step (the same weights at every step) and adds the result back to its input.")
else:
    st.write("TemporalMixing normalises the window, then runs one Dense layer along time, separately for every "
             "series (the same weights for all series), and adds the result back to its input. Its hidden size "
             "is input_size, so it has no ff_dim.")

choice = layers.LayerChoice.of(class_name, config, current, weights=weights)
inputs = layers.page_inputs(choice, current, layers.as_is)
choice = layers.resolve_weights(choice, current, layers.as_is)
stages = layers.trace(choice, training, inputs)
window = layers.window_select(current, "mix_window")

stages_tab, io_tab, probes_tab, impact_tab, export_tab = controls.tabs(
    "mix_view", ["Stages", "Input and output", "Dropout and training vs inference", "Cross-series impact", "Export"])
if stages_tab.open:
    with stages_tab:
        def view(stage, array, index):
            return compute.mixing_stage_view(class_name, stage, array, index, current.batch.series)

        scrubbed = [] if opened else (["ff_dim"] if class_name == "FeatureMixing" and choice.weights == "fresh"
                                      else []) + (["dropout"] if training else [])
        if scrubbed:
            control = controls.select(
                "Move", "mix_scrub", scrubbed, scrubbed[0], radio=True,
                help="Which setting the control beside the pipeline moves; every stage follows it as it moves. "
                     "dropout changes the stages in training mode only.") if len(scrubbed) > 1 else scrubbed[0]
            key, values, default, help = {"ff_dim": ("mix_ff_dim", FF_DIMS, 64, FF_DIM_HELP),
                                          "dropout": ("mix_dropout", DROPOUTS, 0.1, DROPOUT_HELP)}[control]
            layers.scrub_stages_section(choice, control, key, values, inputs, stages, window, training, view, "mix",
                                        fallback=lambda: controls.slider(control, key, values[0], values[-1], default,
                                                                         values[1] - values[0], help=help))
        else:
            layers.pipeline_section(choice, stages, window, view=view)
            layers.activations_section(choice, stages, window, view, "mix")
if io_tab.open:
    with io_tab:
        layers.input_output_section(stages, current, window, training)
if probes_tab.open:
    with probes_tab:
        column = layers.series_select("Series for the dropout band", current, "mix_band_series")
        def band(output):
            return output[window, :, column]

        if opened:
            layers.probes_section(choice, inputs, window, band, current.batch.series[column])
        else:
            layers.scrub_probes_section(choice, "mix_dropout", DROPOUTS, inputs, window, band,
                                        current.batch.series[column], pick_key=(window, column),
                                        fallback=lambda: controls.slider("dropout", "mix_dropout", 0.0, 0.9, 0.1,
                                                                         0.05, help=DROPOUT_HELP))
if impact_tab.open:
    with impact_tab:
        layers.impact_section(
            choice, inputs, current,
            note="TemporalMixing never mixes series, so everything off the diagonal should be zero."
            if class_name == "TemporalMixing" else "")
if export_tab.open:
    with export_tab:
        layers.export_section(choice, stages, training)
