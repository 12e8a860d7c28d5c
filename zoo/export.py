"""Exporting a run folder as .keras, SavedModel and ONNX artifacts, verified before publishing.

Keras 3.15 writes SavedModel from TensorFlow and JAX only and ONNX from TensorFlow and
torch (JAX needs jax2onnx), so the export always runs under the TensorFlow backend: in a
subprocess that reloads the run's backend-independent ``model.keras``. That subprocess also
hides GPUs, so a model trained with cuDNN kernels is traced with the portable kernels
(tf2onnx cannot convert ``CudnnRNNV3``).

Besides the full model, generation needs step models: a char_lm exports ``step`` (token
and LSTM states in, logits and new states out); a seq2seq model exports ``encoder`` and
``decoder_step``. Every artifact is compared with the Keras model before the export is
renamed into place; a failed check publishes nothing and leaves the previous export intact.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from zoo import storage
from zoo.errors import ReportedError, ZooError

FORMATS = ("keras", "savedmodel", "onnx")
# Largest absolute difference allowed between Keras and an artifact (``--tolerance``).
TOLERANCE = 1e-5
# Plus this much of |expected| (as in numpy.allclose): float32 spacing at a logit of 35 is
# 3.8e-6, and a confident seq2seq model's ONNX logits differ from Keras's by 4 such ulps.
RELATIVE_TOLERANCE = 1e-6
METRIC_TOLERANCE = 1e-3
REFERENCE = "reference.npz"  # in a run folder: a few test inputs and the training backend's logits
_CHILD_FLAG = "ZOO_EXPORT_WORKER"
_PARENT_PID = "ZOO_EXPORT_PARENT"  # the worker publishes only while this process lives


class ExportFailed(ZooError):
    """An export whose verification failed; nothing was published."""


def parse_formats(text: str) -> tuple[str, ...]:
    formats = tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ZooError(f"--format {text!r}: expected a comma-separated subset of {','.join(FORMATS)}")
    return formats


def export_run(run_dir, *, formats=FORMATS, out=None, data_dir=None, tolerance=TOLERANCE) -> pathlib.Path:
    """Export `run_dir` into `out` (default ``RUN_DIR/export``) through a TensorFlow subprocess.

    `out` must be absent, empty, or an earlier export (it has a manifest): nothing else is
    ever replaced. The export is built in a staging folder beside `out` and swapped in whole.
    """
    from zoo.runtime import MANIFEST

    run_dir = pathlib.Path(run_dir)
    out = pathlib.Path(out) if out else run_dir / "export"
    for name in ("model.keras", "config.json"):
        if not (run_dir / name).is_file():
            raise ZooError(f"{run_dir}: not a finished run folder (missing {name})")
    if out.is_symlink() or out.exists() and not out.is_dir():
        raise ZooError(f"--out {out}: expected a folder for the export, found a file")
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise ZooError(f"--out {out}: the folder holds files that are not a zoo export (no {MANIFEST}); "
                       f"choose an absent or empty folder, or an earlier export")
    if run_dir.resolve().is_relative_to(out.resolve()):
        raise ZooError(f"--out {out}: the run folder {run_dir} lies inside it; choose another folder")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ZooError(f"--out {out}: cannot create its parent folder ({error.strerror})") from None
    env = dict(os.environ, KERAS_BACKEND="tensorflow", CUDA_VISIBLE_DEVICES="-1",
               **{_CHILD_FLAG: "1", _PARENT_PID: str(os.getpid())})
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    cmd = [sys.executable, "-m", "zoo.export", str(run_dir), str(out), ",".join(formats), repr(float(tolerance))]
    if data_dir:
        cmd.append(str(data_dir))
    with storage.folder_lock(out, "export folder"):
        # Leftovers of killed exports into `out`; holding the lock, none of them is in use.
        for kind in ("staging", "trash"):
            storage.remove_stale(out.parent, f".{out.name}.{kind}-")
        code = subprocess.call(cmd, env=env, preexec_fn=_die_with_parent)
    if code != 0:  # the worker printed its one-line reason
        raise ReportedError(code)
    return out


def _die_with_parent() -> None:
    """In the worker, before it starts: the kernel kills it when `zoo export` dies (Linux), so
    a killed export never publishes later behind the user's back."""
    import ctypes
    import ctypes.util
    import signal

    pr_set_pdeathsig = 1
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        ctypes.CDLL(libc_name).prctl(pr_set_pdeathsig, signal.SIGKILL)


