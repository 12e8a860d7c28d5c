"""One registry for every model of the zoo.

A family is one module in ``zoo/models/`` (found by name, no list to edit): it decorates its
builder with :func:`register_model`, giving its presets (``tiny`` for tests, ``default``
for real training) and, for generative families, the builders of its inference models.
Tasks, export, runtime and the CLI ask this registry; none imports a family module.
:func:`create_model` merges a preset with overrides; overrides left as ``None`` keep the
preset's value, so CLI options that were not given change nothing.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import pathlib
import pkgutil
import sys
from typing import Any, Callable

from zoo.errors import ZooError
from zoo.plugins import load_plugins
from zoo.import_hooks import around_first_import, initializing


class RegistryError(ZooError):
    """An unknown model, preset or option name; the message lists the known ones."""


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What the zoo knows about one registered model family.

    Attributes:
        name: registry name, the snake_case of the family module.
        builder: function of plain keyword hyperparameters returning a keras.Model.
        presets: preset name -> hyperparameters (every preset holds every option).
        inference: for generative families, ``(trained model) -> {artifact: NamedModel}``,
            models sharing its layers: ``step`` for a language model, ``encoder`` and
            ``decoder_step`` for an encoder-decoder (names: zoo.models.recurrent_state).
        carry: for language models that can train on consecutive windows,
            ``(trained model, max_batch_size) -> keras.Model`` taking ``tokens`` and
            ``reset`` whose recurrent states carry from batch to batch.
        description: one line for ``zoo list``.
    """

    name: str
    builder: Callable[..., Any]
    presets: dict[str, dict[str, Any]]
    inference: Callable[..., dict] | None = None
    carry: Callable[..., Any] | None = None
    description: str = ""

    def inference_models(self, model) -> dict:
        """The family's inference models for trained `model`, by artifact name."""
        if self.inference is None:
            raise RegistryError(f"model family {self.name!r} has no inference models: it cannot generate")
        return self.inference(model)

    def resolve(self, preset: str = "default", **overrides: Any) -> dict[str, Any]:
        """The preset's hyperparameters with the non-None overrides applied."""
        if preset not in self.presets:
            raise RegistryError(
                f"unknown preset {preset!r} for model {self.name!r}; "
                f"known presets: {', '.join(sorted(self.presets))}"
            )
        config = dict(self.presets[preset])
        unknown = sorted(k for k in overrides if k not in config)
        if unknown:
            raise RegistryError(
                f"unknown option(s) {', '.join(unknown)} for model {self.name!r}; "
                f"known options: {', '.join(sorted(config))}"
            )
        config.update({k: v for k, v in overrides.items() if v is not None})
        return config


_REGISTRY: dict[str, ModelSpec] = {}
_FAMILIES_MODULE = "zoo.models"


def register_model(
    name: str,
    *,
    presets: dict[str, dict[str, Any]],
    inference: Callable[..., dict] | None = None,
    carry: Callable[..., Any] | None = None,
):
    """Decorator registering a builder function under `name` with its presets."""
    for required in ("tiny", "default"):
        if required not in presets:
            raise ValueError(f"model {name!r} must define a {required!r} preset")

    def decorate(builder):
        if name in _REGISTRY and _REGISTRY[name].builder is not builder:
            raise ValueError(f"model {name!r} is already registered")
        doc = (builder.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = ModelSpec(
            name=name,
            builder=builder,
            presets=presets,
            inference=inference,
            carry=carry,
            description=doc[0] if doc else "",
        )
        return builder

    return decorate


def load_families() -> None:
    """Make this process ready to build or load the zoo's models: import every module of
    zoo/models (each family registers itself, and so do the Keras layers of its own, which
    loading a ``.keras`` file of it needs), and switch on the library patches the models run
    with (:func:`zoo.compat.torch_rnn.enable`: LSTM, GRU and SimpleRNN layers on torch's fused
    kernels; :func:`zoo.compat.malloc_threshold.enable`: tensors reused from the heap, not
    mmapped). Every model is built (:func:`create_model`) or loaded (the zoo's loaders) after
    this call, so it is the one place those patches are switched on. The family modules import
    keras, so they load on first use, not with `zoo`."""
    from zoo.compat import malloc_threshold, tf_threads, torch_rnn

    _import_families()
    torch_rnn.enable()
    tf_threads.enable()  # first: malloc_threshold runs TensorFlow, after which its threads are fixed
    malloc_threshold.enable()


_families_imported = False


def _import_families() -> None:
    global _families_imported
    if not _families_imported:
        package = importlib.import_module(_FAMILIES_MODULE)
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{_FAMILIES_MODULE}.{module.name}")
        _families_imported = True
    load_plugins()  # families of the user's own (zoo.plugins)


def register_layers_with_keras() -> None:
    """Let Keras itself load every zoo model (``keras.saving.load_model(path, safe_mode=True)``
    after ``import zoo``, as a keras-hub model loads after ``import keras_hub``): Keras imports
    a class's module by itself only for its own packages, so the families' layers are
    registered when Keras is imported (now, if it already is), without importing Keras here.
    ``import zoo`` calls this."""
    if sys.modules.get("keras") is not None:
        _register_unless_importing()
    else:
        around_first_import("keras", _then_register)


def _then_register(exec_module, module) -> None:
    exec_module(module)
    _register_unless_importing()


def _register_unless_importing() -> None:
    # A zoo module importing Keras half-way through its own import (a family module's first
    # line) must not have its siblings imported under it; the zoo's own loaders call
    # load_families themselves (runs.load_model_file, the .keras format). Importing Keras
    # switches no patch on: only building or loading a model through the zoo does.
    if not initializing("zoo"):
        _import_families()


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    load_families()
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` registered under `name`."""
    load_families()
    if name not in _REGISTRY:
        raise RegistryError(
            f"unknown model {name!r}; known models: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[name]


def create_model(name: str, preset: str = "default", **overrides: Any):
    """Build model `name` from `preset`; non-None `overrides` replace preset values."""
    spec = get_spec(name)
    return spec.builder(**spec.resolve(preset, **overrides))


# ---------------------------------------------------------------------------- the catalogue
# Every family's presets and parameter counts, for `zoo list`: reading them from the live
# registry imports keras and builds every preset (20 s on jax), so they are kept in a file
# beside the families, written by :func:`write_catalogue` and checked against the built
# models on every backend by tests/test_registry.py (the file cannot drift unnoticed).
CATALOGUE = pathlib.Path(__file__).with_name("models") / "catalogue.json"
WRITE_CATALOGUE = '`python -c "from zoo.registry import write_catalogue; write_catalogue()"`'


def catalogue() -> dict[str, dict]:
    """{family: {"description": ..., "presets": {preset: parameter count}}}, read from
    :data:`CATALOGUE` without importing keras."""
    try:
        return json.loads(CATALOGUE.read_text("utf-8"))["families"]
    except (OSError, ValueError, KeyError) as error:
        raise RegistryError(f"{CATALOGUE}: expected the families' catalogue; rebuild it with "
                            f"{WRITE_CATALOGUE} ({error})") from None


def build_catalogue() -> dict[str, dict]:
    """The catalogue of the live registry: every preset of every family built and counted."""
    return {name: {"description": get_spec(name).description,
                   "presets": {preset: int(create_model(name, preset).count_params())
                               for preset in get_spec(name).presets}}
            for name in list_models()}


def write_catalogue() -> None:
    """Rewrite :data:`CATALOGUE` from the live registry (after adding or changing a family)."""
    CATALOGUE.write_text(json.dumps({"families": build_catalogue()}, indent=1) + "\n", "utf-8")
