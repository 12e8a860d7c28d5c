"""Training a recipe into a run folder (its files: :mod:`zoo.runs`).

A run in progress lives in a hidden staging folder beside it, ``.<name>.training/``: its
config, vocabulary, logs and epoch backups (:mod:`zoo.checkpoints`). The finished files are
built there and published together with one atomic folder swap, so after a kill at any point
the run folder holds the previous finished run or the new one, never a mix; re-running the
same command resumes after the last backed-up epoch. A lock beside the folder keeps a second
command out while one trains into it.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import sys
import time

import keras
import numpy as np

from zoo import checkpoints, runs, storage
from zoo import distribute as distribution
from zoo.environment import library_versions
from zoo.errors import ZooError
from zoo.plots import plot_history
from zoo.recipe import MAX_COUNT, Recipe, load_recipe
from zoo.registry import create_model
from zoo.tasks import get_task
from zoo.tasks.datasets import DataEpoch

DEFAULT_RUNS_DIR = pathlib.Path("runs")  # saved_models/ holds the shipped models (zoo ship)
# The configuration keys that must match for a re-run to resume a run in progress.
RESUME_KEYS = ("recipe", "model_options", "backend", "precision", "seed", "limit", "data_dir")


# ---------------------------------------------------------------------- training
# Measured with benchmarks/throughput.py on a 2-core CPU (README, Performance): running 8
# training steps per compiled call gave TensorFlow 1.9x on lstm_fashion_mnist and up to 1.15x
# on the others, and left JAX within noise; XLA (jit_compile) made TensorFlow slower on two
# of the three networks, so Keras's default stays. torch accepts only 1 step per execution.
ENGINE_DEFAULTS = {"tensorflow": {"steps_per_execution": 8}, "jax": {"steps_per_execution": 8}, "torch": {}}


def learning_rate(recipe: Recipe, steps_per_epoch: int):
    """The recipe's learning rate: a number, or for ``schedule="cosine"`` a warm-up plus
    cosine-decay schedule over the training steps (Keras's CosineDecay). A schedule reads the
    optimizer's step count, which the resume backups keep, so a resumed run continues it."""
    if recipe.schedule == "plateau":
        return recipe.learning_rate
    total = max(1, recipe.epochs * steps_per_epoch)
    warmup = min(total - 1, round(recipe.warmup_epochs * steps_per_epoch))
    if warmup == 0:  # CosineDecay then starts from its initial rate, not from its warm-up target
        return keras.optimizers.schedules.CosineDecay(recipe.learning_rate, decay_steps=total, alpha=0.0)
    return keras.optimizers.schedules.CosineDecay(0.0, decay_steps=total - warmup, alpha=0.0,
                                                  warmup_target=recipe.learning_rate, warmup_steps=warmup)


def compile_model(model: keras.Model, recipe: Recipe, task, *, steps_per_epoch: int = 1, **engine) -> None:
    """Adam (AdamW with the recipe's weight decay) at the recipe's learning rate (schedule),
    the task's loss and Keras metrics, and the backend's ENGINE_DEFAULTS; `engine` options of
    ``Model.compile`` override those."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate(recipe, steps_per_epoch), clipnorm=recipe.clipnorm,
                                        weight_decay=recipe.weight_decay),
        loss=task.loss(),
        metrics=list(task.keras_metrics),
        **{**ENGINE_DEFAULTS[keras.backend.backend()], **engine},
    )


def standard_callbacks(recipe: Recipe, logs_dir: pathlib.Path) -> list:
    """The Keras callbacks every recipe trains with. The best-epoch checkpoint, the backup
    for resuming and the history log are :class:`zoo.checkpoints.RunBackup`'s work: Keras's
    ModelCheckpoint, BackupAndRestore and CSVLogger write in place, and the history and
    the best weights must survive a kill as one with the backup."""
    monitor = dict(monitor=recipe.monitor, mode=recipe.monitor_mode)
    # A schedule sets the rate itself; ReduceLROnPlateau would overwrite it.
    plateau = [keras.callbacks.ReduceLROnPlateau(factor=recipe.reduce_lr_factor, patience=recipe.reduce_lr_patience,
                                                 **monitor)] if recipe.schedule == "plateau" else []
    return [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.EarlyStopping(patience=recipe.early_stopping_patience, **monitor),
        *plateau,
        keras.callbacks.TensorBoard(log_dir=str(logs_dir)),
    ]


def staging_dir(out_dir: pathlib.Path) -> pathlib.Path:
    """Where a run in progress into `out_dir` keeps everything until it is published."""
    return out_dir.with_name(f".{out_dir.name}.training")


def _differing_keys(stored: dict, config: dict) -> list[str]:
    """The resume keys (dotted, down to recipe fields) whose values differ."""
    differ = []
    for key in RESUME_KEYS:
        old, new = stored.get(key), config.get(key)
        if isinstance(old, dict) and isinstance(new, dict) and key == "recipe":
            differ += [f"recipe.{k}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        elif json.dumps(old, sort_keys=True) != json.dumps(new, sort_keys=True):
            differ.append(key)
    return differ


def _prepare_staging(staging: pathlib.Path, config: dict, overwrite: bool) -> bool:
    """Make `staging` ready for `config`; True when it holds a run in progress to resume."""
    stored_path = staging / "config.json"
    if staging.exists() and stored_path.is_file():
        try:
            stored = json.loads(stored_path.read_text("utf-8"))
        except ValueError:
            stored = {}
        differ = _differing_keys(stored, config)
        if not differ:
            return True
        if not overwrite:
            raise ZooError(f"{staging}: an interrupted run with another configuration ({', '.join(differ)} "
                           f"differ); re-run with the same options to resume it, or pass --overwrite to discard it")
    if staging.exists():
        storage.remove_dir(staging)
    staging.mkdir()
    return False


def train(recipe, *, epochs: int | None = None, batch_size: int | None = None, learning_rate: float | None = None,
          preset: str | None = None, out_dir=None, seed: int = 0, limit: int | None = None, data_dir=None,
          overwrite: bool = False, distribute: str = "none", precision: str | None = None, verbose="auto",
          extra_callbacks=(), **task_options) -> dict:
    """Train `recipe` (a Recipe, a recipe's name, or a recipe file's path) into `out_dir`
    (default ``runs/<recipe>``); returns test metrics. The options are ``zoo train``'s.

    `epochs`, `batch_size`, `learning_rate` and `preset` override the recipe's (another preset
    takes its sizes, see :meth:`Recipe.replace`); `task_options` are the options of the
    recipe's task (its ``train_options``, such as a language model's ``text_file``).
    Re-running with the same `out_dir` and configuration after an interruption resumes
    after the last completed epoch, and ends as the uninterrupted run would. `limit` caps
    the examples per split, for quick runs. An `out_dir` holding a finished run is replaced
    only with `overwrite`. `distribute` and `precision` (default: the recipe's) are described in
    :mod:`zoo.distribute`; with several workers, only worker 0 writes `out_dir`.
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    recipe = recipe.replace(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, preset=preset)
    if task_options:
        recipe = recipe.replace(data=get_task(recipe.task).data_overrides(recipe, **task_options))
    out_dir = pathlib.Path(out_dir or DEFAULT_RUNS_DIR / recipe.name)
    _check_seed(seed, limit)
    distribution.check_precision(precision or recipe.precision)
    # First: TensorFlow's multi-worker strategy must exist before TensorFlow runs anything.
    place = distribution.placement(distribute)
    # Resolved once: the run's config records the precision it trained in, not "auto".
    precision = distribution.resolve_precision(precision or recipe.precision)
    storage.make_parent(out_dir)
    with storage.folder_lock(_worker_dir(out_dir, place), "run folder"):
        if place.is_chief:
            storage.check_out_dir(out_dir, what="run", is_ours=runs.is_finished_run, overwrite=overwrite)
        return _train_locked(recipe, out_dir, seed=seed, limit=limit, data_dir=data_dir, overwrite=overwrite,
                             verbose=verbose, extra_callbacks=extra_callbacks, place=place, precision=precision)


def _worker_dir(out_dir: pathlib.Path, place) -> pathlib.Path:
    """The run folder this process trains for: `out_dir` for the chief; a sibling for other
    workers, which keep their own resume backups beside it and never publish."""
    return out_dir if place.is_chief else out_dir.with_name(f"{out_dir.name}.worker-{place.worker}")


def _check_seed(seed, limit=None) -> None:
    if not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ZooError(f"--seed {seed}: expected a whole number in 0..{2**32 - 1}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_COUNT):
        raise ZooError(f"--limit {limit}: expected a whole number in 1..{MAX_COUNT}")


def _train_locked(recipe, out_dir, *, seed, limit, data_dir, overwrite, verbose, extra_callbacks, place,
                  precision) -> dict:
    staging = staging_dir(_worker_dir(out_dir, place))
    storage.remove_stale(out_dir.parent, f".{out_dir.name}.trash-")
    keras.utils.set_random_seed(seed)
    task = get_task(recipe.task)
    data = task.prepare(recipe, seed=seed, limit=limit, data_dir=data_dir, batch_size=recipe.batch_size)
    data.check(limit)
    if place.mode != "none" and data.streams:
        raise ZooError(f"--distribute {place.mode}: recipe {recipe.name!r} carries recurrent states from batch to "
                       f"batch, which one device must hold; train it without --distribute")
    model_options = {**recipe.model_options, **data.model_options}
    with place.build_scope(), distribution.precision_policy(precision):  # on the placement's devices
        model = create_model(recipe.model, recipe.preset, **model_options)
        steps = {"steps_per_epoch": len(data.train)}
        compile_model(model, recipe, task, **steps, **place.compile_options())
        # Usually `model` itself; for carried LSTM states, a view sharing its layers.
        fit_model, validation = task.training_model(model, data, recipe)
        if fit_model is not model:
            compile_model(fit_model, recipe, task, **steps, **place.compile_options())
        fit_model = place.prepare(fit_model)
        fit_model.optimizer.build(fit_model.trainable_variables)  # so a backup's optimizer state can load
    config = {
        "recipe": recipe.to_dict(),
        "model": recipe.model,
        "preset": recipe.preset,
        "model_options": model_options,
        "backend": keras.backend.backend(),
        "precision": precision,
        **place.to_config(),
        "versions": library_versions(),
        "seed": seed,
        "limit": limit,
        # Absolute, so `zoo evaluate` and `zoo export` find the data again from anywhere.
        "data_dir": None if data_dir is None else str(pathlib.Path(data_dir).resolve()),
    }
    resuming = _prepare_staging(staging, config, overwrite)
    storage.atomic_write_text(staging / "config.json", json.dumps(config, indent=2))
    if data.vocab is not None:
        runs.save_vocab(data.vocab, staging / runs.VOCAB)
    if data.classes is not None:
        runs.save_classes(data.classes, staging / runs.CLASSES)

    with place.fit_scope():
        backup, train_seconds = _fit(recipe, data, staging, resuming, model, fit_model, validation, place,
                                     task, verbose, extra_callbacks)
    backups = staging / "backups"
    if backup.best is None:
        raise ZooError(f"{recipe.name}: no epoch gave a finite {recipe.monitor} (the loss diverged?); nothing was "
                       f"published; try a lower --learning-rate with --overwrite")
    if not place.is_chief:  # the chief publishes; this worker's backups are no longer needed
        storage.remove_dir(staging)
        place.finish()
        return {"worker": place.worker, "epochs": len(backup.rows), "published": False}
    # The final model holds the best epoch's weights (also when that epoch came before an
    # interruption), in a plain float32 one-device model whatever the placement and precision.
    model = create_model(recipe.model, recipe.preset, **model_options)
    model.load_weights(backups / backup.best["folder"] / checkpoints.BEST)
    compile_model(model, recipe, task)
    metrics = task.evaluate(model, data, recipe, batch_size=recipe.batch_size)
    metrics.update({"epochs": len(backup.rows), "best_epoch": backup.best["epoch"] + 1,
                    "train_seconds_last_session": round(train_seconds, 1), "backend": keras.backend.backend()})
    _publish_run(staging, out_dir, model, backup.rows, metrics, data.test[0])
    place.finish()
    return metrics


def _fit(recipe, data, staging, resuming, model, fit_model, validation, place, task, verbose, extra_callbacks):
    """Fit (or resume) `fit_model` with the standard callbacks; (RunBackup, seconds)."""
    backups = staging / "backups"
    checkpoint = checkpoints.restore(backups, fit_model) if resuming else None
    initial_epoch = 0 if checkpoint is None else checkpoint.epochs_done

    callbacks = [DataEpoch(data.train), *task.callbacks(model, data, recipe, staging),
                 *standard_callbacks(recipe, staging / "logs"), *extra_callbacks]
    backup = checkpoints.RunBackup(backups, model=model, epochs=recipe.epochs, monitor=recipe.monitor,
                                   mode=recipe.monitor_mode, callbacks=callbacks, checkpoint=checkpoint,
                                   epoch_files=[staging / "samples.jsonl"])
    started = time.perf_counter()
    if checkpoint is None or not checkpoint.finished:
        fit_model.fit(
            place.training_data(data.train),
            epochs=recipe.epochs,
            initial_epoch=initial_epoch,
            # The zoo's datasets order their batches themselves, from (seed, epoch): Keras's
            # shuffling of batch indices would break consecutive windows and exact resumes.
            shuffle=False,
            validation_data=validation,
            # Carried-state evaluation needs batches of exactly one window per stream.
            validation_batch_size=data.streams or recipe.batch_size,
            callbacks=[*callbacks, backup],
            verbose=_progress(verbose),
        )
    train_seconds = time.perf_counter() - started
    return backup, train_seconds


def _progress(verbose):
    """Keras's progress bar on a terminal; one line per epoch in a log file or CI."""
    if verbose == "auto":
        return "auto" if sys.stdout.isatty() else 2
    return verbose


REFERENCE_EXAMPLES = 8


def _publish_run(staging: pathlib.Path, out_dir: pathlib.Path, model, rows, metrics, test_x) -> None:
    """Build the finished run folder inside `staging` and swap it into place whole."""
    final = staging / "publish"
    shutil.rmtree(final, ignore_errors=True)
    final.mkdir()
    model.save(final / "model.keras")
    # A few test inputs and this backend's logits: `zoo export` checks its artifacts against them.
    inputs = [a[:REFERENCE_EXAMPLES] for a in test_x] if isinstance(test_x, (list, tuple)) else [test_x[:REFERENCE_EXAMPLES]]
    logits = keras.ops.convert_to_numpy(model(inputs if len(inputs) > 1 else inputs[0], training=False))
    np.savez(final / "reference.npz", logits=logits, **{f"input_{i}": a for i, a in enumerate(inputs)})
    for name in (runs.CONFIG, runs.VOCAB, runs.CLASSES, "samples.jsonl"):
        if (staging / name).is_file():
            shutil.copyfile(staging / name, final / name)
    if (staging / "logs").is_dir():
        shutil.copytree(staging / "logs", final / "logs")
    (final / runs.HISTORY).write_text(runs.history_csv(rows), "utf-8")
    (final / runs.METRICS).write_text(json.dumps(metrics, indent=2), "utf-8")
    plot_history(rows, final / "curves.png")
    storage.publish_dir(final, out_dir)
    storage.remove_dir(staging)


# ---------------------------------------------------------------------- evaluating runs
def evaluate_run(run_dir, *, data_dir=None) -> dict:
    """Recompute the test metrics of a run folder on its recipe's data."""
    recipe, model, vocab, config = runs.load_run(run_dir)
    task = get_task(recipe.task)
    compile_model(model, recipe, task)
    data = task.prepare(recipe, seed=config["seed"], limit=config.get("limit"), data_dir=data_dir or config.get("data_dir"),
                        batch_size=recipe.batch_size)
    if vocab is not None and vocab.chars != data.vocab.chars:
        raise ZooError(f"{run_dir}: the data's vocabulary differs from the run's vocab.json")
    return task.evaluate(model, data, recipe, batch_size=recipe.batch_size)
