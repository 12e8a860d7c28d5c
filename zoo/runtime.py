"""Loading exported models for inference, without keras or the training code.

An export folder (written by ``zoo export``) holds ``manifest.json`` and the artifacts in
``onnx/``, ``savedmodel/`` and ``keras/``. :class:`ExportedModel` runs them with
onnxruntime (default) or TensorFlow's SavedModel loader, checking the sha256 of every file
it reads against the manifest first. This module imports neither keras nor tensorflow
(unless the SavedModel engine is asked for), nor the training code.
"""

from __future__ import annotations

import hashlib
import json
import pathlib

import numpy as np

from zoo import generate
from zoo.data.vocabulary import Vocabulary
from zoo.errors import ZooError, first_line, user_error

ENGINES = ("onnx", "savedmodel")
MANIFEST = "manifest.json"


class ExportError(ZooError):
    """A folder that is not a valid, untampered export, or inputs it cannot take."""


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def artifact_path(artifact: str, fmt: str) -> str:
    """Where an artifact of a format lives inside an export folder (a file or a folder)."""
    return {"onnx": f"onnx/{artifact}.onnx", "savedmodel": f"savedmodel/{artifact}",
            "keras": f"keras/{artifact}.keras"}[fmt]


def _engine_format(engine: str) -> str:
    if engine not in ENGINES:
        raise ExportError(f"engine {engine!r}: expected one of {', '.join(ENGINES)}")
    return engine


class ExportedModel:
    """An export folder, ready to run its artifacts (``model``, ``step``, ``encoder``, ...)."""

    def __init__(self, folder, engine: str = "onnx"):
        self.folder = pathlib.Path(folder)
        self.engine = _engine_format(engine)
        manifest_path = self.folder / MANIFEST
        try:
            self.manifest = json.loads(manifest_path.read_text("utf-8"))
            self.task = self.manifest["task"]
            self.artifacts = self.manifest["artifacts"]
            self.files = self.manifest["files"]
        except FileNotFoundError:
            raise ExportError(f"{self.folder}: not an export folder (no {MANIFEST}); make one with `zoo export RUN_DIR`") from None
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ExportError(f"{manifest_path}: expected an export manifest ({first_line(error)})") from None
        self.vocab = None
        try:
            _check_manifest(self.manifest)
            vocab = self.manifest.get("vocab")
            if vocab is not None:
                self.vocab = Vocabulary.from_json(vocab)
        except (ValueError, KeyError, TypeError) as error:  # DataError is a ZooError, not caught here
            raise ExportError(f"{manifest_path}: expected an export manifest ({first_line(error)})") from None
        except ZooError as error:
            raise ExportError(f"{manifest_path}: {error}") from None
        self._runners = {}

    # ------------------------------------------------------------------ integrity
    def _verified(self, relative: str) -> pathlib.Path:
        """The path of an artifact after checking every file under it against the manifest."""
        path = self.folder / relative
        listed = {name: digest for name, digest in self.files.items()
                  if name == relative or name.startswith(relative + "/")}
        if not listed:
            raise ExportError(f"{self.folder}: the manifest lists no {relative} (exported without that format?)")
        on_disk = {str(p.relative_to(self.folder)) for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file()}
        for name in sorted(on_disk - set(listed)):
            raise ExportError(f"{self.folder / name}: file not in the manifest; refusing a changed export")
        for name, digest in listed.items():
            file = self.folder / name
            if not file.is_file():
                raise ExportError(f"{file}: missing file listed in the manifest")
            if sha256_file(file) != digest:
                raise ExportError(f"{file}: sha256 differs from the manifest; refusing a changed file")
        return path

    # ------------------------------------------------------------------ running
    def _runner(self, artifact: str):
        if artifact not in self.artifacts:
            raise ExportError(f"{self.folder}: no artifact {artifact!r}; it has {', '.join(self.artifacts)}")
        if artifact not in self._runners:
            path = self._verified(artifact_path(artifact, self.engine))
            spec = self.artifacts[artifact]
            try:
                self._runners[artifact] = (_onnx_runner if self.engine == "onnx" else _savedmodel_runner)(path, spec)
            except Exception as error:
                raise ExportError(f"{path}: cannot load the {self.engine} artifact "
                                  f"({type(error).__name__}: {first_line(error)})") from None
        return self._runners[artifact]

    def run(self, artifact: str, inputs: dict) -> dict:
        """Run `artifact` on numpy inputs keyed by the manifest's input names; its outputs by name."""
        spec = self.artifacts.get(artifact)
        if spec is None:
            raise ExportError(f"{self.folder}: no artifact {artifact!r}; it has {', '.join(self.artifacts)}")
        names = [i["name"] for i in spec["inputs"]]
        if not isinstance(inputs, dict) or sorted(inputs) != sorted(names):
            given = ", ".join(sorted(inputs)) if isinstance(inputs, dict) else type(inputs).__name__
            raise ExportError(f"artifact {artifact!r}: expected the inputs {', '.join(names)}, got {given}")
        arrays = [_checked_input(inputs[s["name"]], s) for s in spec["inputs"]]
        runner = self._runner(artifact)
        try:
            outputs = runner(arrays)
        except Exception as error:  # the engine refused the graph or the inputs the manifest named
            raise ExportError(f"{self.folder}: the {self.engine} artifact {artifact!r} failed to run "
                              f"({type(error).__name__}: {first_line(error)}); is the manifest the one exported with it?") from None
        if len(outputs) != len(spec["outputs"]):
            raise ExportError(f"{self.folder}: artifact {artifact!r} gave {len(outputs)} outputs, "
                              f"the manifest lists {len(spec['outputs'])}")
        return {o["name"]: np.asarray(value) for o, value in zip(spec["outputs"], outputs)}

    def _state_units(self, artifact: str) -> dict:
        """A step artifact's state inputs (those after ``token``) and their sizes."""
        return {s["name"]: s["shape"][-1] for s in self.artifacts[artifact]["inputs"][1:]}

    def step_function(self, artifact: str = "step") -> generate.StepFn:
        """A :mod:`zoo.generate` step function over an exported step artifact."""
        return generate.step_function(lambda inputs: self.run(artifact, inputs), self._state_units(artifact))

    def zero_states(self, artifact: str, batch_size: int) -> dict:
        return generate.zero_states(self._state_units(artifact), batch_size)

    # ------------------------------------------------------------------ tasks
    def _require(self, task: str, command: str):
        if self.task != task:
            raise ExportError(f"{self.folder}: `{command}` needs a {task} export, this one is {self.task}")

    def classify(self, images: np.ndarray):
        """Class ids and softmax probabilities for images (batch, 28, 28) in [0, 1]."""
        self._require("classification", "predict")
        (name,) = [i["name"] for i in self.artifacts["model"]["inputs"]]
        probabilities = generate.softmax(self.run("model", {name: np.asarray(images, dtype=np.float32)})[generate.LOGITS])
        return probabilities.argmax(-1), probabilities

    def generate_texts(self, prompts, length: int, **sampling) -> list[str]:
        """Continue each of `prompts` by `length` characters, all in one batch, through the
        exported step model."""
        self._require("language_model", "generate")
        return user_error(ExportError, generate.continue_texts, self.step_function("step"),
                          self.zero_states("step", len(prompts)), self.vocab, list(prompts), length, **sampling)

    def generate_text(self, prompt: str, length: int, **sampling) -> str:
        """Continue one `prompt` (:meth:`generate_texts` with a batch of one)."""
        return self.generate_texts([prompt], length, **sampling)[0]

    def translate(self, sources, *, beam_width: int = 1) -> list[str]:
        """Greedy (or beam-search) translations through the exported encoder and decoder step."""
        self._require("seq2seq", "translate")
        (name,) = [i["name"] for i in self.artifacts["encoder"]["inputs"]]
        encode = lambda source: self.run("encoder", {name: source})  # noqa: E731
        return user_error(ExportError, generate.translate, encode, self.step_function("decoder_step"), self.vocab,
                           list(sources), beam_width=beam_width, **self.manifest["decoding"])


