"""``zoo ship``: a finished run made a compact shipped model with its card.

A shipped folder holds ``model.keras`` (weights, no optimizer state), its vocabulary or
class names, config, metrics, history and curves, an ONNX export with its manifest,
``card.json`` (the figures, and the sha256 of every file) and the model card ``README.md``
(:mod:`zoo.cards`). Its figures are measured by the task's own metric on the task's check
slice, through Keras and through the export.
"""

from __future__ import annotations

import csv
import json
import pathlib
import shutil

from zoo import cards, formats, runs, storage
from zoo.environment import machine
from zoo.errors import ZooError, first_line
from zoo.manifest import MANIFEST
from zoo.pretrained import CARD, CARD_TEXT, load, resolve
from zoo.tasks import get_task

# How far a re-measured check figure may be from the card's (CI re-measures every shipped
# model on every backend and through onnxruntime).
CHECK_TOLERANCE = 0.002
SHIPPED_RUN_FILES = (runs.CONFIG, runs.METRICS, runs.HISTORY, "curves.png", runs.VOCAB, runs.CLASSES,
                     "samples.jsonl", "reference.npz")
# The shipped export: the smallest engine's format (the others are rebuilt with `zoo export`).
SHIPPED_FORMATS = (formats.DEFAULT_ENGINE,)


def is_shipped(folder: pathlib.Path) -> bool:
    return (folder / CARD).is_file()


def ship(run_dir, out, *, data_dir=None, tolerance=None, overwrite: bool = False, quantize: str | None = None) -> dict:
    """Make finished run `run_dir` a shipped model in `out`: the compact files, an export
    (verified as every export is), the figures re-measured on the check slice through Keras
    and the export, sample outputs, ``card.json`` and the model card. `out` must be absent,
    empty, or (with `overwrite`) an earlier shipped model; it is built beside `out` and
    swapped in whole. `tolerance` is the export's (``zoo export --tolerance``); `quantize`
    "int8" ships the export's int8 variant too. Returns the card."""
    from zoo.export import TOLERANCE

    run_dir, out = runs.require_finished_run(run_dir).resolve(), pathlib.Path(out).resolve()
    if out == run_dir:
        raise ZooError(f"--out {out}: the run folder itself; ship a run trained elsewhere (--out of zoo train)")
    if run_dir.is_relative_to(out):
        raise ZooError(f"--out {out}: the run folder {run_dir} lies inside it; choose another folder")
    # Before anything is built: a damaged run is refused up front, in one line.
    recipe, model, _, config = runs.load_run(run_dir, compile=False)
    figures = _run_figures(run_dir)
    storage.make_parent(out)
    with storage.folder_lock(out, "shipped model"):
        storage.check_out_dir(out, what="shipped model", is_ours=is_shipped, overwrite=overwrite)
        with storage.staging(out, "shipping") as staging:
            for name in SHIPPED_RUN_FILES:
                if (run_dir / name).is_file():
                    shutil.copyfile(run_dir / name, staging / name)
            # Weights only: the optimizer's moments would triple the file and fine-tuning
            # starts a fresh optimizer anyway.
            model.save(staging / "model.keras")
            tolerance = TOLERANCE if tolerance is None else tolerance
            _export(staging, quantize=quantize, data_dir=data_dir, tolerance=tolerance)
            card = _card(staging, out.name, recipe, config, figures, data_dir=data_dir)
            for name, content in card.pop("files_written").items():
                (staging / name).write_bytes(content)
            if tolerance != TOLERANCE:
                card["ship_command"] += f" --tolerance {tolerance}"
            if quantize:
                card["ship_command"] += f" --quantize {quantize}"
            _write_card(staging, card)
            storage.publish_dir(staging, out)
    return card


def refresh(name_or_folder, *, quantize: str | None = None, data_dir=None) -> dict:
    """Remake a shipped model's export and model card with this version of the zoo, its model
    and figures unchanged: the export is made again from its ``model.keras`` (its files now
    say what they are; `quantize` "int8" adds or remakes the int8 variant, its check figures
    measured again) and verified as every export is, and the card is rendered again (its hub
    front matter). Built beside the folder and swapped in whole. Returns the card."""
    folder = resolve(name_or_folder).resolve()  # a shipped folder's files checked against its card
    if not is_shipped(folder):
        raise ZooError(f"{folder}: not a shipped model (no {CARD}); make one with `zoo ship RUN_DIR`")
    card = json.loads((folder / CARD).read_text("utf-8"))
    with storage.folder_lock(folder, "shipped model"):
        with storage.staging(folder, "refreshing") as staging:
            for path in folder.iterdir():
                if path.is_file() and path.name not in (CARD, CARD_TEXT):
                    shutil.copyfile(path, staging / path.name)
            tolerance = card["export"]["verification"]["tolerance"]["absolute"]
            _export(staging, quantize=quantize, data_dir=data_dir, tolerance=tolerance)
            manifest = json.loads((staging / "export" / MANIFEST).read_text("utf-8"))
            card["export"] = {"formats": manifest["formats"], "verification": manifest["verification"]}
            # The check figures of a new engine, and of the int8 files, whose quantization may
            # have changed; the float engines' are kept (verified to give Keras's outputs).
            for engine in manifest["formats"]:
                if engine not in card["check"] or formats.get_format(engine).int8_of:
                    card["check"][engine] = load(staging, engine).evaluate(limit=card["check"]["examples"],
                                                                          data_dir=data_dir)
            if quantize and "--quantize" not in card["ship_command"]:
                card["ship_command"] += f" --quantize {quantize}"
            card["size_bytes"] = sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())
            _write_card(staging, card)
            storage.publish_dir(staging, folder)
    return card


