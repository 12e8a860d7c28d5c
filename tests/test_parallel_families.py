"""The recurrent families that train in parallel (min_gru, min_lstm, hawk): the scan equals a
loop, each recurrence computes its paper's equations, the parallel model equals its step
model (outputs, final states and gradients), windows with carried states equal the whole
sequence, long sequences stay finite, and an export verifies and generates as Keras does.
tests/test_models.py runs the generic checks on them too."""

import importlib
import json

import keras
import numpy as np
import pytest

from conftest import to_numpy
from zoo.models import parallel_rnn
from zoo.models.hawk import RGLRU
from zoo.models.min_gru import MinGRU
from zoo.models.min_lstm import MinLSTM
from zoo.registry import get_spec

FAMILIES = ["min_gru", "min_lstm", "hawk"]
BACKEND = keras.backend.backend()


def tiny(name, seed=0):
    keras.utils.set_random_seed(seed)
    spec = get_spec(name)
    return spec, spec.builder(**spec.resolve("tiny"))


def tokens(model, batch, time_steps, seed=0):
    vocab = model.get_layer("token_embedding").input_dim
    return np.random.default_rng(seed).integers(0, vocab, size=(batch, time_steps)).astype("int32")


def loop(a, b, h0):
    """h_t = a_t * h_{t-1} + b_t, one step at a time in float64: (batch, time, units)."""
    h, out = h0.astype("float64"), []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return np.stack(out, axis=1)


def scan_from(scan, a, b, h0):
    """h_t from h0 through `scan` (products and values from zero)."""
    products, from_zero = (to_numpy(c) for c in scan(keras.ops.convert_to_tensor(a), keras.ops.convert_to_tensor(b)))
    return from_zero + products * h0[:, None]


# ------------------------------------------------------------------------------ the scan
@pytest.mark.parametrize("length", [1, 2, 3, 6, 8, 37])
def test_the_scan_equals_a_loop(length):
    """This backend's scan, and the odd-even scan torch runs (in keras.ops, so here too)."""
    rng = np.random.default_rng(length)
    a = rng.uniform(0, 1, (2, length, 3)).astype("float32")
    b = rng.standard_normal((2, length, 3)).astype("float32")
    h0 = rng.standard_normal((2, 3)).astype("float32")
    for scan in (parallel_rnn.linear_scan, parallel_rnn._odd_even_scan):
        np.testing.assert_allclose(scan_from(scan, a, b, h0), loop(a, b, h0), atol=1e-5)


@pytest.mark.parametrize("length", [1, 2, 7, 37])
def test_the_recurrence_and_its_gradients_equal_a_loop(length):
    """What the layers run (on torch a loop with its own backward, elsewhere the scan): the
    values from a random h0, and the gradients of a weighted sum with respect to a, b and h0
    equal those of the loop in keras.ops, through this backend's autodiff."""
    rng = np.random.default_rng(length)
    a, b = rng.uniform(0, 1, (2, length, 3)), rng.standard_normal((2, length, 3))
    h0, weights = rng.standard_normal((2, 3)), rng.standard_normal((2, length, 3))
    a, b, h0 = (keras.ops.convert_to_tensor(c.astype("float32")) for c in (a, b, h0))
    np.testing.assert_allclose(to_numpy(parallel_rnn.linear_recurrence(a, b, h0)), loop(*map(to_numpy, (a, b, h0))),
                               atol=1e-5)
    sequential_recurrence.calls = 0
    for got, want in zip(gradients(parallel_rnn.linear_recurrence, weights, a, b, h0),
                         gradients(sequential_recurrence, weights, a, b, h0)):
        np.testing.assert_allclose(got, want, atol=1e-5)


def gradients(recurrence, weights, *inputs):
    """d(sum(weights * recurrence(*inputs)))/d(each input), by this backend's autodiff."""
    weights = keras.ops.convert_to_tensor(weights.astype("float32"))
    if BACKEND == "jax":
        import jax

        return [np.asarray(g) for g in jax.grad(lambda *x: (weights * recurrence(*x)).sum(), argnums=(0, 1, 2))(*inputs)]
    if BACKEND == "tensorflow":
        import tensorflow as tf

        inputs = [tf.Variable(x) for x in inputs]
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(weights * recurrence(*inputs))
        return [g.numpy() for g in tape.gradient(total, inputs)]
    inputs = [x.detach().clone().requires_grad_(True) for x in inputs]
    (weights * recurrence(*inputs)).sum().backward()
    return [x.grad.cpu().numpy() for x in inputs]