TASK_ARTIFACTS = {"classification": ("model",), "language_model": ("model", "step"),
                  "seq2seq": ("model", "encoder", "decoder_step")}


def _check_manifest(manifest: dict) -> None:
    """Raise ValueError/KeyError/TypeError where the manifest is not what ``zoo export`` writes."""
    task = manifest["task"]
    if task not in TASK_ARTIFACTS:
        raise ValueError(f"task {task!r} is not one of {', '.join(TASK_ARTIFACTS)}")
    artifacts = manifest["artifacts"]
    missing = [a for a in TASK_ARTIFACTS[task] if a not in artifacts]
    if missing:
        raise ValueError(f"a {task} export needs the artifacts {', '.join(missing)}")
    for name, spec in artifacts.items():
        for kind in ("inputs", "outputs"):
            tensors = spec[kind]
            if not isinstance(tensors, list) or not tensors:
                raise ValueError(f"artifact {name!r}: {kind} must be a non-empty list")
            for tensor in tensors:
                if not isinstance(tensor["name"], str) or not isinstance(tensor["shape"], list):
                    raise ValueError(f"artifact {name!r}: each of its {kind} needs a name and a shape")
                if not all(d is None or isinstance(d, int) and d > 0 for d in tensor["shape"]):
                    raise ValueError(f"artifact {name!r}: bad shape {tensor['shape']}")
                if np.dtype(tensor["dtype"]).kind not in "fiu":
                    raise ValueError(f"artifact {name!r}: dtype {tensor['dtype']!r} is not numeric")
    if not isinstance(manifest["files"], dict):
        raise TypeError("files must map paths to sha256 digests")
    vocab = manifest.get("vocab")
    if task != "classification":
        size = len(Vocabulary.from_json(vocab))  # a one-line DataError when malformed
        classes = artifacts["model"]["outputs"][0]["shape"][-1]
        if classes is not None and classes != size:
            raise ValueError(f"the vocabulary has {size} symbols, the model predicts {classes}")
    if task == "seq2seq":
        decoding = manifest["decoding"]
        for key in ("source_len", "target_len"):
            if not isinstance(decoding[key], int) or decoding[key] < 1:
                raise ValueError(f"decoding.{key} must be a positive whole number")
        if not isinstance(decoding["reverse_source"], bool):
            raise ValueError("decoding.reverse_source must be true or false")


