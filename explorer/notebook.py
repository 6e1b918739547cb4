"""A Jupyter notebook that reproduces a layer page's view: its batch, layer, trace, main views and a check.

The page gathers what it showed into a `View` (plain data: arrays, names, the config) and `notebook` writes the
notebook with nbformat. The notebook is self-contained: the layer's inputs and weights travel inside it as a
base64 .npz, so it runs top to bottom in a fresh kernel with kflayers, a Keras backend, numpy and plotly.

The weights are always embedded, fresh ones too: the app draws the fresh weights of FeatureMixing (ff_dim) and
TokenEmbedding (d_model) nested, for the largest size the slider offers (see `explorer.compute.build_layer`), so a
plain build with the page's seed would give other weights; embedding them is exact for every layer and costs a few
kB. The seed still seeds the build, as on the page.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import textwrap
from typing import Any, Sequence

import nbformat
import numpy as np
from nbformat import v4

MAX_EMBEDDED_BYTES = 20 * 2**20
"""The most a notebook embeds (its base64 data); a larger view gets the other exports only."""

LESSONS = {
    "impact": "the cross-series impact matrix",
    "gate_histogram": "the gate's histogram",
    "importance": "the importance bars",
    "kernels": "the learned kernel of one embedding channel",
    None: "no view beyond the stage heatmap",
}
"""The lesson a page draws beside its stages, by kind, as the notebook's text names it."""

WEIGHTS_TEXT = {
    "fresh": "fresh (the layer's initial weights for this config and seed)",
    "trained": "trained on this data (the page's next-step training)",
    "model": "your model's (the layer as loaded from your .keras file)",
}

NESTED = {"FeatureMixing": "ff_dim", "TokenEmbedding": "d_model"}
"""Layers whose fresh weights the app draws nested (see `explorer.compute.NESTED_SIZES`)."""

_CHUNK = 4000  # base64 characters per line of the data cell, so an editor never holds one huge line


class NotebookTooLarge(ValueError):
    """The view's data would make a notebook embed more than `MAX_EMBEDDED_BYTES`."""


@dataclasses.dataclass(frozen=True)
class View:
    """What a layer page showed, as plain data.

    Attributes:
        page: the page's title.
        class_name: the kflayers layer, e.g. "FeatureMixing".
        config: its constructor arguments.
        build_shape: what `build()` got (a shape with None for the batch, or a list of them).
        seed: the page's seed (weights and dropout masks).
        inputs: exactly what the layer is fed: an array, or a list of arrays for a multi-input layer.
        mask: the mixers' keras mask (True = keep), or None.
        weights: the layer's weights in `layer.weights` order (fresh, trained or a model's).
        weights_kind: "fresh", "trained" or "model".
        fresh_weights: for trained or model weights, the fresh layer's (the page's lesson shows both), else None.
        training: whether the page traced in training mode.
        window: the chosen window (an index into the batch); window_label: where it starts in the data.
        stage: the chosen stage of the heatmap.
        arrangement: how the page draws that stage's window as (time, rows): "as_is", "transpose" (a stage held
            as (rows, time)), "reshape" (a flat vector of time x series values) or "column" (a vector, drawn as
            one row).
        row_title, row_labels: what the heatmap's rows are, with a name per row or None to number them.
        value_range: a stage with a known range (a gate in [0, 1]) is drawn over it, else on a scale around 0.
        lesson: a key of `LESSONS`.
        channel: the embedding channel whose kernel the "kernels" lesson draws.
        data_label: the data's name; fed: one sentence on what the layer is fed.
        series: the batch's series names (the features of the mixers, the rows of the impact matrix).
        expected_output: the page's own traced output for the chosen window (the notebook checks it is met).
    """

    page: str
    class_name: str
    config: dict[str, Any]
    build_shape: Any
    seed: int
    inputs: Any
    mask: np.ndarray | None
    weights: list[np.ndarray]
    weights_kind: str
    fresh_weights: list[np.ndarray] | None
    training: bool
    window: int
    window_label: str
    stage: str
    arrangement: str
    row_title: str
    row_labels: Sequence[str] | None
    value_range: tuple[float, float] | None
    lesson: str | None
    channel: int
    data_label: str
    fed: str
    series: Sequence[str]
    expected_output: np.ndarray


