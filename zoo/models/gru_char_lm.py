"""GRU character language model: char_lm's architecture with GRU layers, one state each.

A whole generative family in one file: its builder, presets, and the inference and
carried-state models, which reuse char_lm's layer-name conventions (``token_embedding``,
``gru_1..N``, ``dropout_i``, ``logits``).
"""

import keras

from zoo import layers
from zoo.models import char_lm
from zoo.registry import register_model

PRESETS = {
    "tiny": dict(vocab_size=20, embedding_dim=8, units=16, num_layers=2, dropout=0.0),
    "default": dict(vocab_size=65, embedding_dim=64, units=512, num_layers=2, dropout=0.0),
}
PREFIX = "gru_"


@register_model(
    "gru_char_lm",
    presets=PRESETS,
    inference=lambda model: char_lm.inference_models(model, prefix=PREFIX),
    carry=lambda model, max_batch_size: char_lm.build_carry_model(model, max_batch_size, prefix=PREFIX),
)
def gru_char_lm(*, vocab_size, embedding_dim, units, num_layers, dropout):
    """Character LM: Embedding -> GRU stack (return_sequences) -> Dense(vocab) logits."""
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocab_size, embedding_dim, name="token_embedding")(tokens)
    for index in range(1, num_layers + 1):
        x = layers.gru(units, name=f"{PREFIX}{index}", return_sequences=True, return_state=True)(x)[0]
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{index}")(x)
    logits = layers.logits(vocab_size)(x)
    return keras.Model(tokens, logits, name="gru_char_lm")
