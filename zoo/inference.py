"""What a trained model does, whatever runs it: :class:`InferenceModel`.

An InferenceModel runs named artifacts (``model``, ``step``, ``encoder``, ...) and knows its
task (:mod:`zoo.tasks`). Its task's Python API is reached as methods of the model:
``m.classify(images)``, ``m.generate(prompt)``, ``m.translate(source)``, ... each written
once, in the task, over :meth:`InferenceModel.run`. Three classes run artifacts:
:class:`KerasInference` (Keras models, any backend), ``zoo.runtime.ExportedModel``
(onnxruntime or TensorFlow, no Keras) and ``zoo.pretrained.KerasModel`` (a run folder).

This module imports neither keras nor the training code.
"""

from __future__ import annotations

import abc

import numpy as np

from zoo import generate
from zoo.arguments import whole_number
from zoo.errors import ZooError


class InferenceModel(abc.ABC):
    """A trained model's artifacts and its task.

    Subclasses set `task_name`, `vocab` (text tasks), `classes` (tasks that name their
    labels), `decoding` (the task's decoding options), `data_config` and `seed` (to rebuild
    the test split), `origin` (for messages), and define :meth:`run` and :meth:`input_units`.
    """

    task_name: str
    vocab = None
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

    @property
    @abc.abstractmethod
    def artifact_names(self) -> tuple[str, ...]:
        """The artifacts it runs (``model``, ``step``, ...)."""

    @property
    def task(self):
        """The model's Task (zoo.tasks)."""
        from zoo.tasks import get_task

        return get_task(self.task_name)

    def __getattr__(self, name: str):
        """The task's API methods, bound to this model (``m.classify(x)`` is
        ``task.classify(m, x)``); another task's method is a one-line error."""
        if name.startswith("_") or name in ("task_name",):
            raise AttributeError(name)
        task = self.task
        if name in task.api:
            method = getattr(task, name)
            return lambda *args, **kwargs: method(self, *args, **kwargs)
        from zoo.tasks import api_methods

        owner = api_methods().get(name)
        if owner is not None:
            raise ZooError(f"{self.origin}: {name} needs a {owner} model, this one is {self.task_name}")
        raise AttributeError(f"{type(self).__name__!r} ({self.task_name}) has no attribute {name!r}")

    def step_function(self, artifact: str = "step", output: str = generate.LOGITS) -> generate.StepFn:
        """A :mod:`zoo.generate` step function over a step artifact (``token``, then states),
        returning its `output` and the next states."""
        return generate.step_function(lambda inputs: self.run(artifact, inputs), list(self.input_units(artifact))[1:],
                                      output)

    def zero_states(self, artifact: str, batch_size: int) -> dict:
        units = self.input_units(artifact)
        return generate.zero_states({name: units[name] for name in list(units)[1:]}, batch_size)

    def logits(self, x, batch_size: int = 256, artifact: str = "model") -> np.ndarray:
        """An artifact's logits for its single input `x`, in batches of `batch_size` rows."""
        (name,) = self.input_units(artifact)
        x = np.asarray(x)
        if x.ndim == 0 or len(x) == 0:
            raise ZooError(f"input {name!r}: expected a batch of at least one example, got shape {x.shape}")
        return np.concatenate([self.run(artifact, {name: x[i : i + batch_size]})[generate.LOGITS]
                               for i in range(0, len(x), batch_size)])

    def evaluate(self, *, limit: int | None = None, data_dir=None) -> dict:
        """The task metric on the first `limit` examples of the test split (all when None),
        rebuilt from the data config the model was trained with."""
        if self.data_config is None:
            raise ZooError(f"{self.origin}: no data config to rebuild the test split from "
                           f"(exported before zoo 0.2?); export the run again")
        limit = whole_number("limit", limit, minimum=1, optional=True)
        task = self.task
        examples = task.examples(self.data_config, seed=self.seed, data_dir=data_dir, vocab=self.vocab, limit=limit)
        return task.measure(self, examples)


class KerasInference(InferenceModel):
    """Keras models by artifact name (NamedModels sharing one trained model's layers)."""

    def __init__(self, task_name: str, models: dict, *, vocab=None, classes=None, data_config=None, seed: int = 0,
                 origin: str = ""):
        self.task_name, self.models, self.vocab, self.classes = task_name, models, vocab, classes
        self.data_config, self.seed, self.origin = data_config, seed, origin
        self.decoding = None if data_config is None else self.task.decoding(data_config)
        self._specs = {}  # each artifact's inputs as a manifest lists them, for checked_input

    def _named(self, artifact: str):
        if artifact not in self.models:
            raise ZooError(f"{self.origin}: no artifact {artifact!r}; it has {', '.join(self.models)}")
        return self.models[artifact]

    def run(self, artifact: str, inputs: dict) -> dict:
        """Outputs by name of `artifact` for numpy inputs by name, checked as an export's are."""
        named = self._named(artifact)
        if not isinstance(inputs, dict) or sorted(inputs) != sorted(named.input_names):
            given = ", ".join(sorted(inputs)) if isinstance(inputs, dict) else type(inputs).__name__
            raise ZooError(f"artifact {artifact!r}: expected the inputs {', '.join(named.input_names)}, got {given}")
        if artifact not in self._specs:
            from zoo.manifest import io_spec

            self._specs[artifact] = io_spec(named)["inputs"]
        return named.run({spec["name"]: checked_input(inputs[spec["name"]], spec) for spec in self._specs[artifact]})

    def input_units(self, artifact: str) -> dict:
        return self._named(artifact).input_units()

    @property
    def artifact_names(self) -> tuple[str, ...]:
        return tuple(self.models)


def checked_input(x, spec: dict, error=ZooError) -> np.ndarray:
    """`x` as the dtype an artifact input takes (`spec`: its manifest entry), after checking
    its rank and fixed dimensions: the one input check of every engine."""
    x = np.asarray(x)
    want = spec["shape"]
    if x.ndim != len(want) or any(w is not None and w != d for w, d in zip(want, x.shape)):
        shape = "(" + ", ".join("batch" if i == 0 else ("any" if w is None else str(w)) for i, w in enumerate(want)) + ")"
        raise error(f"input {spec['name']!r}: expected shape {shape}, got {x.shape}")
    dtype = np.dtype(spec["dtype"])
    if dtype.kind == "i" and x.dtype.kind not in "iu":
        raise error(f"input {spec['name']!r}: expected integer token ids, got {x.dtype}")
    # bfloat16 (ml_dtypes, what mixed-precision models return) is numpy kind "V".
    if dtype.kind == "f" and x.dtype.kind not in "fiu" and "float" not in x.dtype.name:
        raise error(f"input {spec['name']!r}: expected numbers, got {x.dtype}")
    return x.astype(dtype, copy=False)
