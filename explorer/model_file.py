"""A user's saved `.keras` model, opened safely, and the kflayers layers inside it (no Streamlit).

A model file comes from a user, so `load` trusts nothing in it:

1. The archive is checked before anything in it is read: its size, that it is a zip archive holding a
   config.json, and the sizes its zip directory declares (the total unpacked size, and the compression ratio,
   which gives a zip bomb away). Python's zipfile never unpacks more than a member's declared size, so the
   directory's numbers bound what loading can unpack.
2. config.json is read for code: a Lambda layer, a serialized Python function or a class from a module other
   than keras and kflayers is refused, because loading it would run that code on the server.
3. Every kflayers layer's config is checked against this kflayers version, so that a file saved by another
   version is refused with the layer and the argument that do not fit.
4. Only then keras loads it, in safe mode (which refuses Python lambdas once more); what keras still refuses,
   such as weights whose shapes do not fit their layers, becomes one sentence too.

A loaded model is shared by every session and never changed. The pages look at copies of its layers
(`layer_copy`) and run the model only here. To learn what a layer receives inside the model, `layer_inputs`
runs the model once with every kflayers layer's `call` replaced, on the instance and for that run only, by a
wrapper that records its input and then computes as before; `outputs_with_fresh_layer` swaps one layer's `call`
for a fresh layer's the same way. Runs hold a lock, so no other run sees a replaced `call`, and the class's own
`call` is back in place when a run ends, even after an error. This works inside nested models and subclassed
models such as `kflayers.Forecaster`, where a keract-style sub-model (`keras.Model(model.inputs, layer.input)`)
needs a functional graph that reaches the layer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import inspect
import io
import json
import re
import tempfile
import threading
import zipfile
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterator

import keras
import numpy as np

import kflayers
from explorer.data import DataError
from kflayers.layers.base import StagedLayer

MAX_FILE_BYTES = 64 * 2**20
"""Largest model file accepted (the Learn page's forecasters take well under a megabyte)."""
MAX_UNPACKED_BYTES = 256 * 2**20
"""Largest total size the archive's members may unpack to."""
MAX_RATIO = 50
"""Largest compression ratio (unpacked / packed size) of an archive that unpacks to more than `RATIO_FLOOR`.

Keras stores a model's members uncompressed (ratio 1); float weights deflate by a factor of two or so.
"""
RATIO_FLOOR = 2**20
WEIGHTS_PREFIX = "model:"
"""Start of a layer page's weights source naming a loaded model's layer: "model:<digest>:<layer path>"."""

_ALLOWED_MODULES = ("keras", "kflayers")
# Keras' own base arguments, which every layer's config may carry besides the layer's own.
_BASE_ARGUMENTS = frozenset(inspect.signature(keras.layers.Layer.__init__).parameters) - {"self", "kwargs"}
_RUN_LOCK = threading.Lock()


class ModelFileError(DataError):
    """A model file the app cannot use; the message is one sentence saying what is wrong and what to do."""


@dataclasses.dataclass(frozen=True, eq=False)
class ModelLayer:
    """A kflayers layer inside a loaded model.

    Attributes:
        path: the names from the model down to the layer, e.g. "inner/fusion" (unique within the model).
        class_name: the kflayers class, e.g. "FeatureMixing".
        config: its constructor arguments (without keras' base arguments such as name and dtype).
        params: its number of weights.
        input_shape: the input shape it was built for, batch axis None (a list of shapes for several inputs),
            or None when keras kept none.
        layer: the model's own layer: never call or change it; use `layer_copy`.
    """

    path: str
    class_name: str
    config: dict[str, Any]
    params: int
    input_shape: Any
    layer: StagedLayer


@dataclasses.dataclass(frozen=True, eq=False)
class LoadedModel:
    """A model loaded from a file, with its kflayers layers found.

    Attributes:
        digest: identifies the file's bytes (a SHA-256 prefix).
        model: the keras model (shared by every session: never change it).
        layers: its kflayers layers, in the order the model holds them (nested models included).
        other_layers: class name -> count of the model's other layers.
        input_shapes: the shape of each model input, batch axis None (empty when keras kept none).
        keras_version: the keras version that saved the file, as its metadata says.
    """

    digest: str
    model: keras.Model
    layers: tuple[ModelLayer, ...]
    other_layers: dict[str, int]
    input_shapes: tuple[tuple, ...]
    keras_version: str

    def layer(self, path: str) -> ModelLayer:
        for entry in self.layers:
            if entry.path == path:
                return entry
        raise ModelFileError(f"The model has no kflayers layer called {path!r}; choose one of the layers listed.")

    def weights_source(self, path: str) -> str:
        """The layer pages' name for the weights of the layer at `path` (see `layer_copy_from`)."""
        return f"{WEIGHTS_PREFIX}{self.digest}:{path}"

    @property
    def params(self) -> int:
        return int(self.model.count_params())

    def input_problem(self, batch_shape: tuple) -> str | None:
        """None if the model runs on a (windows, time, series) batch of `batch_shape`, else one sentence why not."""
        if len(self.input_shapes) != 1:
            count = len(self.input_shapes) or "an unknown number of"
            return (f"This model takes {count} inputs, but the app feeds a model one batch of windows, so its "
                    "layers can only be fed the pages' own batch.")
        expected = self.input_shapes[0]
        if len(expected) != 3:
            return (f"This model takes inputs of shape {shape_text(expected)}, not windows of (time steps, "
                    "series), so its layers can only be fed the pages' own batch.")
        if all(want is None or want == have for want, have in zip(expected[1:], batch_shape[1:])):
            return None
        steps, series = expected[1:]
        return (f"This model expects windows of {_count(steps, 'time step')} of {_count(series, 'series')} "
                f"(input shape {shape_text(expected)}); the batch has windows of {batch_shape[1]} time steps of "
                f"{batch_shape[2]} series.")

    @property
    def window_shape(self) -> tuple[int | None, int | None] | None:
        """(time steps, series) of the windows the model takes (None where any fits), or None if not windows."""
        if len(self.input_shapes) == 1 and len(self.input_shapes[0]) == 3:
            return tuple(self.input_shapes[0][1:])
        return None


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def load(data: bytes) -> LoadedModel:
    """Check and load a `.keras` file's bytes.

    Raises:
        ModelFileError: the file is not a model archive, is too large or a zip bomb, holds code, has a kflayers
            layer this version cannot build, does not load in keras, or has no kflayers layer (one sentence).
    """
    config, metadata = read_archive(data)
    refuse_code(config)
    check_kflayers_configs(config)
    model = _load_keras(data)
    layers, others = _kflayers_layers(model)
    if not layers:
        found = ", ".join(sorted(others)) or "no layers"
        raise ModelFileError(f"This model has no kflayers layer (it has {found}); the pages can only open kflayers "
                             "layers, so load a model built with them, such as the Learn page's download.")
    return LoadedModel(file_digest(data), model, tuple(layers), dict(others), _input_shapes(model),
                       str(metadata.get("keras_version", "unknown")))


def read_archive(data: bytes, max_file_bytes: int = MAX_FILE_BYTES, max_unpacked_bytes: int = MAX_UNPACKED_BYTES,
                 max_ratio: float = MAX_RATIO) -> tuple[dict, dict]:
    """(config.json, metadata.json) of a `.keras` archive, after checking the sizes its zip directory declares.

    Raises:
        ModelFileError: too large, not a zip archive, a zip bomb, or no readable config.json.
    """
    if len(data) > max_file_bytes:
        raise ModelFileError(f"This file is {_megabytes(len(data))}; the app loads model files of up to "
                             f"{_megabytes(max_file_bytes)}.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError):
        raise ModelFileError("This file is not a .keras model archive (a .keras file is a zip archive holding "
                             "config.json and the weights); choose a file saved with model.save(\"name.keras\")."
                             ) from None
    with archive:
        members = archive.infolist()
        unpacked = sum(member.file_size for member in members)
        packed = sum(member.compress_size for member in members)
        if unpacked > max_unpacked_bytes:
            raise ModelFileError(f"This archive would unpack to {_megabytes(unpacked)}, more than the "
                                 f"{_megabytes(max_unpacked_bytes)} the app unpacks, so it is refused.")
        if unpacked > RATIO_FLOOR and unpacked > max_ratio * max(packed, 1):
            raise ModelFileError(f"This archive unpacks to {unpacked // max(packed, 1):,} times its packed size, as "
                                 "a zip bomb does (a saved model compresses far less), so it is refused.")
        names = {member.filename for member in members}
        if "config.json" not in names:
            raise ModelFileError("This zip archive has no config.json, so it is not a Keras model file; choose a "
                                 "file saved with model.save(\"name.keras\").")
        try:
            config = json.loads(archive.read("config.json"))
            metadata = json.loads(archive.read("metadata.json")) if "metadata.json" in names else {}
        except (ValueError, zipfile.BadZipFile, OSError):
            raise ModelFileError("This archive's config.json cannot be read as JSON, so the model cannot be "
                                 "rebuilt; save the model again.") from None
    if not isinstance(config, dict) or not isinstance(metadata, dict):
        raise ModelFileError("This archive's config.json does not describe a Keras model; save the model again.")
    return config, metadata


def refuse_code(config: dict) -> None:
    """Refuse a config that would run code when loaded: a Lambda layer, a Python function, an outside class.

    Keras' safe mode refuses Python lambdas itself; this names the layer, and also refuses classes from other
    modules (importing and building those would run their code).
    """
    for item in _serialized_objects(config):
        class_name, module = item["class_name"], item.get("module")
        if class_name in ("Lambda", "__lambda__"):
            raise ModelFileError(_code_refused(f"a Lambda layer ({_object_name(item)!r})"))
        if isinstance(module, str) and module.split(".")[0] not in _ALLOWED_MODULES and not (
                module == "builtins" and class_name == "function"):  # a function named from keras' registry
            raise ModelFileError(
                f"This model uses {class_name} from the module {module!r}, which is neither Keras nor kflayers; "
                "the app refuses it, because loading a class from other code would run that code on the server.")


def check_kflayers_configs(config: dict) -> None:
    """Build every kflayers layer of the config from its arguments, unbuilt, to name one that does not fit.

    Raises:
        ModelFileError: a class this kflayers version lacks, or an argument it does not take, lacks or refuses.
    """
    for item in _serialized_objects(config):
        if not _is_kflayers(item):
            continue
        class_name, arguments, name = item["class_name"], item.get("config"), _object_name(item)
        layer_class = getattr(kflayers, class_name, None)
        if layer_class is None or not isinstance(arguments, dict):
            raise ModelFileError(f"Layer {name!r} is a kflayers {class_name}, which kflayers {kflayers.__version__} "
                                 "does not have: the file was probably saved by another kflayers version.")
        try:
            layer_class.from_config(arguments)
        except (TypeError, ValueError) as problem:
            raise ModelFileError(_argument_mismatch(name, layer_class, arguments, problem)) from None


def layer_inputs(loaded: LoadedModel, values: np.ndarray) -> dict[str, list]:
    """What every kflayers layer receives when the model runs on `values` in inference mode.

    Returns:
        layer path -> the layer's first input argument at each of its calls in that run, as numpy arrays
        (a list of arrays for a layer of several inputs); empty for a layer the run did not reach.
    """
    received: dict[str, list] = {entry.path: [] for entry in loaded.layers}

    def recorder(entry: ModelLayer) -> Callable:
        own_call = type(entry.layer).call.__get__(entry.layer)
        first_argument = list(inspect.signature(own_call).parameters)[0]

        def call(*args, **kwargs):
            inputs = args[0] if args else kwargs[first_argument]
            received[entry.path].append(keras.tree.map_structure(keras.ops.convert_to_numpy, inputs))
            return own_call(*args, **kwargs)

        return call

    _run(loaded.model, values, {entry.layer: recorder(entry) for entry in loaded.layers})
    return received


def outputs_with_fresh_layer(loaded: LoadedModel, values: np.ndarray, path: str,
                             fresh) -> tuple[np.ndarray, np.ndarray]:
    """The model's output on `values` (inference mode) as saved, and with the layer at `path` replaced by `fresh`.

    `fresh` is a built layer taking the same inputs (the same class and config, other weights).
    """
    entry = loaded.layer(path)
    saved = _run(loaded.model, values, {})
    swapped = _run(loaded.model, values, {entry.layer: lambda *args, **kwargs: fresh(*args, **kwargs)})
    return saved, swapped


def layer_copy(entry: ModelLayer) -> StagedLayer:
    """A new layer with the config and weights of the model's layer `entry` (safe to trace and probe)."""
    copy = type(entry.layer).from_config(entry.layer.get_config())
    copy.build_from_config(entry.layer.get_build_config())
    copy.set_weights(entry.layer.get_weights())
    return copy


def layer_copy_from(source: str, store: "ModelStore | None" = None) -> StagedLayer:
    """The layer a weights source "model:<digest>:<path>" names, copied from the model in `store` (default STORE)."""
    digest, _, path = source.removeprefix(WEIGHTS_PREFIX).partition(":")
    loaded = (store or STORE).get(digest)
    if loaded is None:
        raise ModelFileError("That model is no longer loaded; load its file again on the Your model page.")
    return layer_copy(loaded.layer(path))


class ModelStore:
    """Loaded models by file digest, shared by every session: the same file is loaded once.

    Only the most recently used `max_entries` are kept; a session keeps its own model itself and puts it back
    when it uses it (`put`), so an evicted model returns without being loaded again.
    """

    def __init__(self, max_entries: int = 8):
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries

    def get(self, digest: str) -> LoadedModel | None:
        with self._lock:
            if digest in self._models:
                self._models.move_to_end(digest)
            return self._models.get(digest)

    def put(self, loaded: LoadedModel) -> None:
        with self._lock:
            self._models[loaded.digest] = loaded
            self._models.move_to_end(loaded.digest)
            while len(self._models) > self._max_entries:
                self._models.popitem(last=False)

    def load(self, data: bytes) -> LoadedModel:
        """The model of these bytes: from the store when it holds them, else loaded (see `load`) and stored."""
        loaded = self.get(file_digest(data))
        if loaded is None:
            loaded = load(data)
            self.put(loaded)
        return loaded


STORE = ModelStore()
"""The models loaded in this server process."""


def _run(model: keras.Model, values: np.ndarray, calls: dict) -> np.ndarray:
    """The model's output on `values` (inference mode), with the layers in `calls` running the given functions."""
    with _RUN_LOCK, _calls_replaced(calls):
        return keras.ops.convert_to_numpy(model(np.asarray(values, dtype=np.float32), training=False))


@contextlib.contextmanager
def _calls_replaced(calls: dict) -> Iterator[None]:
    """Give each layer in `calls` the function as its `call`, on the instance, until the block ends."""
    replaced = []
    try:
        for layer, function in calls.items():
            # object.__setattr__: keras' own __setattr__ would track the function as part of the layer.
            object.__setattr__(layer, "call", function)
            replaced.append(layer)
        yield
    finally:
        for layer in replaced:
            object.__delattr__(layer, "call")


def _load_keras(data: bytes) -> keras.Model:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        path.write_bytes(data)
        try:
            with _RUN_LOCK:
                model = keras.saving.load_model(path, safe_mode=True, compile=False)
        except Exception as problem:  # keras raises many kinds; each becomes one sentence, never a traceback
            raise ModelFileError(_load_failure(problem)) from None
    if not isinstance(model, keras.Model):
        raise ModelFileError("This file holds a single layer, not a model; save a keras.Model that contains it.")
    return model


_SHAPE_MISMATCH = re.compile(r"variable\.shape=\(([^)]*)\), Received: value\.shape=\(([^)]*)\).*?path=([^,\s]+)",
                             re.DOTALL)


def _load_failure(problem: Exception) -> str:
    text = str(problem)
    if "arbitrary code execution" in text:
        return _code_refused("Python code")
    mismatch = _SHAPE_MISMATCH.search(text)
    if mismatch:
        config_shape, saved_shape, path = mismatch.groups()
        return (f"The saved weights do not fit the model's config: {path} has shape ({saved_shape}) in the weights "
                f"file, but the config makes it ({config_shape}); the two were not saved together (was config.json "
                "edited?), so save the model again.")
    if "expected" in text and "variables" in text:
        return ("The saved weights do not fit the model's config (a layer gets a different number of weights than "
                "its config gives it); the two were not saved together, so save the model again.")
    first_line = text.strip().splitlines()[0].rstrip(".") if text.strip() else type(problem).__name__
    return f"Keras could not rebuild this model from the file ({_shortened(first_line)}); save the model again."


def _code_refused(what: str) -> str:
    return (f"This model contains {what}, which the app does not load: models are loaded in Keras' safe mode, "
            "because loading code from a file would let it run arbitrary commands on the server. Rebuild the model "
            "without it (with Keras or kflayers layers) and save it again.")


def _argument_mismatch(name: str, layer_class, arguments: dict, problem: Exception) -> str:
    own = _keyword_arguments(layer_class.__init__)
    class_name, version = layer_class.__name__, kflayers.__version__
    unknown = sorted(set(arguments) - set(own) - _BASE_ARGUMENTS)
    missing = sorted(argument for argument, required in own.items() if required and argument not in arguments)
    if unknown:
        return (f"Layer {name!r} ({class_name}) was saved with the argument `{unknown[0]}`, which {class_name} of "
                f"kflayers {version} does not take: the file was probably saved by another kflayers version, so "
                "save the model again with this one.")
    if missing:
        return (f"Layer {name!r} ({class_name}) was saved without the argument `{missing[0]}`, which {class_name} of "
                f"kflayers {version} requires: the file was probably saved by another kflayers version, so save the "
                "model again with this one.")
    reason = _shortened(str(_root_cause(problem)))
    return f"Layer {name!r} ({class_name}) has a config kflayers {version} refuses: {reason}"


def _root_cause(problem: BaseException) -> BaseException:
    """The first exception of a chain (keras re-raises a layer's own error inside a longer message of its own)."""
    while (problem.__cause__ or problem.__context__) is not None:
        problem = problem.__cause__ or problem.__context__
    return problem


def _keyword_arguments(function) -> dict[str, bool]:
    """Argument name -> whether it is required, for the named arguments of `function` (without self)."""
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name: p.default is p.empty for p in inspect.signature(function).parameters.values()
            if p.kind in named and p.name != "self"}


def _constructor_config(layer: StagedLayer) -> dict[str, Any]:
    arguments = _keyword_arguments(type(layer).__init__)
    return {name: value for name, value in layer.get_config().items() if name in arguments}


def _serialized_objects(tree) -> Iterator[dict]:
    """Every serialized keras object (a dict with a "class_name") in a config, depth first."""
    if isinstance(tree, dict):
        if isinstance(tree.get("class_name"), str):
            yield tree
        for value in tree.values():
            yield from _serialized_objects(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _serialized_objects(value)


def _is_kflayers(item: dict) -> bool:
    module, registered = item.get("module"), item.get("registered_name")
    return ((isinstance(module, str) and module.split(".")[0] == "kflayers")
            or (isinstance(registered, str) and registered.startswith("kflayers>")))


def _object_name(item: dict) -> str:
    config = item.get("config")
    return str(config.get("name", item["class_name"])) if isinstance(config, dict) else item["class_name"]


def _kflayers_layers(model: keras.Model) -> tuple[list[ModelLayer], Counter]:
    """The kflayers layers of `model`, looking inside nested models and wrappers, and a count of the others."""
    found: list[ModelLayer] = []
    others: Counter = Counter()
    seen: set[int] = set()

    def visit(container, prefix: str) -> None:
        for layer in container._flatten_layers(include_self=False, recursive=False):
            if id(layer) in seen or isinstance(layer, keras.layers.InputLayer):
                continue
            seen.add(id(layer))
            path = prefix + layer.name
            if isinstance(layer, StagedLayer):
                found.append(ModelLayer(path, type(layer).__name__, _constructor_config(layer),
                                        int(layer.count_params()), _built_shape(layer), layer))
            elif any(isinstance(inner, StagedLayer) for inner in layer._flatten_layers(include_self=False)):
                visit(layer, path + "/")
            else:
                others[type(layer).__name__] += 1

    visit(model, "")
    return found, others


def _built_shape(layer):
    shape = (layer.get_build_config() or {}).get("input_shape")
    return None if shape is None else _batchless(shape)


def _input_shapes(model: keras.Model) -> tuple[tuple, ...]:
    """Each input's shape with the batch axis None: a functional model's inputs, else the shape it was built for."""
    inputs = getattr(model, "inputs", None)
    if inputs:
        return tuple((None, *tuple(tensor.shape)[1:]) for tensor in inputs)
    shape = (model.get_build_config() or {}).get("input_shape")
    if shape is None:
        return ()
    shape = _batchless(shape)
    return tuple(shape) if isinstance(shape, list) else (shape,)


def _batchless(shape):
    """A shape (or a list of shapes) as tuples with the batch axis None."""
    if shape and isinstance(shape[0], (list, tuple)):
        return [_batchless(inner) for inner in shape]
    return (None, *tuple(shape)[1:])


def shape_text(shape: tuple) -> str:
    """A shape as "(any, 8, 4)": None axes read "any"."""
    return "(" + ", ".join("any" if n is None else str(n) for n in shape) + ")"


def _count(n: int | None, noun: str) -> str:
    if n is None:
        return f"any number of {noun if noun == 'series' else noun + 's'}"
    return f"{n} {noun if n == 1 or noun == 'series' else noun + 's'}"


def _megabytes(size: int) -> str:
    return f"{size / 2**20:,.1f} MB"


def _shortened(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + "…"
