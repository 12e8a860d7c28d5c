"""The export format registry: one writer and one loader per format (the writers and loaders
of each library in a module of this package).

A format names where an artifact lives in an export folder, how to write a NamedModel in it
(under TensorFlow, in the export worker) and how to run the written file. Formats whose
loader needs no Keras (``keras_free``) are the engines of ``zoo.runtime.ExportedModel``.
Nothing outside this package names a format (``tests/test_layout.py`` checks it); adding one
is a module of writer, loader and metadata functions and one :func:`register_format` call
here. Writers and loaders import their libraries only when called: this package imports none.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Callable

from zoo.errors import ZooError
from zoo.formats import litert_format, onnx_format, openvino_format, tensorflow_formats

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
        describe: (path, {key: text}) -> None, writes the zoo's metadata into a written
            artifact (a client handed the file alone learns what it is); None for none.
        default: whether ``zoo export`` writes it when no --format is given.
        int8_of: for an int8 variant, the float format it quantizes (verified by the task
            metric within the task's budget, not by its outputs).
        extra: the pip extra that installs its runtime (``keras-rnn-zoo[EXTRA]``).
    """

    name: str
    path: Callable[[str], str]
    write: Callable
    load: Callable
    keras_free: bool
    versions: Callable[[], dict] = dict
    describe: Callable | None = None
    default: bool = True
    int8_of: str | None = None
    extra: str | None = None


_FORMATS: dict[str, Format] = {}


def register_format(fmt: Format) -> Format:
    _FORMATS[fmt.name] = fmt
    return fmt


def names() -> tuple[str, ...]:
    """Every format, in the order they are written."""
    return tuple(_FORMATS)


def defaults() -> tuple[str, ...]:
    """What ``zoo export`` writes when no --format is given."""
    return tuple(name for name, fmt in _FORMATS.items() if fmt.default)


def with_int8(formats) -> tuple[str, ...]:
    """`formats` and the int8 variant of each that has one (``--quantize int8``)."""
    variants = [name for name, fmt in _FORMATS.items() if fmt.int8_of in formats and name not in formats]
    if not variants:
        raise ZooError(f"--quantize int8: none of {','.join(formats)} has an int8 variant; "
                       f"int8 variants exist for {','.join(f.int8_of for f in _FORMATS.values() if f.int8_of)}")
    return (*formats, *variants)


def keras_free_engines() -> tuple[str, ...]:
    """The formats whose loader runs without Keras: what runs an export folder."""
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


register_format(Format(KERAS, lambda artifact: f"keras/{artifact}.keras", tensorflow_formats.write_keras,
                       tensorflow_formats.load_keras, keras_free=False))
register_format(Format("onnx", lambda artifact: f"onnx/{artifact}.onnx", onnx_format.write_onnx,
                       onnx_format.load_onnx, keras_free=True, versions=onnx_format.versions,
                       describe=onnx_format.describe_onnx, extra="onnx"))
register_format(Format("savedmodel", lambda artifact: f"savedmodel/{artifact}", tensorflow_formats.write_savedmodel,
                       tensorflow_formats.load_savedmodel, keras_free=True))
# Opt-in formats (`zoo export --format ...`), each with its own runtime as a pip extra.
register_format(Format("litert", lambda artifact: f"litert/{artifact}.tflite", litert_format.write_litert,
                       litert_format.load_litert, keras_free=True, versions=litert_format.versions,
                       describe=litert_format.describe_litert, default=False, extra="litert"))
register_format(Format("openvino", lambda artifact: f"openvino/{artifact}", openvino_format.write_openvino,
                       openvino_format.load_openvino, keras_free=True, versions=openvino_format.versions,
                       describe=openvino_format.describe_openvino, default=False, extra="openvino"))
# int8 variants (`zoo export --quantize int8`), beside their float files.
register_format(Format("onnx-int8", lambda artifact: f"onnx/{artifact}.int8.onnx", onnx_format.write_onnx_int8,
                       onnx_format.load_onnx, keras_free=True, versions=onnx_format.versions,
                       describe=onnx_format.describe_onnx, default=False, int8_of="onnx", extra="onnx"))
register_format(Format("litert-int8", lambda artifact: f"litert/{artifact}.int8.tflite",
                       litert_format.write_litert_int8, litert_format.load_litert, keras_free=True,
                       versions=litert_format.versions, describe=litert_format.describe_litert, default=False,
                       int8_of="litert", extra="litert"))
# What runs an export when no engine is named: the smallest dependency (onnxruntime).
DEFAULT_ENGINE = "onnx"


def versions(formats) -> dict:
    """The versions of the libraries that write and load `formats` (for the manifest)."""
    return {k: v for name in formats for k, v in get_format(name).versions().items()}


def write(name: str, named, path: pathlib.Path) -> None:
    """Write NamedModel `named` in format `name` at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        get_format(name).write(named, path)
    except ModuleNotFoundError as error:
        raise ZooError(f"--format {name} needs the {error.name} package, which is not installed "
                       f"({_install_hint(name, error)}); nothing was published") from None
    except Exception as error:  # a converter that cannot express this artifact
        first = next((line for line in str(error).splitlines() if line.strip()), "")[:300]
        raise ZooError(f"--format {name}: cannot write the {named.model.name} artifact {path.stem} "
                       f"({type(error).__name__}: {first}); nothing was published") from None


def describe(name: str, path, metadata: dict) -> None:
    """Write `metadata` (str -> str) into the artifact at `path` where format `name` can hold it."""
    fmt = get_format(name)
    if fmt.describe is not None:
        fmt.describe(path, metadata)


def load(name: str, path, spec: dict):
    """Format `name`'s runner of the artifact at `path` (`spec`: its manifest entry); a runtime
    that is not installed is a one-line error naming the extra that installs it."""
    fmt = get_format(name)
    try:
        return fmt.load(path, spec)
    except ModuleNotFoundError as error:
        raise ZooError(f"engine {name} needs the {error.name} package, which is not installed "
                       f"({_install_hint(name, error)})") from None


def _install_hint(name: str, error: ModuleNotFoundError) -> str:
    extra = get_format(name).extra
    return f"pip install 'keras-rnn-zoo[{extra}]'" if extra else f"install {error.name}"
