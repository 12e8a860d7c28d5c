"""Checking every artifact of an export against the Keras model before it is published:
random and real inputs at batch 1 and 32 in every format, the training backend's reference
batch, the task metric through each Keras-free engine (the task's own :meth:`measure`), and
the task's own checks (a language model's 200 greedy characters)."""

from __future__ import annotations

import numpy as np

from zoo import formats, generate
from zoo.errors import ZooError

# Largest absolute difference allowed between Keras and an artifact (``--tolerance``).
TOLERANCE = 1e-5
# Plus this much of |expected| (as in numpy.allclose): float32 spacing at a logit of 35 is
# 3.8e-6, and a confident seq2seq model's ONNX logits differ from Keras's by 4 such ulps.
RELATIVE_TOLERANCE = 1e-6
METRIC_TOLERANCE = 1e-3
REFERENCE = "reference.npz"  # in a run folder: a few test inputs and the training backend's logits


class ExportFailed(ZooError):
    """An export whose verification failed; nothing was published."""


def _rows(array, batch):
    """`batch` rows of `array`, repeating it when it has fewer."""
    return np.take(array, np.arange(batch) % len(array), axis=0)


def _by_name(named, x) -> dict:
    """The full model's inputs `x` (an array, or a list in input order) keyed by name."""
    arrays = x if isinstance(x, (list, tuple)) else [x]
    return dict(zip(named.input_names, arrays))


def random_inputs(named, keras_model, rng, batch, time_steps=7) -> dict:
    """Random inputs for a NamedModel of InferenceModel `keras_model`, by name: ids (tokens of
    its vocabulary, or its classes), states around 0, values in [0, 1)."""
    ids = len(keras_model.vocab) if keras_model.vocab is not None else len(keras_model.classes or [None])
    inputs = {}
    for name, tensor in zip(named.input_names, named.model.inputs):
        shape = [batch] + [time_steps if d is None else int(d) for d in tensor.shape[1:]]
        if "int" in str(tensor.dtype):
            inputs[name] = rng.integers(0, ids, size=shape).astype("int32")
        elif name.startswith("state_"):
            inputs[name] = (0.5 * rng.standard_normal(shape)).astype("float32")
        else:
            inputs[name] = rng.random(shape, dtype=np.float32)
    return inputs


def _real_inputs(artifact, models, x, batch) -> dict | None:
    """Inputs for each artifact from real examples `x` (the full model's inputs), by name;
    None for an artifact whose inputs another step's outputs make (a generator's
    ``pixel_step`` reads the row step's features): random inputs check it, and the task's
    seeded drawings check it in use."""
    real = {name: _rows(a, batch) for name, a in _by_name(models["model"], x).items()}
    if artifact == "model":
        return real
    if artifact not in ("encoder", "step", "decoder_step"):
        return None
    named = models[artifact]
    first, last = next(iter(real.values())), list(real.values())[-1]
    if artifact == "encoder":
        return {named.input_names[0]: first}
    # A step: the first step of real sequences (the decoder's for seq2seq), and the states
    # the encoder gives for those sources, or zero states.
    states = models["encoder"].run({models["encoder"].input_names[0]: first}) if "encoder" in models \
        else named.zero_states(batch)
    return {generate.TOKEN: last[:, :1], **states}


def read_reference(path):
    """The run's reference batch (inputs and the training backend's logits), or None."""
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as saved:
        inputs = [saved[k] for k in sorted(saved.files) if k.startswith("input_")]
        return {"inputs": inputs if len(inputs) > 1 else inputs[0], "logits": saved["logits"]}


def _mismatch(got: dict, expected: dict, tolerance) -> str | None:
    """Why outputs `got` differ from `expected` (names, shapes, values), or None."""
    if sorted(got) != sorted(expected):
        return f"outputs {', '.join(sorted(got))}, expected {', '.join(sorted(expected))}"
    for name, e in expected.items():
        g = got[name]
        if np.shape(g) != np.shape(e):
            return f"output {name} has shape {np.shape(g)}, expected {np.shape(e)}"
        if not np.allclose(g, e, rtol=RELATIVE_TOLERANCE, atol=tolerance):
            return (f"{name}: max abs diff {float(np.max(np.abs(g - e))):.2e} exceeds {tolerance} + "
                    f"{RELATIVE_TOLERANCE} x |expected|")
    return None


def _max_diff(got: dict, expected: dict) -> float:
    return max(float(np.max(np.abs(got[name] - e))) for name, e in expected.items())


