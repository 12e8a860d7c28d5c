"""LSTM encoder-decoder (N-vs-M) trained with teacher forcing.

The encoder's final (h, c) per layer start the decoder, which reads the target shifted
right (start symbol first). For decoding, :func:`inference_models` rebuilds an ``encoder``
and a ``decoder_step`` model from the same named layers.
"""

import keras

from zoo import layers
from zoo.models.recurrent_state import NamedModel, numbered_layers, run_stack, state_inputs
from zoo.registry import register_model

PRESETS = {
    "tiny": dict(source_vocab_size=14, target_vocab_size=13, embedding_dim=8, units=16, num_layers=1),
    "default": dict(source_vocab_size=14, target_vocab_size=13, embedding_dim=32, units=256, num_layers=1),
}


def inference_models(model: keras.Model) -> dict:
    """``encoder`` (source tokens -> the decoder's initial states, by name) and
    ``decoder_step`` (``token`` and states -> ``logits`` and ``next_<state>``)."""
    encoder_layers = numbered_layers(model, "encoder_lstm_")
    decoder_layers = numbered_layers(model, "decoder_lstm_")
    source = keras.Input(shape=(None,), dtype="int32", name="source_tokens")
    _, final = run_stack(encoder_layers, model.get_layer("encoder_embedding")(source))
    encoder = keras.Model(source, final, name="seq2seq_encoder")

    token = keras.Input(shape=(1,), dtype="int32", name="token")
    states = state_inputs(decoder_layers)
    y, new_states = run_stack(decoder_layers, model.get_layer("decoder_embedding")(token), states)
    vocab_size = model.get_layer("logits").units
    logits = keras.layers.Reshape((vocab_size,), name="next_token_logits")(model.get_layer("logits")(y))
    decoder_step = keras.Model([token, *states], [logits, *new_states], name="seq2seq_decoder_step")
    return {"encoder": NamedModel(encoder, [tensor.name for tensor in states]),
            "decoder_step": NamedModel.step(decoder_step)}


@register_model("seq2seq", presets=PRESETS, inference=inference_models)
def seq2seq(*, source_vocab_size, target_vocab_size, embedding_dim, units, num_layers):
    """LSTM encoder-decoder: encoder states start the decoder; Dense(target vocab) logits."""
    source = keras.Input(shape=(None,), dtype="int32", name="source_tokens")
    decoder_in = keras.Input(shape=(None,), dtype="int32", name="decoder_tokens")
    x = keras.layers.Embedding(source_vocab_size, embedding_dim, name="encoder_embedding")(source)
    encoder_states = []
    for index in range(1, num_layers + 1):
        lstm = layers.lstm(units, name=f"encoder_lstm_{index}", return_sequences=True, return_state=True)
        x, h, c = lstm(x)
        encoder_states.append([h, c])
    y = keras.layers.Embedding(target_vocab_size, embedding_dim, name="decoder_embedding")(decoder_in)
    for index in range(1, num_layers + 1):
        lstm = layers.lstm(units, name=f"decoder_lstm_{index}", return_sequences=True, return_state=True)
        y = lstm(y, initial_state=encoder_states[index - 1])[0]
    logits = layers.logits(target_vocab_size)(y)
    return keras.Model([source, decoder_in], logits, name="seq2seq")
