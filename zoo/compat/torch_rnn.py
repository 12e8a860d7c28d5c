"""Fused LSTM, GRU and SimpleRNN kernels for Keras's torch backend on the CPU.

Keras 3.15 runs a torch LSTM or GRU through ``torch._VF.lstm`` / ``torch._VF.gru`` only on
CUDA; on the CPU it loops over the time steps in Python (keras-team/keras #20902, #22275),
several times slower than ``torch.nn.LSTM``, which calls the same fused kernel on any
device. :func:`enable` routes the layers' ``backend.lstm`` / ``backend.gru`` calls to the
fused kernel on the CPU too, where it computes the same function: default activations
(tanh, sigmoid), a bias, no mask, not unrolled, and not inside a TorchScript or Dynamo
trace. Anything else goes to Keras's own path unchanged. Bidirectional layers run as two
fused calls (Keras's own bidirectional kernel is CUDA-only).

A SimpleRNN has no such backend function on any device: ``SimpleRNN`` inherits
``RNN.inner_loop``, the Python loop over ``backend.rnn``. :func:`enable` replaces that class
attribute with one that runs ``torch._VF.rnn_tanh`` (what ``torch.nn.RNN`` runs) on CPU
tensors: tanh, no mask, not unrolled, no recurrent dropout in training, not in a trace;
with or without a bias, ``go_backwards`` (outputs in the order Keras's loop gives them) and
input dropout (the cell's one mask for every step, as Keras's loop applies it).

Inference (autograd off, as in ``predict_on_batch`` and the step models of generation)
also reuses each LSTM and GRU layer's weights in torch's layout: Keras re-transposes (and,
for a GRU, re-orders) every kernel on every call, which for a one-token step of a 2 x
LSTM(512) cost more than the kernel itself. The copy is kept per weight tensor and rebuilt
when the weights change (torch's in-place version counter, bumped by every assignment and
optimizer step); training calls never use it, so gradients flow to the weights as before.
(A SimpleRNN's weights go to its kernel as transposed views: nothing to copy or keep.)

Only the functions a layer calls are replaced, not the layer: saved ``.keras`` files stay
plain Keras and load anywhere. The replacement is checked twice before it stays on: by name
(exactly the private Keras and torch functions it patches or calls are there, with the
parameter names it passes), not by a version string; then by behaviour, once a process: on
a tiny LSTM, GRU and SimpleRNN (forwards and backwards), the fused path's outputs and states
must equal Keras's own, with autograd on and off. Where either check fails it says so once
on stderr and leaves Keras's path in place; :func:`state` tells which applies. Nothing turns
it on by import: :func:`zoo.registry.load_families` calls :func:`enable`, since every zoo
model is built or loaded through it (a Keras user loading a zoo ``.keras`` with Keras alone
calls it themselves). ``tests/test_fast_path.py`` checks that it is active on the pinned
Keras, and outputs, states and gradients against Keras's path for every family.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import sys

PATCH = "torch_fused_rnn"  # its name in zoo.compat
# "probe": None until the behaviour check has run, then "" (passed) or what differed.
_state = {"enabled": False, "warned": False, "probe": None, "keras_lstm": None, "keras_gru": None, "prepare": {},
          "keras_simple_rnn_loop": None, "simple_rnn_own_loop": False}
fused_calls = 0  # how many layer calls took the fused kernel (the tests check it is used)
reused_weights = 0  # how many inference calls reused a layer's weights in torch's layout
TOLERANCE = 1e-5  # how far the fused path's outputs may be from Keras's in the check


def enable() -> bool:
    """Route torch-backend LSTM, GRU and SimpleRNN layers to the fused CPU kernels; True when active.

    A silent no-op on other backends and with ``ZOO_FUSED_RNN=0``; where a Keras or torch
    internal it needs is missing, or its first check against Keras's own path fails, one line
    on stderr (once per process) and False.
    """
    import keras

    if _state["enabled"]:
        return True
    if keras.backend.backend() != "torch" or _opted_out():
        return False
    missing = _missing_internals()
    if missing:
        _say_off(f"missing in this Keras/torch: {', '.join(missing)}")
        return False
    _install()
    if _state["probe"] is None:
        _state["probe"] = _probe()
    if _state["probe"]:
        disable()
        _say_off(f"its check against Keras's own path failed: {_state['probe']}")
        return False
    return True


def state(name: str = PATCH) -> tuple[str, str]:
    """("active", "") when the layers take the fused kernels, otherwise ("off", why not): "not
    the torch backend", "disabled by ZOO_FUSED_RNN=0", "missing in this Keras/torch: ...", "its
    check against Keras's own path failed: ...", or "not switched on: ..." (before a zoo model
    was built or loaded, or after :func:`disable`)."""
    import keras

    if _state["enabled"]:
        return "active", ""
    if keras.backend.backend() != "torch":
        return "off", "not the torch backend"
    if _opted_out():
        return "off", "disabled by ZOO_FUSED_RNN=0"
    missing = _missing_internals()
    if missing:
        return "off", f"missing in this Keras/torch: {', '.join(missing)}"
    if _state["probe"]:
        return "off", f"its check against Keras's own path failed: {_state['probe']}"
    return "off", "not switched on: enable() not called (building or loading a zoo model calls it)"


def _say_off(why: str) -> None:
    # A print, not warnings.warn: a warning is shown with its caller's source line (two
    # lines), is repeated per call site rather than once per process, and under `-W error`
    # would make building a model fail instead of falling back.
    if not _state["warned"]:
        _state["warned"] = True
        print(f"zoo: torch LSTM/GRU/SimpleRNN fast path off, {why}; using Keras's slower RNN path "
              "(ZOO_FUSED_RNN=0 chooses it and silences this)", file=sys.stderr)


def _install() -> None:
    import keras
    import torch
    from keras.src import activations, backend

    rnn = _keras_torch_rnn()
    # Resolved once here, not in every layer call of a training step.
    _state.update(keras_lstm=rnn.lstm, keras_gru=rnn.gru, enabled=True,
                  tanh=(activations.tanh, torch.tanh, keras.ops.tanh),
                  sigmoid=(activations.sigmoid, torch.sigmoid, keras.ops.sigmoid))
    backend.lstm = _fused_lstm
    backend.gru = _fused_gru
    simple_rnn = _keras_simple_rnn()
    # SimpleRNN inherits RNN.inner_loop: put back by deleting ours, not by pinning RNN's on it.
    _state.update(keras_simple_rnn_loop=simple_rnn.inner_loop,
                  simple_rnn_own_loop="inner_loop" in vars(simple_rnn))
    simple_rnn.inner_loop = _fused_simple_rnn_loop
    for name in ("prepare_lstm_params", "prepare_gru_params"):
        keras_prepare = getattr(rnn, name)
        _state["prepare"][name] = keras_prepare
        setattr(rnn, name, _reusing_inference_weights(keras_prepare))


def _probe() -> str:
    """"" where the installed fast path computes what Keras's own path computes on a tiny
    input: an LSTM, a GRU and a SimpleRNN (forwards and backwards), every output and final
    state, once with autograd on (training) and twice with it off (the second reusing the
    weights' torch layout); otherwise what differed. About 0.1 s, mostly oneDNN setting up
    its kernels, once a process."""
    global fused_calls, reused_weights
    counted = fused_calls, reused_weights
    try:
        return _compare_with_keras()
    finally:
        fused_calls, reused_weights = counted  # the check's own calls are not the layers'


def _compare_with_keras() -> str:
    import torch
    from keras.src import activations

    generator = torch.Generator().manual_seed(0)

    def random(*shape, weight=True):
        values = torch.randn(*shape, generator=generator) * 0.5
        return torch.nn.Parameter(values) if weight else values  # weights are Parameters, as in a layer

    batch, steps, features, units = 2, 3, 4, 5
    inputs, initial = random(batch, steps, features, weight=False), random(batch, units, weight=False)
    cases = {}
    for layer, fused, keras_path, gates, states, bias_shape in (
            ("LSTM", _fused_lstm, _state["keras_lstm"], 4, [initial, initial], (4 * units,)),
            ("GRU", _fused_gru, _state["keras_gru"], 3, [initial], (2, 3 * units))):  # reset_after's bias
        weights = [random(features, gates * units), random(units, gates * units), random(*bias_shape)]
        arguments = (inputs, *states, None, *weights, activations.tanh, activations.sigmoid)
        cases[layer] = (lambda f=fused, a=arguments: f(*a, return_sequences=True),
                        lambda k=keras_path, a=arguments: k(*a, return_sequences=True))
    for backwards in (False, True):
        simple = _probe_simple_rnn(units, inputs.shape, backwards, random)
        cases["SimpleRNN" + " (go_backwards)" * backwards] = (
            lambda s=simple: _fused_simple_rnn_loop(s, inputs, [initial], None),
            lambda s=simple: _state["keras_simple_rnn_loop"](s, inputs, [initial], None))
    for layer, (fused, keras_path) in cases.items():
        try:
            with torch.no_grad():
                want = _flat(keras_path())
        except Exception as error:
            return f"{layer}: Keras's own path: {type(error).__name__}: {error}"
        for grad in (True, False, False):
            calls = fused_calls
            try:
                with torch.set_grad_enabled(grad):
                    got = _flat(fused())
            except Exception as error:  # an internal still called as read, but failing
                return f"{layer}: {type(error).__name__}: {error}"
            if fused_calls == calls:
                return f"{layer}: the fused kernel was not called"
            shapes = [tuple(g.shape) for g in got], [tuple(w.shape) for w in want]
            if shapes[0] != shapes[1]:
                return f"{layer}: outputs of shapes {shapes[0]}, Keras's {shapes[1]}"
            difference = max(float((g - w).abs().max()) for g, w in zip(got, want))
            if not difference <= TOLERANCE:
                return f"{layer}: outputs {difference:.2g} from Keras's (tolerance {TOLERANCE:g})"
    return ""


def _probe_simple_rnn(units, input_shape, go_backwards, random):
    """A built float32 SimpleRNN with `random` weights, made without touching the process's
    state: a fixed name (no layer-name counter), zero initializers and a fixed dropout seed
    (no draw from Keras's or Python's random generators)."""
    import keras

    layer = keras.layers.SimpleRNN(units, return_sequences=True, go_backwards=go_backwards, seed=0,
                                   kernel_initializer="zeros", recurrent_initializer="zeros",
                                   dtype="float32", name="zoo_fused_rnn_probe")
    layer.build(tuple(input_shape))
    for weight in (layer.cell.kernel, layer.cell.recurrent_kernel, layer.cell.bias):
        weight.assign(random(*weight.shape, weight=False))
    return layer


def _flat(result) -> list:
    """(last output, outputs, [states]) as one list of tensors, detached."""
    last, outputs, states = result
    return [t.detach() for t in (last, outputs, *states)]


def _opted_out() -> bool:
    return os.environ.get("ZOO_FUSED_RNN") == "0"


def _missing_internals() -> list[str]:
    """The private Keras and torch functions this module patches or calls that are absent
    here or whose parameter names differ from those it passes."""
    prepare = ("kernel", "recurrent_kernel", "bias", "device")
    cudnn = ("kernel", "recurrent_kernel", "bias", "return_sequences", "device")
    needed = {  # module: {function: its parameter names, or None where any callable does}
        "keras.src.backend": {"lstm": None, "gru": None},  # what the layers call; replaced
        "keras.src.backend.torch.rnn": {
            "lstm": _parameters(_fused_lstm), "gru": _parameters(_fused_gru),  # the fallbacks
            "prepare_lstm_params": prepare, "prepare_gru_params": prepare,  # wrapped for reuse
            "_cudnn_lstm": ("inputs", "initial_state_h", "initial_state_c", *cudnn),
            "_cudnn_gru": ("inputs", "initial_state", *cudnn),
        },
        "keras.src.backend.torch.core": {"convert_to_tensor": None},
        "keras.src.layers.rnn.simple_rnn": {  # a class attribute replaced; the cell's mask read
            "SimpleRNN.inner_loop": _parameters(_fused_simple_rnn_loop),
            "SimpleRNNCell.get_dropout_mask": ("self", "step_input"),
        },
        "keras.src.activations": {"tanh": None, "sigmoid": None},  # how defaults are recognized
        "torch._VF": {"lstm": None, "gru": None,  # the fused kernels _cudnn_lstm/_cudnn_gru run
                      "rnn_tanh": None},  # and the one the SimpleRNN loop calls
    }
    missing = []
    for where, functions in needed.items():
        try:
            module = importlib.import_module(where)
        except ImportError:
            missing.append(where)
            continue
        for name, parameters in functions.items():
            function = module
            for part in name.split("."):  # "Class.method" too
                function = getattr(function, part, None)
            if not callable(function):
                missing.append(f"{where}.{name}")
            elif parameters is not None and _parameters(function) != parameters:
                missing.append(f"{where}.{name} (other parameters)")
    return missing


def _parameters(function) -> tuple:
    try:
        return tuple(inspect.signature(function).parameters)
    except (TypeError, ValueError):  # no signature to read: not the Python function checked
        return ()


def _keras_torch_rnn():
    # The module, not the `rnn` function keras.src.backend.torch exports under the same name.
    return importlib.import_module("keras.src.backend.torch.rnn")


def _keras_simple_rnn():
    return importlib.import_module("keras.src.layers.rnn.simple_rnn").SimpleRNN


def disable() -> None:
    """Put Keras's own functions back (the reference path the tests compare with)."""
    if not _state["enabled"]:
        return
    from keras.src import backend

    backend.lstm, backend.gru = _state["keras_lstm"], _state["keras_gru"]
    rnn = _keras_torch_rnn()
    for name, keras_prepare in _state["prepare"].items():
        setattr(rnn, name, keras_prepare)
    simple_rnn = _keras_simple_rnn()
    if _state["simple_rnn_own_loop"]:
        simple_rnn.inner_loop = _state["keras_simple_rnn_loop"]
    else:
        del simple_rnn.inner_loop  # inherited again
    _state["enabled"] = False


def _reusing_inference_weights(prepare):
    """`prepare(kernel, recurrent_kernel, bias, device)` (Keras's conversion of a layer's
    weights to torch's layout) that, with autograd off, returns the previous result for the
    same unchanged weight tensors instead of copying them again."""
    import torch

    attribute = f"_zoo_{prepare.__name__}"  # kept on the kernel tensor: gone with the layer

    def prepare_or_reuse(kernel, recurrent_kernel, bias, device):
        global reused_weights
        weights = (kernel, recurrent_kernel, bias)
        # Only the layers' own variables (leaf Parameters) have a stable identity; a value
        # cast by a mixed-precision policy is a new tensor on every call.
        if torch.is_grad_enabled() or not all(isinstance(w, torch.nn.Parameter) for w in weights):
            return prepare(kernel, recurrent_kernel, bias, device)
        key = (tuple(id(w) for w in weights), tuple(w._version for w in weights), str(device))
        entry = getattr(kernel, attribute, None)
        if entry is None or entry[0] != key:
            entry = (key, prepare(kernel, recurrent_kernel, bias, device))
            setattr(kernel, attribute, entry)
        else:
            reused_weights += 1
        return entry[1]

    return prepare_or_reuse


def _fusable(inputs, mask, activation, recurrent_activation, unroll, bias) -> bool:
    import torch

    return (
        mask is None
        and not unroll
        and bias is not None
        and activation in _state["tanh"]
        and recurrent_activation in _state["sigmoid"]
        and not _tracing()
        # CUDA tensors already take Keras's own cuDNN path.
        and not (isinstance(inputs, torch.Tensor) and inputs.device.type == "cuda")
    )


def _tracing() -> bool:
    import torch

    return torch.jit.is_tracing() or (hasattr(torch.compiler, "is_compiling") and torch.compiler.is_compiling())


@contextlib.contextmanager
def _kernel_choice(inputs):
    """A context for the fused call. One inference time step (a generation step) skips
    oneDNN, which re-lays out the weights on every call (0.5 ms a step for an LSTM(512),
    more than the step's arithmetic); torch's own kernel then runs the same gate equations.
    (The switch is process-wide for the call's duration: another thread's RNN at that moment
    takes the same native kernel, equally correct.)"""
    import torch

    mkldnn = torch.backends.mkldnn
    if inputs.shape[1] != 1 or torch.is_grad_enabled() or not mkldnn.enabled:
        yield
        return
    mkldnn.enabled = False
    try:
        yield
    finally:
        mkldnn.enabled = True


def _prepared(inputs, states, kernel, recurrent_kernel, bias, go_backwards):
    """Tensors in the kernel's dtype (as Keras's path casts them), sequence flipped if asked."""
    import torch
    from keras.src.backend.torch.core import convert_to_tensor

    kernel, recurrent_kernel, bias = (None if v is None else convert_to_tensor(v)
                                      for v in (kernel, recurrent_kernel, bias))
    inputs = convert_to_tensor(inputs).to(kernel.dtype)
    states = [convert_to_tensor(s).to(kernel.dtype) for s in states]
    if go_backwards:
        inputs = torch.flip(inputs, dims=[1])
    return inputs, states, kernel, recurrent_kernel, bias


def _fused_lstm(inputs, initial_state_h, initial_state_c, mask, kernel, recurrent_kernel, bias, activation,
                recurrent_activation, return_sequences=False, go_backwards=False, unroll=False, batch_first=True):
    keras_lstm = _state["keras_lstm"]
    if not batch_first or not _fusable(inputs, mask, activation, recurrent_activation, unroll, bias):
        return keras_lstm(inputs, initial_state_h, initial_state_c, mask, kernel, recurrent_kernel, bias, activation,
                          recurrent_activation, return_sequences=return_sequences, go_backwards=go_backwards,
                          unroll=unroll, batch_first=batch_first)
    global fused_calls
    fused_calls += 1
    rnn = _keras_torch_rnn()
    inputs, (h, c), kernel, recurrent_kernel, bias = _prepared(
        inputs, [initial_state_h, initial_state_c], kernel, recurrent_kernel, bias, go_backwards)
    with _kernel_choice(inputs):
        return rnn._cudnn_lstm(inputs, h, c, kernel, recurrent_kernel, bias, return_sequences=return_sequences,
                               device=inputs.device)


def _fused_gru(inputs, initial_state, mask, kernel, recurrent_kernel, bias, activation, recurrent_activation,
               return_sequences=False, go_backwards=False, unroll=False, reset_after=True):
    keras_gru = _state["keras_gru"]
    if not reset_after or not _fusable(inputs, mask, activation, recurrent_activation, unroll, bias):
        return keras_gru(inputs, initial_state, mask, kernel, recurrent_kernel, bias, activation, recurrent_activation,
                         return_sequences=return_sequences, go_backwards=go_backwards, unroll=unroll,
                         reset_after=reset_after)
    global fused_calls
    fused_calls += 1
    rnn = _keras_torch_rnn()
    inputs, (h,), kernel, recurrent_kernel, bias = _prepared(
        inputs, [initial_state], kernel, recurrent_kernel, bias, go_backwards)
    with _kernel_choice(inputs):
        return rnn._cudnn_gru(inputs, h, kernel, recurrent_kernel, bias, return_sequences=return_sequences,
                              device=inputs.device)


def _fused_simple_rnn_loop(self, sequences, initial_state, mask, training=False):
    """``SimpleRNN.inner_loop``: (last output, outputs, [state]) from ``torch._VF.rnn_tanh``
    where it computes what Keras's loop computes, else from Keras's ``RNN.inner_loop``."""
    import torch

    cell = self.cell
    masks = mask if isinstance(mask, (list, tuple)) else [mask]
    states = initial_state if isinstance(initial_state, (list, tuple)) else [initial_state]
    if (any(m is not None for m in masks) or self.unroll or len(states) != 1
            or cell.activation not in _state["tanh"]
            or (training and cell.recurrent_dropout)  # a mask on the state inside the loop
            # Keras has no fused SimpleRNN on CUDA either; the probe checked the CPU kernel only.
            or not (isinstance(sequences, torch.Tensor) and sequences.device.type == "cpu")
            or _tracing()):
        return _state["keras_simple_rnn_loop"](self, sequences, initial_state, mask, training=training)
    global fused_calls
    fused_calls += 1
    if training and cell.dropout:
        # The mask RNN.call drew for this call (cached on the cell), on every step, as the
        # cell applies it and as LSTM.inner_loop does before backend.lstm.
        sequences = sequences * cell.get_dropout_mask(sequences[:, 0, :])[:, None, :]
    inputs, (h,), kernel, recurrent_kernel, bias = _prepared(
        sequences, states, cell.kernel, cell.recurrent_kernel, cell.bias, self.go_backwards)
    if self.stateful:
        h = h.clone()  # RNN.call assigns the final state into this variable in place; Keras's step copies too
    params = [kernel.T, recurrent_kernel.T]  # torch's (units, inputs) layout, as views
    if bias is not None:
        params += [bias, torch.zeros_like(bias)]  # torch adds an input and a recurrent bias, Keras one
    # One layer, no dropout between layers, train as Keras's _cudnn_gru, one direction, batch first.
    outputs, h = torch._VF.rnn_tanh(inputs, h.unsqueeze(0), params, bias is not None, 1, 0.0,
                                    torch.is_grad_enabled(), False, True)
    # Outputs in the order of the (possibly flipped) input, as Keras's loop stacks them; without
    # return_sequences Keras's loop keeps only the last step's.
    last = outputs[:, -1]
    return last, outputs if self.return_sequences else last.unsqueeze(1), [h.squeeze(0)]
