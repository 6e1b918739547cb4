"""Streamlit glue of "Your model": the upload, the session's model, and its layers opened on the layer pages.

The session keeps the model it loaded last (`session_model`); the model itself lives in
`explorer.model_file.STORE`, shared by every session that loads the same file and never changed. A file the
loader refuses leaves the previous model in use.

A layer page shows a loaded layer instead of its own when the session says so (`open_layer` sets it, `opened`
reads it): the page then draws the model's layer, with the model's config shown read-only, fed what the layer
receives inside the model when the model runs on the current batch. Every section of the page reads the layer
through `explorer.ui.layers.layer`, which knows the weights source "model:<digest>:<path>", so each works on
the loaded layer unchanged. Importing this module loads TensorFlow.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import keras
import numpy as np
import streamlit as st

from explorer import compute, model_file
from explorer.batch import Batch
from explorer.figures import model as model_figures
from explorer.ui import controls, data, show

_MODEL = "_kf_model"
_MODEL_ERROR = "_kf_model_error"
_OPEN = "_kf_open_{}"


@dataclasses.dataclass(frozen=True)
class LayerPage:
    """A layer page as "Your model" opens it.

    Attributes:
        path, title: the page's script and name.
        key: the prefix of the page's settings (its tabs are `<key>_view`, its weights control `<key>_weights`).
        controls: constructor argument -> the page's control of it, for a fresh copy set to the model's config.
        class_control: the page's control choosing among its layer classes, if it has one.
    """

    path: str
    title: str
    key: str
    controls: dict[str, str]
    class_control: str | None = None


_MIXING = ("pages/1_Feature_and_Temporal_Mixing.py", "Feature & Temporal Mixing", "mix")
_EMBEDDING = ("pages/3_Token_and_Positional_Embedding.py", "Token & Positional Embedding", "emb")
_MIXER_PAGE = LayerPage("pages/4_Feature_Mixers.py", "Feature Mixers", "mixers",
                        {"n_heads": "mixers_n_heads", "bias": "mixers_bias", "dropout": "mixers_dropout",
                         "skip": "mixers_skip", "keep_dim": "mixers_keep_dim"}, "mixers_flavour")
LAYER_PAGES = {
    "FeatureMixing": LayerPage(*_MIXING, {"ff_dim": "mix_ff_dim", "dropout": "mix_dropout",
                                          "activation": "mix_activation"}, "mix_layer"),
    "TemporalMixing": LayerPage(*_MIXING, {"dropout": "mix_dropout", "activation": "mix_activation"}, "mix_layer"),
    "GatedFeatureFusion": LayerPage("pages/2_Gated_Feature_Fusion.py", "Gated Feature Fusion", "gff",
                                    {"activation": "gff_activation"}),
    "TokenEmbedding": LayerPage(*_EMBEDDING, {"d_model": "emb_d_model", "kernel_size": "emb_kernel_size",
                                              "padding": "emb_padding", "use_bias": "emb_use_bias"}),
    "PositionalEmbedding": LayerPage(*_EMBEDDING, {"d_model": "emb_d_model", "max_len": "emb_max_len"}),
    "GlobalWeightsMixer": _MIXER_PAGE,
    "InstanceWeightsMixer": _MIXER_PAGE,
    "SelfAttentionMixer": _MIXER_PAGE,
    "CrossAttentionMixer": _MIXER_PAGE,
}
"""Which page opens each kflayers layer, and how its config maps onto that page's controls."""

BATCH_ARGUMENTS = ("n_series", "input_size", "c_in", "mod_dim", "n_features")
"""Constructor arguments a layer page takes from the batch rather than from a control."""


@dataclasses.dataclass(frozen=True, eq=False)
class SessionModel:
    """The model this session loaded: the upload it came from and the loaded model."""

    file_id: str
    file_name: str
    loaded: model_file.LoadedModel


