"""Run folders, read and written: the one place that knows their files.

A finished run folder (``runs/<recipe>/`` or ``zoo train --out``) holds ``model.keras`` (the
best epoch's weights), ``config.json`` (resolved recipe, model options, backend, versions,
seed), ``vocab.json`` or ``classes.json`` where the task has them, ``history.csv``,
``metrics.json``, ``curves.png``, ``reference.npz`` (a few test inputs and the training
backend's logits), TensorBoard ``logs/`` and, for language models, ``samples.jsonl``.
Reading one needs keras only for its model (:func:`load_run`).
"""

from __future__ import annotations

import csv
import io
import json
import pathlib

from zoo import storage
from zoo.data.vocabulary import Vocabulary
from zoo.errors import ZooError, first_line
from zoo.recipe import Recipe

RUN_FILES = ("model.keras", "config.json")  # a folder holding both is a finished run
CONFIG, VOCAB, CLASSES, METRICS, HISTORY = "config.json", "vocab.json", "classes.json", "metrics.json", "history.csv"


def is_finished_run(folder: pathlib.Path) -> bool:
    return all((pathlib.Path(folder) / name).is_file() for name in RUN_FILES)


def require_finished_run(run_dir) -> pathlib.Path:
    """`run_dir` as a Path, or a one-line error naming the file a finished run lacks."""
    run_dir = pathlib.Path(run_dir)
    for name in RUN_FILES:
        if not (run_dir / name).is_file():
            raise ZooError(f"{run_dir}: not a finished run folder (missing {name})")
    return run_dir


def save_vocab(vocab: Vocabulary, path) -> None:
    """Vocabulary as JSON (never pickled): its reserved symbols and its characters."""
    storage.atomic_write_text(path, json.dumps(vocab.to_json(), ensure_ascii=False))


def load_vocab(path) -> Vocabulary:
    try:
        return Vocabulary.from_json(json.loads(pathlib.Path(path).read_text("utf-8")))
    except (OSError, ValueError, ZooError) as error:
        raise ZooError(f"{path}: {first_line(error)}") from None


def save_classes(classes: list[str], path) -> None:
    storage.atomic_write_text(path, json.dumps(classes, ensure_ascii=False))


def load_classes(run_dir) -> list[str] | None:
    """A run's class names (its classes.json), None for a run without them."""
    path = pathlib.Path(run_dir) / CLASSES
    if not path.is_file():
        return None
    try:
        classes = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as error:
        raise ZooError(f"{path}: expected a JSON list of class names ({first_line(error)})") from None
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise ZooError(f"{path}: expected a JSON list of class names")
    return classes


def history_csv(rows: list[dict]) -> str:
    """The history rows (one per epoch) as CSV text, columns in a stable order."""
    columns = ["epoch", *sorted({k for row in rows for k in row} - {"epoch"})]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if row.get(k) is None else row[k] for k in columns} for row in rows)
    return out.getvalue()


def read_json(path, *, expected: str = "a JSON object"):
    """A JSON file of a run, or None where it is absent; a damaged one is a one-line error."""
    path = pathlib.Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as error:
        raise ZooError(f"{path}: expected {expected} ({first_line(error)})") from None


def load_run_config(run_dir) -> tuple[Recipe, dict]:
    """(recipe, config) of a finished run folder, without loading its model."""
    run_dir = require_finished_run(run_dir)
    config_path = run_dir / CONFIG
    try:
        config = json.loads(config_path.read_text("utf-8"))
        return Recipe(**config["recipe"]), config
    except (ValueError, KeyError, TypeError) as error:
        raise ZooError(f"{config_path}: expected a run config written by zoo train ({error})") from None


def load_model_file(path, *, compile: bool = True):
    """A `.keras` file loaded in safe mode; a bad file is a one-line ZooError."""
    import zipfile

    import keras

    from zoo.registry import load_families

    path = pathlib.Path(path)
    if not path.is_file():
        raise ZooError(f"{path}: no such model file")
    # Keras says "File not found" for a file that is there but is no zip archive.
    if not zipfile.is_zipfile(path):
        raise ZooError(f"{path}: expected a .keras model file (a zip archive written by Keras); it is damaged or "
                       f"something else")
    load_families()  # the families' own layers, registered with Keras
    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except Exception as error:  # keras raises several types for a bad file
        raise ZooError(f"{path}: cannot load the model ({first_line(error)})") from None


def load_run(run_dir, *, compile: bool = True):
    """(recipe, model, vocab, config) of a finished run folder; model loads in safe mode
    (without its optimizer unless `compile`)."""
    run_dir = pathlib.Path(run_dir)
    recipe, config = load_run_config(run_dir)
    model = load_model_file(run_dir / "model.keras", compile=compile)
    # Every family's builder names its Keras model after the family (tests/test_models.py).
    if model.name != recipe.model:
        raise ZooError(f"{run_dir / 'model.keras'}: a {model.name!r} model, but the run's recipe "
                       f"{recipe.name!r} trains {recipe.model!r}; expected the model the run trained")
    vocab = load_vocab(run_dir / VOCAB) if (run_dir / VOCAB).exists() else None
    classes = int(model.outputs[0].shape[-1])
    if vocab is not None and classes != len(vocab):
        raise ZooError(f"{run_dir / VOCAB}: {len(vocab)} symbols, but the model predicts {classes}; "
                       f"expected the vocabulary the model was trained with")
    return recipe, model, vocab, config
