"""The sections of a layer page, and the caches that keep a slider move cheap.

A page describes its layer as a `LayerChoice` (class, config, seed, batch,
and anything else that shapes the inputs) and calls the sections it needs.
Built layers are cached as resources, shared by all sessions and never
changed (training-mode traces and probes leave a layer untouched); traces
and probe results are cached as data, so each session gets its own copy.
Inputs and call arguments are passed unhashed: the choice identifies them.
Importing this module loads TensorFlow: only the layer pages do.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import keras
import numpy as np
import streamlit as st

from explorer.ui import tensorflow  # noqa: F401  (first: loads TensorFlow and freezes its objects)
import kflayers
from explorer import compute, figures, model_file, notebook, trained
from explorer import scrub as frames
from explorer.batch import labels_of, zscored_rows
from explorer.figures.stages import heatmap_caption, histogram_caption
from explorer.ui import controls, data, model, scrub, show

MC_SAMPLES = 64


@dataclasses.dataclass(frozen=True)
class LayerChoice:
    """Everything that determines a layer and what it is fed.

    Attributes:
        class_name: the kflayers layer, e.g. "FeatureMixing".
        config: its constructor arguments, as (name, value) pairs (hashable, so they key the caches).
        seed: seeds initial weights and dropout masks.
        data_key: identifies the batch (see `explorer.ui.data.Current.key`).
        input_shape: the shape fed to the layer, or a tuple of shapes for a multi-input layer.
        variant: anything else that decides the inputs or call arguments (a pairing, a mask), hashable.
        call: what else decides the traces but not the weights (the mixers' masked series), hashable.
        weights: "fresh" (initial weights), "trained" (see `explorer.trained`), or a loaded model's layer,
            "model:<digest>:<layer path>" (see `explorer.model_file`).
        normalized: whether the layer is fed windows normalised by their own statistics (as in training)
            instead of the batch as it is.
    """

    class_name: str
    config: tuple
    seed: int
    data_key: str
    input_shape: tuple
    variant: tuple = ()
    call: tuple = ()
    weights: str = "fresh"
    normalized: bool = False

    @classmethod
    def of(cls, class_name: str, config: dict, current: data.Current, input_shape: tuple | None = None,
           variant: tuple = (), call: tuple = (), weights: str = "fresh") -> "LayerChoice":
        shape = current.batch.shape if input_shape is None else input_shape
        return cls(class_name, tuple(config.items()), current.seed, current.key, shape, variant, call,
                   weights=weights, normalized=weights == "trained")

    @property
    def fresh(self) -> "LayerChoice":
        """The same layer with its initial weights, fed the same inputs (for side-by-side views)."""
        return dataclasses.replace(self, weights="fresh")

    @property
    def training_key(self) -> tuple:
        """What decides a trained result: the layer, its seed, the data and what the page makes of it."""
        return (self.class_name, self.config, self.seed, self.data_key, self.input_shape, self.variant)

    @property
    def build_shape(self):
        """The input shape with the batch left open, as `build()` takes it."""
        if isinstance(self.input_shape[0], tuple):
            return [(None, *shape[1:]) for shape in self.input_shape]
        return (None, *self.input_shape[1:])


@st.cache_resource(max_entries=16, show_spinner="Building the layer…")
def layer(choice: LayerChoice):
    """The built layer, fresh, trained or a loaded model's (shared by every session: nothing may change it)."""
    if choice.weights == "trained":
        return TRAINING.get(choice.training_key).result.layer
    if choice.weights.startswith(model_file.WEIGHTS_PREFIX):
        return model_file.layer_copy_from(choice.weights)
    return compute.build_layer(choice.class_name, dict(choice.config), choice.build_shape, choice.seed)


@st.cache_data(max_entries=64, show_spinner="Tracing the layer…")
def trace(choice: LayerChoice, training: bool, _inputs, _call_kwargs: dict | None = None) -> dict[str, np.ndarray]:
    if choice.weights == "fresh" and choice.class_name in compute.NESTED_SIZES:
        # The same arrays without making the layer's variables (a release of a size control then builds no
        # layer unless a view needs its weights): see `compute.built_and_traced`.
        return compute.built_and_traced(choice.class_name, dict(choice.config), choice.build_shape, choice.seed,
                                        _inputs, training, **(_call_kwargs or {}))[1]
    return compute.trace_arrays(layer(choice), _inputs, training, choice.seed, **(_call_kwargs or {}))


@st.cache_data(max_entries=32, show_spinner="Running the layer with dropout many times…")
def _dropout(choice: LayerChoice, samples: int, _inputs, _call_kwargs: dict) -> compute.DropoutSummary:
    return compute.dropout_summary(layer(choice), _inputs, samples, choice.seed, **_call_kwargs)


@st.cache_data(max_entries=32, show_spinner="Flattening each series in turn…")
def _impact(choice: LayerChoice, _inputs: np.ndarray) -> np.ndarray:
    return compute.feature_impact(layer(choice), _inputs)


@st.cache_data(max_entries=16, show_spinner="Reading the attention weights…")
def attention_map(choice: LayerChoice, _inputs: np.ndarray, _mask: np.ndarray | None) -> np.ndarray:
    """A SelfAttentionMixer's attention map per window (see `compute.attention_map`)."""
    return compute.attention_map(layer(choice), _inputs, _mask)


TRAINING = trained.TrainingJobs()
"""Every session's trainings, in this server process: a result is trained once and shared."""

WEIGHTS = {"fresh": "Fresh", "trained": "Trained on this data"}


def weights_kind(choice: LayerChoice) -> str:
    """"fresh", "trained" or "model" (a loaded model's layer): names the weights in keys, files and headings."""
    return "model" if choice.weights.startswith(model_file.WEIGHTS_PREFIX) else choice.weights


def weights_control(key: str) -> str:
    """The fresh/trained switch of a layer page."""
    return controls.select(
        "Weights", key, list(WEIGHTS), "fresh", radio=True, format_func=WEIGHTS.get,
        help="Fresh: the layer's initial (random) weights, which show how it computes. Trained: the same layer "
             "trained for a few seconds to forecast the next step of every series of this data, which shows "
             "what it does once it has learned.")


FED_AS_IS = "The layer is fed the batch's windows, (windows, time steps, series)."
"""What a notebook says a layer taking the windows themselves (`as_is`) is fed."""


def as_is(windows: np.ndarray) -> np.ndarray:
    """The input transform of a layer that takes the (batch, time, series) windows themselves."""
    return windows


def side_by_side(choice: LayerChoice, draw: Callable[[LayerChoice, str], None]) -> None:
    """Draw a view once, or for the fresh layer next to the trained one or to a loaded model's layer.

    `draw(choice, key_suffix)` draws the view of one layer; the suffix keeps the two copies' widget keys apart.
    """
    kind = weights_kind(choice)
    if kind == "fresh":
        draw(choice, "")
        return
    fresh_column, other_column = st.columns(2)
    with fresh_column:
        st.markdown("**Fresh weights**")
        draw(choice.fresh, "_fresh")
    with other_column:
        st.markdown("**Trained weights**" if kind == "trained" else "**Your model's weights**")
        draw(choice, "_" + kind)


def page_inputs(choice: LayerChoice, current: data.Current, transform: Callable[[np.ndarray], object]):
    """What the page feeds its layer: the batch made into the layer's inputs by `transform`.

    With trained weights the windows are first normalised by their own statistics, exactly as in training.
    """
    values = current.batch.values
    if choice.normalized:
        values = trained.normalize_windows(values)
    return _transformed(choice.data_key, choice.seed, choice.variant, choice.normalized,
                        f"{transform.__module__}.{transform.__qualname__}", transform, values)


@st.cache_data(max_entries=16, show_spinner=False)
def _transformed(data_key: str, seed: int, variant: tuple, normalized: bool, transform_name: str, _transform, _values):
    return keras.tree.map_structure(keras.ops.convert_to_numpy, _transform(_values))


def fusion_pair(current: data.Current, pair: str, smoothing: int):
    """The Gated Feature Fusion page's pair transform (see `compute.fusion_pair`), made once per shape and seed."""
    _, input_size, n_series = current.batch.shape
    return _fusion_pair(pair, smoothing, n_series, input_size, current.seed)


@st.cache_resource(max_entries=16, show_spinner=False)
def _fusion_pair(pair: str, smoothing: int, n_series: int, input_size: int, seed: int):
    return compute.fusion_pair(pair, smoothing, n_series, input_size, seed)


def resolve_weights(choice: LayerChoice, current: data.Current, transform: Callable[[np.ndarray], object]
                    ) -> LayerChoice:
    """The choice the page can draw now, with a status line on the trained weights.

    Asking for trained weights starts their training (shared by every session) on a worker thread; until it
    is done, the page shows the fresh weights with a progress bar and redraws itself when training ends. A
    training that fails leaves the page on fresh weights with one sentence saying why.
    """
    if choice.weights != "trained":
        return choice
    job = TRAINING.start(choice.training_key, lambda report: trained.train_layer(
        choice.class_name, dict(choice.config), choice.build_shape, choice.seed,
        zscored_rows(current.dataset.frame, current.batch.series), current.batch.shape[1], transform,
        labels=labels_of(current.dataset.frame.index), on_progress=report))
    if job.done and job.error is None:
        result = job.result
        st.caption(show.plain(result.model + " " + result.parts))
        (st.success if result.beats_naive else st.warning)(show.plain(result.verdict()))
        return choice
    if job.done:
        show.error(job.error)
    else:
        _training_progress(choice.training_key)
    return choice.fresh


@st.fragment(run_every=0.5)
def _training_progress(key: tuple) -> None:
    job = TRAINING.get(key)
    if job is None or job.done:
        st.rerun(scope="app")
    st.progress(job.progress, text=f"Training the layer on this data; fresh weights are shown until it is done. "
                                   f"{job.message}")


def mode_toggle(key: str) -> bool:
    """The training/inference switch; True means training mode."""
    return controls.toggle(
        "Training mode", key, False,
        help="Off: inference (batch normalisation uses its moving statistics, dropout is off). On: training "
             "(batch statistics and seeded dropout masks; the layer's statistics are not updated).")


def pipeline_section(choice: LayerChoice, stages: dict[str, np.ndarray], window: int, title: str = "Pipeline",
                     view: Callable[[str, np.ndarray, int], compute.StageView] | None = None,
                     value_ranges: dict[str, tuple[float, float]] | None = None) -> None:
    """The layer's stages as boxes with their shapes, weights and a picture of the chosen window at each.

    Args:
        view: arranges (stage, array, window) as time x rows, as the page's heatmap does; without it each
            stage's window is drawn as it is held.
        value_ranges: stages with a known range of values (a gate in [0, 1]) get that fixed scale.
    """
    st.subheader(title)
    _pipeline_strip(choice, stages, window, view, value_ranges)


def _pipeline_strip(choice: LayerChoice, stages: dict[str, np.ndarray], window: int,
                    view: Callable[[str, np.ndarray, int], compute.StageView] | None,
                    value_ranges: dict[str, tuple[float, float]] | None) -> None:
    rows = compute.pipeline(layer(choice), stages)
    pictures = []
    for name in rows.names:
        values = view(name, stages[name], window).values if view else compute.thumbnail_values(stages[name], window)
        pictures.append(figures.thumbnail_png(values, (value_ranges or {}).get(name)))
    show.html(figures.pipeline_strip(rows.names, rows.shapes, rows.params, rows.descriptions, pictures,
                                    total=rows.total))


def window_select(current: data.Current, key: str) -> int:
    """Which window of the batch the charts show (labelled by where it starts in the data)."""
    labels = current.batch.labels
    return controls.select("Window", key, list(range(len(labels))), 0,
                           format_func=lambda i: f"window {i} (starts {labels[i]})",
                           help="One window of the batch; all windows go through the layer together.")


def series_select(label: str, current: data.Current, key: str) -> int:
    """Which series to follow in a per-series chart; returns its position in the batch."""
    series = list(current.batch.series)
    name = controls.select(label, key, series, series[0], help="Which series this chart follows.")
    return series.index(name)


def activations_section(choice: LayerChoice, stages: dict[str, np.ndarray], window: int,
                        view: Callable[[str, np.ndarray, int], compute.StageView], key_prefix: str,
                        value_ranges: dict[str, tuple[float, float]] | None = None) -> None:
    """Heatmap and distribution of a chosen stage for the chosen window: a picture, or one plotly chart.

    Args:
        view: arranges (stage, array, window) as a time x rows heatmap.
        value_ranges: stages with a known range of values (a gate in [0, 1]) get a fixed scale.
    """
    st.subheader("Activations")
    stage, interactive = _stage_controls(choice, stages, key_prefix)
    shown = view(stage, stages[stage], window)
    value_range = (value_ranges or {}).get(stage)
    if not interactive:
        show.html(figures.activations_view(shown.values, stages[stage][window], stages[stage], stage, shown.row_title,
                                           shown.row_labels, shown.note, value_range))
        return
    _interactive_chart(stages, window, stage, shown, value_range)


def _stage_controls(choice: LayerChoice, stages: dict[str, np.ndarray], key_prefix: str,
                    default: str | None = None) -> tuple[str, bool]:
    """The stage to draw large (`default`, else the last, until one is chosen), and whether as a plotly chart."""
    descriptions = getattr(kflayers, choice.class_name).stage_descriptions()
    names = list(stages)
    stage = controls.select("Stage", f"{key_prefix}_stage", names, default if default in names else names[-1],
                            format_func=lambda s: f"{s}: {descriptions.get(s, '')}",
                            help="Which stage of the forward pass to look at, in data-flow order.")
    interactive = controls.toggle(
        "Interactive chart", f"{key_prefix}_interactive", False,
        help="Off: a picture, which follows a slider move at once. On: the same view as a plotly chart, with each "
             "cell's value on hover and zoom (the browser takes a few hundred milliseconds longer to draw it).")
    return stage, interactive


def _interactive_chart(stages: dict[str, np.ndarray], window: int, stage: str, shown: compute.StageView,
                       value_range: tuple[float, float] | None, column_title: str = "time step") -> None:
    heatmap = figures.stage_heatmap(shown.values, stage, shown.row_title, column_title, shown.row_labels, shown.note,
                                    value_range=value_range)
    histogram = figures.stage_histogram(stages[stage][window], stages[stage], stage)
    show.chart(figures.panels([heatmap, histogram], stacked=True), key="activations")


def layer_at(choice: LayerChoice, control: str) -> Callable[[object], object]:
    """value -> the page's layer with `control` at that value, for the background fill (no Streamlit in it).

    Fresh weights: a plain build (nested where the size is nested). Trained or a model's weights: the page's
    layer with the same weights and only `control` changed (dropout: a rate changes no weight).
    """
    if choice.weights == "fresh":
        return lambda value: compute.build_layer(choice.class_name, {**dict(choice.config), control: value},
                                                 choice.build_shape, choice.seed)
    shown = layer(choice)
    return lambda value: compute.with_config(shown, {control: value}, choice.build_shape)


@dataclasses.dataclass(frozen=True)
class MovedLayer:
    """A scrubbed control's layer at each value, for a control that is not one of the layer's arguments.

    Attributes:
        current: the value the page's layer has.
        build: value -> the layer at that value (run on the background worker: no Streamlit in it).
        fixed: everything but the control that decides the layer, hashable (part of the shared cache's key).
        descriptions: per value, its stages' descriptions (the boxes' tooltips), when they differ by value.
    """

    current: object
    build: Callable[[object], object]
    fixed: tuple
    descriptions: dict | None = None


def traced_at(choice: LayerChoice, control: str, inputs, training: bool,
              call_kwargs: dict) -> Callable[[object], tuple[object, dict[str, np.ndarray]]]:
    """value -> (layer, trace) with `control` at that value, for the background fill (see `layer_at`).

    Fresh weights need no variables: `compute.built_and_traced` gives the same trace for a third of the cost.
    """
    if choice.weights == "fresh":
        return lambda value: compute.built_and_traced(choice.class_name, {**dict(choice.config), control: value},
                                                      choice.build_shape, choice.seed, inputs, training,
                                                      **call_kwargs)
    return _traced_with(layer_at(choice, control), inputs, training, choice.seed, call_kwargs)


def _traced_with(build: Callable[[object], object], inputs, training: bool, seed: int,
                 call_kwargs: dict) -> Callable[[object], tuple[object, dict[str, np.ndarray]]]:
    def traced(value):
        built = build(value)
        return built, compute.trace_arrays(built, inputs, training, seed, **call_kwargs)

    return traced


def scrub_stages_section(choice: LayerChoice, control: str, key: str, values: Sequence, inputs,
                         stages: dict[str, np.ndarray], window: int, training: bool,
                         view: Callable[[str, np.ndarray, int], compute.StageView], key_prefix: str,
                         fallback: Callable[[], object], value_ranges: dict[str, tuple[float, float]] | None = None,
                         call_kwargs: dict | None = None, title: str = "Pipeline and activations",
                         moved: "MovedLayer | None" = None, default_stage: str | None = None,
                         column_titles: dict[str, str] | None = None) -> None:
    """The pipeline and the chosen stage's picture with `control` beside them, redrawn in the browser as it moves.

    Every value of the control has its frame read off the trace of the layer built at that value (the current
    value from the page's own cached layer and trace, the others in the background; see `explorer.scrub`).

    Args:
        control: the config argument scrubbed ("ff_dim", "d_model", "dropout").
        key: the setting holding it.
        values: the control's values, in order.
        fallback: draws the plain slider, should the component fail, and returns its value.
        moved: how the layer follows a control that is not one of its arguments (the mixer's flavour).
        default_stage: the stage drawn large until one is chosen (default: the last).
        column_titles: what a column of a stage's picture is, where it is not a time step.
    """
    st.subheader(title)
    stage, interactive = _stage_controls(choice, stages, key_prefix, default_stage)
    spec = frames.StageFrameSpec(window, view, stage, tuple(sorted((value_ranges or {}).items())))
    call_kwargs = call_kwargs or {}
    if moved is None:
        config = dict(choice.config)
        moved = MovedLayer(config.pop(control), layer_at(choice, control),
                           (choice.class_name, tuple(sorted(config.items()))))
        traced = traced_at(choice, control, inputs, training, call_kwargs)
    else:
        traced = _traced_with(moved.build, inputs, training, choice.seed, call_kwargs)

    def compute_frame(value):
        return frames.stages_frame(*traced(value), spec)

    range_key = ("stages", control, moved.fixed, choice.seed, choice.data_key, choice.input_shape, choice.variant,
                 choice.call, choice.weights, choice.normalized, training, window, stage, key_prefix,
                 spec.value_ranges)
    # After a release the fill has usually made this value's frame already, from the same build and trace.
    current_frame = frames.FILLS.frame(range_key, moved.current) or frames.stages_frame(layer(choice), stages, spec)
    shown = view(stage, stages[stage], window)
    column_title = (column_titles or {}).get(stage, "time step")
    descriptions = getattr(kflayers, choice.class_name).stage_descriptions()
    views = {"stages": [{"name": name, "description": descriptions.get(name, "")} for name in stages],
             "picture": {"row_title": shown.row_title, "column_title": column_title,
                         "row_labels": list(shown.row_labels) if shown.row_labels is not None else None}}
    if moved.descriptions:
        views["descriptions"] = {scrub.label(value): text for value, text in moved.descriptions.items()}
    value_range = (value_ranges or {}).get(stage)

    def plain_slider_and_views():
        # Without the component the server draws the boxes and the picture, as on a page without a scrub.
        value = fallback()
        _pipeline_strip(choice, stages, window, view, value_ranges)
        if not interactive:
            show.html(figures.activations_view(shown.values, stages[stage][window], stages[stage], stage,
                                               shown.row_title, shown.row_labels, shown.note, value_range))
        return value

    scrub.show(control, key, values, moved.current, range_key, compute_frame, current_frame, views,
               plain_slider_and_views)
    st.caption(show.plain(
        f"Move {control} to redraw every stage at once: the boxes show each stage's shape, weight count and the "
        "chosen window (rows against time steps; red above zero, blue below), and the large picture the chosen "
        "stage. " + heatmap_caption(shown.row_title, column_title, value_range, shown.note) + " "
        + histogram_caption()))
    if interactive:
        _interactive_chart(stages, window, stage, shown, value_range, column_title)


def input_output_section(stages: dict[str, np.ndarray], current: data.Current, window: int, training: bool,
                         first: str = "input") -> None:
    """The chosen window entering (stage `first`) and leaving the layer, one line per series."""
    output = list(stages.values())[-1]
    mode = "training" if training else "inference"
    show.chart(figures.input_output(stages[first][window], output[window], current.batch.series,
                                    output_title=f"output ({mode} mode)"), key="input_output")


def probes_section(choice: LayerChoice, inputs, window: int, pick: Callable[[np.ndarray], np.ndarray],
                   band_label: str, call_kwargs: dict | None = None) -> None:
    """Dropout spread (Monte Carlo) as a band, and per stage next to the training-vs-inference difference.

    Args:
        pick: the values drawn as the band, from an output-shaped array (e.g. one series of the chosen window).
        band_label: what `pick` selects, for the axis title.
    """
    call_kwargs = call_kwargs or {}
    summary = _dropout(choice, MC_SAMPLES, inputs, call_kwargs)
    output = list(trace(choice, False, inputs, call_kwargs).values())[-1]
    _band_chart(frames.band_frame(summary, output, pick)["band"], band_label)
    spread = figures.dropout_std_by_stage(summary.stages, summary.stage_std)
    show.chart(figures.panels([spread, _mode_difference(choice, inputs, call_kwargs)]), key="by_stage")


def _band_chart(band: dict, band_label: str) -> None:
    """The Monte Carlo band of a band frame (`explorer.scrub.band_frame`) as a plotly chart."""
    show.chart(figures.dropout_band(np.asarray(band["mean"]), np.asarray(band["std"]), np.asarray(band["inference"]),
                                    band_label, MC_SAMPLES), key="dropout_band")


def scrub_probes_section(choice: LayerChoice, key: str, values: Sequence, inputs, window: int,
                         pick: Callable[[np.ndarray], np.ndarray], band_label: str, fallback: Callable[[], object],
                         pick_key: tuple, call_kwargs: dict | None = None) -> None:
    """`probes_section` with the dropout rate beside the Monte Carlo band, which follows it as it moves.

    Every rate of the slider's grid has its band from the layer built at that rate, run `MC_SAMPLES` times
    with the page's seed (so the masks are nested from one rate to the next); the per-stage spread follows
    on release.

    Args:
        pick_key: identifies what `pick` selects (window, series), for the shared cache.
    """
    call_kwargs = call_kwargs or {}
    config = dict(choice.config)
    current = config.pop("dropout")
    build = layer_at(choice, "dropout")

    def compute_frame(value):
        return frames.band_frame_at(build(value), inputs, choice.seed, MC_SAMPLES, pick, call_kwargs)

    range_key = ("band", choice.class_name, tuple(sorted(config.items())), choice.seed, choice.data_key,
                 choice.input_shape, choice.variant, choice.call, choice.weights, choice.normalized, pick_key)
    # After a release the fill has usually run this rate's passes already: its frame holds the spread too.
    current_frame = frames.FILLS.frame(range_key, current) or frames.band_frame(
        _dropout(choice, MC_SAMPLES, inputs, call_kwargs), list(trace(choice, False, inputs, call_kwargs).values())[-1],
        pick)
    title = f"output of {band_label} under Monte Carlo dropout ({MC_SAMPLES} passes)"

    def plain_slider_and_band():
        # Without the component the server draws the band, as on a page without a scrub.
        value = fallback()
        _band_chart(current_frame["band"], band_label)
        return value

    scrub.show("dropout", key, values, current, range_key, compute_frame, current_frame, {"band": {"title": title}},
               plain_slider_and_band)
    st.caption(show.plain(
        f"Move dropout to redraw the band at once. The layer's output for the chosen window ({band_label}) over "
        f"{MC_SAMPLES} passes with dropout on and batch normalisation on its moving statistics: the line is the "
        "mean, the band one standard deviation either side, and the dotted line the inference output; a wide band "
        "means dropout makes this output uncertain. The charts below follow when you let go."))
    spread = figures.dropout_std_by_stage(current_frame["spread"]["stages"], current_frame["spread"]["std"])
    show.chart(figures.panels([spread, _mode_difference(choice, inputs, call_kwargs)]), key="by_stage")


def mode_difference_chart(choice: LayerChoice, inputs, call_kwargs: dict | None = None, note: str = "") -> None:
    """Mean |training - inference| per stage, from the two cached traces (the page has drawn one of them).

    Args:
        note: a sentence on what to expect from this layer, shown above the chart.
    """
    if note:
        st.caption(note)
    show.chart(_mode_difference(choice, inputs, call_kwargs or {}), key="mode_difference")


def _mode_difference(choice: LayerChoice, inputs, call_kwargs: dict) -> figures.Chart:
    difference = compute.mode_difference(trace(choice, True, inputs, call_kwargs),
                                         trace(choice, False, inputs, call_kwargs))
    return figures.mode_difference_by_stage(list(difference), list(difference.values()))


def impact_section(choice: LayerChoice, inputs: np.ndarray, current: data.Current, note: str = "") -> None:
    """The cross-series impact matrix (fresh and trained side by side when trained)."""
    if note:
        st.caption(note)
    side_by_side(choice, lambda shown, suffix: show.chart(
        figures.impact_matrix(_impact(shown, inputs), current.batch.series), key="impact" + suffix))


@dataclasses.dataclass(frozen=True)
class NotebookSource:
    """What a page adds to its export for the notebook of its view (see `explorer.notebook.View`).

    Attributes:
        current: the data and batch in use; inputs: what the layer is fed; call_kwargs: e.g. the mixers' mask.
        window: the chosen window; stage_key: the page's stage control (None: the last stage is shown).
        view: (stage, array, window) -> the page's `compute.StageView`, or None to draw each stage as it is held.
        value_ranges: stages drawn over a fixed range (a gate in [0, 1]).
        lesson: a key of `explorer.notebook.LESSONS`; channel: the embedding channel of the "kernels" lesson.
        fed: one sentence on what the layer is fed.
    """

    current: data.Current
    inputs: object
    window: int
    lesson: str | None
    fed: str
    stage_key: str | None = None
    view: Callable[[str, np.ndarray, int], compute.StageView] | None = None
    value_ranges: dict | None = None
    call_kwargs: dict | None = None
    channel: int = 0


def normalised_note(choice: LayerChoice) -> str:
    """The sentence a notebook adds when the page feeds windows normalised as in training."""
    return (" With trained weights the page feeds each window normalised by its own mean and spread, as in training: "
            "these normalised windows are what the notebook embeds." if choice.normalized else "")


def export_section(choice: LayerChoice, stages: dict[str, np.ndarray], training: bool,
                   source: NotebookSource, title: str = "") -> None:
    """The view as a Jupyter notebook; the config as JSON, the weights as .npz, a Python snippet, and the trace.

    Args:
        stages: the page's trace.
        source: what the notebook of this view needs beyond the layer and its trace.
        title: a heading, for a page that exports more than one layer.
    """
    if title:
        st.subheader(title)
    shown = layer(choice)
    weights_file = f"{choice.class_name}_{weights_kind(choice)}_weights.npz"
    snippet = compute.python_snippet(choice.class_name, dict(choice.config), choice.build_shape, weights_file)
    mode = "training" if training else "inference"
    _notebook_button(choice, stages, training, source)
    columns = st.columns(4)
    columns[0].download_button("Config (JSON)", compute.config_json(shown),
                               file_name=f"{choice.class_name}.json", mime="application/json",
                               on_click="ignore", icon=":material/download:")
    columns[1].download_button(f"Weights, {weights_kind(choice)} (.npz)", lambda: compute.weights_npz(shown),
                               file_name=weights_file, mime="application/octet-stream", on_click="ignore",
                               icon=":material/download:")
    columns[2].download_button("Python snippet", snippet, file_name=f"{choice.class_name}.py",
                               mime="text/x-python", on_click="ignore", icon=":material/download:")
    columns[3].download_button(f"Trace, {mode} mode (.npz)", lambda: compute.trace_npz(stages),
                               file_name=f"{choice.class_name}_trace_{mode}.npz",
                               mime="application/octet-stream", on_click="ignore", icon=":material/download:")
    st.caption("The snippet builds the same layer and loads the weights shown here from the weights file (put it "
               "next to the snippet); the trace .npz holds one array per stage, named as in the pipeline.")
    st.code(snippet, language="python")


def _notebook_button(choice: LayerChoice, stages: dict[str, np.ndarray], training: bool,
                     source: NotebookSource) -> None:
    """The *Notebook (.ipynb)* download, or one sentence on why this view has none."""
    why_not = notebook_refusal(source.current, stages, source.window)
    if why_not is None:
        stage = st.session_state.get(source.stage_key) if source.stage_key else None
        compared = weights_kind(choice) != "fresh" and source.lesson is not None
        view = notebook_view(choice, stages, training, source, stage, layer(choice),
                             layer(choice.fresh) if compared else None)
        if notebook.embedded_size_bound(view) > notebook.MAX_EMBEDDED_BYTES:
            why_not = notebook.size_refusal(view)
    if why_not is not None:
        st.info(show.plain(why_not), icon=":material/info:")
        return
    st.download_button("Notebook (.ipynb)", lambda: notebook.notebook_bytes(view),
                       file_name=f"{choice.class_name}_{weights_kind(choice)}.ipynb",
                       mime="application/x-ipynb+json", on_click="ignore", icon=":material/description:",
                       type="primary",
                       help="One self-contained Jupyter notebook that reproduces this view: the batch and weights "
                            "are inside it; it rebuilds the layer, traces the batch, draws the chosen stage and "
                            "this page's main view with plotly, and checks that the traced output equals "
                            "layer(batch). It needs kflayers, a Keras backend, numpy and plotly.")
    st.caption("The notebook runs top to bottom in a fresh kernel, with no file beside it.")


def notebook_refusal(current: data.Current, stages: dict[str, np.ndarray], window: int) -> str | None:
    """Why this view offers no notebook (no data in the batch, a trace whose window is not finite), or None."""
    if current.batch.values.size == 0:
        return ("No notebook: there is no data in the batch. Choose data and a batch on the Home page; the other "
                "exports below still describe the layer.")
    output = list(stages.values())[-1]
    if not np.all(np.isfinite(output[min(window, len(output) - 1)])):
        return ("No notebook: the trace of this window failed, giving values that are not finite (NaN or "
                "infinity), so there is no output to reproduce and check. Try another window, data or config; the "
                "other exports below are still available.")
    return None


def notebook_view(choice: LayerChoice, stages: dict[str, np.ndarray], training: bool, source: NotebookSource,
                  stage: str | None, shown, fresh=None) -> notebook.View:
    """The page's view as the plain data the notebook is written from.

    Args:
        stage: the stage the page's stage control holds (the last stage when it is None or not one of `stages`).
        shown: the page's layer; fresh: the same layer with fresh weights when the page compares them, else None.
    """
    current, window = source.current, source.window
    names = list(stages)
    stage = stage if stage in stages else names[-1]
    held = stages[stage][min(window, len(stages[stage]) - 1)]
    # Without a page view a vector (a mixer's output along the window) is drawn as one row across.
    arranged = (source.view(stage, stages[stage], window) if source.view else
                compute.StageView(held.reshape(-1, 1) if held.ndim == 1 else held, "value", None))
    output = stages[names[-1]]
    mask = (source.call_kwargs or {}).get("mask")
    return notebook.View(
        page=model.LAYER_PAGES[choice.class_name].title, class_name=choice.class_name, config=dict(choice.config),
        build_shape=choice.build_shape, seed=choice.seed, inputs=source.inputs, mask=mask,
        weights=_weight_values(shown), weights_kind=weights_kind(choice),
        fresh_weights=None if fresh is None else _weight_values(fresh),
        training=training, window=window, window_label=str(current.batch.labels[window]), stage=stage,
        arrangement=notebook.arrangement_of(held, arranged.values), row_title=arranged.row_title,
        row_labels=arranged.row_labels, value_range=(source.value_ranges or {}).get(stage), lesson=source.lesson,
        channel=source.channel, data_label=current.dataset.label, fed=source.fed + normalised_note(choice),
        series=tuple(current.batch.series), expected_output=output[min(window, len(output) - 1)])


def _weight_values(shown) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(variable) for variable in shown.weights]
