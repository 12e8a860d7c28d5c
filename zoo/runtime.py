"""Running trained models for inference; exports without keras or the training code.

:class:`InferenceModel` is what a trained model does, whatever runs it: ``classify``,
``generate``, ``translate`` and ``evaluate``, written once over named artifacts
(``model``, ``step``, ``encoder``, ``decoder_step``). Two classes run the artifacts:
:class:`ExportedModel` here, and ``zoo.pretrained.KerasModel`` (Keras, any backend).

An export folder (written by ``zoo export``) holds ``manifest.json`` and the artifacts in
``onnx/``, ``savedmodel/`` and ``keras/``. :class:`ExportedModel` runs them with
onnxruntime (default) or TensorFlow's SavedModel loader, checking the sha256 of every file
it reads against the manifest first. This module imports neither keras nor tensorflow
(unless the SavedModel engine or a tfds corpus is asked for), nor the training code.
"""

from __future__ import annotations

import abc
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


class InferenceModel(abc.ABC):
    """A trained model's tasks over its named artifacts.

    Subclasses set `task`, `vocab` (text tasks), `classes` (classification), `decoding`
    (seq2seq), `data_config` and `seed` (to rebuild the test split), `origin` (for
    messages), and define :meth:`run` and :meth:`input_units`.
    """

    task: str
    vocab: Vocabulary | None = None
    classes: list | None = None
    decoding: dict | None = None
    data_config: dict | None = None
    seed: int = 0
    origin: str = ""

    @abc.abstractmethod
    def run(self, artifact: str, inputs: dict) -> dict:
        """Outputs by name of `artifact` for numpy inputs by name."""

    @abc.abstractmethod
    def input_units(self, artifact: str) -> dict:
        """An artifact's inputs in order, with their last dimension (a state's size)."""

    def step_function(self, artifact: str = "step") -> generate.StepFn:
        """A :mod:`zoo.generate` step function over a step artifact (``token``, then states)."""
        return generate.step_function(lambda inputs: self.run(artifact, inputs), list(self.input_units(artifact))[1:])

    def zero_states(self, artifact: str, batch_size: int) -> dict:
        units = self.input_units(artifact)
        return generate.zero_states({name: units[name] for name in list(units)[1:]}, batch_size)

    def _require(self, task: str, method: str):
        if self.task != task:
            raise ExportError(f"{self.origin}: {method} needs a {task} model, this one is {self.task}")

    def logits(self, x, batch_size: int = 256) -> np.ndarray:
        """The full model's logits for its single input `x` (image rows or token windows), in batches."""
        (name,) = self.input_units("model")
        x = np.asarray(x)
        return np.concatenate([self.run("model", {name: x[i : i + batch_size]})[generate.LOGITS]
                               for i in range(0, len(x), batch_size)])

    def classify(self, images) -> tuple[list[str], np.ndarray]:
        """The most likely class name of each image (batch, 28, 28) in [0, 1], and the softmax
        probabilities of every class (columns in the order of `classes`)."""
        self._require("classification", "classify")
        probabilities = generate.softmax(self.logits(np.asarray(images, dtype=np.float32)))
        names = self.classes or [str(i) for i in range(probabilities.shape[-1])]
        return [names[i] for i in probabilities.argmax(-1)], probabilities

    def generate(self, prompts, length: int = 200, *, temperature: float = 1.0, top_k=None, top_p=None, seed=None):
        """The continuation of a prompt (a string), or of each of a list of prompts (all in
        one batch, one step call per character); temperature 0 is greedy."""
        self._require("language_model", "generate")
        texts = [prompts] if isinstance(prompts, str) else list(prompts)
        continued = user_error(ExportError, generate.continue_texts, self.step_function("step"),
                               self.zero_states("step", len(texts)), self.vocab, texts, length,
                               temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
        return continued[0] if isinstance(prompts, str) else continued

    def translate(self, sources, *, beam: int = 1):
        """The translation of a source string, or of each of a list (greedy, or beam search of
        width `beam`), through the encoder and decoder step."""
        self._require("seq2seq", "translate")
        texts = [sources] if isinstance(sources, str) else list(sources)
        (name,) = self.input_units("encoder")
        encode = lambda source: self.run("encoder", {name: source})  # noqa: E731
        targets = user_error(ExportError, generate.translate, encode, self.step_function("decoder_step"), self.vocab,
                             texts, beam_width=beam, **self.decoding)
        return targets[0] if isinstance(sources, str) else targets

    def evaluate(self, *, limit: int | None = None, data_dir=None) -> dict:
        """The task metric on the first `limit` examples of the test split (all when None),
        rebuilt from the data config the model was trained with: ``test_accuracy``,
        ``test_loss`` (or ``test_window_loss``) in nats per character, or ``test_exact_match``
        (per operand length too for addition), and the number of examples."""
        from zoo.data import generated, images, text

        if self.data_config is None:
            raise ExportError(f"{self.origin}: no data config to rebuild the test split from "
                              f"(exported before zoo 0.2?); export the run again")
        d, cut = self.data_config, (lambda items: items if limit is None else items[:limit])  # noqa: E731
        if self.task == "classification":
            splits = images.load_image_rows(d["dataset"], source=d.get("source", "idx"), data_dir=data_dir,
                                            validation_size=d.get("validation_size", 5000), seed=self.seed)
            x, y = cut(splits.x_test), cut(splits.y_test)
            accuracy = float(np.mean(self.logits(x).argmax(-1) == y))
            return {"test_accuracy": accuracy, "test_examples": len(y)}
        if self.task == "language_model":
            corpus = text.load_text(d["source"], path=d.get("path"), data_dir=data_dir)
            ids = self.vocab.encode(corpus.test, unknown=True)
            x, y = text.windows(ids if limit is None else ids[: limit + 1], d.get("seq_len", 100))
            # Every window from zero states, as the full model runs: for a model trained with
            # states carried across windows that is another number than its test_loss.
            name = "test_window_loss" if d.get("sampling") == "consecutive" else "test_loss"
            return {name: generate.cross_entropy(self.logits(x, 32), y), "test_characters": int(y.size)}
        splits = generated.load_pairs(d, seed=self.seed)
        split = splits.evaluation_split
        pairs = cut(getattr(splits, split))
        predictions = self.translate([s for s, _ in pairs])
        metrics = {f"{split}_exact_match": float(np.mean([p == t for p, (_, t) in zip(predictions, pairs)])),
                   f"{split}_examples": len(pairs)}
        if d["task"] == "addition":
            metrics.update(generated.exact_match_by_digits(pairs, predictions, split))
        return metrics


class ExportedModel(InferenceModel):
    """An export folder, ready to run its artifacts (``model``, ``step``, ``encoder``, ...)."""

    def __init__(self, folder, engine: str = "onnx"):
        self.folder = pathlib.Path(folder)
        self.engine = _engine_format(engine)
        self.origin = str(self.folder)
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
            self.classes, self.decoding = self.manifest.get("classes"), self.manifest.get("decoding")
            self.data_config, self.seed = self.manifest.get("data"), self.manifest.get("seed", 0)
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

    def input_units(self, artifact: str) -> dict:
        if artifact not in self.artifacts:
            raise ExportError(f"{self.folder}: no artifact {artifact!r}; it has {', '.join(self.artifacts)}")
        return {s["name"]: s["shape"][-1] for s in self.artifacts[artifact]["inputs"]}


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
    classes = manifest.get("classes")
    if classes is not None:
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise ValueError("classes must be a list of class names")
        outputs = artifacts["model"]["outputs"][0]["shape"][-1]
        if outputs is not None and outputs != len(classes):
            raise ValueError(f"{len(classes)} class names, the model predicts {outputs} classes")
    if task == "seq2seq":
        decoding = manifest["decoding"]
        for key in ("source_len", "target_len"):
            if not isinstance(decoding[key], int) or decoding[key] < 1:
                raise ValueError(f"decoding.{key} must be a positive whole number")
        if not isinstance(decoding["reverse_source"], bool):
            raise ValueError("decoding.reverse_source must be true or false")


PICTURES = (".png", ".jpg", ".jpeg")


def load_images(paths, *, invert: str = "auto") -> np.ndarray:
    """Images (batch, 28, 28) float32 in [0, 1] from .npy arrays, IDX files, or PNG / JPEG
    pictures of any size (made 28x28 light-on-dark gray as the datasets are: see
    :func:`zoo.data.images.read_picture`, which `invert` is passed to)."""
    from zoo.data.images import read_idx, read_picture

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
        elif name.endswith(PICTURES):
            array = read_picture(path, invert=invert)
        elif "idx" in name or name.endswith(".gz"):
            array = read_idx(path)
        else:
            raise ExportError(f"{path}: expected a .npy, IDX (*idx3-ubyte[.gz]), .png or .jpg file")
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
