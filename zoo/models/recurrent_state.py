"""Building blocks of the generative families: numbered recurrent layers, their states by
name, inference models known by the names of their inputs and outputs, carried states.

State names follow one convention, which the exports' manifests and the runtime share
(see :mod:`zoo.generate`): layer i of a stack has ``state_h_i`` (and ``state_c_i`` for an
LSTM); a step model takes ``token`` and the states and returns ``logits`` and
``next_<state>`` for each state; an encoder returns the states a decoder step starts from.
"""

import keras
import numpy as np

from zoo import generate


def numbered_layers(model: keras.Model, prefix: str) -> list:
    """The layers named ``prefix1``, ``prefix2``, ... of `model`, in order."""
    found = []
    names = {layer.name: layer for layer in model.layers}
    while f"{prefix}{len(found) + 1}" in names:
        found.append(names[f"{prefix}{len(found) + 1}"])
    if not found:
        raise ValueError(f"model {model.name!r} has no layer named {prefix}1")
    return found


def _state_kinds(layer) -> tuple[str, ...]:
    """("h", "c") for an LSTM, ("h",) for the recurrent layers with one state; a zoo layer
    of its own names its states (``state_kinds``)."""
    if isinstance(layer, keras.layers.LSTM):
        return ("h", "c")
    return getattr(layer, "state_kinds", ("h",))


def _state_sizes(layer) -> list[int]:
    """The size of each state of a recurrent layer (Keras's ``state_size``, a number or a list)."""
    size = layer.state_size
    return list(size) if isinstance(size, (list, tuple)) else [size]


def state_inputs(layers: list) -> list:
    """Named state Inputs of a stack, layer by layer: [state_h_1, state_c_1, state_h_2, ...]."""
    return [keras.Input(shape=(layer.units,), name=f"state_{kind}_{index}")
            for index, layer in enumerate(layers, start=1) for kind in _state_kinds(layer)]


def run_stack(layers: list, x, states: list | None = None, *, between=None):
    """Apply recurrent `layers` (built with ``return_state=True``) to `x` from the flat
    `states` (as :func:`state_inputs` orders them; None: zeros): (last output, new flat states).
    `between(index, x)` may apply a layer after recurrent layer `index` (dropout)."""
    new_states, position = [], 0
    for index, layer in enumerate(layers, start=1):
        count = len(_state_kinds(layer))
        initial = None if states is None else states[position : position + count]
        x, *final = layer(x, initial_state=initial)
        position += count
        new_states += final
        if between is not None:
            x = between(index, x)
    return x, new_states


def to_numpy(values) -> list:
    """Model outputs (a tensor or a list of tensors) as a list of numpy arrays."""
    if not isinstance(values, (list, tuple)):
        values = [values]
    return [np.asarray(keras.ops.convert_to_numpy(v)) for v in values]


@keras.saving.register_keras_serializable(package="zoo")
class ContextEveryStep(keras.layers.Layer):
    """``[sequence (batch, time, features), context (batch, units)]`` -> the sequence with
    the context appended to the features of every step."""

    def call(self, inputs):
        sequence, context = inputs
        shape = keras.ops.shape(sequence)
        context = keras.ops.cast(keras.ops.expand_dims(context, 1), sequence.dtype)
        repeated = keras.ops.broadcast_to(context, (shape[0], shape[1], context.shape[-1]))
        return keras.ops.concatenate([sequence, repeated], axis=-1)

    def compute_output_shape(self, input_shape):
        (batch, time, features), (_, units) = input_shape
        return batch, time, features + units


