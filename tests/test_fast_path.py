"""The fast recurrent path is on where it should be, and computes what Keras's path computes.

On the torch backend, zoo.compat.torch_rnn routes LSTM, GRU and SimpleRNN layers to torch's
fused kernels on the CPU, and LSTM and GRU inference calls reuse the weights in torch's layout
while they are unchanged. It must be active with the Keras and torch versions pyproject.toml
pins, and where a Keras or torch internal it needs is missing, or its first check against
Keras's path fails, it must say so in one line and leave Keras's path working. For every
family (and bidirectional layers, step models that return states, and carried-state models),
and for a SimpleRNN's options (go_backwards, no bias, last output only, dropout in training
with the same seed), outputs and gradients must equal those of Keras's reference path within
1e-5, before and after the weights change. TensorFlow and JAX have no such replacement: their
layers always run Keras's own kernels, silently.
"""

import importlib
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import REPO, random_batch
from zoo import layers
from zoo.compat import torch_rnn
from zoo.registry import get_spec, list_models

TORCH = keras.backend.backend() == "torch"


def test_the_fast_path_is_active_exactly_on_torch(capsys):
    """Fails when the check of Keras's internals stops matching the pinned versions: the
    fast path must never turn off silently there."""
    from keras.src import backend

    assert torch_rnn.enable() is TORCH
    assert torch_rnn.state() == (("active", "") if TORCH else ("off", "not the torch backend"))
    expected = "zoo.compat.torch_rnn" if TORCH else f"keras.src.backend.{keras.backend.backend()}.rnn"
    assert backend.lstm.__module__ == backend.gru.__module__ == expected
    loop = keras.layers.SimpleRNN.inner_loop.__module__
    assert loop == ("zoo.compat.torch_rnn" if TORCH else "keras.src.layers.rnn.rnn")  # else RNN's own
    assert capsys.readouterr().err == ""


@pytest.fixture
def fresh(monkeypatch):
    """The fast path off, never warned about and never checked, as in a new process; restored
    afterwards."""
    torch_rnn.disable()
    monkeypatch.setitem(torch_rnn._state, "warned", False)
    monkeypatch.setitem(torch_rnn._state, "probe", None)
    yield monkeypatch
    monkeypatch.undo()
    assert torch_rnn.enable() is TORCH


def _cudnn_lstm_with_a_new_parameter(inputs, initial_state_h, initial_state_c, kernel, recurrent_kernel, bias,
                                     return_sequences, device, batch_first=True):
    raise AssertionError("never called: the fast path is off")


def _lstm_with_a_new_parameter(inputs, initial_state_h, initial_state_c, mask, kernel, recurrent_kernel, bias,
                               activation, recurrent_activation, return_sequences=False, go_backwards=False,
                               unroll=False, batch_first=True, use_cudnn="auto"):
    raise AssertionError("never called: the layers call keras.src.backend.lstm")


def _inner_loop_with_a_new_parameter(self, sequences, initial_state, mask, training=False, use_cudnn="auto"):
    return keras.layers.RNN.inner_loop(self, sequences, initial_state, mask, training)  # the layers call it


# Changes a Keras release could make to the functions the fast path replaces or calls (None:
# the function is gone).
BREAKAGES = {
    "keras.src.backend.torch.rnn.prepare_gru_params": None,
    "keras.src.backend.torch.rnn._cudnn_lstm": _cudnn_lstm_with_a_new_parameter,
    "keras.src.backend.torch.rnn.lstm": _lstm_with_a_new_parameter,
    "keras.src.layers.rnn.simple_rnn.SimpleRNN.inner_loop": _inner_loop_with_a_new_parameter,
}


def _owner(where: str):
    """The module, or the class in a module, that holds `where`'s last name."""
    owner = where.rsplit(".", 1)[0]
    try:
        return importlib.import_module(owner)
    except ImportError:  # a class
        module, name = owner.rsplit(".", 1)
        return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("where", list(BREAKAGES))
