"""Fused LSTM and GRU kernels for Keras's torch backend on the CPU.

Keras 3.15 runs a torch LSTM or GRU through ``torch._VF.lstm`` / ``torch._VF.gru`` only on
CUDA; on the CPU it loops over the time steps in Python (keras-team/keras #20902, #22275),
several times slower than ``torch.nn.LSTM``, which calls the same fused kernel on any
device. :func:`enable` routes the layers' ``backend.lstm`` / ``backend.gru`` calls to the
fused kernel on the CPU too, where it computes the same function: default activations
(tanh, sigmoid), a bias, no mask, not unrolled, and not inside a TorchScript or Dynamo
trace. Anything else goes to Keras's own path unchanged. Bidirectional layers run as two
fused calls (Keras's own bidirectional kernel is CUDA-only).

Only the backend function a layer calls is replaced, not the layer: saved ``.keras``
files stay plain Keras and load anywhere. The replacement is guarded by the Keras version
whose private torch RNN module it was checked against; ``tests/test_fast_path.py`` checks
outputs, states and gradients against Keras's path for every family.
"""

from __future__ import annotations

import os

CHECKED_KERAS = ("3.15.",)  # keras.src.backend.torch.rnn as read for this module
_state = {"enabled": False, "keras_lstm": None, "keras_gru": None}
fused_calls = 0  # how many layer calls took the fused kernel (the tests check it is used)


def enable() -> bool:
    """Route torch-backend LSTM and GRU layers to the fused CPU kernels; True when active.

    A no-op on other backends, on other Keras versions, and with ``ZOO_FUSED_RNN=0``.
    """
    import keras

    if _state["enabled"]:
        return True
    if (keras.backend.backend() != "torch" or os.environ.get("ZOO_FUSED_RNN") == "0"
            or not keras.__version__.startswith(CHECKED_KERAS)):
        return False
    from keras.src import backend

    import torch
    from keras.src import activations, ops

    rnn = _keras_torch_rnn()
    # Resolved once here, not in every layer call of a training step.
    _state.update(keras_lstm=rnn.lstm, keras_gru=rnn.gru, enabled=True,
                  tanh=(activations.tanh, torch.tanh, ops.tanh), sigmoid=(activations.sigmoid, torch.sigmoid, ops.sigmoid))
    backend.lstm = _fused_lstm
    backend.gru = _fused_gru
    return True


def _keras_torch_rnn():
    # The module, not the `rnn` function keras.src.backend.torch exports under the same name.
    import importlib

    return importlib.import_module("keras.src.backend.torch.rnn")


def disable() -> None:
    """Put Keras's own functions back (the reference path the tests compare with)."""
    if not _state["enabled"]:
        return
    from keras.src import backend

    backend.lstm, backend.gru = _state["keras_lstm"], _state["keras_gru"]
    _state["enabled"] = False


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
    return rnn._cudnn_gru(inputs, h, kernel, recurrent_kernel, bias, return_sequences=return_sequences,
                          device=inputs.device)