def test_the_scan_of_an_unknown_length_equals_a_loop():
    """What a TensorFlow graph traced with an open time axis runs (the SavedModel and ONNX
    exports): the doubling scan in one while loop, for any length."""
    if BACKEND == "jax":  # nothing to run: JAX traces every length as a fixed one
        import jax

        traced = []
        jax.jit(lambda a: traced.append(a.shape[1]) or a)(np.zeros((2, 5, 3), "float32"))
        assert traced == [5]
        return
    scan = parallel_rnn._doubling_scan
    if BACKEND == "tensorflow":
        import tensorflow as tf

        spec = tf.TensorSpec([None, None, 3], "float32")
        scan = tf.function(parallel_rnn.linear_scan, input_signature=[spec, spec])
    rng = np.random.default_rng(0)
    for length in (1, 2, 5, 8, 37):
        a = rng.uniform(0, 1, (2, length, 3)).astype("float32")
        b = rng.standard_normal((2, length, 3)).astype("float32")
        products, from_zero = (to_numpy(c) for c in scan(a, b))
        np.testing.assert_allclose(from_zero, loop(a, b, np.zeros((2, 3))), atol=1e-5)
        np.testing.assert_allclose(products, np.cumprod(a, axis=1), atol=1e-6)


# ------------------------------------------------------------------------------ the papers' equations
def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def g(x):
    return np.where(x >= 0, x + 0.5, sigmoid(x))


def paper_min_gru(w, x):
    z, candidate = np.split(x @ w["kernel"] + w["bias"], 2, axis=-1)
    z = sigmoid(z)
    return 1 - z, z * g(candidate)


def paper_min_lstm(w, x):
    f, i, candidate = np.split(x @ w["kernel"] + w["bias"], 3, axis=-1)
    f, i = sigmoid(f), sigmoid(i)
    return f / (f + i), i / (f + i) * g(candidate)


def paper_rg_lru(w, x):
    r, i = (sigmoid(k) for k in np.split(x @ w["kernel"] + w["bias"], 2, axis=-1))
    a = sigmoid(w["a_param"]) ** (8 * r)
    return a, np.sqrt(1 - a**2) * (i * x)


def recurrent_layer(name, units=5):
    """A fresh recurrent layer of family `name` and the paper's (a_t, b_t) of it in numpy."""
    keras.utils.set_random_seed(0)
    cls, paper = {"min_gru": (MinGRU, paper_min_gru), "min_lstm": (MinLSTM, paper_min_lstm),
                  "hawk": (RGLRU, paper_rg_lru)}[name]
    return cls(units, name="recurrent"), paper


def weights(layer):
    return {v.path.split("/")[-1]: to_numpy(v.value).astype("float64") for v in layer.weights}


@pytest.mark.parametrize("name", FAMILIES)
def test_the_recurrence_computes_the_papers_equations(name):
    """Outputs and final state of the parallel layer against the paper's equations run step
    by step in numpy (float64) from the same weights and a random initial state."""
    layer, paper = recurrent_layer(name)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 9, 5)).astype("float32")
    h0 = rng.standard_normal((2, 5)).astype("float32")
    h, final = (to_numpy(v) for v in layer(x, initial_state=[h0]))
    expected = loop(*paper(weights(layer), x.astype("float64")), h0)
    np.testing.assert_allclose(h, expected, atol=1e-5)
    np.testing.assert_allclose(final, expected[:, -1], atol=1e-5)


@pytest.mark.parametrize("name", FAMILIES)
def test_long_sequences_stay_finite_and_exact(name):
    """1,024 steps with saturated gates (weights x 20: forget products underflow to 0, and
    gates at exactly 0 or 1): finite, and still the paper's recurrence step by step."""
    layer, paper = recurrent_layer(name)
    x = np.random.default_rng(2).standard_normal((2, 1024, 5)).astype("float32")
    layer.build(x.shape)
    layer.kernel.assign(layer.kernel * 20.0)
    h, final = (to_numpy(v) for v in layer(x))
    assert np.isfinite(h).all() and np.isfinite(final).all()
    expected = loop(*paper(weights(layer), x.astype("float64")), np.zeros((2, 5)))
    # float32 against float64: rounding errors of the size of the largest state travel on.
    np.testing.assert_allclose(h, expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())
    _, model = tiny(name)
    assert np.isfinite(to_numpy(model(tokens(model, 2, 1024)))).all()


