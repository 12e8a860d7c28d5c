"""Training a recipe into a run folder, and reading run folders back.

A run folder (``saved_models/<recipe>/`` or ``--out``) holds ``model.keras``,
``config.json`` (resolved recipe, model options, backend, versions, seed), ``vocab.json``
where the task has one, ``history.csv``, ``metrics.json``, ``curves.png``, TensorBoard
``logs/`` and, while training, ``train_state/`` (backup for resuming, best checkpoint).
Final files are written to a temporary name and renamed into place, so an interrupted run
never leaves a half-written model where a good one stood.
"""

from __future__ import annotations

import csv
import json
import os
import pathlib
import platform
import shutil
import tempfile
import time

import keras
import numpy as np

from zoo.data import generated, text
from zoo.errors import ZooError, first_line
from zoo.recipe import Recipe
from zoo.registry import create_model
from zoo.tasks import TASKS

DEFAULT_RUNS_DIR = pathlib.Path("saved_models")


# ---------------------------------------------------------------------- small file helpers
def atomic_write_text(path, content: str) -> None:
    """Write `content` to a temporary file beside `path`, then rename it into place."""
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(content)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600 files
    os.replace(tmp, path)


def atomic_save_model(model: keras.Model, path) -> None:
    """Save `model` as .keras under a temporary name, then rename it into place."""
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.stem}.partial.keras")
    model.save(tmp)
    os.replace(tmp, path)


def save_vocab(vocab, path) -> None:
    """Vocabulary as JSON (never pickled): its kind and its characters."""
    kind = "seq2seq" if isinstance(vocab, generated.Seq2SeqVocabulary) else "characters"
    atomic_write_text(path, json.dumps({"kind": kind, "chars": vocab.chars}, ensure_ascii=False))


