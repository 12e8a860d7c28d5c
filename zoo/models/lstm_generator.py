"""Class-conditioned row generator (1-vs-N): a class in, an image out, one row per step.

Each step reads the row above (the first reads a blank row) and predicts every pixel of its
own row as a softmax over ``levels`` gray levels. Two ways to draw a row's pixels:

- ``pixels="independent"``: independent given the LSTM's states, which carry everything drawn
  so far (one Dense layer gives every pixel's logits; the drawings are grainy);
- ``pixels="left_to_right"``: autoregressive along the row, as PixelRNN's row models are: the
  row LSTM's output becomes ``pixel_features`` numbers per position, and a small LSTM
  (``pixel_lstm_1`` of ``pixel_units``, zero states at each row's start) runs left to right
  over the row, reading at each position its features and the gray of the pixel to its left
  (0 at the first), and gives that pixel's logits. The model then takes a third input,
  ``left``: each row's pixels shifted right by one (teacher forcing), and pictures of
  ``height`` rows.

The class enters in one of the tutorial's two 1-vs-N ways (``condition``):

- ``initial_state``: the class embedding, through one Dense layer per state, starts every
  LSTM layer (the states carry it from there);
- ``every_step``: the class embedding joins the row at every step; the states start at zero.

For drawing, :func:`inference_models` rebuilds from the same named layers an ``encoder``
(``class_id`` -> the step's first states, by name) and a ``step`` (``token``, the row above,
and the states -> the row's ``logits`` (batch, width, levels) and ``next_<state>``). With
``every_step`` the class embedding travels as one more state, ``state_class``, which each
step returns unchanged (as seq2seq's context does). With a pixel decoder the ``step`` returns
the row's ``features`` (batch, width, pixel_features) instead of logits, and a ``pixel_step``
(``token`` (batch, 1, pixel_features + 1): one position's features then the gray to its left,
and the pixel LSTM's states -> that pixel's ``logits`` (batch, levels) and the next states)
draws the row pixel by pixel.
"""

import keras

from zoo import generate, layers
from zoo.models.recurrent_state import ContextEveryStep, NamedModel, numbered_layers, run_stack, state_inputs
from zoo.registry import RegistryError, register_model

# pixels="independent" by default: a run saved before the pixel decoder (its config without
# the option) rebuilds as it was trained; recipes name the form they want. The form is a word,
# not a size, so a smoke run at the tiny preset keeps it (zoo.recipe.Recipe.replace).
PRESETS = {
    "tiny": dict(num_classes=10, height=28, width=28, levels=8, class_dim=8, units=16, num_layers=1, condition="initial_state",
                 pixels="independent", pixel_units=8, pixel_features=4),
    "default": dict(num_classes=10, height=28, width=28, levels=8, class_dim=32, units=256, num_layers=2,
                    condition="initial_state", pixels="independent", pixel_units=64, pixel_features=32),
}
CONDITIONS = ("initial_state", "every_step")
PIXEL_FORMS = ("independent", "left_to_right")
RECURRENT_PREFIX = "lstm_"
PIXEL_PREFIX = "pixel_lstm_"
FEATURES_LAYER = "pixel_features"
CLASS_LAYER = "class_every_step"


@keras.saving.register_keras_serializable(package="zoo")
class MergeRows(keras.layers.Layer):
    """(batch, rows, width, features) -> (batch * rows, width, features): every row one
    sequence for the pixel LSTM."""

    def call(self, x):
        shape = keras.ops.shape(x)
        return keras.ops.reshape(x, (-1, shape[2], shape[3]))

    def compute_output_shape(self, input_shape):
        return None, input_shape[2], input_shape[3]