class NamedModel:
    """A Keras model whose inputs and outputs are known by name: the names an export's
    manifest gives them. Its inputs are named by their ``keras.Input`` names."""

    def __init__(self, model: keras.Model, output_names):
        self.model, self.output_names = model, tuple(output_names)
        self.input_names = tuple(tensor.name for tensor in model.inputs)
        self._call = None  # the compiled call, built on first use
        if len(self.output_names) != len(model.outputs):
            raise ValueError(f"{model.name}: {len(model.outputs)} outputs, {len(self.output_names)} names")

    @classmethod
    def step(cls, model: keras.Model, output: str = generate.LOGITS) -> "NamedModel":
        """A step model: inputs ``token`` and states, outputs `output` (``logits``) and
        ``next_<state>``."""
        states = [tensor.name for tensor in model.inputs[1:]]
        return cls(model, [output, *(generate.NEXT + name for name in states)])

    def input_units(self) -> dict:
        """Last dimension of each input, by name, None where it varies (the state sizes of a
        step model)."""
        return {tensor.name: None if tensor.shape[-1] is None else int(tensor.shape[-1]) for tensor in self.model.inputs}

    @property
    def state_names(self) -> tuple[str, ...]:
        """A step model's state inputs (those after ``token``)."""
        return self.input_names[1:]

    def zero_states(self, batch_size: int) -> dict:
        units = self.input_units()
        return generate.zero_states({name: units[name] for name in self.state_names}, batch_size)

    def step_function(self, output: str = generate.LOGITS) -> generate.StepFn:
        return generate.step_function(self.run, self.state_names, output)

    def run(self, inputs: dict) -> dict:
        """Outputs by name for numpy inputs by name, through a compiled function (fast to
        call once per generated token)."""
        if self._call is None:
            self._call = _compiled_call(self.model)
        arrays = [np.asarray(inputs[name]) for name in self.input_names]
        return dict(zip(self.output_names, to_numpy(self._call(arrays))))


def _compiled_call(model: keras.Model):
    """`model` as one compiled call on a list of numpy arrays. TensorFlow: a concrete function
    of the model's input signature, which skips ``tf.function``'s per-call argument binding
    (a 2 x LSTM(512) step: 1.65 ms through ``predict_on_batch``, 1.18 ms this way). The other
    backends: ``predict_on_batch``."""
    if keras.backend.backend() != "tensorflow":
        return lambda arrays: model.predict_on_batch(arrays if len(arrays) > 1 else arrays[0])
    import tensorflow as tf

    specs = [tf.TensorSpec([None, *tensor.shape[1:]], tensor.dtype) for tensor in model.inputs]
    function = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False),
                           input_signature=specs).get_concrete_function()
    return lambda arrays: function(*(tf.convert_to_tensor(a, dtype=spec.dtype) for a, spec in zip(arrays, specs)))


class CarriedStates(keras.layers.Layer):
    """Runs a shared recurrent layer from the final states of this layer's previous call.

    Takes ``[sequence, reset]``: `reset` (batch, 1) is 1 for rows that start a new stream
    (they start from zero states) and 0 for rows that continue the row of the previous
    batch. The states live in non-trainable variables, so they are updated by the training
    step itself on every backend (no second forward pass), and gradients stop at the batch
    boundary (truncated backpropagation through time). A batch may have up to
    `max_batch_size` rows (an evaluation split may hold fewer streams than training uses).
    """

    def __init__(self, layer, max_batch_size: int, **kwargs):
        super().__init__(**kwargs)
        self.layer, self.max_batch_size = layer, max_batch_size

    def build(self, input_shape):
        self.states = [self.add_weight(shape=(self.max_batch_size, size), initializer="zeros", trainable=False,
                                       name=f"state_{kind}")
                       for kind, size in zip(_state_kinds(self.layer), _state_sizes(self.layer))]

    def call(self, inputs, training=None):
        sequence, reset = inputs
        rows = keras.ops.shape(sequence)[0]
        keep = 1.0 - keras.ops.cast(reset, self.states[0].dtype)
        outputs, *final = self.layer(sequence, initial_state=[s[:rows] * keep for s in self.states], training=training)
        for variable, value in zip(self.states, final):
            variable.assign(keras.ops.concatenate([keras.ops.stop_gradient(value), variable[rows:]], axis=0))
        return outputs

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape[0])[0]

    def get_config(self):
        # Only for summaries (TensorBoard's graph): carried-state models are never saved.
        return {**super().get_config(), "layer": keras.saving.serialize_keras_object(self.layer),
                "max_batch_size": self.max_batch_size}

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "layer": keras.saving.deserialize_keras_object(config["layer"])})


def stream_resets(rows: int, streams: int) -> np.ndarray:
    """The `reset` input of :class:`CarriedStates` for `rows` laid out window by window
    (see zoo.data.text.streams): 1 for the first window of each stream, else 0."""
    return (np.arange(rows) < streams).astype("float32")[:, None]
