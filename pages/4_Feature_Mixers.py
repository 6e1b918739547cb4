"""Feature Mixers: four ways to weigh a set of feature vectors and pool them into one."""

import streamlit as st

from explorer.ui import controls, page, show

page.setup(__file__)
current = page.data_sidebar()

from explorer import compute, figures  # noqa: E402  (TensorFlow loads after the sidebar is drawn)
from explorer.ui import layers  # noqa: E402
from explorer.ui import model, scrub  # noqa: E402
from kflayers.mixers import MIXERS  # noqa: E402

# A mixer opened from your model replaces the page's own; its inputs, as (windows, mod_dim, n_features), stand in
# for the batch, so the page's mod_dim and features are the mixer's.
opened = model.opened("mixers", current, compute.mixer_inputs)
if opened:
    current = opened.current
n_windows, input_size, n_series = current.batch.shape
series = current.batch.series
HOW_WEIGHTS_ARE_MADE = {
    "global": "one learned weight per feature, the same for every input",
    "instance": "weights computed from each input by a Dense layer",
    "self": "features attend to each other; importance is the attention they receive",
    "cross": "one learned query attends over the features",
}
FLAVOURS = {MIXERS[short].__name__: text for short, text in HOW_WEIGHTS_ARE_MADE.items()}
FLAVOUR_HELP = "How the weights of the features are made: " + "; ".join(f"{k}: {v}" for k, v in FLAVOURS.items()) + "."
heads = [d for d in range(1, min(input_size, 16) + 1) if input_size % d == 0]

with st.sidebar:
    st.header("Mixer")
    if opened:
        weights, flavour = opened.weights, opened.class_name
        # The model's mixer fixes its own arguments; the other flavours, compared with it, take the page's defaults.
        given = {"n_heads": 1, "bias": True, "dropout": 0.1, "skip": True, "keep_dim": False} | opened.config
        n_heads, bias, dropout, skip, keep_dim = (given[name] for name in ("n_heads", "bias", "dropout", "skip",
                                                                           "keep_dim"))
        model.panel(opened)
    else:
        weights = layers.weights_control("mixers_weights")
        if weights == "fresh":
            flavour = scrub.value("mixers_flavour", list(FLAVOURS), "SelfAttentionMixer")
            st.caption(f"flavour = {flavour}: move it on the Importance tab, where the pipeline and the "
                       "importance follow the hand.")
        else:
            flavour = controls.select("flavour", "mixers_flavour", list(FLAVOURS), "SelfAttentionMixer",
                                      help=FLAVOUR_HELP)
            st.caption("Each flavour is trained on its own, so with trained weights the flavour is chosen here "
                       "and the page trains it; switch Weights to Fresh to move it on the Importance tab.")
        n_heads = controls.select("n_heads", "mixers_n_heads", heads, 1,
                                  help="Attention heads (attention flavours only); must divide mod_dim, the window "
                                       "length.")
        bias = controls.toggle("bias", "mixers_bias", True,
                               help="Biases in the weight projection (InstanceWeightsMixer) or the attention "
                                    "projections (attention flavours).")
        dropout = controls.slider("dropout", "mixers_dropout", 0.0, 0.9, 0.1, 0.05,
                                  help="Dropout on the mixed vector (and on the attention weights); training mode "
                 "only.")
        skip = controls.toggle("skip", "mixers_skip", True, help="Add the plain mean of the kept feature vectors.")
        keep_dim = controls.toggle("keep_dim", "mixers_keep_dim", False,
                                   help="Keep the feature axis (size 1) in the output: (batch, 1, mod_dim).")
    masked = controls.multiselect("Masked features", "mixers_masked", list(series), [],
                                  max_selections=len(series),
                                  help="Features the mixer must ignore: they get importance 0 and cannot "
                                       "influence the output.")
    if not opened:
        st.caption(f"mod_dim = {input_size} (the window length) and n_features = {n_series} (the series) come "
                   "from the batch.")
    training = layers.mode_toggle("mixers_training")

st.title("Feature Mixers")
st.write("A mixer takes several feature vectors per instance, weighs them (weights summing to 1: the importance), "
         "adds them up and, with skip, adds their plain mean. Here each series is a feature and its window is the "
         "feature vector, so the importance says which series the mixer listens to.")

mask = compute.mixer_mask(n_windows, series, masked)
call_kwargs = {} if mask is None else {"mask": mask}
settings = dict(mod_dim=input_size, n_features=n_series, n_heads=n_heads, bias=bias, dropout=dropout, skip=skip,
                keep_dim=keep_dim)


