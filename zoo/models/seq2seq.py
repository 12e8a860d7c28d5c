"""LSTM encoder-decoder (N-vs-M) trained with teacher forcing.

The encoder's final (h, c) per layer start the decoder, which reads the target shifted
right (start symbol first). With ``context="every_step"`` the decoder also reads the
encoder's last final output (the context) beside each target token, the tutorial's second
N-vs-M figure. For decoding, :func:`inference_models` rebuilds an ``encoder`` and a
``decoder_step`` model from the same named layers; the context then travels as one more
state, ``state_context``, which each step returns unchanged.
"""

import keras

from zoo import layers
from zoo.models.recurrent_state import ContextEveryStep, NamedModel, numbered_layers, run_stack, state_inputs
from zoo.registry import RegistryError, register_model

PRESETS = {
    "tiny": dict(source_vocab_size=14, target_vocab_size=13, embedding_dim=8, units=16, num_layers=1,
                 context="initial_state"),
    "default": dict(source_vocab_size=14, target_vocab_size=13, embedding_dim=32, units=256, num_layers=1,
                    context="initial_state"),
}
# How the encoder's summary reaches the decoder: only as its initial states, or also as an
# input at every step.
CONTEXTS = ("initial_state", "every_step")
CONTEXT_LAYER = "decoder_context"


def inference_models(model: keras.Model) -> dict:
    """``encoder`` (source tokens -> the decoder's initial states, by name) and
    ``decoder_step`` (``token`` and states -> ``logits`` and ``next_<state>``)."""
    encoder_layers = numbered_layers(model, "encoder_lstm_")
    decoder_layers = numbered_layers(model, "decoder_lstm_")
    every_step = CONTEXT_LAYER in {layer.name for layer in model.layers}
    source = keras.Input(shape=(None,), dtype="int32", name="source_tokens")
    _, final = run_stack(encoder_layers, model.get_layer("encoder_embedding")(source))
    if every_step:  # the last layer's final output, once more as the context state
        final = [*final, keras.layers.Identity(name="context")(final[-2])]
    encoder = keras.Model(source, final, name="seq2seq_encoder")

    token = keras.Input(shape=(1,), dtype="int32", name="token")
    states = state_inputs(decoder_layers)
    y = model.get_layer("decoder_embedding")(token)
    if every_step:
        context = keras.Input(shape=(encoder_layers[-1].units,), name="state_context")
        y = model.get_layer(CONTEXT_LAYER)([y, context])
    y, new_states = run_stack(decoder_layers, y, states)
    if every_step:
        states, new_states = [*states, context], [*new_states, keras.layers.Identity(name="next_context")(context)]
    vocab_size = model.get_layer("logits").units
    logits = keras.layers.Reshape((vocab_size,), name="next_token_logits")(model.get_layer("logits")(y))
    decoder_step = keras.Model([token, *states], [logits, *new_states], name="seq2seq_decoder_step")
    return {"encoder": NamedModel(encoder, [tensor.name for tensor in states]),
            "decoder_step": NamedModel.step(decoder_step)}


@register_model("seq2seq", presets=PRESETS, inference=inference_models)
def seq2seq(*, source_vocab_size, target_vocab_size, embedding_dim, units, num_layers, context):
    """LSTM encoder-decoder: encoder states start the decoder (and with ``context="every_step"``
    the last encoder output joins every decoder input); Dense(target vocab) logits."""
    if context not in CONTEXTS:
        raise RegistryError(f"context {context!r}: expected one of {', '.join(CONTEXTS)}")
    source = keras.Input(shape=(None,), dtype="int32", name="source_tokens")
    decoder_in = keras.Input(shape=(None,), dtype="int32", name="decoder_tokens")
    x = keras.layers.Embedding(source_vocab_size, embedding_dim, name="encoder_embedding")(source)
    encoder_states = []
    for index in range(1, num_layers + 1):
        lstm = layers.lstm(units, name=f"encoder_lstm_{index}", return_sequences=True, return_state=True)
        x, h, c = lstm(x)
        encoder_states.append([h, c])
    y = keras.layers.Embedding(target_vocab_size, embedding_dim, name="decoder_embedding")(decoder_in)
    if context == "every_step":
        y = ContextEveryStep(name=CONTEXT_LAYER)([y, encoder_states[-1][0]])
    for index in range(1, num_layers + 1):
        lstm = layers.lstm(units, name=f"decoder_lstm_{index}", return_sequences=True, return_state=True)
        y = lstm(y, initial_state=encoder_states[index - 1])[0]
    logits = layers.logits(target_vocab_size)(y)
    return keras.Model([source, decoder_in], logits, name="seq2seq")