@dataclasses.dataclass(frozen=True, eq=False)
class Opened:
    """A loaded model's layer on a layer page, and what the page feeds it.

    Attributes:
        model: the session's model; entry: the layer in it.
        inputs: what the layer is fed (an array, or a list of arrays for several inputs).
        current: `inputs` as a (windows, time, series) batch, standing in for the page's batch, so that every
            shape, label and cache key the page derives from the batch fits the layer.
        fed: one sentence on where `inputs` come from.
    """

    model: SessionModel
    entry: model_file.ModelLayer
    inputs: Any
    current: data.Current
    fed: str

    @property
    def class_name(self) -> str:
        return self.entry.class_name

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.entry.config)

    @property
    def weights(self) -> str:
        return self.model.loaded.weights_source(self.entry.path)

    def feed(self, stand_in: np.ndarray):
        """The page transform of a loaded layer: its inputs (the stand-in batch it is given is made from them)."""
        return self.inputs


def session_model() -> SessionModel | None:
    """The session's model (put back into the shared store, so the layer caches find it by its digest)."""
    kept = st.session_state.get(_MODEL)
    if kept is not None:
        model_file.STORE.put(kept.loaded)
    return kept


def upload_control() -> None:
    """The model file uploader: load a new file once; keep the last good model; report a refused file."""
    uploaded = st.file_uploader(
        "Model file (.keras)", type=["keras"], key="model_upload", max_upload_size=model_file.MAX_FILE_BYTES // 2**20,
        help=f"A model saved with model.save(\"name.keras\"), up to {model_file.MAX_FILE_BYTES // 2**20} MB: the "
             "Learn page's download, or any Keras model containing kflayers layers. It is loaded in Keras' safe "
             "mode and kept on the server for this session.")
    kept, refused = st.session_state.get(_MODEL), st.session_state.get(_MODEL_ERROR)
    if uploaded is not None and uploaded.file_id not in (kept and kept.file_id, refused and refused[0]):
        try:
            with st.spinner("Checking and loading the model…"):
                loaded = model_file.STORE.load(uploaded.getvalue())
        except model_file.ModelFileError as problem:
            st.session_state[_MODEL_ERROR] = (uploaded.file_id, str(problem))
        else:
            st.session_state[_MODEL] = SessionModel(uploaded.file_id, uploaded.name, loaded)
            st.session_state.pop(_MODEL_ERROR, None)
    refused = st.session_state.get(_MODEL_ERROR)
    if uploaded is not None and refused and uploaded.file_id == refused[0]:
        show.error(refused[1])
        if _MODEL in st.session_state:
            st.info("Still using your previous model, " + show.plain(st.session_state[_MODEL].file_name) + ".")


def use_model(data: bytes, file_id: str, file_name: str) -> None:
    """Make a model file (e.g. the Learn page's own model) this session's model, as an upload would."""
    loaded = model_file.STORE.load(data)
    st.session_state[_MODEL] = SessionModel(file_id, file_name, loaded)
    st.session_state.pop(_MODEL_ERROR, None)


def model_summary(kept: SessionModel) -> None:
    """One paragraph on the model: file, class, weights, what it takes, what saved it."""
    loaded = kept.loaded
    shapes = ", ".join(model_file.shape_text(shape) for shape in loaded.input_shapes) or "not recorded"
    st.markdown(f"**{show.plain(kept.file_name)}**: a {show.plain(type(loaded.model).__name__)} model with "
                f"{loaded.params:,} weights, saved with Keras {show.plain(loaded.keras_version)}; its input shape "
                f"is {show.plain(shapes)} (batch axis first).")


def batch_fit(loaded: model_file.LoadedModel, current: data.Current, key: str) -> bool:
    """Whether the model can run on the batch; if not, what it expects, with buttons to set the batch to match."""
    problem = loaded.input_problem(current.batch.shape)
    if problem is None:
        st.success(f"The batch {current.batch.shape} fits the model: its layers are fed what they receive inside "
                   "it when it runs on these windows. The model does not know its series' names, so the pages "
                   "take the batch's series to be the model's, in order.")
        return True
    st.warning(show.plain(problem))
    match_batch_buttons(loaded, current, key)
    return False