def arrangement_of(window_values: np.ndarray, drawn: np.ndarray) -> str:
    """How the page turned one window of a stage (`window_values`) into the (time, rows) array it drew."""
    if window_values.shape == drawn.shape:
        return "as_is"
    if window_values.ndim == 2 and window_values.T.shape == drawn.shape:
        return "transpose"
    if window_values.ndim == 1 and drawn.shape == (window_values.size, 1):
        return "column"
    if window_values.ndim == 1:
        return "reshape"
    raise ValueError(f"cannot tell how a window of shape {window_values.shape} became {drawn.shape}.")


def embedded_npz(view: View) -> bytes:
    """The arrays the notebook embeds (inputs, mask, weights, the page's output for the window), as .npz bytes."""
    arrays = {}
    inputs = view.inputs if isinstance(view.inputs, list) else [view.inputs]
    for index, values in enumerate(inputs):
        arrays[f"input_{index}"] = np.asarray(values)
    if view.mask is not None:
        arrays["mask"] = np.asarray(view.mask)
    for index, values in enumerate(view.weights):
        arrays[f"weight_{index}"] = np.asarray(values)
    for index, values in enumerate(view.fresh_weights or []):
        arrays[f"fresh_weight_{index}"] = np.asarray(values)
    arrays["page_output"] = np.asarray(view.expected_output)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def embedded_size_bound(view: View) -> int:
    """At most how many bytes the notebook's embedded data takes, without compressing it (base64 of the raw arrays).

    Compression can only grow incompressible data by a few bytes per array, which the margin covers.
    """
    arrays = view.inputs if isinstance(view.inputs, list) else [view.inputs]
    arrays = [*arrays, *view.weights, *(view.fresh_weights or []), view.expected_output]
    if view.mask is not None:
        arrays.append(view.mask)
    raw = sum(np.asarray(values).nbytes + 512 for values in arrays)
    return raw * 4 // 3 + 4096


def size_refusal(view: View, size: int | None = None) -> str | None:
    """Why `view` gets no notebook because of its size (None when it fits): the sentence the page shows."""
    size = len(base64.b64encode(embedded_npz(view))) if size is None else size
    if size <= MAX_EMBEDDED_BYTES:
        return None
    return (f"No notebook: this view's batch and weights take {size / 2**20:.1f} MB, more than the "
            f"{MAX_EMBEDDED_BYTES // 2**20} MB a notebook embeds. Use fewer windows or series, or download the "
            "config, weights, snippet and trace below instead.")


def notebook(view: View) -> nbformat.NotebookNode:
    """The notebook reproducing `view`: what it was, the data, the layer, the trace, the views and the check.

    Raises:
        NotebookTooLarge: the embedded data would exceed `MAX_EMBEDDED_BYTES`.
    """
    encoded = base64.b64encode(embedded_npz(view)).decode("ascii")
    if len(encoded) > MAX_EMBEDDED_BYTES:
        raise NotebookTooLarge(size_refusal(view, len(encoded)))
    cells = [
        v4.new_markdown_cell(_title(view)),
        v4.new_markdown_cell(_summary(view)),
        v4.new_code_cell(_imports()),
        v4.new_code_cell(_data(view, encoded)),
        v4.new_code_cell(_build(view)),
        v4.new_code_cell(_trace(view)),
        v4.new_code_cell(_heatmap(view)),
    ]
    if view.lesson is not None:
        cells.append(v4.new_code_cell(_lesson(view)))
    cells.append(v4.new_code_cell(_check(view)))
    book = v4.new_notebook(cells=cells)
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    book.metadata["language_info"] = {"name": "python"}
    nbformat.validate(book)
    return book


def notebook_bytes(view: View) -> bytes:
    """`notebook(view)` as the bytes of an .ipynb file."""
    return nbformat.writes(notebook(view)).encode("utf-8")