# ------------------------------------------------------------------------------ one set of weights, two ways to run
def state_names(model, name):
    step = get_spec(name).inference_models(model)["step"]
    return step, list(step.state_names)


def parallel_and_step(name, model):
    """`model` of family `name` from the same random states two ways: the whole sequence at
    once (a state model sharing the weights) and the step model one token at a time. Each
    way: (logits (batch, time, vocab), the final states by name)."""
    step, names = state_names(model, name)
    x = tokens(model, 3, 11, seed=1)
    rng = np.random.default_rng(2)
    start = {n: (0.5 * rng.standard_normal((3, u))).astype("float32") for n, u in step.input_units().items()
             if n in names}
    whole = to_numpy(parallel_rnn.build_state_model(model, _block(name))([x, *start.values()]))
    step_fn, states, logits = step.step_function(), dict(start), []
    for t in range(x.shape[1]):
        out, states = step_fn(x[:, t : t + 1], states)
        logits.append(out)
    return (np.stack(logits, axis=1), {n: states[n] for n in names}), (whole[0], dict(zip(names, whole[1:])))


@pytest.mark.parametrize("name", FAMILIES)
def test_the_parallel_model_equals_its_step_model_outputs_and_states(name):
    """Logits and every final state, within 1e-5 (tests/test_mixed_precision_gates.py: the
    same under mixed_bfloat16)."""
    (step_logits, step_states), (whole_logits, whole_states) = parallel_and_step(name, tiny(name)[1])
    np.testing.assert_allclose(step_logits, whole_logits, atol=1e-5)
    for n in whole_states:
        np.testing.assert_allclose(step_states[n], whole_states[n], atol=1e-5, err_msg=n)


def _block(name):
    """The family's block, which its step, state and carried-state models are built from."""
    return importlib.import_module(f"zoo.models.{name}").BLOCK


@pytest.mark.parametrize("name", FAMILIES)
def test_windows_with_carried_states_equal_the_whole_sequence(name):
    """Through the state model (states passed by hand) and through the family's carried-state
    model (states kept in variables, as consecutive-window training runs)."""
    spec, model = tiny(name)
    batch, window, k = 3, 5, 4
    x = tokens(model, batch, window * k, seed=3)
    whole = to_numpy(model(x))
    states_model = parallel_rnn.build_state_model(model, _block(name))
    states = [np.zeros((batch, int(i.shape[-1])), "float32") for i in states_model.inputs[1:]]
    carry = spec.carry(model, batch)
    by_hand, carried = [], []
    for i in range(k):
        piece = x[:, i * window : (i + 1) * window]
        logits, *states = to_numpy(states_model([piece, *states]))
        by_hand.append(logits)
        carried.append(to_numpy(carry([piece, np.full((batch, 1), float(i == 0), "float32")], training=False)))
    np.testing.assert_allclose(np.concatenate(by_hand, axis=1), whole, atol=1e-5)
    np.testing.assert_allclose(np.concatenate(carried, axis=1), whole, atol=1e-5)


def sequential_recurrence(a, b, h0):
    """:func:`parallel_rnn.linear_recurrence` as a loop over time steps, in keras.ops."""
    values = [h0]
    for t in range(a.shape[1]):
        values.append(a[:, t] * values[-1] + b[:, t])
    sequential_recurrence.calls += 1
    return keras.ops.stack(values[1:], axis=1)