def choice_of(name: str) -> layers.LayerChoice:
    # The mask is a call argument, not part of training: one trained mixer serves every choice of masked series.
    # Your model holds one mixer: the other flavours are compared with it fresh.
    return layers.LayerChoice.of(name, compute.mixer_config(name, **settings), current,
                                 input_shape=(n_windows, n_series, input_size), call=tuple(masked),
                                 weights="fresh" if opened and name != flavour else weights)


def flavour_layer(name: str):
    """The page's mixer of flavour `name`, fresh: what `layers.layer(choice_of(name))` builds (no Streamlit in it)."""
    fresh = choice_of(name).fresh
    return compute.build_layer(name, dict(fresh.config), fresh.build_shape, fresh.seed)


def view(stage, array, index):
    """A mixer stage as the pipeline draws it (the chosen window), and the importance of every window."""
    if stage == "importance":
        return compute.StageView(array, "series", tuple(series),
                                 "The importance is drawn for every window of the batch, one column per window; its "
                                 "scale ends at twice the equal share, and a higher importance takes the top colour.")
    values = compute.thumbnail_values(array, index).T
    return compute.StageView(values, "series", tuple(series)) if values.shape[1] == n_series else \
        compute.StageView(values, "vector", None)


choice = choice_of(flavour)
inputs = layers.page_inputs(choice, current, compute.mixer_inputs)
choice = layers.resolve_weights(choice, current, compute.mixer_inputs)
stages = layers.trace(choice, training, inputs, call_kwargs)
window = layers.window_select(current, "mixers_window")

importance_tab, flavours_tab, io_tab, probes_tab, export_tab = controls.tabs(
    "mixers_view", ["Importance", "All four flavours", "Input and output", "Dropout and training vs inference",
                    "Export"])
if importance_tab.open:
    with importance_tab:
        if weights == "fresh" and not opened:
            layers.scrub_stages_section(
                choice, "flavour", "mixers_flavour", list(FLAVOURS), inputs, stages, window, training, view, "mixers",
                fallback=lambda: controls.select("flavour", "mixers_flavour", list(FLAVOURS), "SelfAttentionMixer",
                                                 help=FLAVOUR_HELP),
                value_ranges={"importance": (0.0, 2 / n_series)}, call_kwargs=call_kwargs, title="Pipeline",
                moved=layers.MovedLayer(flavour, flavour_layer, tuple(sorted(settings.items())),
                                        {name: MIXERS[short].stage_descriptions() for short, name in
                                         zip(HOW_WEIGHTS_ARE_MADE, FLAVOURS)}),
                default_stage="importance", column_titles={"importance": "window"})
            st.caption(f"The charts below show {flavour} and follow the flavour when you let go.")
        else:
            layers.pipeline_section(choice, stages, window)
        st.subheader("Importance")
        layers.side_by_side(choice, lambda shown, suffix: show.chart(figures.importance_bars(
            layers.trace(shown, training, inputs, call_kwargs)["importance"][window], series, masked),
            key="importance" + suffix))
        by_window = [figures.importance_by_window(stages["importance"], series, current.batch.labels)]
        if flavour == "SelfAttentionMixer":
            by_window.append(figures.attention_map(layers.attention_map(choice, inputs, mask)[window], series))
        show.chart(figures.panels(by_window, stacked=True), key="importance_by_window")
if flavours_tab.open:
    with flavours_tab, st.spinner("Running all four flavours…"):
        # Only the chosen flavour is trained; the others are compared with their fresh weights.
        importances = {name: layers.trace(choice if name == flavour else choice_of(name).fresh, False, inputs,
                                          call_kwargs)["importance"][window]
                       for name in FLAVOURS}
        show.chart(figures.flavour_comparison(importances, series,
                                              trained=flavour if choice.weights == "trained" else None),
                   key="flavours")
if io_tab.open:
    with io_tab:
        output = stages["output"][window].reshape(-1)
        show.chart(figures.mixer_input_output(inputs[window], output, series,
                                              f"output ({'training' if training else 'inference'} mode)"),
                   key="input_output")
if probes_tab.open:
    with probes_tab:
        layers.probes_section(choice, inputs, window, lambda values: values[window].reshape(-1), "mixed output",
                              call_kwargs)
if export_tab.open:
    with export_tab:
        fed = opened.fed if opened else ("The layer is fed each window as one feature per series, its window the "
                                         "feature vector: (windows, series, time steps).")
        layers.export_section(choice, stages, training, layers.NotebookSource(
            current, inputs, window, "importance", fed, call_kwargs=call_kwargs))
