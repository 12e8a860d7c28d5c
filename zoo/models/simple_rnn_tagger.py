"""SimpleRNN sequence labeller (N-vs-N): one label per input step, as in the tutorial's
binary addition (two bits in per step, one sum bit out).

For streaming, :func:`inference_models` rebuilds a one-step ``step`` model from the same
named layers (shared weights): the step's features (``token``, batch x 1 x features) and the
recurrent states in, the step's logits and the new states out, so a stream is labelled step
by step with a fixed-size state.
"""

import keras

from zoo import layers
from zoo.models.recurrent_state import NamedModel, numbered_layers, run_stack, state_inputs
from zoo.registry import register_model

PRESETS = {
    "tiny": dict(features=2, units=4, num_layers=1, num_classes=2, activation="tanh"),
    # The tutorial's binary adder: 16 units, two input bits, one output bit (two classes).
    "default": dict(features=2, units=16, num_layers=1, num_classes=2, activation="tanh"),
}
RECURRENT_PREFIX = "simple_rnn_"


def build_step_model(model: keras.Model) -> keras.Model:
    """One step of the labeller sharing its layers: ``token`` (batch, 1, features) and the
    states in, logits (batch, classes) and the new states out."""
    recurrent = numbered_layers(model, RECURRENT_PREFIX)
    frame = keras.Input(shape=(1, model.inputs[0].shape[-1]), name="token")
    states = state_inputs(recurrent)
    x, new_states = run_stack(recurrent, frame, states)
    classes = model.get_layer("logits").units
    logits = keras.layers.Reshape((classes,), name="step_logits")(model.get_layer("logits")(x))
    return keras.Model([frame, *states], [logits, *new_states], name=f"{model.name}_step")


def inference_models(model: keras.Model) -> dict:
    """The models streaming runs, by artifact name: ``step``."""
    return {"step": NamedModel.step(build_step_model(model))}


@register_model("simple_rnn_tagger", presets=PRESETS, inference=inference_models)
def simple_rnn_tagger(*, features, units, num_layers, num_classes, activation):
    """Stacked SimpleRNN labelling every step: (batch, time, features) -> per-step logits."""
    frames = keras.Input(shape=(None, features), name="frames")
    x = frames
    for index in range(1, num_layers + 1):
        # return_state so the step model can call the same layer with initial states.
        rnn = layers.simple_rnn(units, name=f"{RECURRENT_PREFIX}{index}", activation=activation,
                                return_sequences=True, return_state=True)
        x = rnn(x)[0]
    logits = layers.logits(num_classes)(x)
    return keras.Model(frames, logits, name="simple_rnn_tagger")