@keras.saving.register_keras_serializable(package="zoo")
class SplitRows(keras.layers.Layer):
    """``[x (batch * rows, width, features), reference (batch, rows, ...)]`` ->
    (batch, rows, width, features): :class:`MergeRows` undone."""

    def call(self, inputs):
        x, reference = inputs
        rows, shape = keras.ops.shape(reference), keras.ops.shape(x)
        return keras.ops.reshape(x, (rows[0], rows[1], shape[1], shape[2]))

    def compute_output_shape(self, input_shape):
        x_shape, reference_shape = input_shape
        return reference_shape[0], reference_shape[1], x_shape[1], x_shape[2]


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
    ``next_<state>``); with a pixel decoder the step gives ``features`` (batch, width,
    pixel_features) instead, and ``pixel_step`` turns them into each pixel's ``logits``."""
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
    models = {"encoder": NamedModel(encoder, [tensor.name for tensor in states])}
    if FEATURES_LAYER not in {layer.name for layer in model.layers}:
        logits = keras.layers.Reshape((width, levels), name="row_logits")(model.get_layer("logits")(x))
        models["step"] = NamedModel.step(keras.Model([row, *states], [logits, *new_states], name="lstm_generator_step"))
        return models
    features_layer = model.get_layer(FEATURES_LAYER)
    features = features_layer.units // width
    row_features = keras.layers.Reshape((width, features), name="row_features")(features_layer(x))
    models["step"] = NamedModel.step(keras.Model([row, *states], [row_features, *new_states],
                                                 name="lstm_generator_step"), generate.FEATURES)
    pixel_layers = numbered_layers(model, PIXEL_PREFIX)
    pixel = keras.Input(shape=(1, features + 1), name="token")  # one position's features, then the gray to its left
    pixel_states = state_inputs(pixel_layers)
    z, new_pixel_states = run_stack(pixel_layers, pixel, pixel_states)
    logits = keras.layers.Reshape((levels,), name="one_pixel_logits")(model.get_layer("logits")(z))
    models["pixel_step"] = NamedModel.step(keras.Model([pixel, *pixel_states], [logits, *new_pixel_states],
                                                       name="lstm_generator_pixel_step"))
    return models


@register_model("lstm_generator", presets=PRESETS, inference=inference_models)
def lstm_generator(*, num_classes, height, width, levels, class_dim, units, num_layers, condition, pixels, pixel_units,
                   pixel_features):
    """Class-conditioned LSTM over image rows, optionally a pixel LSTM along each row.

    (class, rows shifted down by one[, each row shifted right by one]) -> per-pixel logits
    over gray levels (batch, rows, width, levels); the class as the initial states or as an
    input at every step (``condition``), a row's pixels independent or drawn left to right by
    a pixel LSTM (``pixels``)."""
    if condition not in CONDITIONS:
        raise RegistryError(f"condition {condition!r}: expected one of {', '.join(CONDITIONS)}")
    if pixels not in PIXEL_FORMS:
        raise RegistryError(f"pixels {pixels!r}: expected one of {', '.join(PIXEL_FORMS)}")
    for name, value in (("height", height), ("pixel_units", pixel_units), ("pixel_features", pixel_features)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RegistryError(f"{name} {value!r}: expected a whole number >= 1")
    label = keras.Input(shape=(), dtype="int32", name="class_id")
    # The pixel decoder folds the rows into the batch, and LiteRT's recurrent loops need that
    # size static: its pictures have `height` rows. The rows-only form takes any number.
    rows_in_picture = None if pixels == "independent" else height
    rows = keras.Input(shape=(rows_in_picture, width), name="rows")  # the rows above: a blank row, then rows 1..n-1
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
    if pixels == "independent":
        logits = layers.logits(width * levels)(x)
        logits = keras.layers.Reshape((-1, width, levels), name="pixel_logits", dtype="float32")(logits)
        return keras.Model([label, rows], logits, name="lstm_generator")
    left = keras.Input(shape=(rows_in_picture, width), name="left")  # each row's pixels shifted right by one
    features = keras.layers.Dense(width * pixel_features, name=FEATURES_LAYER)(x)
    features = keras.layers.Reshape((-1, width, pixel_features), name="row_features")(features)
    positions = keras.layers.Concatenate(name="features_and_left")(
        [features, keras.layers.Reshape((-1, width, 1), name="left_gray")(left)])
    pixel_lstm = layers.lstm(pixel_units, name=f"{PIXEL_PREFIX}1", return_sequences=True, return_state=True)
    z = pixel_lstm(MergeRows(name="rows_as_sequences")(positions))[0]
    logits = SplitRows(name="pixel_logits", dtype="float32")([layers.logits(levels)(z), features])
    return keras.Model([label, rows, left], logits, name="lstm_generator")