def test_a_missing_internal_leaves_keras_path_with_one_line(fresh, capsys, where):
    if not TORCH:
        assert not torch_rnn.enable()  # other backends never look at torch's internals
        return
    name = where.rsplit(".", 1)[1]
    if BREAKAGES[where] is None:
        fresh.delattr(_owner(where), name)
    else:
        fresh.setattr(_owner(where), name, BREAKAGES[where])
    assert torch_rnn.enable() is False and torch_rnn.enable() is False
    said = capsys.readouterr().err.splitlines()
    assert len(said) == 1, said  # once, not once per call
    assert where in said[0] and "Keras's slower RNN path" in said[0]
    assert "ZOO_FUSED_RNN=0" in said[0]
    assert torch_rnn.state()[1].startswith(f"missing in this Keras/torch: {where}")

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 3)), layers.lstm(4, name="lstm", return_sequences=True),
                              layers.simple_rnn(4, name="simple_rnn", return_sequences=True),
                              layers.gru(4, name="gru"), layers.logits(1)])
    model.compile(optimizer="adam", loss="mse")
    calls = torch_rnn.fused_calls
    x, y = np.random.default_rng(0).standard_normal((8, 6, 3)), np.zeros((8, 1))
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert np.isfinite(model.predict(x, verbose=0)).all()
    assert torch_rnn.fused_calls == calls  # Keras's own path ran
    assert "zoo:" not in capsys.readouterr().err


PROCESS = """
import importlib, keras
if keras.backend.backend() == "torch":  # as in a Keras release without this function
    del importlib.import_module("keras.src.backend.torch.rnn").prepare_gru_params
from zoo.registry import create_model
create_model("lstm_classifier", "tiny")  # enables the fast path where it can
from zoo.compat import torch_rnn
print(torch_rnn.enable(), *torch_rnn.state(), sep=" / ")
"""


@pytest.mark.parametrize("opt_out", [False, True], ids=["default", "ZOO_FUSED_RNN=0"])
def test_a_process_says_once_that_the_fast_path_is_off_unless_opted_out(opt_out):
    """Building a model, then enabling again, in a process whose Keras lacks a function the
    fast path needs: one line on torch, none with ZOO_FUSED_RNN=0 or on other backends."""
    env = {k: v for k, v in os.environ.items() if k != "ZOO_FUSED_RNN"}
    env.update(KERAS_BACKEND=keras.backend.backend(), **({"ZOO_FUSED_RNN": "0"} if opt_out else {}))
    done = subprocess.run([sys.executable, "-c", PROCESS], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stderr.splitlines() if "ZOO_FUSED_RNN" in line]
    if TORCH and not opt_out:
        assert len(said) == 1 and said[0].startswith("zoo: ") and "prepare_gru_params" in said[0], said
        assert done.stdout.strip() == ("False / off / missing in this Keras/torch: "
                                       "keras.src.backend.torch.rnn.prepare_gru_params")
    else:
        assert said == []
        expected = "disabled by ZOO_FUSED_RNN=0" if TORCH else "not the torch backend"
        assert done.stdout.strip() == f"False / off / {expected}"


def outputs_and_gradients(model, inputs, training=False):
    """Every output of `model` on `inputs`, and the gradient of a fixed random projection of
    them with respect to every trainable weight (torch autograd)."""
    import torch

    for variable in model.trainable_variables:
        variable.value.grad = None
    outputs = model(inputs, training=training)
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    rng = np.random.default_rng(0)
    loss = sum((o * torch.as_tensor(rng.standard_normal(tuple(o.shape)), dtype=o.dtype)).sum() for o in outputs)
    loss.backward()
    grads = [np.zeros(v.shape) if v.value.grad is None else v.value.grad.detach().numpy().copy()
             for v in model.trainable_variables]
    return [o.detach().numpy() for o in outputs], grads


FUSED = (keras.layers.LSTM, keras.layers.GRU, keras.layers.SimpleRNN)  # the layers the fast path runs


def recurrent_layers(model, kinds=FUSED) -> list:
    return [layer for layer in model._flatten_layers() if isinstance(layer, kinds)]


