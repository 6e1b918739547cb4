"""Gated Feature Fusion: a learned gate blending two representations of the same series."""

import streamlit as st

from explorer.ui import controls, page, show

page.setup(__file__)
current = page.data_sidebar()

from explorer import compute, figures  # noqa: E402  (TensorFlow loads after the sidebar is drawn)
from explorer.ui import layers, model  # noqa: E402

GATE_ACTIVATIONS = ("sigmoid", "hard_sigmoid", "tanh", "linear")
BOUNDED = ("sigmoid", "hard_sigmoid")
GATE_NOTE = ("a gate of 1 passes a through, 0 passes b and 0.5 averages them, so a pile-up at one end means the "
             "layer mostly keeps one side and a narrow peak that it blends the same way everywhere (tanh and "
             "linear gates can leave [0, 1] and overshoot)")

# A layer opened from your model replaces the page's own; its first input stands in for the batch. When the
# model cannot run on the batch, the layer gets the page's default pair.
opened = model.opened("gff", current, layers.fusion_pair(current, "smoothed", 5), to_batch=lambda pair: pair[0])
if opened:
    current = opened.current

with st.sidebar:
    st.header("Layer")
    if opened:
        weights, activation, pair, smoothing = opened.weights, opened.config["activation"], "smoothed", 5
        model.panel(opened)
    else:
        weights = layers.weights_control("gff_weights")
        activation = controls.select(
            "activation", "gff_activation", GATE_ACTIVATIONS, "sigmoid",
            help="Activation of the gate. sigmoid and hard_sigmoid keep each gate value in [0, 1], so the "
                 "output lies between a and b; tanh and linear let it leave that range.")
        pair = controls.select(
            "Representations", "gff_pair", list(compute.FUSION_PAIRS), "smoothed",
            format_func=lambda key: compute.FUSION_PAIRS[key],
            help="The two inputs the gate chooses between, both of the batch's shape.")
        smoothing = 1
        if pair == "smoothed":
            smoothing = controls.slider(
                "smoothing", "gff_smoothing", 2, max(2, current.batch.shape[1]), 5, 1,
                help="Time steps of the centred moving average that makes b.")
    training = layers.mode_toggle("gff_training")

st.title("Gated Feature Fusion")
st.write("GatedFeatureFusion looks at two representations of the same features side by side, computes a gate "
         "per feature with one Dense layer and returns gate × a + (1 − gate) × b: a learned, context-dependent "
         "blend. Here the features are the batch's series, and a and b are " +
         ("the two inputs the layer is given (see the sidebar)" if opened else compute.FUSION_PAIRS[pair]) + ".")

shape = current.batch.shape
choice = layers.LayerChoice.of("GatedFeatureFusion", {"activation": activation}, current,
                               input_shape=(shape, shape), variant=(pair, smoothing), weights=weights)
make_pair = opened.feed if opened else layers.fusion_pair(current, pair, smoothing)
inputs = layers.page_inputs(choice, current, make_pair)
choice = layers.resolve_weights(choice, current, make_pair)
stages = layers.trace(choice, training, inputs)
window = layers.window_select(current, "gff_window")

gate_range = {"gate": (0.0, 1.0)} if activation in BOUNDED else None


def view(stage, array, index):
    return compute.fusion_stage_view(stage, array, index, current.batch.series)


stages_tab, gate_tab, io_tab, modes_tab, export_tab = controls.tabs(
    "gff_view", ["Stages", "The gate", "Input and output", "Training vs inference", "Export"])
if stages_tab.open:
    with stages_tab:
        layers.pipeline_section(choice, stages, window, view=view, value_ranges=gate_range)
        layers.activations_section(choice, stages, window, view, "gff", value_ranges=gate_range)
if gate_tab.open:
    with gate_tab:
        gate_view = compute.fusion_stage_view("gate", stages["gate"], window, current.batch.series)
        show.chart(figures.stage_heatmap(gate_view.values, "gate", gate_view.row_title, "time step",
                                         gate_view.row_labels,
                                         value_range=(0.0, 1.0) if activation in BOUNDED else None),
                   key="gate_heatmap")
        layers.side_by_side(choice, lambda shown, suffix: show.chart(figures.stage_histogram(
            layers.trace(shown, training, inputs)["gate"][window], layers.trace(shown, training, inputs)["gate"],
            "gate", note=GATE_NOTE), key="gate_histogram" + suffix))
        left, right = st.columns(2)
        with left:
            column = layers.series_select("Series", current, "gff_series")
        with right:
            gate = controls.select(
                "Fix the gate at", "gff_fixed_gate", [0.0, 0.5, 1.0], 0.5, radio=True,
                format_func=lambda g: {0.0: "0 (only b)", 0.5: "0.5 (average)", 1.0: "1 (only a)"}[g],
                help="Compare the layer's output with what a constant gate would give.")
        a, b = stages["input_a"][window, :, column], stages["input_b"][window, :, column]
        show.chart(figures.fixed_gate(a, b, stages["output"][window, :, column],
                                      compute.fixed_gate_output(a, b, gate), gate, current.batch.series[column]),
                   key="fixed_gate")
if io_tab.open:
    with io_tab:
        layers.input_output_section(stages, current, window, training, first="input_a")
if modes_tab.open:
    with modes_tab:
        layers.mode_difference_chart(
            choice, inputs, note="GatedFeatureFusion has no dropout and no batch normalisation, so training and "
                                 "inference mode compute the same thing: every bar below is zero.")
if export_tab.open:
    with export_tab:
        fed = opened.fed if opened else f"The layer is fed [a, b]: {compute.FUSION_PAIRS[pair]}" + (
            f", over {smoothing} time steps." if pair == "smoothed" else ".")
        layers.export_section(choice, stages, training, layers.NotebookSource(
            current, inputs, window, "gate_histogram", fed, stage_key="gff_stage", view=view,
            value_ranges=gate_range))
