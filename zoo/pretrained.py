"""Trained models by name: the zoo's shipped models, loaded in one line.

``saved_models/<recipe>/`` in a checkout (or ``$ZOO_MODELS_DIR/<recipe>/``) holds a trained
run made compact by :func:`ship`: ``model.keras`` (weights, no optimizer state), its
vocabulary or class names, config, metrics, history and curves, an ONNX export with its
manifest, ``card.json`` (the figures, and the sha256 of every file) and the model card
``README.md``.

:func:`load` gives an :class:`~zoo.runtime.InferenceModel` (``classify``, ``generate``,
``translate``, ``evaluate``) run by Keras on the current backend (:class:`KerasModel`) or,
without Keras, by onnxruntime or TensorFlow from the export. :func:`from_pretrained` gives
the Keras model itself, compiled as its recipe trains it, ready for ``fit``.
"""

from __future__ import annotations

import csv
import json
import os
import pathlib
import platform
import shutil
import tempfile

from zoo import runtime, storage
from zoo.errors import ZooError
from zoo.recipe import list_recipes, recipe_notes
from zoo.runtime import ExportedModel, InferenceModel

MODELS_ENV = "ZOO_MODELS_DIR"
CARD = "card.json"
CARD_TEXT = "README.md"
ENGINES = ("keras", *runtime.ENGINES)
# The slice of the test split a shipped model's figures are re-measured on (in CI, on every
# backend and through onnxruntime), and how far the re-measured figure may be from the card's.
CHECK_EXAMPLES = {"classification": 2000, "language_model": 20000, "seq2seq": 1000}
CHECK_TOLERANCE = 0.002


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


def resolve(name_or_folder) -> pathlib.Path:
    """The folder of a shipped model's name, or the run or export folder given."""
    path = pathlib.Path(name_or_folder)
    if path.is_dir():
        return path
    folder = models_dir()
    if folder is not None and "/" not in str(name_or_folder) and (folder / str(name_or_folder)).is_dir():
        return folder / str(name_or_folder)
    names = ", ".join(shipped()) or "none"
    where = f"in {folder}" if folder else f"(no saved_models/ beside this package; set {MODELS_ENV})"
    raise ZooError(f"{name_or_folder}: not a run or export folder, nor a shipped model {where}; "
                   f"shipped models: {names}")


def _is_export(folder: pathlib.Path) -> bool:
    return (folder / runtime.MANIFEST).is_file()


