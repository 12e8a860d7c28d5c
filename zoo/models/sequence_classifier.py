"""Shared pieces of the N-vs-1 classifiers: a recurrent stack read row by row, then logits."""

import keras

from zoo import layers


def build_sequence_classifier(
    *,
    name: str,
    make_recurrent,
    num_layers: int,
    features: int,
    num_classes: int,
    bidirectional: bool,
    dropout: float,
) -> keras.Model:
    """Input ``rows`` (batch, time, features) -> recurrent stack -> ``logits``.

    `make_recurrent(index, return_sequences)` returns the named recurrent layer of
    position `index` (1-based); every layer but the last returns the whole sequence.
    `dropout` > 0 adds a Dropout layer after each recurrent layer. The time dimension is
    left open, so any number of rows is accepted.
    """
    rows = keras.Input(shape=(None, features), name="rows")
    x = rows
    for index in range(1, num_layers + 1):
        layer = make_recurrent(index, return_sequences=index < num_layers)
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bidirectional_{layer.name}")
        x = layer(x)
        if dropout:  # after every recurrent layer, so the last one's output is regularized too
            x = keras.layers.Dropout(dropout, name=f"dropout_{index}")(x)
    logits = layers.logits(num_classes)(x)
    return keras.Model(rows, logits, name=name)
