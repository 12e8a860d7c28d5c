"""Checking every artifact of an export against the Keras model before it is published:
random and real inputs at batch 1 and 32, the training backend's reference batch, the task
metric through each engine, and for language models 200 greedy characters."""

from __future__ import annotations

import numpy as np

from zoo import generate
from zoo.errors import ZooError
from zoo.export import TOLERANCE

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


def random_inputs(named, vocab, rng, batch, time_steps=7) -> dict:
    """Random inputs for a NamedModel, by name: token ids, states around 0, pixels in [0, 1)."""
    inputs = {}
    for name, tensor in zip(named.input_names, named.model.inputs):
        shape = [batch] + [time_steps if d is None else int(d) for d in tensor.shape[1:]]
        if "int" in str(tensor.dtype):
            inputs[name] = rng.integers(0, len(vocab), size=shape).astype("int32")
        elif name.startswith("state_"):
            inputs[name] = (0.5 * rng.standard_normal(shape)).astype("float32")
        else:
            inputs[name] = rng.random(shape, dtype=np.float32)
    return inputs


def _real_inputs(artifact, models, x, batch) -> dict:
    """Inputs for each artifact from real examples `x` (the full model's inputs), by name."""
    real = {name: _rows(a, batch) for name, a in _by_name(models["model"], x).items()}
    if artifact == "model":
        return real
    named = models[artifact]
    first, last = next(iter(real.values())), list(real.values())[-1]
    if artifact == "encoder":
        return {named.input_names[0]: first}
    # A step: the first token of real sequences (the decoder's for seq2seq), and the states
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


def verify(staging, models, real_x, recipe, vocab, *, data=None, reference=None, tolerance=TOLERANCE) -> dict:
    """Compare every artifact with the Keras model (and the full model with the training
    backend's reference batch); raise ExportFailed on any difference."""
    import keras

    from zoo import runtime
    from zoo.models.recurrent_state import NamedModel

    engines = {fmt: runtime.ExportedModel(staging, fmt) for fmt in runtime.ENGINES
               if (staging / fmt).exists()}
    reloaded = {}
    if (staging / "keras").exists():
        reloaded = {name: NamedModel(keras.saving.load_model(staging / runtime.artifact_path(name, "keras"),
                                                             safe_mode=True), named.output_names)
                    for name, named in models.items()}
    rng = np.random.default_rng(1)
    report = {"tolerance": {"absolute": tolerance, "relative": RELATIVE_TOLERANCE}, "max_abs_diff": {}, "metric": None,
              "generation": {}, "training_backend": None}
    failures = []
    for name, named in models.items():
        for batch in (1, 32):
            for kind, inputs in (("random", random_inputs(named, vocab, rng, batch)),
                                 ("real", _real_inputs(name, models, real_x, batch))):
                expected = named.run(inputs)
                candidates = {fmt: engine.run(name, inputs) for fmt, engine in engines.items()}
                if reloaded:
                    candidates["keras"] = reloaded[name].run(inputs)
                for fmt, got in candidates.items():
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
    if data is not None:
        report["metric"] = _metric_report(engines, models, data, recipe, vocab, failures)
    if "step" in models:
        # Ten characters of a real window (skipping <unk>: a prompt must be in the vocabulary).
        prompt = vocab.decode([i for i in real_x[0] if i != vocab.unknown_id][:10])
        step = models["step"]
        (expected,) = generate.continue_texts(step.step_function(), step.zero_states(1), vocab, [prompt], 200,
                                              temperature=0)
        for fmt, engine in engines.items():
            same = engine.generate(prompt, 200, temperature=0) == expected
            report["generation"][fmt] = {"greedy_200_identical": same}
            if not same:
                failures.append(f"{fmt}: 200 greedy characters differ from Keras's")
    if failures:
        more = f" (and {len(failures) - 3} more)" if len(failures) > 3 else ""
        raise ExportFailed("verification failed: " + "; ".join(failures[:3]) + more + "; nothing was published")
    return report


def _metric_report(engines, models, data, recipe, vocab, failures) -> dict:
    """The task metric on the evaluation data through Keras and through each artifact."""
    from zoo.tasks.seq2seq import exact_match

    if recipe.task == "seq2seq":
        keras_value, _ = exact_match(recipe.model, models["model"].model, vocab, data.test_pairs, recipe.data)
        sources = [s for s, _ in data.test_pairs]
        targets = [t for _, t in data.test_pairs]
        values = {fmt: float(np.mean([p == t for p, t in zip(engine.translate(sources), targets)]))
                  for fmt, engine in engines.items()}
        name = f"{data.evaluation_split}_exact_match"
    else:
        x, y = data.test
        batches = [_by_name(models["model"], [a[i : i + 256] for a in (x if isinstance(x, list) else [x])])
                   for i in range(0, len(y), 256)]

        def logits(run):
            return np.concatenate([run(inputs)[generate.LOGITS] for inputs in batches])

        score = _accuracy if recipe.task == "classification" else generate.cross_entropy
        keras_value = score(logits(models["model"].run), y)
        values = {fmt: score(logits(lambda inputs, e=engine: e.run("model", inputs)), y) for fmt, engine in engines.items()}
        # An export's model starts every window from zero states: for a language model
        # evaluated with carried states that is a different number from its test_loss.
        name = "test_accuracy" if recipe.task == "classification" else "test_loss" if not data.streams else "test_window_loss"
    for fmt, value in values.items():
        if abs(value - keras_value) > METRIC_TOLERANCE:
            failures.append(f"{fmt}: {name} {value:.6f} differs from Keras's {keras_value:.6f}")
    return {"name": name, "keras": keras_value, "artifacts": values, "tolerance": METRIC_TOLERANCE}


def _accuracy(logits, y) -> float:
    return float(np.mean(np.argmax(logits, -1) == y))