def full(name, **extra):
    """The family's tiny model (with `extra` options) and random inputs for it."""
    keras.utils.set_random_seed(0)
    model = get_spec(name).builder(**{**get_spec(name).resolve("tiny"), **extra})
    return model, random_batch(model, 3, time_steps=6)[0]


def cases():
    """(id, builder of (model, inputs)) for every family, its inference and carry models,
    and bidirectional classifiers."""
    found = []
    for name in list_models():
        spec = get_spec(name)
        found.append((name, lambda name=name: full(name)))
        if "bidirectional" in spec.resolve("tiny"):
            found.append((name + "-bidirectional", lambda name=name: full(name, bidirectional=True)))
        if spec.inference:
            def inference(name=name):
                model, _ = full(name)
                models = get_spec(name).inference_models(model)
                step = models.get("step") or models["decoder_step"]
                rng = np.random.default_rng(1)
                token = step.model.inputs[0]  # token ids, or a labeller's step features
                inputs = [rng.integers(0, 5, size=(3, 1)).astype("int32") if "int" in str(token.dtype)
                          else rng.random((3, *token.shape[1:]), dtype=np.float32)]
                inputs += [rng.standard_normal((3, u)).astype("float32") for n, u in step.input_units().items()
                           if n != "token"]
                return step.model, inputs
            found.append((name + "-step", inference))
        if spec.carry:
            def carry(name=name):
                model, tokens = full(name)
                return get_spec(name).carry(model, 3), [tokens, np.ones((3, 1), "float32")]
            found.append((name + "-carry", carry))
    return found


def simple_rnn(masked=False, bidirectional=False, **options):
    """A model of one SimpleRNN(5) with `options` on (6, 3) inputs (a Masking layer before it,
    or wrapped in Bidirectional), returning its outputs and final states, and inputs for it:
    the sequences, and (unless masked or bidirectional) the initial state. (Keras 3.15's
    functional call gives the layer no mask where it also takes an initial state.)"""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(3)
    sequences, initial = keras.Input((6, 3)), keras.Input((5,))
    x = keras.layers.Masking(0.0)(sequences) if masked else sequences
    rnn = keras.layers.SimpleRNN(5, return_state=True, bias_initializer="random_normal",
                                 **{"return_sequences": True, **options})
    x_value = rng.standard_normal((3, 6, 3)).astype("float32")
    x_value[:, -2:] = 0.0  # masked steps where there is a mask
    if masked or bidirectional:
        return keras.Model(sequences, (keras.layers.Bidirectional(rnn) if bidirectional else rnn)(x)), x_value
    model = keras.Model([sequences, initial], rnn(x, initial_state=[initial]))
    return model, [x_value, rng.standard_normal((3, 5)).astype("float32")]


# A SimpleRNN's options the fast path covers (each fused, and equal to Keras's path).
SIMPLE_RNN_CASES = [("SimpleRNN-" + name, lambda options=options: simple_rnn(**options)) for name, options in {
    "sequences": {},
    "last-output": dict(return_sequences=False),
    "go_backwards": dict(go_backwards=True),
    "go_backwards-last-output": dict(go_backwards=True, return_sequences=False),
    "no-bias": dict(use_bias=False),
    "bidirectional": dict(bidirectional=True),
    "dropouts-at-inference": dict(dropout=0.5, recurrent_dropout=0.5),  # masks unused there
}.items()]
CASES = cases() + SIMPLE_RNN_CASES