# ---------------------------------------------------------------------- the worker (TensorFlow)
def _worker(run_dir: str, out: str, formats: str, tolerance: str, data_dir: str | None = None) -> None:
    import keras

    from zoo import runtime
    from zoo.tasks import TASKS, decoding_options
    from zoo.training import library_versions, load_run

    assert keras.backend.backend() == "tensorflow", "the export worker runs under TensorFlow"
    run_dir, out = pathlib.Path(run_dir).resolve(), pathlib.Path(out).resolve()
    recipe, model, vocab, config = load_run(run_dir)
    models = inference_models(recipe.task, model)
    reference = _read_reference(run_dir / REFERENCE)
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
        for name, artifact_model in models.items():
            outputs = output_names(name, artifact_model)
            artifact_model(_random_inputs(artifact_model, vocab, np.random.default_rng(0), 2))  # built and called
            artifacts[name] = io_spec(artifact_model, outputs)
            for fmt in parse_formats(formats):
                _write(fmt, artifact_model, staging / runtime.artifact_path(name, fmt), outputs)
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
            "decoding": decoding_options(recipe.data) if recipe.task == "seq2seq" else None,
            "metrics": _read_json(run_dir / "metrics.json"),
            "versions": {"training": config.get("versions", {}), "export": _export_versions(library_versions())},
        }
        _write_manifest(staging, manifest)
        manifest["verification"] = verify(staging, models, real_x, recipe, vocab, data=data, reference=reference,
                                          tolerance=float(tolerance))
        manifest["verification"]["data"] = data_note
        _write_manifest(staging, manifest)
        if os.environ.get(_PARENT_PID) not in (None, str(os.getppid())):
            raise ZooError("zoo export was stopped; nothing was published")
        storage.publish_dir(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report = manifest["verification"]
    for fmt, diffs in report["max_abs_diff"].items():
        print(f"{fmt:<11}" + "  ".join(f"{a}: {d:.2e}" for a, d in diffs.items()))
    for fmt, value in (report["metric"] or {"artifacts": {}})["artifacts"].items():
        print(f"{fmt:<11}{report['metric']['name']}: {value:.6f} (keras {report['metric']['keras']:.6f})")
    print(f"exported {run_dir.name} to {out}")


def inference_models(task: str, model) -> dict:
    """The Keras models an export holds: the full model and, for generation, its step models."""
    from zoo.models import char_lm, seq2seq

    if task == "language_model":
        return {"model": model, "step": char_lm.build_step_model(model)}
    if task == "seq2seq":
        return {"model": model, "encoder": seq2seq.build_encoder_model(model),
                "decoder_step": seq2seq.build_decoder_step_model(model)}
    return {"model": model}


def output_names(artifact: str, model) -> list[str]:
    """Readable output names: logits, then next_state_* for the states a step returns."""
    inputs = [i.name for i in model.inputs]
    if artifact == "encoder":
        return [f"state_{kind}_{i}" for i in range(1, len(model.outputs) // 2 + 1) for kind in "hc"]
    if artifact in ("step", "decoder_step"):
        return ["logits", *(f"next_{name}" for name in inputs[1:])]
    return ["logits"]


def io_spec(model, outputs: list[str]) -> dict:
    def describe(name, tensor):
        return {"name": name, "shape": [None if d is None else int(d) for d in tensor.shape],
                "dtype": str(tensor.dtype).replace("tf.", "")}

    return {"inputs": [describe(i.name, i) for i in model.inputs],
            "outputs": [describe(n, o) for n, o in zip(outputs, model.outputs)]}


def _write(fmt: str, model, path: pathlib.Path, outputs: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "keras":
        model.save(path)
    elif fmt == "savedmodel":
        _write_savedmodel(model, path, outputs)
    else:
        _write_onnx(model, path, outputs)


def _write_savedmodel(model, path, outputs) -> None:
    """A SavedModel whose serving signature has named inputs and outputs, dynamic batch."""
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    specs = [tf.TensorSpec(i.shape, i.dtype, name=i.name) for i in model.inputs]

    def serve(*args):
        result = model(list(args) if len(args) > 1 else args[0], training=False)
        result = result if isinstance(result, (list, tuple)) else [result]
        return dict(zip(outputs, result))

    archive.add_endpoint("serve", serve, input_signature=specs)
    archive.write_out(str(path), verbose=False)


def _write_onnx(model, path, outputs) -> None:
    """ONNX through keras (tf2onnx), then the graph outputs renamed to `outputs`."""
    import onnx

    model.export(str(path), format="onnx", verbose=False)
    graph_model = onnx.load(str(path))
    graph = graph_model.graph
    renames = {o.name: new for o, new in zip(graph.output, outputs)}
    for node in graph.node:
        node.output[:] = [renames.get(n, n) for n in node.output]
        node.input[:] = [renames.get(n, n) for n in node.input]
    for o in graph.output:
        o.name = renames[o.name]
    onnx.checker.check_model(graph_model)
    onnx.save(graph_model, str(path))


def _write_manifest(staging: pathlib.Path, manifest: dict) -> None:
    from zoo.runtime import MANIFEST, sha256_file

    manifest["files"] = {str(p.relative_to(staging)): sha256_file(p) for p in sorted(staging.rglob("*"))
                         if p.is_file() and p.name != MANIFEST}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), "utf-8")


def _read_json(path):
    return json.loads(pathlib.Path(path).read_text()) if pathlib.Path(path).is_file() else None


def _export_versions(versions: dict) -> dict:
    import onnx
    import onnxruntime
    import tf2onnx

    return {**versions, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "tf2onnx": tf2onnx.__version__}


# ---------------------------------------------------------------------- verification
def _rows(array, batch):
    """`batch` rows of `array`, repeating it when it has fewer."""
    return np.take(array, np.arange(batch) % len(array), axis=0)


def _random_inputs(model, vocab, rng, batch, time_steps=7):
    arrays = []
    for tensor in model.inputs:
        shape = [batch] + [time_steps if d is None else int(d) for d in tensor.shape[1:]]
        if "int" in str(tensor.dtype):
            arrays.append(rng.integers(0, len(vocab), size=shape).astype("int32"))
        elif tensor.name.startswith("state_"):
            arrays.append((0.5 * rng.standard_normal(shape)).astype("float32"))
        else:
            arrays.append(rng.random(shape, dtype=np.float32))
    return arrays if len(arrays) > 1 else arrays[0]


def _real_inputs(artifact, models, x, batch):
    """Inputs for each artifact from real examples `x` (the full model's inputs)."""
    from zoo.models.recurrent_state import to_numpy

    if artifact == "model":
        return [_rows(a, batch) for a in x] if isinstance(x, list) else _rows(x, batch)
    if artifact == "encoder":
        return _rows(x[0], batch)
    if artifact == "decoder_step":
        source, decoder_in = _rows(x[0], batch), _rows(x[1], batch)
        return [decoder_in[:, :1], *to_numpy(models["encoder"](source))]
    tokens = _rows(x, batch)[:, :1]  # step: the first character of real windows, zero states
    units = [int(t.shape[-1]) for t in models[artifact].inputs[1:]]
    return [tokens, *(np.zeros((batch, u), "float32") for u in units)]


def _read_reference(path):
    """The run's reference batch (inputs and the training backend's logits), or None."""
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as saved:
        inputs = [saved[k] for k in sorted(saved.files) if k.startswith("input_")]
        return {"inputs": inputs if len(inputs) > 1 else inputs[0], "logits": saved["logits"]}


def _mismatch(got, expected, tolerance) -> str | None:
    """Why outputs `got` differ from `expected` (count, shapes, values), or None."""
    if len(got) != len(expected):
        return f"{len(got)} outputs, expected {len(expected)}"
    for index, (g, e) in enumerate(zip(got, expected)):
        if np.shape(g) != np.shape(e):
            return f"output {index} has shape {np.shape(g)}, expected {np.shape(e)}"
        if not np.allclose(g, e, rtol=RELATIVE_TOLERANCE, atol=tolerance):
            return (f"max abs diff {float(np.max(np.abs(g - e))):.2e} exceeds {tolerance} + "
                    f"{RELATIVE_TOLERANCE} x |expected|")
    return None


def verify(staging, models, real_x, recipe, vocab, *, data=None, reference=None, tolerance=TOLERANCE) -> dict:
    """Compare every artifact with the Keras model (and the full model with the training
    backend's reference batch); raise ExportFailed on any difference."""
    import keras

    from zoo import generate, runtime
    from zoo.models.recurrent_state import to_numpy

    engines = {fmt: runtime.ExportedModel(staging, fmt) for fmt in runtime.ENGINES
               if (staging / fmt).exists()}
    reloaded = {}
    if (staging / "keras").exists():
        reloaded = {name: keras.saving.load_model(staging / runtime.artifact_path(name, "keras"), safe_mode=True)
                    for name in models}
    rng = np.random.default_rng(1)
    report = {"tolerance": {"absolute": tolerance, "relative": RELATIVE_TOLERANCE}, "max_abs_diff": {}, "metric": None,
              "generation": {}, "training_backend": None}
    failures = []
    for name, model in models.items():
        for batch in (1, 32):
            for kind, x in (("random", _random_inputs(model, vocab, rng, batch)),
                            ("real", _real_inputs(name, models, real_x, batch))):
                arrays = x if isinstance(x, list) else [x]
                expected = to_numpy(model(x, training=False))
                candidates = {fmt: engine.run(name, arrays) for fmt, engine in engines.items()}
                if reloaded:
                    candidates["keras"] = to_numpy(reloaded[name](x, training=False))
                for fmt, got in candidates.items():
                    problem = _mismatch(got, expected, tolerance)
                    if problem is None or "max abs diff" in problem:
                        diff = max(float(np.max(np.abs(g - e))) for g, e in zip(got, expected))
                        slot = report["max_abs_diff"].setdefault(fmt, {})
                        slot[name] = max(slot.get(name, 0.0), diff)
                    if problem:
                        failures.append(f"{fmt} {name} ({kind}, batch {batch}): {problem}")
    if reference is not None:  # the model as the training backend computed it, before any reload
        outputs = {"keras (tensorflow)": to_numpy(models["model"](reference["inputs"], training=False))}
        x = reference["inputs"] if isinstance(reference["inputs"], list) else [reference["inputs"]]
        outputs.update({fmt: engine.run("model", x) for fmt, engine in engines.items()})
        report["training_backend"] = {}
        for fmt, got in outputs.items():
            problem = _mismatch(got, [reference["logits"]], tolerance)
            if problem is None or "max abs diff" in problem:
                report["training_backend"][fmt] = float(np.max(np.abs(got[0] - reference["logits"])))
            if problem:
                failures.append(f"{fmt} model vs the training backend's {REFERENCE}: {problem}")
    if data is not None:
        report["metric"] = _metric_report(engines, models, data, recipe, vocab, failures)
    if recipe.task == "language_model":
        from zoo.models import char_lm

        # Ten characters of a real window (skipping <unk>: a prompt must be in the vocabulary).
        prompt = vocab.decode([i for i in real_x[0] if i != vocab.unknown_id][:10])
        step, initial = char_lm.step_function(models["model"])
        expected = generate.continue_text(step, initial(1), vocab, prompt, 200, temperature=0)
        for fmt, engine in engines.items():
            same = engine.generate_text(prompt, 200, temperature=0) == expected
            report["generation"][fmt] = {"greedy_200_identical": same}
            if not same:
                failures.append(f"{fmt}: 200 greedy characters differ from Keras's")
    if failures:
        more = f" (and {len(failures) - 3} more)" if len(failures) > 3 else ""
        raise ExportFailed("verification failed: " + "; ".join(failures[:3]) + more + "; nothing was published")
    return report


def _metric_report(engines, models, data, recipe, vocab, failures) -> dict:
    """The task metric on the test data through Keras and through each artifact."""
    from zoo.tasks import exact_match

    if recipe.task == "seq2seq":
        keras_value, _ = exact_match(models["model"], vocab, data.test_pairs, recipe.data)
        sources = [s for s, _ in data.test_pairs]
        targets = [t for _, t in data.test_pairs]
        values = {fmt: float(np.mean([p == t for p, t in zip(engine.translate(sources), targets)]))
                  for fmt, engine in engines.items()}
        name = f"{data.evaluation_split}_exact_match"
    else:
        x, y = data.test
        keras_logits = models["model"].predict(x, batch_size=256, verbose=0)
        score = _accuracy if recipe.task == "classification" else _cross_entropy
        keras_value = score(keras_logits, y)
        values = {fmt: score(np.concatenate([engine.run("model", [x[i : i + 256]])[0]
                                             for i in range(0, len(x), 256)]), y)
                  for fmt, engine in engines.items()}
        # An export's model starts every window from zero states: for a language model
        # evaluated with carried states that is a different number from its test_loss.
        name = "test_accuracy" if recipe.task == "classification" else "test_loss" if not data.streams else "test_window_loss"
    for fmt, value in values.items():
        if abs(value - keras_value) > METRIC_TOLERANCE:
            failures.append(f"{fmt}: {name} {value:.6f} differs from Keras's {keras_value:.6f}")
    return {"name": name, "keras": keras_value, "artifacts": values, "tolerance": METRIC_TOLERANCE}


def _accuracy(logits, y) -> float:
    return float(np.mean(np.argmax(logits, -1) == y))


def _cross_entropy(logits, y) -> float:
    z = logits.astype(np.float64)
    z = z - z.max(-1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return float(-np.mean(np.take_along_axis(log_probs, y[..., None], -1)))


if __name__ == "__main__":
    # The subprocess started by export_run: ``python -m zoo.export RUN_DIR OUT FORMATS [DATA_DIR]``.
    from zoo.cli import run_export_worker

    run_export_worker(_worker, sys.argv[1:])