def _title(view: View) -> str:
    return textwrap.dedent(f"""\
        # {view.class_name} from the kflayers explorer ({view.page})

        Requirements: `kflayers`, a Keras backend, `numpy` and `plotly`. In a fresh environment:

        ```
        pip install kflayers numpy plotly tensorflow
        ```

        (`jax[cpu]` or `torch` work as the backend too: set `KERAS_BACKEND` below. Without kflayers on your
        package index, install it from its repository with `pip install .` or from its wheel.) Run the cells
        top to bottom; the data is inside this notebook, so no other file is needed.""")


def _summary(view: View) -> str:
    inputs = view.inputs if isinstance(view.inputs, list) else [view.inputs]
    shapes = " and ".join(str(tuple(np.shape(values))) for values in inputs)
    config = ", ".join(f"{name}={value!r}" for name, value in view.config.items())
    mode = "training mode (batch statistics, dropout masks drawn from the seed)" if view.training else \
        "inference mode"
    masked = ""
    if view.mask is not None:
        hidden = [name for name, keep in zip(view.series, np.asarray(view.mask)[0]) if not keep]
        masked = f" Masked features: {_markdown_text(', '.join(hidden))}."
    weights = f"{WEIGHTS_TEXT[view.weights_kind]}, embedded below so the notebook holds exactly the page's numbers."
    if view.class_name in NESTED:
        weights += (" Fresh ones are embedded too: the app draws them nested (for the largest "
                    f"`{NESTED[view.class_name]}` its slider offers, then sliced), so a plain build with the seed "
                    "would give other weights.")
    if view.fresh_weights:
        weights += " The fresh weights are embedded as well, for the fresh-against-this comparison."
    return "\n".join([
        "## What the page showed",
        "",
        f"- **Data:** {_markdown_text(view.data_label)}; series {_markdown_text(', '.join(view.series))}.",
        f"- **Batch:** the layer was fed inputs of shape {shapes}. {_markdown_text(view.fed)}{masked}",
        f"- **Layer:** `kflayers.{view.class_name}({config})`, seed {view.seed}, traced in {mode}.",
        f"- **Weights:** {weights}",
        f"- **View:** window {view.window} (starts {_markdown_text(view.window_label)}), stage `{view.stage}`, and "
        f"{LESSONS[view.lesson]}.",
    ])


def _markdown_text(text: object) -> str:
    """User text (a file or series name) shown as typed in markdown."""
    return "".join("\\" + c if c in "\\`*_{}[]<>()#+-!|~$" else c for c in str(text))


def _imports() -> str:
    return textwrap.dedent("""\
        import os

        os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # or "jax", "torch": the layers run on all three

        import base64
        import io

        import keras
        import numpy as np
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        import kflayers
        from kflayers import probes""")


def _data(view: View, encoded: str) -> str:
    lines = "\n".join(f"    {encoded[i:i + _CHUNK]!r}" for i in range(0, len(encoded), _CHUNK))
    n_inputs = len(view.inputs) if isinstance(view.inputs, list) else 1
    inputs = ("[data[\"input_0\"], data[\"input_1\"]]  # the layer's two inputs, a and b" if n_inputs == 2
              else "data[\"input_0\"]")
    fresh = ("\nfresh_weights = [data[f\"fresh_weight_{i}\"] for i in range(len(weights))]"
             if view.fresh_weights else "")
    return (
        f"# The page's inputs and weights as a base64 .npz ({len(encoded) / 1024:.0f} kB).\n"
        f"DATA = (\n{lines}\n)\n"
        "data = np.load(io.BytesIO(base64.b64decode(DATA)))\n"
        f"inputs = {inputs}\n"
        f"call_kwargs = {{\"mask\": data[\"mask\"]}} if \"mask\" in data.files else {{}}\n"
        f"weights = [data[f\"weight_{{i}}\"] for i in range({len(view.weights)})]{fresh}\n"
        f"SERIES = {list(view.series)!r}\n"
        f"SEED = {view.seed}\n"
        f"WINDOW = {view.window}  # starts {view.window_label}\n"
        f"TRAINING = {view.training}  # the page's mode: True traces as in training (batch statistics, dropout)\n"
        "\n\n"
        "def at_window(values):\n"
        "    \"\"\"The chosen window of a stage (a position table has one for all).\"\"\"\n"
        "    return values[min(WINDOW, len(values) - 1)]\n"
        "\n\n"
        "print({name: array.shape for name, array in data.items() if not name.startswith(\"weight\")})"
    )


