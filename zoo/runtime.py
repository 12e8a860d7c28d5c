"""Running exports without keras or the training code: :class:`ExportedModel`.

An export folder (written by ``zoo export``) holds ``manifest.json`` (:mod:`zoo.manifest`)
and the artifacts of each format (:mod:`zoo.formats`). :class:`ExportedModel` runs them
with a format's Keras-free loader (onnxruntime by default, or TensorFlow's SavedModel
loader), checking the sha256 of every file it reads against the manifest first. What the
model does (``classify``, ``generate``, ...) is its task's (:class:`zoo.inference.InferenceModel`).
This module imports neither keras nor tensorflow (unless the SavedModel engine or a tfds
corpus is asked for), nor the training code.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

from zoo import formats, manifest as manifests, storage
from zoo.data.vocabulary import Vocabulary
from zoo.errors import ZooError, first_line
from zoo.inference import InferenceModel, checked_input

MANIFEST = manifests.MANIFEST


class ExportError(ZooError):
    """A folder that is not a valid, untampered export, or inputs it cannot take."""


def _engine(engine: str) -> str:
    """A registered format (the export worker also runs the Keras-needing ones)."""
    if engine not in formats.names():
        raise ExportError(f"engine {engine!r}: expected one of {', '.join(formats.keras_free_engines())}")
    return engine


def _reason(error: Exception) -> str:
    """Why a manifest was refused, in one line (a KeyError's message is the bare key)."""
    return f"no {error.args[0]!r} key" if isinstance(error, KeyError) else first_line(error)


class ExportedModel(InferenceModel):
    """An export folder, ready to run its artifacts (``model``, ``step``, ``encoder``, ...)."""

    def __init__(self, folder, engine: str = formats.DEFAULT_ENGINE):
        self.folder = pathlib.Path(folder)
        self.engine = _engine(engine)
        self.origin = str(self.folder)
        manifest_path = self.folder / MANIFEST
        try:
            self.manifest = json.loads(manifest_path.read_text("utf-8"))
            if not isinstance(self.manifest, dict):
                raise TypeError(f"a JSON object, found a {type(self.manifest).__name__}")
            self.task_name = self.manifest["task"]
            self.artifacts = self.manifest["artifacts"]
            self.files = self.manifest["files"]
        except FileNotFoundError:
            raise ExportError(f"{self.folder}: not an export folder (no {MANIFEST}); make one with `zoo export RUN_DIR`") from None
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ExportError(f"{manifest_path}: expected an export manifest ({_reason(error)})") from None
        self.vocab = None
        try:
            manifests.check(self.manifest)
            vocab = self.manifest.get("vocab")
            if vocab is not None:
                self.vocab = Vocabulary.from_json(vocab)
            self.classes, self.decoding = self.manifest.get("classes"), self.manifest.get("decoding")
            self.data_config, self.seed = self.manifest.get("data"), self.manifest.get("seed", 0)
        except ZooError as error:  # before ValueError, which it is: its message already says what is wrong
            raise ExportError(f"{manifest_path}: {error}") from None
        except (ValueError, KeyError, TypeError) as error:
            raise ExportError(f"{manifest_path}: expected an export manifest ({_reason(error)})") from None
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
            if storage.sha256_file(file) != digest:
                raise ExportError(f"{file}: sha256 differs from the manifest; refusing a changed file")
        return path

    # ------------------------------------------------------------------ running
    def _spec(self, artifact: str) -> dict:
        if artifact not in self.artifacts:
            raise ExportError(f"{self.folder}: no artifact {artifact!r}; it has {', '.join(self.artifacts)}")
        return self.artifacts[artifact]

    def _runner(self, artifact: str):
        spec = self._spec(artifact)
        if artifact not in self._runners:
            path = self._verified(formats.get_format(self.engine).path(artifact))
            try:
                self._runners[artifact] = formats.load(self.engine, path, spec)
            except ZooError:  # a runtime that is not installed: the message names its extra
                raise
            except Exception as error:
                raise ExportError(f"{path}: cannot load the {self.engine} artifact "
                                  f"({type(error).__name__}: {first_line(error)})") from None
        return self._runners[artifact]

    def run(self, artifact: str, inputs: dict) -> dict:
        """Run `artifact` on numpy inputs keyed by the manifest's input names; its outputs by name."""
        spec = self._spec(artifact)
        names = [i["name"] for i in spec["inputs"]]
        if not isinstance(inputs, dict) or sorted(inputs) != sorted(names):
            given = ", ".join(sorted(inputs)) if isinstance(inputs, dict) else type(inputs).__name__
            raise ExportError(f"artifact {artifact!r}: expected the inputs {', '.join(names)}, got {given}")
        arrays = [checked_input(inputs[s["name"]], s, ExportError) for s in spec["inputs"]]
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
        return {s["name"]: s["shape"][-1] for s in self._spec(artifact)["inputs"]}

    @property
    def artifact_names(self) -> tuple[str, ...]:
        return tuple(self.artifacts)