def load_vocab(path):
    try:
        data = json.loads(pathlib.Path(path).read_text("utf-8"))
        cls = {"seq2seq": generated.Seq2SeqVocabulary, "characters": text.Vocabulary}[data["kind"]]
        return cls(data["chars"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ZooError(f"{path}: expected a vocabulary JSON file with 'kind' and 'chars' ({error})") from None


def library_versions() -> dict:
    """Versions that decide whether a run reproduces."""
    versions = {"python": platform.python_version(), "keras": keras.__version__, "numpy": np.__version__}
    backend = keras.backend.backend()
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
    versions[module] = __import__(module).__version__
    return versions


def plot_history(history_csv, png_path) -> None:
    """Training curves (loss and, where present, the task metric) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(history_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    epochs = [int(r["epoch"]) + 1 for r in rows]
    metrics = [m for m in ("loss", "accuracy", "exact_match", "perplexity") if f"val_{m}" in rows[0]]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for key in (metric, f"val_{metric}"):
            if key in rows[0] and rows[0][key] != "":
                ax.plot(epochs, [float(r[key]) for r in rows], marker="o", label=key)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend()
    fig.tight_layout()
    tmp = pathlib.Path(png_path).with_name(".curves.partial.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, png_path)


# ---------------------------------------------------------------------- training
def compile_model(model: keras.Model, recipe: Recipe, task) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(recipe.learning_rate, clipnorm=recipe.clipnorm),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=list(task.metrics),
    )


def standard_callbacks(recipe: Recipe, out_dir: pathlib.Path, state_dir: pathlib.Path) -> list:
    monitor = dict(monitor=recipe.monitor, mode=recipe.monitor_mode)
    return [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.ModelCheckpoint(state_dir / "best.keras", save_best_only=True, **monitor),
        keras.callbacks.EarlyStopping(patience=recipe.early_stopping_patience, restore_best_weights=True, **monitor),
        keras.callbacks.ReduceLROnPlateau(factor=recipe.reduce_lr_factor, patience=recipe.reduce_lr_patience, **monitor),
        # append: a resumed run continues the same log.
        keras.callbacks.CSVLogger(state_dir / "history.csv", append=True),
        keras.callbacks.TensorBoard(log_dir=str(out_dir / "logs")),
        keras.callbacks.BackupAndRestore(backup_dir=str(state_dir / "backup")),
    ]


def train(recipe: Recipe, *, out_dir=None, seed: int = 0, limit: int | None = None, data_dir=None,
          verbose="auto", extra_callbacks=()) -> dict:
    """Train `recipe` into `out_dir` (default ``saved_models/<recipe>``); returns test metrics.

    Re-running with the same `out_dir` after an interruption resumes from the last
    completed epoch (keras BackupAndRestore). `limit` caps the examples per split, for
    quick runs.
    """
    out_dir = pathlib.Path(out_dir or DEFAULT_RUNS_DIR / recipe.name)
    state_dir = out_dir / "train_state"
    state_dir.mkdir(parents=True, exist_ok=True)
    if not (state_dir / "backup").exists():
        (state_dir / "history.csv").unlink(missing_ok=True)  # a fresh run starts a fresh log

    keras.utils.set_random_seed(seed)
    task = TASKS[recipe.task]
    data = task.prepare(recipe, seed=seed, limit=limit, data_dir=data_dir, batch_size=recipe.batch_size)
    model_options = {**recipe.model_options, **data.model_options}
    model = create_model(recipe.model, recipe.preset, **model_options)
    compile_model(model, recipe, task)

    config = {
        "recipe": recipe.to_dict(),
        "model": recipe.model,
        "preset": recipe.preset,
        "model_options": model_options,
        "backend": keras.backend.backend(),
        "versions": library_versions(),
        "seed": seed,
        "limit": limit,
    }
    atomic_write_text(out_dir / "config.json", json.dumps(config, indent=2))
    if data.vocab is not None:
        save_vocab(data.vocab, out_dir / "vocab.json")

    # Usually `model` itself; for carried LSTM states, a view sharing its layers.
    fit_model, validation = task.training_model(model, data)
    if fit_model is not model:
        compile_model(fit_model, recipe, task)
    callbacks = [*data.callbacks, *task.callbacks(model, data, recipe, out_dir),
                 *standard_callbacks(recipe, out_dir, state_dir), *extra_callbacks]
    fit_data = data.train if isinstance(data.train, keras.utils.PyDataset) else None
    x, y = (fit_data, None) if fit_data is not None else data.train
    started = time.perf_counter()
    fit_model.fit(
        x, y,
        batch_size=None if fit_data is not None else recipe.batch_size,
        epochs=recipe.epochs,
        validation_data=validation,
        callbacks=callbacks,
        verbose=verbose,
    )
    train_seconds = time.perf_counter() - started

    metrics = task.evaluate(model, data, recipe, batch_size=recipe.batch_size)
    with open(state_dir / "history.csv", newline="") as f:
        epochs_run = sum(1 for _ in csv.DictReader(f))
    metrics.update({"epochs": epochs_run, "train_seconds_last_session": round(train_seconds, 1),
                    "backend": keras.backend.backend()})
    atomic_save_model(model, out_dir / "model.keras")
    shutil.copyfile(state_dir / "history.csv", out_dir / ".history.partial.csv")
    os.replace(out_dir / ".history.partial.csv", out_dir / "history.csv")
    atomic_write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2))
    plot_history(out_dir / "history.csv", out_dir / "curves.png")
    shutil.rmtree(state_dir, ignore_errors=True)
    return metrics


# ---------------------------------------------------------------------- reading runs back
def load_run(run_dir):
    """(recipe, model, vocab, config) of a finished run folder; model loads in safe mode."""
    run_dir = pathlib.Path(run_dir)
    config_path, model_path = run_dir / "config.json", run_dir / "model.keras"
    for path in (config_path, model_path):
        if not path.is_file():
            raise ZooError(f"{run_dir}: not a finished run folder (missing {path.name})")
    try:
        config = json.loads(config_path.read_text("utf-8"))
        recipe = Recipe(**config["recipe"])
    except (ValueError, KeyError, TypeError) as error:
        raise ZooError(f"{config_path}: expected a run config written by zoo train ({error})") from None
    try:
        model = keras.saving.load_model(model_path, safe_mode=True)
    except Exception as error:  # keras raises several types for a bad file
        raise ZooError(f"{model_path}: cannot load the model ({first_line(error)})") from None
    vocab = load_vocab(run_dir / "vocab.json") if (run_dir / "vocab.json").exists() else None
    return recipe, model, vocab, config


def evaluate_run(run_dir, *, data_dir=None) -> dict:
    """Recompute the test metrics of a run folder on its recipe's data."""
    recipe, model, vocab, config = load_run(run_dir)
    task = TASKS[recipe.task]
    compile_model(model, recipe, task)
    data = task.prepare(recipe, seed=config["seed"], limit=config.get("limit"), data_dir=data_dir,
                        batch_size=recipe.batch_size)
    if vocab is not None and vocab.chars != data.vocab.chars:
        raise ZooError(f"{run_dir}: the data's vocabulary differs from the run's vocab.json")
    return task.evaluate(model, data, recipe, batch_size=recipe.batch_size)