def match_batch_buttons(loaded: model_file.LoadedModel, current: data.Current, key: str) -> None:
    """Buttons setting the batch's window length and series count to the model's, where the data allows."""
    expected = loaded.window_shape
    if expected is None:
        return
    steps, count = expected
    frame = current.dataset.frame
    _, window, n_series = current.batch.shape
    if steps is not None and steps != window:
        if steps <= min(data.MAX_WINDOW, len(frame)):
            st.button(f"Set the window length to {steps}", key=f"{key}_match_window", on_click=_set_batch,
                      args=(data.WINDOW, steps), help="Changes the window length in the batch settings.")
        else:
            st.caption(f"The data has {len(frame)} rows, too few for windows of {steps} steps; choose other data.")
    if count is not None and count != n_series:
        if count <= min(len(frame.columns), data.MAX_SERIES):
            series = _series_for(list(current.batch.series), list(map(str, frame.columns)), count)
            st.button(f"Use {count} series ({', '.join(series)})", key=f"{key}_match_series", on_click=_set_batch,
                      args=(data.SERIES, series),
                      help="Changes the series in the batch settings: the batch's first ones, then the data's next. "
                           "The model does not know the names of its series: pick the ones it was trained on, in "
                           "that order.")
        else:
            st.caption(f"The data has {len(frame.columns)} series, fewer than the model's {count}; choose other data.")


def _series_for(chosen: list[str], columns: list[str], count: int) -> list[str]:
    """`count` series: the chosen ones first, in their order, then the data's other columns."""
    return (chosen + [column for column in columns if column not in chosen])[:count]


def _set_batch(key: str, value) -> None:
    st.session_state[key] = value


def layer_table(loaded: model_file.LoadedModel) -> list[dict]:
    """One row per kflayers layer: path, class, config, weights, built input shape (for st.dataframe)."""
    return [{"layer": entry.path, "class": entry.class_name,
             "config": ", ".join(f"{name}={value!r}" for name, value in entry.config.items()),
             "weights": entry.params, "input shape": _shapes_text(entry.input_shape)} for entry in loaded.layers]


def other_layers_text(loaded: model_file.LoadedModel) -> str:
    if not loaded.other_layers:
        return "The model has no other layers."
    parts = ", ".join(f"{name} × {count}" for name, count in sorted(loaded.other_layers.items()))
    own = sum(entry.params for entry in loaded.layers)
    return (f"Its other layers: {parts} ({loaded.params - own:,} weights; the kflayers layers hold {own:,}).")


def open_buttons(kept: SessionModel) -> None:
    """A button per kflayers layer opening it on its page."""
    for entry in kept.loaded.layers:
        layer_page = LAYER_PAGES[entry.class_name]
        label = f"Open {entry.path} ({entry.class_name}) on {layer_page.title}"
        if not entry.params:
            label = f"Open a copy of {entry.path} ({entry.class_name}, no weights) on {layer_page.title}"
        if st.button(label, key=f"open_{entry.path}", icon=":material/open_in_new:"):
            open_layer(kept, entry)


def open_layer(kept: SessionModel, entry: model_file.ModelLayer) -> None:
    """Switch to the layer's page showing it; a layer without weights opens as the page's own layer set to it."""
    layer_page = LAYER_PAGES[entry.class_name]
    if entry.params:
        st.session_state[_OPEN.format(layer_page.key)] = (kept.loaded.digest, entry.path)
    else:
        _tune_copy(layer_page, entry.class_name, entry.config)
    st.switch_page(layer_page.path)


def opened(key: str, current: data.Current, transform: Callable[[np.ndarray], Any],
           to_batch: Callable[[Any], np.ndarray] | None = None) -> Opened | None:
    """The loaded layer the page with settings prefix `key` shows, or None when it shows its own.

    Args:
        current: the data and batch in use.
        transform: the page's own batch -> the layer's inputs (used when the model cannot run on the batch).
        to_batch: the layer's inputs -> a (windows, time, series) array standing in for the batch; by default
            `transform`, for a transform that is its own inverse.

    When the layer cannot be fed at all (the model does not run on the batch and the batch does not fit the
    layer), this says why, offers to set the batch to match, and stops the page.
    """
    target = st.session_state.get(_OPEN.format(key))
    if target is None:
        return None
    kept = session_model()
    digest, path = target
    if kept is None or kept.loaded.digest != digest:
        del st.session_state[_OPEN.format(key)]
        st.info("The model layer this page had open is no longer loaded in this session, so the page shows its own "
                "layer; load the model again on the Your model page to open it.")
        return None
    entry = kept.loaded.layer(path)
    inputs, source, fed = _layer_feed(kept.loaded, entry, current, transform)
    if inputs is None:
        with st.sidebar:
            _close_button(key)
        st.title(f"{entry.class_name} from your model")
        show.error(fed)
        match_batch_buttons(kept.loaded, current, key)
        st.stop()
    stand_in = _stand_in(current, kept.loaded.weights_source(path), source, _numpy((to_batch or transform)(inputs)))
    return Opened(kept, entry, inputs, stand_in, fed)