def load(name_or_folder, engine: str | None = None) -> InferenceModel:
    """A trained model ready for inference, from a shipped model's name, a run folder or an
    export folder. `engine`: "keras" (the current Keras backend; the default for a run),
    "onnx" (the default for an export) or "savedmodel" (both without Keras)."""
    folder = resolve(name_or_folder)
    if engine is None:
        engine = "onnx" if _is_export(folder) else "keras"
    if engine not in ENGINES:
        raise ZooError(f"engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if engine == "keras":
        if _is_export(folder):
            raise ZooError(f"{folder}: an export folder runs with engine onnx or savedmodel; "
                           f"load its run folder for keras")
        return KerasModel(folder)
    export = folder if _is_export(folder) else folder / "export"
    if not export.is_dir() and (folder / "config.json").is_file():
        raise ZooError(f"{folder}: a run without an export; make one with `zoo export {folder}`, or use engine keras")
    return ExportedModel(export, engine)


def from_pretrained(name_or_folder):
    """The trained Keras model of a shipped model's name or a run folder, compiled as its
    recipe trains it (optimizer, loss, metrics), so ``fit`` fine-tunes it."""
    from zoo.tasks import TASKS
    from zoo.training import compile_model, load_run

    recipe, model, _, _ = load_run(resolve(name_or_folder))
    compile_model(model, recipe, TASKS[recipe.task])
    return model


class KerasModel(InferenceModel):
    """A run folder's model through Keras, on the current backend."""

    def __init__(self, run_dir):
        from zoo.data import generated
        from zoo.tasks.base import artifact_models
        from zoo.training import load_classes, load_run

        self.folder = pathlib.Path(run_dir)
        recipe, self.model, self.vocab, config = load_run(self.folder)
        self.recipe, self.task, self.origin = recipe, recipe.task, str(self.folder)
        self.classes = load_classes(self.folder, recipe)
        self.decoding = generated.decoding_options(recipe.data) if recipe.task == "seq2seq" else None
        self.data_config, self.seed = recipe.data, config["seed"]
        self._models = artifact_models(recipe.model, self.model)

    def _named(self, artifact: str):
        if artifact not in self._models:
            raise ZooError(f"{self.folder}: no artifact {artifact!r}; it has {', '.join(self._models)}")
        return self._models[artifact]

    def run(self, artifact: str, inputs: dict) -> dict:
        return self._named(artifact).run(inputs)

    def input_units(self, artifact: str) -> dict:
        return self._named(artifact).input_units()


# ---------------------------------------------------------------------------- shipping
SHIPPED_RUN_FILES = ("config.json", "metrics.json", "history.csv", "curves.png", "vocab.json", "classes.json",
                     "samples.jsonl", "reference.npz")


def ship(run_dir, out, *, data_dir=None, tolerance=None) -> dict:
    """Make finished run `run_dir` a shipped model in `out`: the compact files, an ONNX export
    (verified as every export is), the figures re-measured on the check slice through Keras
    and ONNX, sample outputs, ``card.json`` and the model card. Built beside `out` and
    swapped in whole; `tolerance` is the export's (``zoo export --tolerance``). Returns the card."""
    from zoo import cards
    from zoo.export import TOLERANCE, export_run
    from zoo.training import load_model_file, load_run_config

    run_dir, out = pathlib.Path(run_dir).resolve(), pathlib.Path(out).resolve()
    recipe, config = load_run_config(run_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    with storage.folder_lock(out, "shipped model"):
        staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{out.name}.shipping-", dir=out.parent))
        staging.chmod(0o755)
        try:
            for name in SHIPPED_RUN_FILES:
                if (run_dir / name).is_file():
                    shutil.copyfile(run_dir / name, staging / name)
            # Weights only: the optimizer's moments would triple the file and fine-tuning
            # starts a fresh optimizer anyway.
            load_model_file(run_dir / "model.keras", compile=False).save(staging / "model.keras")
            tolerance = TOLERANCE if tolerance is None else tolerance
            export_run(staging, formats=("onnx",), out=staging / "export", data_dir=data_dir, tolerance=tolerance)
            _point_export_at_its_folder(staging / "export")
            card = _card(staging, out.name, recipe, config, data_dir=data_dir)
            if tolerance != TOLERANCE:
                card["ship_command"] += f" --tolerance {tolerance}"
            (staging / CARD_TEXT).write_text(cards.render(card), "utf-8")
            card["files"] = _file_digests(staging)
            (staging / CARD).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", "utf-8")
            storage.publish_dir(staging, out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return card


def _point_export_at_its_folder(export: pathlib.Path) -> None:
    """The export was made from the shipped folder itself (its parent), not from the staging
    path it was built at: say so portably. The manifest does not list its own digest."""
    path = export / runtime.MANIFEST
    manifest = json.loads(path.read_text("utf-8"))
    manifest["source_run"] = ".."
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), "utf-8")


def _file_digests(folder: pathlib.Path) -> dict:
    return {str(p.relative_to(folder)): runtime.sha256_file(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != CARD}


def check_files(folder) -> list[str]:
    """What differs between a shipped folder's files and the sha256 list of its card."""
    folder = pathlib.Path(folder)
    listed = json.loads((folder / CARD).read_text("utf-8"))["files"]
    on_disk = _file_digests(folder)
    problems = [f"{name}: not listed in {CARD}" for name in sorted(set(on_disk) - set(listed))]
    problems += [f"{name}: listed in {CARD} but missing" for name in sorted(set(listed) - set(on_disk))]
    problems += [f"{name}: sha256 differs from {CARD}" for name in sorted(set(on_disk) & set(listed))
                 if on_disk[name] != listed[name]]
    return problems


def _card(folder: pathlib.Path, name: str, recipe, config, *, data_dir) -> dict:
    """The figures of a shipped model: full test metrics (measured at training), validation
    metrics of the best epoch, the check slice through Keras and ONNX, sample outputs."""
    metrics = json.loads((folder / "metrics.json").read_text("utf-8"))
    with open(folder / "history.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    (best,) = [row for row in rows if int(row["epoch"]) + 1 == metrics["best_epoch"]]
    validation = {k: float(v) for k, v in best.items() if k.startswith("val_") and v}
    examples = CHECK_EXAMPLES[recipe.task]
    engines = {engine: load(folder, engine) for engine in ("keras", "onnx")}
    check = {engine: model.evaluate(limit=examples, data_dir=data_dir) for engine, model in engines.items()}
    export_manifest = json.loads((folder / "export" / runtime.MANIFEST).read_text("utf-8"))
    return {
        "name": name,
        "description": recipe.description,
        "notes": recipe_notes(recipe.name) if recipe.name in list_recipes() else "",
        "recipe": recipe.name,
        "model": recipe.model,
        "task": recipe.task,
        "data": recipe.data,
        "model_options": config["model_options"],
        "metrics": metrics,
        "validation": validation,
        "check": {"examples": examples, "tolerance": CHECK_TOLERANCE, **check},
        "samples": _samples(engines["onnx"], recipe),
        "training": {
            "backend": config["backend"], "seed": config["seed"], "epochs": metrics["epochs"],
            "best_epoch": metrics["best_epoch"], "seconds": metrics.get("train_seconds_last_session"),
            "machine": machine(), "versions": config.get("versions", {}),
            "command": f"zoo --backend {config['backend']} train {recipe.name} --seed {config['seed']} "
                       f"--out runs/{recipe.name}",
        },
        "ship_command": f"zoo ship runs/{recipe.name}",
        "export": {"formats": export_manifest["formats"], "verification": export_manifest["verification"]},
        "size_bytes": sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()),
    }


def _samples(model: InferenceModel, recipe) -> list:
    """A few outputs of the shipped model, for its card."""
    if model.task == "classification":
        from zoo.data import images

        d = recipe.data
        splits = images.load_image_rows(d["dataset"], source=d.get("source", "idx"), seed=model.seed,
                                        validation_size=d.get("validation_size", 5000))
        names, probabilities = model.classify(splits.x_test[:8])
        return [{"input": f"test image {i}", "label": model.classes[int(splits.y_test[i])], "predicted": name,
                 "probability": round(float(row.max()), 4)} for i, (name, row) in enumerate(zip(names, probabilities))]
    if model.task == "language_model":
        prompt = recipe.data.get("sample_prompt") or model.vocab.chars[0]
        return [{"prompt": prompt, "temperature": t, "seed": 0, "text": prompt + model.generate(prompt, 300,
                 temperature=t, seed=0)} for t in (0.5, 0.8)]
    from zoo.data.generated import FIRST_SUMS, WORD_PAIRS

    sources = FIRST_SUMS if recipe.data["task"] == "addition" else [s for s, _ in WORD_PAIRS]
    return [{"source": s, "translation": t} for s, t in zip(sources, model.translate(sources))]


def machine() -> str:
    """The CPU and core count of this machine, in words."""
    model = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, no GPU" if not _has_gpu() else f"{model}, {os.cpu_count()} cores, GPU"


def _has_gpu() -> bool:
    return pathlib.Path("/dev/nvidia0").exists()


def headline(card: dict) -> tuple[str, float]:
    """The metric `zoo list` shows for a shipped model: its name and value."""
    metrics = card["metrics"]
    wanted = {"classification": ["test_accuracy"], "language_model": ["test_loss"],
              "seq2seq": ["test_exact_match", "train_exact_match"]}.get(card.get("task"), [])
    for name in wanted:
        if name in metrics:
            return name, metrics[name]
    raise ZooError(f"{card.get('name')}: no headline metric in its card")