@pytest.mark.parametrize("name", FAMILIES)
def test_gradients_of_the_parallel_and_sequential_forms_agree(name, monkeypatch):
    """One SGD step (learning rate 1) through Keras's own training step on this backend moves
    every weight by its gradient: the same moves with the scan and with a loop over time."""
    spec, model = tiny(name)
    x = tokens(model, 4, 12, seed=4)
    y = np.random.default_rng(5).integers(0, model.output_shape[-1], size=x.shape)

    def one_step(model):
        before = [to_numpy(w) for w in model.trainable_weights]
        model.compile(optimizer=keras.optimizers.SGD(1.0),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.train_on_batch(x, y)
        return [b - to_numpy(w) for b, w in zip(before, model.trainable_weights)]

    sequential = spec.builder(**spec.resolve("tiny"))
    sequential.set_weights(model.get_weights())
    sequential_recurrence.calls = 0
    with monkeypatch.context() as patch:
        patch.setattr(parallel_rnn, "linear_recurrence", sequential_recurrence)
        want = one_step(sequential)
    assert sequential_recurrence.calls > 0
    got = one_step(model)
    recurrent = {v.path for v in model.trainable_weights if "/kernel" in v.path or "a_param" in v.path}
    for weight, g, w in zip(model.trainable_weights, got, want):
        np.testing.assert_allclose(g, w, atol=1e-5, err_msg=weight.path)
        if weight.path in recurrent:
            assert np.abs(w).max() > 1e-4, weight.path  # a real gradient, not a frozen weight


def test_the_hawk_classifier_reads_rows_as_the_loop_does(monkeypatch):
    """The row classifier built from Hawk's blocks: its logits for 28 rows equal those of the
    same weights with the recurrence run as a loop over time steps, and a changed last row
    moves them (every row reaches the logits)."""
    spec, model = tiny("hawk_classifier")
    rows = np.random.default_rng(0).random((3, 28, 28)).astype("float32")
    scanned = to_numpy(model(rows))
    sequential_recurrence.calls = 0
    with monkeypatch.context() as patch:
        patch.setattr(parallel_rnn, "linear_recurrence", sequential_recurrence)
        looped = spec.builder(**spec.resolve("tiny"))
        looped.set_weights(model.get_weights())
        np.testing.assert_allclose(to_numpy(looped(rows)), scanned, atol=1e-5)
    assert sequential_recurrence.calls > 0
    changed = rows.copy()
    changed[:, -1] = 1 - changed[:, -1]
    assert np.abs(to_numpy(model(changed)) - scanned).max() > 1e-4


# ------------------------------------------------------------------------------ exports
def zoo(*args):
    from zoo.cli import main

    return main(["--backend", BACKEND, *map(str, args)])


@pytest.mark.parametrize("name", FAMILIES)
def test_an_export_verifies_and_generates_as_keras_does(name, tmp_path, capsys):
    """Trained a few steps on consecutive windows here (the parallel scan of this backend),
    exported by the TensorFlow worker: the ONNX and SavedModel artifacts verify against the
    Keras model and this backend's own logits; the ONNX full model equals this backend's
    parallel model on longer windows; greedy generation from the ONNX step model equals
    Keras's."""
    from zoo import runs
    from zoo.export import export_run
    from zoo.recipe import Recipe
    from zoo.runtime import ExportedModel
    from zoo.training import train

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 60, encoding="utf-8")
    recipe = Recipe(name=f"{name}_text", model=name, task="language_model", preset="tiny", epochs=1, batch_size=4,
                    data={"source": "file", "path": str(corpus), "seq_len": 10, "sampling": "consecutive"})
    run = tmp_path / "run"
    train(recipe, out_dir=run, verbose=0)
    export_run(run)
    manifest = json.loads((run / "export" / "manifest.json").read_text())
    step = manifest["artifacts"]["step"]
    assert [i["name"] for i in step["inputs"]] == ["token", "state_conv_1", "state_h_1", "state_conv_2", "state_h_2"]
    assert [o["name"] for o in step["outputs"]] == ["logits", *(f"next_{i['name']}" for i in step["inputs"][1:])]
    report = manifest["verification"]
    for fmt in ("onnx", "savedmodel", "keras"):
        assert set(report["max_abs_diff"][fmt]) == {"model", "step"}
        assert max(report["max_abs_diff"][fmt].values()) <= 1e-5
    assert set(report["training_backend"]) == {"keras (tensorflow)", "onnx", "savedmodel"}
    assert max(report["training_backend"].values()) <= 1e-5
    assert all(v["greedy_200_identical"] for v in report["generation"].values())

    model = runs.load_model_file(run / "model.keras")
    x = tokens(model, 3, 64, seed=6)
    onnx = ExportedModel(run / "export", "onnx").run("model", {"tokens": x})["logits"]
    # float32 both, but ONNX's doubling scan and this backend's scan or loop add in other
    # orders over 64 steps: a few logits of 2 differ by 1.4e-5 (torch, weights trained in
    # mixed_bfloat16, which `auto` picks on a CPU with AMX).
    np.testing.assert_allclose(onnx, to_numpy(model(x)), rtol=1e-5, atol=1e-5)

    capsys.readouterr()
    args = ["--prompt", "the ", "--length", "40", "--temperature", "0"]
    assert zoo("generate", run / "export", "--engine", "onnx", *args) == 0
    from_onnx = capsys.readouterr().out
    assert zoo("generate", run, "--engine", "keras", *args) == 0
    assert capsys.readouterr().out == from_onnx and from_onnx.startswith("the ")
