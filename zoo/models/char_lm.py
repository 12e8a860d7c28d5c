"""Character language model: token ids -> Embedding -> LSTM stack -> next-token logits.

Besides the training model, :func:`build_step_model` rebuilds a one-token step from the
same named layers (shared weights): it takes a token and the LSTM states and returns the
logits and the new states, so generating costs one step per character.
"""

import keras
import numpy as np

from zoo import layers
from zoo.models.recurrent_state import CarriedStates, numbered_layers, state_inputs, to_numpy, zero_states
from zoo.registry import register_model

PRESETS = {
    "tiny": dict(vocab_size=20, embedding_dim=8, units=16, num_layers=2, dropout=0.0),
    # tiny_shakespeare has 65 characters; recipes set vocab_size from their data.
    "default": dict(vocab_size=65, embedding_dim=64, units=512, num_layers=2, dropout=0.0),
}


def sample_batch(config: dict, batch_size: int, time_steps: int = 12, seed: int = 0):
    """Random token windows and their (random) next-token targets."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, config["vocab_size"], size=(batch_size, time_steps)).astype("int32")
    y = rng.integers(0, config["vocab_size"], size=(batch_size, time_steps)).astype("int32")
    return x, y


def step_function(model: keras.Model):
    """(step, initial_states): a numpy step function for :mod:`zoo.generate` and a function
    giving zero states for a batch size."""
    step_model = build_step_model(model)
    lstm_layers = numbered_layers(model, "lstm_")

    def step(tokens, states):
        # predict_on_batch runs a compiled function (jit / tf.function): fast per-step calls.
        out = to_numpy(step_model.predict_on_batch([np.asarray(tokens, dtype="int32"), *states]))
        return out[0], out[1:]

    return step, lambda batch_size: zero_states(lstm_layers, batch_size)


def stepwise_logits(model: keras.Model, tokens: np.ndarray) -> np.ndarray:
    """Logits of `model` on `tokens` (batch, time), computed one step at a time."""
    step, initial_states = step_function(model)
    states = initial_states(len(tokens))
    logits = []
    for t in range(tokens.shape[1]):
        step_logits, states = step(tokens[:, t : t + 1], states)
        logits.append(step_logits)
    return np.stack(logits, axis=1)


@register_model("char_lm", presets=PRESETS, sample_batch=sample_batch, stepwise_logits=stepwise_logits)
def char_lm(*, vocab_size, embedding_dim, units, num_layers, dropout):
    """Character LM: Embedding -> LSTM stack (return_sequences) -> Dense(vocab) logits."""
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocab_size, embedding_dim, name="token_embedding")(tokens)
    for index in range(1, num_layers + 1):
        # return_state so the step model can call the same layer with initial states.
        lstm = layers.lstm(units, name=f"lstm_{index}", return_sequences=True, return_state=True)
        x = lstm(x)[0]
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{index}")(x)
    logits = keras.layers.Dense(vocab_size, name="logits")(x)
    return keras.Model(tokens, logits, name="char_lm")


def _run_from_states(model: keras.Model, tokens, states):
    """Apply `model`'s layers to `tokens` starting from `states`: (logits, new states)."""
    names = {layer.name for layer in model.layers}
    x = model.get_layer("token_embedding")(tokens)
    new_states = []
    for index, lstm in enumerate(numbered_layers(model, "lstm_"), start=1):
        x, h, c = lstm(x, initial_state=states[2 * index - 2 : 2 * index])
        new_states += [h, c]
        if f"dropout_{index}" in names:
            x = model.get_layer(f"dropout_{index}")(x)
    return model.get_layer("logits")(x), new_states


def build_step_model(model: keras.Model) -> keras.Model:
    """One-token step of a char_lm model, sharing its layers.

    Inputs: ``token`` (batch, 1) int32, then ``state_h_i``, ``state_c_i`` per LSTM layer.
    Outputs: logits (batch, vocab), then the new states in the same order.
    """
    token = keras.Input(shape=(1,), dtype="int32", name="token")
    states = state_inputs(numbered_layers(model, "lstm_"))
    logits, new_states = _run_from_states(model, token, states)
    vocab_size = model.get_layer("logits").units
    logits = keras.layers.Reshape((vocab_size,), name="next_token_logits")(logits)
    return keras.Model([token, *states], [logits, *new_states], name="char_lm_step")


def build_carry_model(model: keras.Model, max_batch_size: int) -> keras.Model:
    """A model sharing `model`'s layers whose LSTM states carry from one batch to the next.

    Inputs: ``tokens`` (batch, time) and ``reset`` (batch, 1), 1 where a row starts a new
    stream (see :class:`CarriedStates`), with batch <= `max_batch_size`; output: the
    window's logits. Used to train and evaluate on consecutive windows, as the tutorial's
    consecutive sampling does.
    """
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    reset = keras.Input(shape=(1,), name="reset")
    names = {layer.name for layer in model.layers}
    x = model.get_layer("token_embedding")(tokens)
    for index, lstm in enumerate(numbered_layers(model, "lstm_"), start=1):
        x = CarriedStates(lstm, max_batch_size, name=f"carried_lstm_{index}")([x, reset])
        if f"dropout_{index}" in names:
            x = model.get_layer(f"dropout_{index}")(x)
    return keras.Model([tokens, reset], model.get_layer("logits")(x), name="char_lm_carry")
