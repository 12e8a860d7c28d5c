"""Character language model: token ids -> Embedding -> LSTM stack -> next-token logits.

For generation, :func:`inference_models` rebuilds a one-token ``step`` model from the same
named layers (shared weights): it takes a token and the LSTM states and returns the logits
and the new states, so generating costs one step per character. For training on
consecutive windows, :func:`build_carry_model` carries the LSTM states across batches.
"""

import keras

from zoo import layers
from zoo.models.recurrent_state import CarriedStates, NamedModel, numbered_layers, run_stack, state_inputs
from zoo.registry import register_model

PRESETS = {
    "tiny": dict(vocab_size=20, embedding_dim=8, units=16, num_layers=2, dropout=0.0),
    # tiny_shakespeare has 65 characters; recipes set vocab_size from their data.
    "default": dict(vocab_size=65, embedding_dim=64, units=512, num_layers=2, dropout=0.0),
}
RECURRENT_PREFIX = "lstm_"


def build_step_model(model: keras.Model, prefix: str = RECURRENT_PREFIX) -> keras.Model:
    """One-token step of a character LM sharing its layers: ``token`` (batch, 1) and the
    states in, logits (batch, vocab) and the new states out. Any recurrent layers named
    ``<prefix>1..N`` (built with ``return_state=True``) between ``token_embedding`` and
    ``logits``, with optional ``dropout_i`` after layer i."""
    recurrent = numbered_layers(model, prefix)
    token = keras.Input(shape=(1,), dtype="int32", name="token")
    states = state_inputs(recurrent)
    x, new_states = run_stack(recurrent, model.get_layer("token_embedding")(token), states,
                              between=_dropout_after(model))
    vocab_size = model.get_layer("logits").units
    logits = keras.layers.Reshape((vocab_size,), name="next_token_logits")(model.get_layer("logits")(x))
    return keras.Model([token, *states], [logits, *new_states], name=f"{model.name}_step")


def inference_models(model: keras.Model, prefix: str = RECURRENT_PREFIX) -> dict:
    """The models generation runs, by artifact name: ``step``."""
    return {"step": NamedModel.step(build_step_model(model, prefix))}


def build_carry_model(model: keras.Model, max_batch_size: int, prefix: str = RECURRENT_PREFIX) -> keras.Model:
    """A model sharing `model`'s layers whose recurrent states carry from batch to batch.

    Inputs: ``tokens`` (batch, time) and ``reset`` (batch, 1), 1 where a row starts a new
    stream (see :class:`CarriedStates`), with batch <= `max_batch_size`; output: the
    window's logits. Used to train and evaluate on consecutive windows, as the tutorial's
    consecutive sampling does.
    """
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    reset = keras.Input(shape=(1,), name="reset")
    x = model.get_layer("token_embedding")(tokens)
    between = _dropout_after(model)
    for index, layer in enumerate(numbered_layers(model, prefix), start=1):
        x = between(index, CarriedStates(layer, max_batch_size, name=f"carried_{layer.name}")([x, reset]))
    return keras.Model([tokens, reset], model.get_layer("logits")(x), name=f"{model.name}_carry")


def _dropout_after(model):
    names = {layer.name for layer in model.layers}

    def between(index, x):
        return model.get_layer(f"dropout_{index}")(x) if f"dropout_{index}" in names else x

    return between


@register_model("char_lm", presets=PRESETS, inference=inference_models, carry=build_carry_model)
def char_lm(*, vocab_size, embedding_dim, units, num_layers, dropout):
    """Character LM: Embedding -> LSTM stack (return_sequences) -> Dense(vocab) logits."""
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocab_size, embedding_dim, name="token_embedding")(tokens)
    for index in range(1, num_layers + 1):
        # return_state so the step model can call the same layer with initial states.
        lstm = layers.lstm(units, name=f"{RECURRENT_PREFIX}{index}", return_sequences=True, return_state=True)
        x = lstm(x)[0]
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{index}")(x)
    logits = layers.logits(vocab_size)(x)
    return keras.Model(tokens, logits, name="char_lm")
