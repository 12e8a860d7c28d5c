"""LSTM encoder-decoder (N-vs-M) trained with teacher forcing.

The encoder's final (h, c) per layer start the decoder, which reads the target shifted
right (start symbol first). For decoding, :func:`build_encoder_model` and
:func:`build_decoder_step_model` rebuild inference models from the same named layers.
"""

import keras
import numpy as np

from zoo import layers
from zoo.models.recurrent_state import numbered_layers, state_inputs, to_numpy
from zoo.registry import register_model

PRESETS = {
    "tiny": dict(source_vocab_size=14, target_vocab_size=13, embedding_dim=8, units=16, num_layers=1),
    "default": dict(source_vocab_size=14, target_vocab_size=13, embedding_dim=32, units=256, num_layers=1),
}


def sample_batch(config: dict, batch_size: int, time_steps: int = 7, seed: int = 0):
    """Random source and shifted-target token sequences with random targets."""
    rng = np.random.default_rng(seed)
    source = rng.integers(0, config["source_vocab_size"], size=(batch_size, time_steps)).astype("int32")
    decoder_in = rng.integers(0, config["target_vocab_size"], size=(batch_size, time_steps - 2)).astype("int32")
    target = rng.integers(0, config["target_vocab_size"], size=(batch_size, time_steps - 2)).astype("int32")
    return [source, decoder_in], target


def inference_functions(model: keras.Model):
    """(encode, step) numpy functions for :mod:`zoo.generate`: ``encode(source) -> states``
    and ``step(tokens, states) -> (logits, states)``."""
    encoder = build_encoder_model(model)
    decoder_step = build_decoder_step_model(model)

    def encode(source):
        return to_numpy(encoder.predict_on_batch(np.asarray(source, dtype="int32")))

    def step(tokens, states):
        # predict_on_batch runs a compiled function (jit / tf.function): fast per-step calls.
        out = to_numpy(decoder_step.predict_on_batch([np.asarray(tokens, dtype="int32"), *states]))
        return out[0], out[1:]

    return encode, step


def stepwise_logits(model: keras.Model, inputs) -> np.ndarray:
    """Teacher-forced logits computed through the encoder and the decoder step models."""
    source, decoder_in = inputs
    encode, step = inference_functions(model)
    states = encode(source)
    logits = []
    for t in range(decoder_in.shape[1]):
        step_logits, states = step(decoder_in[:, t : t + 1], states)
        logits.append(step_logits)
    return np.stack(logits, axis=1)


@register_model("seq2seq", presets=PRESETS, sample_batch=sample_batch, stepwise_logits=stepwise_logits)
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
    logits = keras.layers.Dense(target_vocab_size, name="logits")(y)
    return keras.Model([source, decoder_in], logits, name="seq2seq")


def build_encoder_model(model: keras.Model) -> keras.Model:
    """Source tokens -> final [h1, c1, h2, c2, ...] of the encoder, sharing `model`'s layers."""
    source = keras.Input(shape=(None,), dtype="int32", name="source_tokens")
    x = model.get_layer("encoder_embedding")(source)
    states = []
    for lstm in numbered_layers(model, "encoder_lstm_"):
        x, h, c = lstm(x)
        states += [h, c]
    return keras.Model(source, states, name="seq2seq_encoder")


def build_decoder_step_model(model: keras.Model) -> keras.Model:
    """One decoder step: ``token`` (batch, 1) and states -> logits (batch, vocab), new states."""
    lstm_layers = numbered_layers(model, "decoder_lstm_")
    token = keras.Input(shape=(1,), dtype="int32", name="token")
    states = state_inputs(lstm_layers)
    y = model.get_layer("decoder_embedding")(token)
    new_states = []
    for index, lstm in enumerate(lstm_layers, start=1):
        y, h, c = lstm(y, initial_state=states[2 * index - 2 : 2 * index])
        new_states += [h, c]
    logits = model.get_layer("logits")(y)
    vocab_size = model.get_layer("logits").units
    logits = keras.layers.Reshape((vocab_size,), name="next_token_logits")(logits)
    return keras.Model([token, *states], [logits, *new_states], name="seq2seq_decoder_step")
