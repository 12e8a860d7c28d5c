"""Trained models by name: the zoo's shipped models, loaded in one line.

``saved_models/<recipe>/`` in a checkout (or ``$ZOO_MODELS_DIR/<recipe>/``) holds a trained
run made compact by ``zoo ship`` (:mod:`zoo.ship`). Its ``card.json`` is the root of trust:
it lists the sha256 of every other file (the export's manifest among them, which lists the
export's files), and loading a shipped model checks them all first (:func:`check_files`).
:func:`load` gives an
:class:`~zoo.inference.InferenceModel` run by Keras on the current backend
(:class:`KerasModel`) or, without Keras, by a Keras-free export format (onnxruntime or
TensorFlow). :func:`from_pretrained` gives the Keras model itself, compiled as its recipe
trains it, ready for ``fit``.
"""

from __future__ import annotations

import json
import os
import pathlib

from zoo import formats, runs, storage
from zoo.errors import ZooError, first_line
from zoo.inference import InferenceModel, KerasInference
from zoo.manifest import MANIFEST

MODELS_ENV = "ZOO_MODELS_DIR"
CARD = "card.json"
CARD_TEXT = "README.md"  # the model card a shipped folder holds beside card.json


def load_engines() -> tuple[str, ...]:
    """The engines :func:`load` takes: a Keras-free export format (the default first), or
    Keras itself."""
    return (*formats.keras_free_engines(), formats.KERAS)


def models_dir() -> pathlib.Path | None:
    """Where shipped models live: $ZOO_MODELS_DIR, else ``saved_models/`` of the checkout this
    package runs from; None for an installed package without either."""
    if os.environ.get(MODELS_ENV):
        return pathlib.Path(os.environ[MODELS_ENV])
    checkout = pathlib.Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and (checkout / "saved_models").is_dir():
        return checkout / "saved_models"
    return None


def shipped() -> dict:
    """The shipped models' cards, by name."""
    folder = models_dir()
    if folder is None or not folder.is_dir():
        return {}
    cards = {}
    for path in sorted(folder.glob(f"*/{CARD}")):
        try:
            cards[path.parent.name] = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue  # a damaged card: `zoo list` shows the others; loading it names the problem
    return cards


def headline(card: dict) -> tuple[str, float]:
    """The metric `zoo list` shows for a shipped model: its name and value."""
    from zoo.tasks import get_task

    try:
        return get_task(card["task"]).headline_of(card["metrics"])
    except (KeyError, TypeError, ZooError) as error:
        raise ZooError(f"{card.get('name')}: no headline metric in its card ({error})") from None


def resolve(name_or_folder) -> pathlib.Path:
    """The folder of a shipped model's name, or the run or export folder given; a shipped
    folder (it has a card) only after every file matches its card, and one that lost its
    ``card.json`` (its model card README.md is still there) not at all."""
    path = pathlib.Path(name_or_folder)
    folder = models_dir()
    if not path.is_dir() and folder is not None and "/" not in str(name_or_folder):
        path = folder / str(name_or_folder)
    if path.is_dir():
        if (path / CARD).is_file():
            _verify_shipped(path)
        elif (path / CARD_TEXT).is_file():
            # A shipped folder whose card.json is gone: nothing vouches for its files any more.
            raise ZooError(f"{path}: a shipped model without its {CARD}, which lists the sha256 of every file; "
                           f"refusing unchecked files (restore it, e.g. `git checkout {path}`, or ship it again)")
        return path
    names = ", ".join(shipped()) or "none"
    where = f"in {folder}" if folder else f"(no saved_models/ beside this package; set {MODELS_ENV})"
    raise ZooError(f"{name_or_folder}: not a run or export folder, nor a shipped model {where}; "
                   f"shipped models: {names}")


def check_files(folder) -> list[str]:
    """What differs between a shipped folder's files and the sha256 list of its card."""
    folder = pathlib.Path(folder)
    try:
        listed = json.loads((folder / CARD).read_text("utf-8"))["files"]
        if not isinstance(listed, dict):
            raise TypeError("files is not a mapping")
    except (OSError, ValueError, KeyError, TypeError) as error:
        return [f"{CARD}: expected a model card with the sha256 of every file ({first_line(error)})"]
    return storage.digest_problems(folder, listed, exclude=CARD, list_name=CARD)


def _verify_shipped(folder: pathlib.Path) -> None:
    """A shipped folder (it has a card) whose files all match their card, or a one-line error."""
    problems = check_files(folder)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ZooError(f"{folder}: {problems[0]}{more}; refusing a changed shipped model "
                       f"(restore it, e.g. `git checkout {folder}`, or ship it again)")


def _is_export(folder: pathlib.Path) -> bool:
    return (folder / MANIFEST).is_file()


def load(name_or_folder, engine: str | None = None) -> InferenceModel:
    """A trained model ready for inference, from a shipped model's name, a run folder or an
    export folder. `engine`: "keras" (the current Keras backend; the default for a run),
    "onnx" (the default for an export) or "savedmodel" (both without Keras)."""
    from zoo.runtime import ExportedModel

    folder = resolve(name_or_folder)
    if engine is None:
        engine = formats.DEFAULT_ENGINE if _is_export(folder) else formats.KERAS
    if engine not in load_engines():
        raise ZooError(f"engine {engine!r}: expected one of {', '.join(load_engines())}")
    if engine == formats.KERAS:
        if _is_export(folder):
            raise ZooError(f"{folder}: an export folder runs with engine {' or '.join(formats.keras_free_engines())}; "
                           f"load its run folder for {formats.KERAS}")
        return KerasModel(folder)
    export = folder if _is_export(folder) else folder / "export"
    if not export.is_dir() and (folder / runs.CONFIG).is_file():
        raise ZooError(f"{folder}: a run without an export; make one with `zoo export {folder}`, "
                       f"or use engine {formats.KERAS}")
    return ExportedModel(export, engine)


def from_pretrained(name_or_folder):
    """The trained Keras model of a shipped model's name or a run folder, compiled as its
    recipe trains it (optimizer, loss, metrics), so ``fit`` fine-tunes it."""
    from zoo.tasks import get_task
    from zoo.training import compile_model

    recipe, model, _, _ = runs.load_run(resolve(name_or_folder))
    compile_model(model, recipe, get_task(recipe.task))
    return model


class KerasModel(KerasInference):
    """A run folder's model through Keras, on the current backend."""

    def __init__(self, run_dir):
        from zoo.tasks.base import artifact_models

        self.folder = pathlib.Path(run_dir)
        recipe, self.model, vocab, config = runs.load_run(self.folder)
        self.recipe = recipe
        super().__init__(recipe.task, artifact_models(recipe.model, self.model), vocab=vocab,
                         classes=runs.load_classes(self.folder), data_config=recipe.data, seed=config["seed"],
                         origin=str(self.folder))
