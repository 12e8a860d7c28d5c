"""Class-conditioned row generator (1-vs-N): a class in, an image out, one row per step.

Each step reads the row above (the first reads a blank row) and predicts every pixel of its
own row as a softmax over ``levels`` gray levels; the pixels of a row are independent given
the LSTM's states, which carry everything drawn so far. The class enters in one of the
tutorial's two 1-vs-N ways (``condition``):

- ``initial_state``: the class embedding, through one Dense layer per state, starts every
  LSTM layer (the states carry it from there);
- ``every_step``: the class embedding joins the row at every step; the states start at zero.

For drawing, :func:`inference_models` rebuilds from the same named layers an ``encoder``
(``class_id`` -> the step's first states, by name) and a ``step`` (``token``, the row above,
and the states -> the row's ``logits`` (batch, width, levels) and ``next_<state>``). With
``every_step`` the class embedding travels as one more state, ``state_class``, which each
step returns unchanged (as seq2seq's context does).
"""

import keras

from zoo import layers
from zoo.models.recurrent_state import ContextEveryStep, NamedModel, numbered_layers, run_stack, state_inputs
from zoo.registry import RegistryError, register_model

PRESETS = {
    "tiny": dict(num_classes=10, width=28, levels=8, class_dim=8, units=16, num_layers=1, condition="initial_state"),
    "default": dict(num_classes=10, width=28, levels=8, class_dim=32, units=256, num_layers=2,
                    condition="initial_state"),
}
CONDITIONS = ("initial_state", "every_step")
RECURRENT_PREFIX = "lstm_"
CLASS_LAYER = "class_every_step"


@keras.saving.register_keras_serializable(package="zoo")
class ZeroState(keras.layers.Layer):
    """(batch, features) -> zeros (batch, units): the first states of an ``every_step`` generator."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def call(self, x):
        return keras.ops.zeros_like(x[:, :1]) + keras.ops.zeros((1, self.units), dtype=x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape[0], self.units

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def inference_models(model: keras.Model) -> dict:
    """``encoder`` (``class_id`` -> the step's first states, by name) and ``step`` (``token``:
    the row above (batch, 1, width), and the states -> ``logits`` (batch, width, levels) and
    ``next_<state>``)."""
    recurrent = numbered_layers(model, RECURRENT_PREFIX)
    every_step = CLASS_LAYER in {layer.name for layer in model.layers}
    label = keras.Input(shape=(), dtype="int32", name="class_id")
    embedded = model.get_layer("class_embedding")(label)
    if every_step:
        first = [ZeroState(layer.units, name=f"zero_{kind}_{index}")(embedded)
                 for index, layer in enumerate(recurrent, start=1) for kind in ("h", "c")]
        first.append(keras.layers.Identity(name="class_state")(embedded))
    else:
        first = [model.get_layer(f"initial_{kind}_{index}")(embedded)
                 for index in range(1, len(recurrent) + 1) for kind in ("h", "c")]
    encoder = keras.Model(label, first, name="lstm_generator_encoder")

    width, levels = model.output_shape[-2:]
    row = keras.Input(shape=(1, width), name="token")
    states = state_inputs(recurrent)
    x = row
    if every_step:
        class_state = keras.Input(shape=(model.get_layer("class_embedding").output_dim,), name="state_class")
        x = model.get_layer(CLASS_LAYER)([x, class_state])
    x, new_states = run_stack(recurrent, x, states)
    if every_step:
        states = [*states, class_state]
        new_states = [*new_states, keras.layers.Identity(name="next_class")(class_state)]
    logits = keras.layers.Reshape((width, levels), name="row_logits")(model.get_layer("logits")(x))
    step = keras.Model([row, *states], [logits, *new_states], name="lstm_generator_step")
    return {"encoder": NamedModel(encoder, [tensor.name for tensor in states]), "step": NamedModel.step(step)}


@register_model("lstm_generator", presets=PRESETS, inference=inference_models)
def lstm_generator(*, num_classes, width, levels, class_dim, units, num_layers, condition):
    """Class-conditioned LSTM over image rows: (class, rows shifted down by one) -> per-pixel
    logits over gray levels (batch, rows, width, levels); the class as the initial states or
    as an input at every step (``condition``)."""
    if condition not in CONDITIONS:
        raise RegistryError(f"condition {condition!r}: expected one of {', '.join(CONDITIONS)}")
    label = keras.Input(shape=(), dtype="int32", name="class_id")
    rows = keras.Input(shape=(None, width), name="rows")  # the rows above: a blank row, then rows 1..n-1
    embedded = keras.layers.Embedding(num_classes, class_dim, name="class_embedding")(label)
    x = ContextEveryStep(name=CLASS_LAYER)([rows, embedded]) if condition == "every_step" else rows
    for index in range(1, num_layers + 1):
        initial = None
        if condition == "initial_state":
            # h through tanh (the range an LSTM's h has), c as it is.
            initial = [keras.layers.Dense(units, activation="tanh", name=f"initial_h_{index}")(embedded),
                       keras.layers.Dense(units, name=f"initial_c_{index}")(embedded)]
        lstm = layers.lstm(units, name=f"{RECURRENT_PREFIX}{index}", return_sequences=True, return_state=True)
        x = lstm(x, initial_state=initial)[0]
    logits = layers.logits(width * levels)(x)
    logits = keras.layers.Reshape((-1, width, levels), name="pixel_logits", dtype="float32")(logits)
    return keras.Model([label, rows], logits, name="lstm_generator")
