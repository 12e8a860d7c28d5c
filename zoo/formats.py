"""The export format registry: one writer and one loader per format.

A format names where an artifact lives in an export folder, how to write a NamedModel in it
(under TensorFlow, in the export worker) and how to run the written file. Formats whose
loader needs no Keras (``keras_free``) are the engines of ``zoo.runtime.ExportedModel``.
Nothing outside this module names a format (``tests/test_layout.py`` checks it); adding one
is one :func:`register_format` call here. Writers and loaders import their libraries only
when called: this module imports none.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Callable

from zoo.errors import ZooError

# ``zoo.load(..., engine=KERAS)``: the Keras model itself on the current backend, not a file
# format's loader.
KERAS = "keras"


@dataclasses.dataclass(frozen=True)
class Format:
    """How one export format is written and run.

    Attributes:
        name: the format's name (``--format``, ``--engine``, the manifest).
        path: artifact name -> its path inside an export folder (a file or a folder).
        write: (NamedModel, path) -> None, under TensorFlow.
        load: (path, manifest entry of the artifact) -> a function of the input arrays in
            manifest order returning the output arrays in manifest order.
        keras_free: whether `load` runs without Keras (then it is an inference engine).
        versions: () -> {library: version} of what writes and loads it, for the manifest.
    """

    name: str
    path: Callable[[str], str]
    write: Callable
    load: Callable
    keras_free: bool
    versions: Callable[[], dict] = dict


_FORMATS: dict[str, Format] = {}


def register_format(fmt: Format) -> Format:
    _FORMATS[fmt.name] = fmt
    return fmt


def names() -> tuple[str, ...]:
    """Every format, in the order they are written."""
    return tuple(_FORMATS)


def engines() -> tuple[str, ...]:
    """The formats that run without Keras."""
    return tuple(name for name, fmt in _FORMATS.items() if fmt.keras_free)


def get_format(name: str) -> Format:
    if name not in _FORMATS:
        raise ZooError(f"format {name!r}: expected one of {', '.join(_FORMATS)}")
    return _FORMATS[name]


def parse_formats(text: str) -> tuple[str, ...]:
    """A comma-separated ``--format`` list, checked."""
    formats = tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = [f for f in formats if f not in _FORMATS]
    if unknown or not formats:
        raise ZooError(f"--format {text!r}: expected a comma-separated subset of {','.join(_FORMATS)}")
    return formats


# ---------------------------------------------------------------------------- .keras
def _write_keras(named, path) -> None:
    named.model.save(path)


def _load_keras(path, spec):
    import keras

    from zoo.models.recurrent_state import NamedModel
    from zoo.registry import load_families

    load_families()  # the families' own layers, registered with Keras
    named = NamedModel(keras.saving.load_model(path, safe_mode=True), [o["name"] for o in spec["outputs"]])
    names_ = [i["name"] for i in spec["inputs"]]
    return lambda arrays: [out for out in named.run(dict(zip(names_, arrays))).values()]


# ---------------------------------------------------------------------------- SavedModel
def _write_savedmodel(named, path) -> None:
    """A SavedModel whose serving signature has named inputs and outputs, dynamic batch."""
    import keras
    import tensorflow as tf

    model = named.model
    archive = keras.export.ExportArchive()
    archive.track(model)
    specs = [tf.TensorSpec(i.shape, i.dtype, name=name) for name, i in zip(named.input_names, model.inputs)]

    def serve(*args):
        result = model(list(args) if len(args) > 1 else args[0], training=False)
        result = result if isinstance(result, (list, tuple)) else [result]
        return dict(zip(named.output_names, result))

    archive.add_endpoint("serve", serve, input_signature=specs)
    archive.write_out(str(path), verbose=False)


def _load_savedmodel(path, spec):
    import tensorflow as tf

    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    inputs = [i["name"] for i in spec["inputs"]]
    outputs = [o["name"] for o in spec["outputs"]]

    def run(arrays):
        result = signature(**{n: tf.constant(a) for n, a in zip(inputs, arrays)})
        return [result[o].numpy() for o in outputs]

    return run


# ---------------------------------------------------------------------------- ONNX
def _write_onnx(named, path) -> None:
    """ONNX through keras (tf2onnx), then the graph outputs renamed to the manifest's names."""
    import onnx

    named.model.export(str(path), format="onnx", verbose=False)
    graph_model = onnx.load(str(path))
    graph = graph_model.graph
    renames = {o.name: new for o, new in zip(graph.output, named.output_names)}
    for node in graph.node:
        node.output[:] = [renames.get(n, n) for n in node.output]
        node.input[:] = [renames.get(n, n) for n in node.input]
    for o in graph.output:
        o.name = renames[o.name]
    onnx.checker.check_model(graph_model)
    onnx.save(graph_model, str(path))


def _load_onnx(path, spec):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = [i["name"] for i in spec["inputs"]]
    outputs = [o["name"] for o in spec["outputs"]]
    return lambda arrays: session.run(outputs, dict(zip(inputs, arrays)))


def _onnx_versions() -> dict:
    import onnx
    import onnxruntime
    import tf2onnx

    return {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "tf2onnx": tf2onnx.__version__}


register_format(Format(KERAS, lambda artifact: f"keras/{artifact}.keras", _write_keras, _load_keras, keras_free=False))
register_format(Format("onnx", lambda artifact: f"onnx/{artifact}.onnx", _write_onnx, _load_onnx, keras_free=True,
                       versions=_onnx_versions))
register_format(Format("savedmodel", lambda artifact: f"savedmodel/{artifact}", _write_savedmodel, _load_savedmodel,
                       keras_free=True))
# What runs an export when no engine is named: the smallest dependency (onnxruntime).
DEFAULT_ENGINE = "onnx"


def versions(formats) -> dict:
    """The versions of the libraries that write and load `formats` (for the manifest)."""
    return {k: v for name in formats for k, v in get_format(name).versions().items()}


def write(name: str, named, path: pathlib.Path) -> None:
    """Write NamedModel `named` in format `name` at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    get_format(name).write(named, path)