def verify(staging, keras_model, examples, written, *, reference=None, tolerance=TOLERANCE) -> dict:
    """Compare every artifact of the formats `written` in `staging` with `keras_model` (a
    KerasInference); raise ExportFailed on any difference. `examples` (the task's evaluation
    examples, or None without the data) are scored by the task's metric through each engine."""
    from zoo.runtime import ExportedModel

    loaded = {fmt: ExportedModel(staging, fmt) for fmt in written}
    # int8 artifacts are judged by the task metric within the task's budget (below); the
    # others must give Keras's outputs.
    int8 = {fmt: model for fmt, model in loaded.items() if formats.get_format(fmt).int8_of}
    exported = {fmt: model for fmt, model in loaded.items() if fmt not in int8}
    engines = {fmt: model for fmt, model in exported.items() if formats.get_format(fmt).keras_free}
    models, task = keras_model.models, keras_model.task
    real_x = None if reference is None else reference["inputs"]
    rng = np.random.default_rng(1)
    report = {"tolerance": {"absolute": tolerance, "relative": RELATIVE_TOLERANCE}, "max_abs_diff": {}, "metric": None,
              "training_backend": None}
    failures = []
    for name, named in models.items():
        for batch in (1, 32):
            cases = [("random", random_inputs(named, keras_model, rng, batch))]
            real = None if real_x is None else _real_inputs(name, models, real_x, batch)
            if real is not None:
                cases.append(("real", real))
            for kind, inputs in cases:
                expected = named.run(inputs)
                for fmt, model in exported.items():
                    got = model.run(name, inputs)
                    problem = _mismatch(got, expected, tolerance)
                    if problem is None or "max abs diff" in problem:
                        slot = report["max_abs_diff"].setdefault(fmt, {})
                        slot[name] = max(slot.get(name, 0.0), _max_diff(got, expected))
                    if problem:
                        failures.append(f"{fmt} {name} ({kind}, batch {batch}): {problem}")
    if reference is not None:  # the model as the training backend computed it, before any reload
        inputs = _by_name(models["model"], reference["inputs"])
        outputs = {"keras (tensorflow)": models["model"].run(inputs)}
        outputs.update({fmt: engine.run("model", inputs) for fmt, engine in engines.items()})
        expected = {generate.LOGITS: reference["logits"]}
        report["training_backend"] = {}
        for fmt, got in outputs.items():
            problem = _mismatch(got, expected, tolerance)
            if problem is None or "max abs diff" in problem:
                report["training_backend"][fmt] = _max_diff(got, expected)
            if problem:
                failures.append(f"{fmt} model vs the training backend's {REFERENCE}: {problem}")
    keras_figures = None if examples is None else task.measure(keras_model, examples)
    if examples is not None:
        report["metric"] = _metric_report(task, keras_figures, engines, examples, failures)
    if int8:
        report["int8"] = _int8_report(task, keras_figures, int8, examples, failures)
    if real_x is not None:
        extra, problems = task.export_checks(keras_model, engines, real_x)
        report.update(extra)
        failures += problems
    if failures:
        more = f" (and {len(failures) - 3} more)" if len(failures) > 3 else ""
        raise ExportFailed("verification failed: " + "; ".join(failures[:3]) + more + "; nothing was published")
    return report


def _int8_report(task, expected, int8, examples, failures) -> dict:
    """Each int8 format's main figure on the evaluation examples against float32 Keras's
    (`expected`, the task's figures), and its cost against the task's budget (a failure
    beyond it)."""
    if examples is None:
        failures.append(f"{', '.join(int8)}: int8 artifacts are checked by the task metric, which needs the test data "
                        "(--data-dir)")
        return {}
    if task.int8_budget is None:
        failures.append(f"{', '.join(int8)}: the {task.name} task states no int8 quality budget")
        return {}
    name = next(iter(expected))
    report = {}
    for fmt, model in int8.items():
        value = task.measure(model, examples)[name]
        cost = task.int8_budget.loss(expected[name], value)
        report[fmt] = {"name": name, "float32": expected[name], "int8": value, "cost": cost,
                       "budget": task.int8_budget.max_loss, "examples": len(examples)}
        if cost > task.int8_budget.max_loss:
            failures.append(f"{fmt}: {name} {value:.6f} against float32's {expected[name]:.6f} loses {cost:.6f}, over "
                            f"the int8 budget of {task.int8_budget.max_loss:g}")
    return report


def _metric_report(task, expected, engines, examples, failures) -> dict:
    """The task metric on the evaluation examples through each engine against Keras's
    (`expected`, the task's figures): every figure of it within METRIC_TOLERANCE."""
    measured = {fmt: task.measure(engine, examples) for fmt, engine in engines.items()}
    for fmt, values in measured.items():
        for key, value in expected.items():
            if isinstance(value, float) and abs(values[key] - value) > METRIC_TOLERANCE:
                failures.append(f"{fmt}: {key} {values[key]:.6f} differs from Keras's {value:.6f}")
    name = next(iter(expected))  # a task's measure names its main figure first
    return {"name": name, "keras": expected[name], "artifacts": {fmt: v[name] for fmt, v in measured.items()},
            "tolerance": METRIC_TOLERANCE}
