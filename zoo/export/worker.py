"""The export worker (under TensorFlow): build every artifact in a staging folder beside
``--out``, verify it, and publish it whole, only while the ``zoo export`` that started it
lives. Started as ``python -m zoo.export RUN_DIR OUT FORMATS TOLERANCE [DATA_DIR]``."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import sys
import tempfile

import numpy as np

from zoo import storage
from zoo.data import generated
from zoo.errors import ZooError, report
from zoo.export import PARENT_PID, parse_formats
from zoo.export.verify import REFERENCE, random_inputs, read_reference, verify
from zoo.export.writers import io_spec, write, write_manifest


def export(run_dir: str, out: str, formats: str, tolerance: str, data_dir: str | None = None) -> None:
    import keras

    from zoo import runtime
    from zoo.tasks import TASKS
    from zoo.tasks.base import artifact_models
    from zoo.training import library_versions, load_classes, load_run

    assert keras.backend.backend() == "tensorflow", "the export worker runs under TensorFlow"
    run_dir, out = pathlib.Path(run_dir).resolve(), pathlib.Path(out).resolve()
    recipe, model, vocab, config = load_run(run_dir)
    models = artifact_models(recipe.model, model)
    reference = read_reference(run_dir / REFERENCE)
    try:  # the data makes the check stronger (the metric), but an export does not need it
        data = TASKS[recipe.task].prepare(recipe, seed=config["seed"], limit=config.get("limit"),
                                          data_dir=data_dir or config.get("data_dir"), batch_size=recipe.batch_size)
        data_note = "present: the task metric was recomputed through every artifact"
    except ZooError as error:
        if reference is None:
            raise ZooError(f"{run_dir}: no {REFERENCE} and the data cannot be loaded ({error}); "
                           f"nothing to verify the export against") from None
        data, data_note = None, f"absent ({error}); verified on {REFERENCE} only"
    real_x = data.test[0] if data is not None else reference["inputs"]
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the published export is readable as any folder
    try:
        artifacts = {}
        for name, named in models.items():
            named.run(random_inputs(named, vocab, np.random.default_rng(0), 2))  # built and called
            artifacts[name] = io_spec(named)
            for fmt in parse_formats(formats):
                write(fmt, named, staging / runtime.artifact_path(name, fmt))
        manifest = {
            "format_version": 1,
            "task": recipe.task,
            "model": recipe.model,
            "recipe": recipe.name,
            "source_run": str(run_dir),
            "training_backend": config["backend"],
            "formats": list(parse_formats(formats)),
            "artifacts": artifacts,
            "vocab": None if vocab is None else vocab.to_json(),
            "classes": load_classes(run_dir, recipe),
            # What `evaluate` needs to rebuild the test split without the run folder.
            "data": recipe.data,
            "seed": config["seed"],
            "decoding": generated.decoding_options(recipe.data) if recipe.task == "seq2seq" else None,
            "metrics": _read_json(run_dir / "metrics.json"),
            "versions": {"training": config.get("versions", {}), "export": _export_versions(library_versions())},
        }
        write_manifest(staging, manifest)
        manifest["verification"] = verify(staging, models, real_x, recipe, vocab, data=data, reference=reference,
                                          tolerance=float(tolerance))
        manifest["verification"]["data"] = data_note
        write_manifest(staging, manifest)
        if os.environ.get(PARENT_PID) not in (None, str(os.getppid())):
            raise ZooError("zoo export was stopped; nothing was published")
        storage.publish_dir(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    checks = manifest["verification"]
    for fmt, diffs in checks["max_abs_diff"].items():
        print(f"{fmt:<11}" + "  ".join(f"{a}: {d:.2e}" for a, d in diffs.items()))
    for fmt, value in (checks["metric"] or {"artifacts": {}})["artifacts"].items():
        print(f"{fmt:<11}{checks['metric']['name']}: {value:.6f} (keras {checks['metric']['keras']:.6f})")
    print(f"exported {run_dir.name} to {out}")


def _read_json(path):
    return json.loads(pathlib.Path(path).read_text()) if pathlib.Path(path).is_file() else None


def _export_versions(versions: dict) -> dict:
    import onnx
    import onnxruntime
    import tf2onnx

    return {**versions, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "tf2onnx": tf2onnx.__version__}


def main(argv) -> None:
    """The worker's entry: one-line errors and exit code 2, as in ``zoo``'s own entry."""
    try:
        export(*argv)
    except (ZooError, KeyboardInterrupt) as error:
        sys.exit(report(error))