def _build(view: View) -> str:
    config = ",\n".join(f"    {name!r}: {value!r}" for name, value in view.config.items())
    fresh = ("fresh_layer = built(fresh_weights)  # the same layer with its fresh weights, for the comparison\n"
             if view.fresh_weights else "")
    return (
        f"CONFIG = {{\n{config}\n}}\n"
        f"BUILD_SHAPE = {view.build_shape!r}\n"
        "\n\n"
        "def built(values):\n"
        "    \"\"\"The page's layer: its config, built with its seed, holding `values` as its weights.\"\"\"\n"
        "    keras.utils.set_random_seed(SEED)\n"
        f"    layer = kflayers.{view.class_name}(**CONFIG)\n"
        "    layer.build(BUILD_SHAPE)\n"
        "    for variable, value in zip(layer.weights, values, strict=True):\n"
        "        variable.assign(value)\n"
        "    return layer\n"
        "\n\n"
        "layer = built(weights)\n"
        f"{fresh}"
        "print(f\"{type(layer).__name__}: {layer.count_params():,} weights\")"
    )


def _trace(view: View) -> str:
    return textwrap.dedent("""\
        def traced(layer, training):
            \"\"\"Every stage of one pass of the whole batch (as on the page), as numpy arrays in data-flow order.

            In training mode batch normalisation uses the batch's statistics and dropout draws masks from the seed,
            as the page does; nothing in the layer changes.
            \"\"\"
            if training:
                with kflayers.stage_mode(batch_norm="batch_stats", dropout=True, seed=keras.random.SeedGenerator(SEED)):
                    stages = layer.trace(inputs, training=True, **call_kwargs)
            else:
                stages = layer.trace(inputs, training=False, **call_kwargs)
            return {name: keras.ops.convert_to_numpy(tensor) for name, tensor in stages.items()}


        stages = traced(layer, TRAINING)
        descriptions = layer.stage_descriptions()
        for name, values in stages.items():
            print(f"{name:>14}  {str(values.shape):<18} {descriptions.get(name, '')}")""")


_ARRANGE = {
    "as_is": "view = at_window(stages[STAGE])  # (time, rows)",
    "column": "view = at_window(stages[STAGE]).reshape(-1, 1)  # one vector per window, drawn as one row across",
    "transpose": "view = at_window(stages[STAGE]).T  # held as (rows, time); drawn with time across like the others",
    "reshape": "view = at_window(stages[STAGE]).reshape(-1, len(SERIES))  # a flat time x series vector, reshaped",
}


def _heatmap(view: View) -> str:
    rows = repr(list(view.row_labels)) if view.row_labels is not None else "list(range(view.shape[1]))"
    if view.value_range is None:
        scale = 'colorscale="RdBu_r", zmid=0'
    else:
        scale = f'colorscale="Viridis", zmin={view.value_range[0]!r}, zmax={view.value_range[1]!r}'
    return (
        f"STAGE = {view.stage!r}\n"
        f"{_ARRANGE[view.arrangement]}\n"
        f"rows = {rows}\n"
        f"figure = go.Figure(go.Heatmap(z=view.T, x=list(range(view.shape[0])), y=[str(r) for r in rows], {scale},\n"
        "                              colorbar=dict(title=\"value\")))\n"
        f"figure.update_layout(title=f\"stage {{STAGE}}, window {{WINDOW}}\", xaxis_title=\"time step\",\n"
        f"                     yaxis_title={view.row_title!r}, yaxis_autorange=\"reversed\", height=420)\n"
        "figure.show()"
    )


