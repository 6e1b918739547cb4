"""Learn: train a small forecaster on the chosen data and see which series its mixer learns to use."""

import streamlit as st

from explorer.data import DataError
from explorer.figures import learn as figures
from explorer.ui import controls, learn, page, show

page.setup(__file__)
current = page.data_sidebar()

from explorer.ui import tensorflow  # noqa: E402, F401  (TensorFlow loads after the sidebar is drawn)
from explorer import training  # noqa: E402
from kflayers.mixers import MIXERS  # noqa: E402

MIXER_HELP = {
    "global": "global: one learned weight per series, the same for every window",
    "instance": "instance: weights computed from each window's tokens by a Dense layer",
    "self": "self: the series tokens attend to each other (self-attention), then are averaged",
    "cross": "cross: one learned query attends over the series tokens",
}
dataset = current.dataset
series = list(current.batch.series)
dependencies = list(dataset.frame.attrs.get("dependencies") or [])
driven = [d["driven"] for d in dependencies if d["driven"] in series]

with st.sidebar:
    st.header("Model and training")
    target = controls.select(
        "Target series", "learn_target", series, driven[0] if driven else series[0],
        help="The series to forecast. The model sees all series of the batch (chosen in the Batch panel above) "
             "and has to find out which of them help.")
    horizon = controls.slider(
        "Horizon", "learn_horizon", 1, 24, 1, 1,
        help="How many future steps of the target the model predicts at once.")
    mixer = controls.select(
        "Mixer flavour", "learn_mixer", MIXERS, "cross", radio=True,
        help="How the model pools the series tokens into one context vector; its weights are the importances "
             "shown below. " + "; ".join(MIXER_HELP.values()) + ".")
    ff_dim = controls.slider(
        "ff_dim", "learn_ff_dim", 1, 128, training.FF_DIM, 1,
        help="Hidden units of the FeatureMixing MLP in the forecast head.")
    dropout = controls.slider(
        "dropout", "learn_dropout", 0.0, 0.5, training.DROPOUT, 0.05,
        help="Dropout rate of the mixing layers and the mixer during training (off when evaluating).")
    epochs = controls.slider(
        "Epochs", "learn_epochs", 1, 100, training.EPOCHS, 1,
        help=f"The most passes over the training windows: training stops earlier once the validation loss has not "
             f"improved for {training.PATIENCE} epochs, and the model keeps its best epoch. The page shows the "
             "losses and importances after each one.")
    seed = controls.number(
        "Training seed", "learn_seed", 0, 2**31 - 1, 0,
        help="Seeds the initial weights, the dropout masks and the shuffling: the same seed and settings "
             "train the same model.")

st.title("Learn")
st.write(
    "Fresh weights show how a layer computes; training shows what it picks up. This page trains a small "
    "forecaster on the chosen data: each window is first scaled by its own mean and spread per series (so a "
    "trending series looks the same early and late), TemporalMixing mixes it along time, every series becomes a "
    "token (with a learned embedding saying which series it is), the chosen mixer pools the tokens, and a "
    "FeatureMixing head predicts the change of the target from its last value. That change starts at zero, so "
    "the untrained model is the naive forecast that repeats the last value, and any gain is learned. The first "
    "70% of the rows train the model, the next 15% (validation) choose the epoch it keeps, and the last 15% "
    "(test), seen by no choice, judge it against the naive forecast."
)
input_size = current.batch.shape[1]
st.caption("Training data:")
st.text(f"{dataset.label}: {len(dataset.frame)} rows, series {', '.join(series)}; window {input_size} steps")
st.caption("Series and window length are set in the sidebar's Batch panel; the batch size and its seed do not "
           "apply here (training uses every window).")

settings = learn.Settings(dataset.key, tuple(series), target, input_size, horizon, mixer, ff_dim, dropout,
                          epochs, seed)
frame = dataset.frame[series]
try:
    baseline_mse = learn.check(frame, settings)
    problem = None
except DataError as error:
    baseline_mse, problem = None, error
if problem is not None:
    show.error(problem)

if st.button("Train", key="learn_train", type="primary", icon=":material/play_arrow:",
             disabled=problem is not None, help="Trains with the settings in the sidebar; nothing trains before."):
    trained = learn.train(frame, settings, baseline_mse, dataset.label, dependencies)
    if trained is not None:
        st.session_state["learn_epoch"] = trained.result.selection.best_epoch
        st.rerun()