def panel(shown: Opened) -> None:
    """The loaded layer in the sidebar: where it comes from, its config (read-only), and the ways back."""
    entry = shown.entry
    layer_page = LAYER_PAGES[entry.class_name]
    st.markdown(f"**{show.plain(entry.class_name)} from your model** {show.plain(shown.model.file_name)}, "
                f"layer {show.plain(entry.path)}")
    st.dataframe([{"argument": name, "value": repr(value)} for name, value in entry.config.items()],
                 hide_index=True)
    st.caption("The saved weights fix this config, so it cannot be changed here. " + show.plain(shown.fed))
    st.button("Fresh copy to tune", key=f"{layer_page.key}_tune_copy", icon=":material/tune:",
              on_click=_tune_copy, args=(layer_page, entry.class_name, entry.config),
              help="Back to the page's own layer, with its controls set to this config: a fresh layer (initial "
                   "weights) that you can change. Sizes the batch decides (" + ", ".join(BATCH_ARGUMENTS) +
                   ") come from the batch, and values outside a control's range fall back to its default.")
    _close_button(layer_page.key)


def _close_button(key: str) -> None:
    st.button("Back to the page's own layer", key=f"{key}_close_model", icon=":material/close:",
              on_click=lambda: st.session_state.pop(_OPEN.format(key), None))


def _tune_copy(layer_page: LayerPage, class_name: str, config: dict) -> None:
    """Set the page's controls to `config` and show the page's own (fresh) layer."""
    if layer_page.class_control:
        st.session_state[layer_page.class_control] = class_name
    for argument, control in layer_page.controls.items():
        if argument in config:
            st.session_state[control] = config[argument]
    st.session_state[f"{layer_page.key}_weights"] = "fresh"
    st.session_state.pop(_OPEN.format(layer_page.key), None)


def _layer_feed(loaded: model_file.LoadedModel, entry: model_file.ModelLayer, current: data.Current,
                transform: Callable[[np.ndarray], Any]) -> tuple[Any, str, str]:
    """(inputs, source, sentence): what the model gives the layer on this batch, else the page's batch, else None."""
    problem = loaded.input_problem(current.batch.shape)
    if problem is None:
        calls = _recorded_inputs(loaded.digest, current.key, loaded, current.batch.values)[entry.path]
        if calls and _drawable(calls[0], current.batch.shape[0]):
            fed = ("It is fed what it receives inside the model, recorded while the model runs on the batch "
                   "(each series z-scored over the whole data, as on every page).")
            if len(calls) > 1:
                fed += f" The model calls it {len(calls)} times; the page shows its first call."
            return calls[0], "model", fed
        problem = ("The layer is not reached when the model runs on the batch." if not calls else
                   f"Inside the model the layer receives inputs of shape {_shapes_text(_shapes(calls[0]))}, which "
                   "this page does not draw (it draws windows × time steps × series).")
    own = _numpy(transform(current.batch.values))
    problem = problem.removesuffix(".")  # the sentence goes on with what the page does about it
    if _shapes(own, batchless=True) == _comparable(entry.input_shape):
        fed = problem + "; so the layer is fed the page's own batch, which has the shape it was built for."
        return own, "batch", fed
    return None, "", (problem + f"; the page's own batch would give the layer inputs of shape "
                      f"{_shapes_text(_shapes(own))}, but it was built for {_shapes_text(entry.input_shape)}, so it "
                      "cannot be shown on this batch.")