@pytest.mark.parametrize("build", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_fast_path_equals_keras_path(build):
    if not TORCH:
        assert not torch_rnn.enable()  # nothing replaced: Keras's path is the only one
        return
    model, inputs = build()
    try:
        torch_rnn.disable()
        want_outputs, want_grads = outputs_and_gradients(model, inputs)
    finally:
        torch_rnn.enable()
    calls = torch_rnn.fused_calls
    got_outputs, got_grads = outputs_and_gradients(model, inputs)
    recurrent = recurrent_layers(model)
    assert (torch_rnn.fused_calls > calls) == bool(recurrent)  # the fused kernel really ran
    assert len(got_outputs) == len(want_outputs) and len(got_grads) == len(want_grads)
    for got, want in zip(got_outputs, want_outputs):
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    for got, want in zip(got_grads, want_grads):
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def inference_outputs(model, inputs):
    """Every output of `model` with autograd off, as `predict_on_batch` and generation run it."""
    import torch

    with torch.no_grad():
        outputs = model(inputs, training=False)
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    return [o.numpy().copy() for o in outputs]


@pytest.mark.parametrize("build", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_inference_reuses_weights_only_while_they_are_unchanged(build):
    """With autograd off the fast path keeps each layer's weights in torch's layout between
    calls; a weight assignment (loading, an optimizer step) must be seen by the next call."""
    if not TORCH:
        assert not torch_rnn.enable()
        return
    model, inputs = build()
    first = inference_outputs(model, inputs)
    reused = torch_rnn.reused_weights
    np.testing.assert_array_equal(inference_outputs(model, inputs)[0], first[0])
    recurrent = recurrent_layers(model, (keras.layers.LSTM, keras.layers.GRU))  # a SimpleRNN's are views
    assert (torch_rnn.reused_weights > reused) == bool(recurrent)  # the second call reused the layout
    rng = np.random.default_rng(2)
    for variable in model.trainable_variables:  # in place, as set_weights and optimizers do
        variable.assign(rng.standard_normal(variable.shape).astype("float32") * 0.3)
    got = inference_outputs(model, inputs)
    try:
        torch_rnn.disable()
        want = inference_outputs(model, inputs)
    finally:
        torch_rnn.enable()
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-5, rtol=1e-5)
    assert not all(np.allclose(g, f) for g, f in zip(got, first))  # the new weights were used


@pytest.mark.parametrize("options", [{}, dict(go_backwards=True), dict(seed=7)],
                         ids=["forwards", "go_backwards", "layer-seed"])
def test_simple_rnn_dropout_in_training_equals_keras_path_from_the_same_seed(options):
    """Training with input dropout: the fast path applies the cell's one mask for the call, drawn
    as Keras's path draws it, so the same seed gives the same outputs and gradients (the global
    seed, or the layer's own seed generator)."""
    if not TORCH:
        assert not torch_rnn.enable()
        return
    model, inputs = simple_rnn(dropout=0.5, **options)
    start = [v.numpy().copy() for v in model.variables]  # weights and the layer's seed state
    try:
        torch_rnn.disable()
        keras.utils.set_random_seed(1)
        want_outputs, want_grads = outputs_and_gradients(model, inputs, training=True)
    finally:
        torch_rnn.enable()
    for variable, value in zip(model.variables, start):
        variable.assign(value)
    keras.utils.set_random_seed(1)
    calls = torch_rnn.fused_calls
    got_outputs, got_grads = outputs_and_gradients(model, inputs, training=True)
    assert torch_rnn.fused_calls > calls
    for got, want in zip(got_outputs + got_grads, want_outputs + want_grads):
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    inference, _ = outputs_and_gradients(model, inputs)
    assert not np.allclose(got_outputs[0], inference[0])  # the dropout was applied


# A SimpleRNN the fused kernel does not cover: (options, training).
KERAS_ONLY = {
    "relu": (dict(activation="relu"), False),
    "unroll": (dict(unroll=True), False),
    "mask": (dict(masked=True), False),
    "recurrent_dropout-in-training": (dict(recurrent_dropout=0.5), True),  # a mask on the state each step
}


@pytest.mark.parametrize("case", list(KERAS_ONLY))
def test_a_simple_rnn_the_fused_kernel_does_not_cover_runs_keras_path(case):
    if not TORCH:
        assert not torch_rnn.enable()
        return
    options, training = KERAS_ONLY[case]
    model, inputs = simple_rnn(**options)
    calls = torch_rnn.fused_calls
    outputs, grads = outputs_and_gradients(model, inputs, training=training)
    assert torch_rnn.fused_calls == calls
    assert all(np.isfinite(o).all() for o in outputs + grads)