def _export(staging: pathlib.Path, *, quantize, data_dir, tolerance) -> None:
    """The shipped export of the run files in `staging`, in ``staging/export``."""
    from zoo.export import export_run

    shipped = formats.with_int8(SHIPPED_FORMATS) if quantize else SHIPPED_FORMATS
    export_run(staging, formats=shipped, out=staging / "export", data_dir=data_dir, tolerance=tolerance)
    _point_export_at_its_folder(staging / "export")


def _write_card(staging: pathlib.Path, card: dict) -> None:
    """The model card (README.md) and card.json, which lists the sha256 of every other file."""
    (staging / CARD_TEXT).write_text(cards.render(card), "utf-8")
    card["files"] = storage.file_digests(staging, exclude=CARD)
    (staging / CARD).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", "utf-8")


def _point_export_at_its_folder(export: pathlib.Path) -> None:
    """The export was made from the shipped folder itself (its parent), not from the staging
    path it was built at: say so portably. The manifest does not list its own digest."""
    path = export / MANIFEST
    manifest = json.loads(path.read_text("utf-8"))
    manifest["source_run"] = ".."
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), "utf-8")


def _run_figures(run_dir: pathlib.Path) -> tuple[dict, dict]:
    """(test metrics, validation figures of the best epoch) of a finished run, checked: a
    damaged metrics.json or history.csv is a one-line error naming the file."""
    path = run_dir / runs.METRICS
    metrics = runs.read_json(path, expected="the run's test metrics as a JSON object")
    if not isinstance(metrics, dict) or not all(isinstance(metrics.get(k), int) for k in ("epochs", "best_epoch")):
        raise ZooError(f"{path}: expected the run's test metrics with its epochs and best_epoch (written by zoo train)")
    history = run_dir / runs.HISTORY
    try:
        with open(history, newline="", encoding="utf-8") as f:
            rows = [row for row in csv.DictReader(f) if str(row.get("epoch", "")).isdigit()
                    and int(row["epoch"]) + 1 == metrics["best_epoch"]]
    except (OSError, csv.Error, UnicodeDecodeError) as error:
        raise ZooError(f"{history}: expected the run's history, one row per epoch ({first_line(error)})") from None
    if len(rows) != 1:
        raise ZooError(f"{history}: expected one row for the best epoch {metrics['best_epoch']} of {runs.METRICS}, "
                       f"found {len(rows)}")
    try:
        validation = {k: float(v) for k, v in rows[0].items() if k and k.startswith("val_") and v}
    except ValueError as error:
        raise ZooError(f"{history}: expected numbers in the best epoch's row ({first_line(error)})") from None
    return metrics, validation


def _card(folder: pathlib.Path, name: str, recipe, config, figures, *, data_dir) -> dict:
    """The figures of a shipped model: full test metrics (measured at training), validation
    metrics of the best epoch, the check slice through Keras and the export, sample outputs."""
    task = get_task(recipe.task)
    metrics, validation = figures
    examples = task.check_examples
    export_manifest = json.loads((folder / "export" / MANIFEST).read_text("utf-8"))
    models = {engine: load(folder, engine) for engine in (formats.KERAS, *export_manifest["formats"])}
    check = {engine: model.evaluate(limit=examples, data_dir=data_dir) for engine, model in models.items()}
    shipped_export = models[SHIPPED_FORMATS[0]]
    precision = config.get("precision", "float32")
    return {
        "name": name,
        "description": recipe.description,
        "notes": f"See [docs/recipes.md](../../docs/recipes.md#{recipe.name}) for what was tried.",
        "recipe": recipe.name,
        "model": recipe.model,
        "task": recipe.task,
        "data": recipe.data,
        "model_options": config["model_options"],
        "metrics": metrics,
        "validation": validation,
        "check": {"examples": examples, "tolerance": CHECK_TOLERANCE, **check},
        "samples": task.samples(shipped_export, recipe.data),
        "files_written": task.sample_files(shipped_export, recipe.data),
        # Figures measured against other shipped models (cards without them have no key).
        **({"figures": extra} if (extra := task.card_figures(shipped_export, recipe.data, load)) else {}),
        "training": {
            "backend": config["backend"], "precision": precision, "seed": config["seed"],
            "epochs": metrics["epochs"], "best_epoch": metrics["best_epoch"],
            "seconds": metrics.get("train_seconds_last_session"), "machine": machine(),
            "versions": config.get("versions", {}),
            # The precision the run trained in, named: `auto` may choose otherwise on another machine.
            "command": f"zoo --backend {config['backend']} train {recipe.name} --seed {config['seed']} "
                       f"--precision {precision} --out runs/{recipe.name}",
        },
        "ship_command": f"zoo ship runs/{recipe.name}",
        "export": {"formats": export_manifest["formats"], "verification": export_manifest["verification"]},
        "size_bytes": sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()),
    }
