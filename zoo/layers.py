"""The zoo's recurrent layer constructors.

Every model takes its recurrent layers from here (:func:`lstm`, :func:`gru`,
:func:`simple_rnn`). Layers are plain Keras layers, so saved models need no custom objects.
On the torch backend, LSTM, GRU and (tanh) SimpleRNN layers run torch's fused kernels once
:func:`zoo.compat.torch_rnn.enable` is called, which building or loading a model through the
registry does (``zoo.registry.load_families``); importing this module switches nothing on.
"""

import keras


def lstm(
    units: int,
    *,
    name: str,
    return_sequences: bool = False,
    return_state: bool = False,
    dropout: float = 0.0,
) -> keras.layers.LSTM:
    """A named Keras LSTM layer (Keras's default tanh/sigmoid, so cuDNN applies on GPU)."""
    return keras.layers.LSTM(
        units,
        name=name,
        return_sequences=return_sequences,
        return_state=return_state,
        dropout=dropout,
    )


def simple_rnn(
    units: int,
    *,
    name: str,
    activation: str = "tanh",
    return_sequences: bool = False,
    return_state: bool = False,
    dropout: float = 0.0,
) -> keras.layers.SimpleRNN:
    """A named Keras SimpleRNN layer."""
    return keras.layers.SimpleRNN(
        units,
        name=name,
        activation=activation,
        return_sequences=return_sequences,
        return_state=return_state,
        dropout=dropout,
    )


def gru(
    units: int,
    *,
    name: str,
    return_sequences: bool = False,
    return_state: bool = False,
    dropout: float = 0.0,
) -> keras.layers.GRU:
    """A named Keras GRU layer (Keras's defaults, so cuDNN applies on GPU)."""
    return keras.layers.GRU(
        units,
        name=name,
        return_sequences=return_sequences,
        return_state=return_state,
        dropout=dropout,
    )


def logits(units: int, *, name: str = "logits") -> keras.layers.Dense:
    """The output layer: a Dense layer that computes in float32 whatever the dtype policy,
    so mixed-precision training still takes its softmax and loss in float32."""
    return keras.layers.Dense(units, name=name, dtype="float32")
