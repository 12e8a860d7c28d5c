"""Fused LSTM and GRU kernels for Keras's torch backend on the CPU.

Keras 3.15 runs a torch LSTM or GRU through ``torch._VF.lstm`` / ``torch._VF.gru`` only on
CUDA; on the CPU it loops over the time steps in Python (keras-team/keras #20902, #22275),
several times slower than ``torch.nn.LSTM``, which calls the same fused kernel on any
device. :func:`enable` routes the layers' ``backend.lstm`` / ``backend.gru`` calls to the
fused kernel on the CPU too, where it computes the same function: default activations
(tanh, sigmoid), a bias, no mask, not unrolled, and not inside a TorchScript or Dynamo
trace. Anything else goes to Keras's own path unchanged. Bidirectional layers run as two
fused calls (Keras's own bidirectional kernel is CUDA-only).

Inference (autograd off, as in ``predict_on_batch`` and the step models of generation)
also reuses each layer's weights in torch's layout: Keras re-transposes (and, for a GRU,
re-orders) every kernel on every call, which for a one-token step of a 2 x LSTM(512) cost
more than the kernel itself. The copy is kept per weight tensor and rebuilt when the
weights change (torch's in-place version counter, bumped by every assignment and optimizer
step); training calls never use it, so gradients flow to the weights as before.

Only the backend function a layer calls is replaced, not the layer: saved ``.keras``
files stay plain Keras and load anywhere. The replacement is guarded by a check of exactly
the private Keras and torch functions it patches or calls (their presence and parameter
names), not by a version string; where one is missing it says so once on stderr and leaves
Keras's path in place. :func:`status` tells which applies. ``tests/test_fast_path.py``
checks that it is active on the pinned Keras, and outputs, states and gradients against
Keras's path for every family.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import sys

_state = {"enabled": False, "warned": False, "keras_lstm": None, "keras_gru": None, "prepare": {}}
fused_calls = 0  # how many layer calls took the fused kernel (the tests check it is used)
reused_weights = 0  # how many inference calls reused a layer's weights in torch's layout


def enable() -> bool:
    """Route torch-backend LSTM and GRU layers to the fused CPU kernels; True when active.

    A silent no-op on other backends and with ``ZOO_FUSED_RNN=0``; where a Keras or torch
    internal it needs is missing, one line on stderr (once per process) and False.
    """
    import keras

    if _state["enabled"]:
        return True
    if keras.backend.backend() != "torch" or _opted_out():
        return False
    missing = _missing_internals()
    if missing:
        # A print, not warnings.warn: a warning is shown with its caller's source line (two
        # lines), is repeated per call site rather than once per process, and under
        # `-W error` would make importing zoo.layers fail instead of falling back.
        if not _state["warned"]:
            _state["warned"] = True
            print(f"zoo: torch LSTM/GRU fast path off, missing in this Keras/torch: {', '.join(missing)}; "
                  "using Keras's slower RNN path (ZOO_FUSED_RNN=0 chooses it and silences this)",
                  file=sys.stderr)
        return False
    import torch
    from keras.src import activations, backend

    rnn = _keras_torch_rnn()
    # Resolved once here, not in every layer call of a training step.
    _state.update(keras_lstm=rnn.lstm, keras_gru=rnn.gru, enabled=True,
                  tanh=(activations.tanh, torch.tanh, keras.ops.tanh),
                  sigmoid=(activations.sigmoid, torch.sigmoid, keras.ops.sigmoid))
    backend.lstm = _fused_lstm
    backend.gru = _fused_gru
    for name in ("prepare_lstm_params", "prepare_gru_params"):
        keras_prepare = getattr(rnn, name)
        _state["prepare"][name] = keras_prepare
        setattr(rnn, name, _reusing_inference_weights(keras_prepare))
    return True


def status() -> str:
    """Which path torch LSTM and GRU layers take: "active" (the fused kernels), "not the
    torch backend", "disabled by ZOO_FUSED_RNN=0", "unavailable: <missing internals>", or
    "off: enable() not called" (before importing zoo.layers, or after :func:`disable`)."""
    import keras

    if _state["enabled"]:
        return "active"
    if keras.backend.backend() != "torch":
        return "not the torch backend"
    if _opted_out():
        return "disabled by ZOO_FUSED_RNN=0"
    missing = _missing_internals()
    return f"unavailable: {', '.join(missing)}" if missing else "off: enable() not called"


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
        "keras.src.activations": {"tanh": None, "sigmoid": None},  # how defaults are recognized
        "torch._VF": {"lstm": None, "gru": None},  # the fused kernels _cudnn_lstm/_cudnn_gru run
    }
    missing = []
    for where, functions in needed.items():
        try:
            module = importlib.import_module(where)
        except ImportError:
            missing.append(where)
            continue
        for name, parameters in functions.items():
            function = getattr(module, name, None)
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


def disable() -> None:
    """Put Keras's own functions back (the reference path the tests compare with)."""
    if not _state["enabled"]:
        return
    from keras.src import backend

    backend.lstm, backend.gru = _state["keras_lstm"], _state["keras_gru"]
    rnn = _keras_torch_rnn()
    for name, keras_prepare in _state["prepare"].items():
        setattr(rnn, name, keras_prepare)
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
        and not torch.jit.is_tracing()
        and not (hasattr(torch.compiler, "is_compiling") and torch.compiler.is_compiling())
        # CUDA tensors already take Keras's own cuDNN path.
        and not (isinstance(inputs, torch.Tensor) and inputs.device.type == "cuda")
    )


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

    kernel, recurrent_kernel, bias = (convert_to_tensor(v) for v in (kernel, recurrent_kernel, bias))
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