def _lesson(view: View) -> str:
    draw = {
        "impact": ("def lesson(layer):\n"
                   "    \"\"\"Cross-series impact: how much output series j moves when input i is flattened.\"\"\"\n"
                   "    impact = np.asarray(probes.feature_impact(layer, inputs))\n"
                   "    return go.Heatmap(z=impact, x=SERIES, y=SERIES, colorscale=\"Viridis\", zmin=0,\n"
                   "                      colorbar=dict(title=\"impact\"))\n",
                   ("output series", "flattened input series", True)),
        "gate_histogram": ("def lesson(layer):\n"
                           "    \"\"\"The gate's values in the chosen window: 1 passes a, 0 passes b.\"\"\"\n"
                           "    gate = traced(layer, TRAINING)[\"gate\"][WINDOW].ravel()\n"
                           "    return go.Histogram(x=gate, nbinsx=40, histnorm=\"percent\")\n",
                           ("gate value", "% of the window's gate values", False)),
        "importance": ("def lesson(layer):\n"
                       "    \"\"\"How much the mixer weighs each series in the chosen window (sums to 1).\"\"\"\n"
                       "    importance = traced(layer, TRAINING)[\"importance\"][WINDOW]\n"
                       "    return go.Bar(x=SERIES, y=importance)\n",
                       ("feature (series)", "importance", False)),
        "kernels": (f"CHANNEL = {view.channel}\n\n\n"
                    "def lesson(layer):\n"
                    "    \"\"\"The convolution kernel making embedding channel CHANNEL: series x time offset.\"\"\"\n"
                    "    kernel = keras.ops.convert_to_numpy(layer.kernel)[:, :, CHANNEL]  # (kernel_size, c_in)\n"
                    "    return go.Heatmap(z=kernel.T, y=SERIES, colorscale=\"RdBu_r\", zmid=0,\n"
                    "                      colorbar=dict(title=\"weight\"))\n",
                    ("time offset (kernel position)", "series", True)),
    }
    function, (x_title, y_title, reversed_rows) = draw[view.lesson]
    rows = ", autorange=\"reversed\"" if reversed_rows else ""
    if view.fresh_weights:
        other = "trained weights" if view.weights_kind == "trained" else "your model's weights"
        show = (f"figure = make_subplots(rows=1, cols=2, subplot_titles=[\"fresh weights\", {other!r}])\n"
                "figure.add_trace(lesson(fresh_layer), row=1, col=1)\n"
                "figure.add_trace(lesson(layer), row=1, col=2)\n"
                "# each panel's colour bar beside it\n"
                "figure.update_traces(colorbar_x=0.45, row=1, col=1, selector=dict(type=\"heatmap\"))\n")
    else:
        show = "figure = go.Figure(lesson(layer))\n"
    return (f"{function}\n\n{show}"
            f"figure.update_layout(title={LESSONS[view.lesson]!r}, height=440, showlegend=False)\n"
            f"figure.update_xaxes(title_text={x_title!r})\n"
            f"figure.update_yaxes(title_text={y_title!r}{rows})\n"
            "figure.show()")


def _check(view: View) -> str:
    return textwrap.dedent("""\
        # The check you can rerun: the traced output is exactly what the layer returns for the batch, and it is the
        # output the page showed for this window.
        if TRAINING:
            with kflayers.stage_mode(batch_norm="batch_stats", dropout=True, seed=keras.random.SeedGenerator(SEED)):
                output = keras.ops.convert_to_numpy(layer(inputs, training=True, **call_kwargs))
        else:
            output = keras.ops.convert_to_numpy(layer(inputs, training=False, **call_kwargs))
        traced_output = stages[list(stages)[-1]]
        from_layer = float(np.max(np.abs(traced_output - output)))
        from_page = float(np.max(np.abs(at_window(traced_output) - data["page_output"])))
        print(f"max |traced output - layer(batch)| = {from_layer:.3g}")
        print(f"max |traced output - the page's output| (window {WINDOW}) = {from_page:.3g}")
        assert np.allclose(traced_output, output, atol=1e-5), "the trace and layer(batch) differ"
        assert np.allclose(at_window(traced_output), data["page_output"], atol=1e-4), "the page's output differs"
        """).rstrip()
