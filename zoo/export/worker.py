"""The export worker (under TensorFlow): build every artifact in a staging folder beside
``--out``, verify it, and publish it whole, only while the ``zoo export`` that started it
lives. Started as ``python -m zoo.export RUN_DIR OUT FORMATS TOLERANCE [DATA_DIR]``."""

from __future__ import annotations

import os
import pathlib
import sys

import numpy as np

from zoo import formats as export_formats
from zoo import manifest as manifests
from zoo import runs, storage
from zoo.compat import library_logs
from zoo.errors import ZooError, first_line, report
from zoo.export import PARENT_PID
from zoo.export.verify import REFERENCE, random_inputs, read_reference, verify


def export(run_dir: str, out: str, formats: str, tolerance: str, data_dir: str | None = None) -> None:
    import keras

    from zoo.environment import library_versions
    from zoo.inference import KerasInference
    from zoo.tasks import get_task
    from zoo.tasks.base import artifact_models

    assert keras.backend.backend() == "tensorflow", "the export worker runs under TensorFlow"
    run_dir, out = pathlib.Path(run_dir).resolve(), pathlib.Path(out).resolve()
    formats = export_formats.parse_formats(formats)
    recipe, model, vocab, config = runs.load_run(run_dir)
    task = get_task(recipe.task)
    classes = runs.load_classes(run_dir)
    keras_model = KerasInference(task.name, artifact_models(recipe.model, model), vocab=vocab, classes=classes,
                                 data_config=recipe.data, seed=config["seed"], origin=str(run_dir))
    reference = read_reference(run_dir / REFERENCE)
    try:  # the data makes the check stronger (the metric), but an export does not need it
        examples = task.examples(recipe.data, seed=config["seed"], data_dir=data_dir or config.get("data_dir"),
                                 vocab=vocab)
        data_note = "present: the task metric was recomputed through every artifact"
    except ZooError as error:
        if data_dir and pathlib.Path(data_dir).exists():  # the user named this data: it must load
            raise ZooError(f"--data-dir {data_dir}: {first_line(error)}; nothing was published") from None
        if reference is None:
            raise ZooError(f"{run_dir}: no {REFERENCE} and the data cannot be loaded ({error}); "
                           f"nothing to verify the export against") from None
        examples, data_note = None, f"absent ({error}); verified on {REFERENCE} only"
        print(f"zoo: warning: test data not found ({first_line(error)}); the metric was not recomputed, the "
              f"export is verified on {REFERENCE} only", file=sys.stderr)
    with storage.staging(out) as staging:
        artifacts = {}
        for name, named in keras_model.models.items():
            named.run(random_inputs(named, keras_model, np.random.default_rng(0), 2))  # built and called
            artifacts[name] = manifests.io_spec(named)
            for fmt in formats:
                export_formats.write(fmt, named, staging / export_formats.get_format(fmt).path(name))
        manifest = {
            "format_version": manifests.FORMAT_VERSION,
            "task": task.name,
            "model": recipe.model,
            "recipe": recipe.name,
            "source_run": str(run_dir),
            "training_backend": config["backend"],
            "formats": list(formats),
            "artifacts": artifacts,
            "vocab": None if vocab is None else vocab.to_json(),
            "classes": classes,
            # What `evaluate` needs to rebuild the test split without the run folder.
            "data": recipe.data,
            "seed": config["seed"],
            "decoding": keras_model.decoding,
            "metrics": runs.read_json(run_dir / runs.METRICS),
            "versions": {"training": config.get("versions", {}),
                         "export": {**library_versions(), **export_formats.versions(formats)}},
        }
        for fmt in formats:  # each file says what it is, for a client handed it alone
            for name in artifacts:
                export_formats.describe(fmt, staging / export_formats.get_format(fmt).path(name),
                                        manifests.artifact_metadata(manifest, name))
        manifests.write(staging, manifest)
        manifest["verification"] = verify(staging, keras_model, examples, formats, reference=reference,
                                          tolerance=float(tolerance))
        manifest["verification"]["data"] = data_note
        manifests.write(staging, manifest)
        if os.environ.get(PARENT_PID) not in (None, str(os.getppid())):
            raise ZooError("zoo export was stopped; nothing was published")
        storage.publish_dir(staging, out)
    checks = manifest["verification"]
    for fmt, diffs in checks["max_abs_diff"].items():
        print(f"{fmt:<12}" + "  ".join(f"{a}: {d:.2e}" for a, d in diffs.items()))
    for fmt, values in (checks["metric"] or {"artifacts": {}})["artifacts"].items():
        name = checks["metric"]["name"]
        print(f"{fmt:<12}{name}: {values:.6f} (keras {checks['metric']['keras']:.6f})")
    for fmt, cost in checks.get("int8", {}).items():
        print(f"{fmt:<12}{cost['name']}: {cost['int8']:.6f} (float32 {cost['float32']:.6f}; cost {cost['cost']:+.6f}, "
              f"budget {cost['budget']:g})")
    print(f"exported {run_dir.name} to {out}")


def main(argv) -> None:
    """The worker's entry: one-line errors and exit code 2, as in ``zoo``'s own entry. Its
    TensorFlow loads quietly, as in ``zoo``, and the warnings a user cannot act on (loading a
    run's optimizer, tf2onnx's numpy probe) are hidden."""
    library_logs.quiet_tensorflow_import()
    library_logs.ignore_warnings(library_logs.OPTIMIZER_NOT_LOADED, library_logs.NP_OBJECT_PROBE)
    try:
        export(*argv)
    except (ZooError, KeyboardInterrupt) as error:
        sys.exit(report(error))