@st.cache_data(max_entries=16, show_spinner="Running your model on the batch…")
def _recorded_inputs(digest: str, data_key: str, _loaded: model_file.LoadedModel, _values: np.ndarray) -> dict:
    return model_file.layer_inputs(_loaded, _values)


def _stand_in(current: data.Current, source: str, fed_from: str, values: np.ndarray) -> data.Current:
    """The layer's inputs as the batch a page draws: same windows and labels, the layer's own axes and key."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    width = values.shape[-1]
    names = current.batch.series if width == len(current.batch.series) else tuple(
        f"channel {i + 1}" for i in range(width))
    batch = Batch(values, current.batch.starts, current.batch.labels, names)
    dataset = data.Dataset(f"{current.key}|{source}|{fed_from}", current.dataset.label, current.dataset.frame)
    return data.Current(dataset, batch, current.seed)


def _numpy(values):
    """An array or a list of arrays, as numpy (the pages' transforms are keras ops)."""
    return keras.tree.map_structure(keras.ops.convert_to_numpy, values)


def _drawable(inputs, n_windows: int) -> bool:
    """Whether the layer pages can draw these inputs: (windows, time, series) arrays, one row per window."""
    arrays = inputs if isinstance(inputs, list) else [inputs]
    return all(np.ndim(a) == 3 and len(a) == n_windows for a in arrays)


def _shapes(inputs, batchless: bool = False):
    shapes = [tuple(np.shape(a)) for a in inputs] if isinstance(inputs, list) else tuple(np.shape(inputs))
    return _comparable(shapes) if batchless else shapes


def _comparable(shape):
    """A shape or list of shapes without its batch axis, for comparing."""
    if shape is None:
        return None
    if isinstance(shape, list):
        return [tuple(s[1:]) for s in shape]
    return tuple(shape[1:])


def _shapes_text(shape) -> str:
    if shape is None:
        return "unknown"
    if isinstance(shape, list):
        return " and ".join(model_file.shape_text(s) for s in shape)
    return model_file.shape_text(shape)


def both_ways(kept: SessionModel, current: data.Current) -> None:
    """The model's output with a layer's saved weights against with a fresh layer of the same config in its place."""
    loaded = kept.loaded
    weighted = [entry for entry in loaded.layers if entry.params]
    if not weighted:
        return
    paths = [entry.path for entry in weighted]
    left, middle, right = st.columns(3)
    with left:
        path = controls.select("Layer", "yourmodel_layer", paths, paths[0],
                               format_func=lambda p: f"{p} ({loaded.layer(p).class_name})",
                               help="The layer replaced by a fresh one (same config, the batch panel's seed).")
    saved, swapped = _outputs(loaded.digest, path, current.key, current.seed, loaded, current.batch.values)
    saved, swapped = saved.reshape(len(saved), -1), swapped.reshape(len(swapped), -1)
    with middle:
        window = controls.select("Window", "yourmodel_window", list(range(len(saved))), 0,
                                 format_func=lambda i: f"window {i} (starts {current.batch.labels[i]})",
                                 help="The window whose numbers the caption gives and the chart marks.")
    with right:
        value = controls.select("Output value", "yourmodel_output", list(range(saved.shape[1])), 0,
                                help="Which of the model's output values per window to follow.")
    entry = loaded.layer(path)
    show.chart(model_figures.output_comparison(current.batch.labels, saved[:, value], swapped[:, value], window,
                                               entry.path, entry.class_name), key="both_ways")
    st.caption(f"Window {window}: {saved[window, value]:.4f} with the saved weights of {show.plain(entry.path)}, "
               f"{swapped[window, value]:.4f} with a fresh {show.plain(entry.class_name)}; over the batch the two "
               f"differ by {float(np.mean(np.abs(saved - swapped))):.4f} on average.")


@st.cache_data(max_entries=16, show_spinner="Running your model twice: as saved and with a fresh layer…")
def _outputs(digest: str, path: str, data_key: str, seed: int, _loaded: model_file.LoadedModel,
             _values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    entry = _loaded.layer(path)
    fresh = compute.build_layer(entry.class_name, entry.config, entry.input_shape, seed)
    return model_file.outputs_with_fresh_layer(_loaded, _values, path, fresh)

