"""Helpers for models whose LSTM layers are named ``<prefix>1 .. <prefix>N``."""

import keras
import numpy as np


def numbered_layers(model: keras.Model, prefix: str) -> list:
    """The layers named ``prefix1``, ``prefix2``, ... of `model`, in order."""
    found = []
    names = {layer.name: layer for layer in model.layers}
    while f"{prefix}{len(found) + 1}" in names:
        found.append(names[f"{prefix}{len(found) + 1}"])
    if not found:
        raise ValueError(f"model {model.name!r} has no layer named {prefix}1")
    return found


def state_inputs(lstm_layers: list) -> list:
    """One (h, c) pair of named state Inputs per LSTM layer, flattened [h1, c1, h2, c2, ...]."""
    inputs = []
    for index, layer in enumerate(lstm_layers, start=1):
        inputs.append(keras.Input(shape=(layer.units,), name=f"state_h_{index}"))
        inputs.append(keras.Input(shape=(layer.units,), name=f"state_c_{index}"))
    return inputs


def zero_states(lstm_layers: list, batch_size: int) -> list:
    """Zero initial states [h1, c1, ...] as float32 numpy arrays."""
    return [
        np.zeros((batch_size, layer.units), dtype="float32")
        for layer in lstm_layers
        for _ in ("h", "c")
    ]


def to_numpy(values) -> list:
    """Model outputs (a tensor or a list of tensors) as a list of numpy arrays."""
    if not isinstance(values, (list, tuple)):
        values = [values]
    return [np.asarray(keras.ops.convert_to_numpy(v)) for v in values]