trained = learn.stored()
if trained is None:
    if problem is None:
        st.info("Choose the target and the model in the sidebar, then press Train. A few epochs take seconds on "
                "small data; the loss curve updates after every epoch.")
    st.stop()

result, done = trained.result, trained.settings
selection = result.selection
changes = done.changes(settings)
if changes:
    st.info("Shown below: your last training (" + show.plain(trained.data_label + "; " + done.describe()) +
            "). Changed since: " + show.plain(", ".join(changes)) + ". Press Train to train with the new settings.")
driver_dependency = figures.planted_driver(trained.dependencies, result.target)
driver = driver_dependency["driver"] if driver_dependency else None

st.subheader("Did it beat the naive forecast?")
if selection.message:
    st.warning(show.plain(selection.message))
comparison = selection.comparison
verdict = figures.baseline_verdict(selection.test_mse, selection.naive_test_mse, comparison)
(st.success if comparison.outcome == "better" else st.warning)(show.plain(verdict))
st.caption(show.plain(figures.parts_note(result.rows, trained.index)))
st.caption(show.plain(figures.stop_note(selection.stop, len(result.history["loss"]), selection.best_epoch,
                                        training.PATIENCE)))
show.chart(figures.loss_curve(result.history, selection.naive_val_mse, chosen_epoch=selection.best_epoch),
           key="learn_loss")

st.subheader("Which series the mixer uses")
planted = figures.planted_verdict(trained.dependencies, result.target, result.importance)
if planted:
    st.markdown(show.plain(planted))
n_epochs = len(result.importance_history)
epoch = controls.slider(
    "Epoch", "learn_epoch", 0, n_epochs, selection.best_epoch, 1,
    help=f"Which epoch the bars show (0 is the untrained model; the model kept epoch {selection.best_epoch}); "
         "moving it does not retrain.")
learned = result.importance_initial if epoch == 0 else result.importance_history[epoch - 1]
left, right = st.columns(2)
with left:
    show.chart(figures.importance_before_after(result.series, result.importance_initial, learned, epoch,
                                               result.target, driver), key="learn_importance")
with right:
    show.chart(figures.importance_over_epochs(result.series, result.importance_initial, result.importance_history,
                                              result.target, driver, epoch), key="learn_importance_epochs")

st.subheader("Which series move the forecast")
show.chart(figures.forecast_impact(result.series, result.feature_impact, result.target, driver), key="learn_impact")
if trained.dependencies:
    st.caption("Structure planted by the generator (driver series lead driven ones by `lag` steps):")
    st.dataframe(trained.dependencies, hide_index=True)

st.subheader("Look inside its layers")
st.write("Open this trained model on the Your model page: it lists its kflayers layers (the TemporalMixing, the "
         "mixer and the head's FeatureMixing) and opens each on its own page with the weights learned here, fed "
         "what it receives inside the model.")
if st.button("Open this model's layers", icon=":material/open_in_new:", key="learn_open_layers"):
    from explorer.ui import model as your_model  # noqa: E402  (only when asked: it loads the model file)

    with st.spinner("Handing the model to the Your model page…"):
        your_model.use_model(learn.model_bytes(result), f"learn-{id(result)}", f"{learn.file_stem(result.target)}.keras")
    st.switch_page("pages/6_Your_Model.py")

st.subheader("Download")
stem = learn.file_stem(result.target)
columns = st.columns(3)
columns[0].download_button(
    "Model (.keras)", lambda: learn.model_bytes(result), file_name=f"{stem}.keras",
    mime="application/octet-stream", on_click="ignore", icon=":material/download:",
    help="The trained model. Load it with `import kflayers` (which registers the layers) and then "
         "`keras.saving.load_model(path)`. It scales each window itself; feed windows z-scored as in the scaling "
         "file to reproduce the page's numbers exactly.")
columns[1].download_button(
    "Scaling (JSON)", learn.scaling_json(trained), file_name=f"{stem}_scaling.json", mime="application/json",
    on_click="ignore", icon=":material/download:",
    help="Series order, window, horizon and each series' training mean and std, to scale new data the way "
         "the model was trained.")
columns[2].download_button(
    "History (CSV)", result.history_frame().to_csv(), file_name=f"{stem}_history.csv", mime="text/csv",
    on_click="ignore", icon=":material/download:",
    help="Per epoch: training and validation loss and each series' mixer importance.")