def load_images(paths) -> np.ndarray:
    """Images (batch, 28, 28) float32 in [0, 1] from .npy arrays, IDX files or 28x28 PNGs."""
    from zoo.data.images import read_idx

    batches = []
    for path in map(pathlib.Path, paths):
        name = path.name.lower()
        if not path.is_file():
            raise ExportError(f"{path}: no such input file")
        if name.endswith(".npy"):
            try:
                array = np.load(path, allow_pickle=False)
            except (OSError, ValueError, EOFError) as error:  # an empty file raises EOFError
                raise ExportError(f"{path}: expected a .npy array ({first_line(error)})") from None
            if not isinstance(array, np.ndarray):
                raise ExportError(f"{path}: expected a .npy array, found a .npz archive")
        elif name.endswith(".png"):
            array = _read_png(path)
        elif "idx" in name or name.endswith(".gz"):
            array = read_idx(path)
        else:
            raise ExportError(f"{path}: expected a .npy, IDX (*idx3-ubyte[.gz]) or .png file")
        if array.ndim == 2:
            array = array[None]
        if array.ndim != 3 or array.shape[1:] != (28, 28):
            raise ExportError(f"{path}: expected images of shape (28, 28) or (N, 28, 28), got {array.shape}")
        if len(array) == 0:
            raise ExportError(f"{path}: expected at least one image, found none")
        if array.dtype == np.uint8:
            array = array.astype(np.float32) / 255
        elif array.dtype.kind != "f" or not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
            raise ExportError(f"{path}: expected uint8 pixels or finite floats in [0, 1], got {array.dtype}"
                              + (" with NaN or infinite values" if array.dtype.kind == "f" else ""))
        batches.append(array.astype(np.float32))
    return np.concatenate(batches)


# 8-bit modes that convert("L") maps to gray faithfully; 16-bit and float modes it clips to white.
_EIGHT_BIT_MODES = ("1", "L", "LA", "P", "RGB", "RGBA")


def _read_png(path) -> np.ndarray:
    """A 28x28 8-bit PNG as uint8 gray. The size is checked from the header before any pixel
    is decoded, so a decompression bomb costs nothing."""
    from PIL import Image

    try:
        with Image.open(path, formats=["PNG"]) as image:
            if image.size != (28, 28):
                raise ExportError(f"{path}: expected a 28x28 image, found {image.size[0]}x{image.size[1]}")
            if image.mode not in _EIGHT_BIT_MODES:
                raise ExportError(f"{path}: expected an 8-bit grayscale or color PNG, found mode {image.mode}")
            return np.asarray(image.convert("L"), dtype=np.uint8)
    except ExportError:
        raise
    except Exception as error:  # PIL raises OSError, DecompressionBombError, SyntaxError, ...
        raise ExportError(f"{path}: expected a PNG image ({first_line(error)})") from None


def _checked_input(x, spec) -> np.ndarray:
    """`x` as the dtype the artifact takes, after checking its rank and fixed dimensions."""
    x = np.asarray(x)
    want = spec["shape"]
    if x.ndim != len(want) or any(w is not None and w != d for w, d in zip(want, x.shape)):
        shape = "(" + ", ".join("batch" if i == 0 else ("any" if w is None else str(w)) for i, w in enumerate(want)) + ")"
        raise ExportError(f"input {spec['name']!r}: expected shape {shape}, got {x.shape}")
    dtype = np.dtype(spec["dtype"])
    if dtype.kind == "i" and x.dtype.kind not in "iu":
        raise ExportError(f"input {spec['name']!r}: expected integer token ids, got {x.dtype}")
    if dtype.kind == "f" and x.dtype.kind not in "fiu":
        raise ExportError(f"input {spec['name']!r}: expected numbers, got {x.dtype}")
    return x.astype(dtype, copy=False)


def _onnx_runner(path, spec):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i["name"] for i in spec["inputs"]]
    outputs = [o["name"] for o in spec["outputs"]]
    return lambda arrays: session.run(outputs, dict(zip(names, arrays)))


def _savedmodel_runner(path, spec):
    import tensorflow as tf

    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    names = [i["name"] for i in spec["inputs"]]
    outputs = [o["name"] for o in spec["outputs"]]

    def run(arrays):
        result = signature(**{n: tf.constant(a) for n, a in zip(names, arrays)})
        return [result[o].numpy() for o in outputs]

    return run
