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


class CarriedStates(keras.layers.Layer):
    """Runs a shared LSTM layer from the final states of this layer's previous call.

    Takes ``[sequence, reset]``: `reset` (batch, 1) is 1 for rows that start a new stream
    (they start from zero states) and 0 for rows that continue the row of the previous
    batch. The states live in non-trainable variables, so they are updated by the training
    step itself on every backend (no second forward pass), and gradients stop at the batch
    boundary (truncated backpropagation through time). A batch may have up to
    `max_batch_size` rows (an evaluation split may hold fewer streams than training uses).
    """

    def __init__(self, lstm, max_batch_size: int, **kwargs):
        super().__init__(**kwargs)
        self.lstm, self.max_batch_size = lstm, max_batch_size

    def build(self, input_shape):
        shape = (self.max_batch_size, self.lstm.units)
        self.state_h = self.add_weight(shape=shape, initializer="zeros", trainable=False, name="state_h")
        self.state_c = self.add_weight(shape=shape, initializer="zeros", trainable=False, name="state_c")

    def call(self, inputs, training=None):
        sequence, reset = inputs
        rows = keras.ops.shape(sequence)[0]
        keep = 1.0 - keras.ops.cast(reset, self.state_h.dtype)
        initial = [self.state_h[:rows] * keep, self.state_c[:rows] * keep]
        outputs, h, c = self.lstm(sequence, initial_state=initial, training=training)
        for variable, final in ((self.state_h, h), (self.state_c, c)):
            variable.assign(keras.ops.concatenate([keras.ops.stop_gradient(final), variable[rows:]], axis=0))
        return outputs

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:2], self.lstm.units)

    def get_config(self):
        # Only for summaries (TensorBoard's graph): carried-state models are never saved.
        return {**super().get_config(), "lstm": keras.saving.serialize_keras_object(self.lstm),
                "max_batch_size": self.max_batch_size}

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "lstm": keras.saving.deserialize_keras_object(config["lstm"])})


def stream_resets(rows: int, streams: int) -> np.ndarray:
    """The `reset` input of :class:`CarriedStates` for `rows` laid out window by window
    (see zoo.data.text.streams): 1 for the first window of each stream, else 0."""
    return (np.arange(rows) < streams).astype("float32")[:, None]
