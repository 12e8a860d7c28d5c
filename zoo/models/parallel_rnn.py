"""Building blocks of the recurrent language models that train in parallel (min_gru, min_lstm,
hawk): the linear recurrence and its scan, the causal convolution with a rolling state, and
the one graph each family describes once and every model of it is built from.

A recurrence whose coefficients read only the input, ``h_t = a_t * h_{t-1} + b_t``, runs over
a whole sequence as one associative scan of the pairs ``(a_t, b_t)`` (:func:`linear_scan`).
One set of weights runs two ways: the full model scans whole sequences (training,
evaluation); the step model (:func:`inference_models`) takes one ``token`` and the states
``state_h_i`` (the recurrence) and ``state_conv_i`` (the convolution's last inputs, flattened)
and returns ``logits`` and ``next_<state>``, like the LSTM families, so generation and the
exports need nothing new. Under a mixed dtype policy the recurrences still take their gates,
coefficients, scan and states in float32 (:class:`LinearRecurrence`); only their input
projection's matrix product follows the policy. The layers are Keras layers registered under
the package ``zoo``: a saved model loads wherever the families are imported
(``zoo.registry.load_families``).
"""

import keras
from keras import ops

from zoo import layers as zoo_layers
from zoo.models.recurrent_state import CarriedStates, NamedModel, numbered_layers

# Block i of every family here has one causal convolution, conv_i: counting them counts blocks.
CONV_PREFIX = "conv_"


# ------------------------------------------------------------------------------ the scan
def _compose(earlier, later):
    """(a1, b1) then (a2, b2): h -> a2 * (a1 * h + b1) + b2, the scan's associative operator."""
    a1, b1 = earlier
    a2, b2 = later
    return a1 * a2, a2 * b1 + b2


def linear_scan(a, b):
    """``(A, B)`` along axis 1 of (batch, time, units) coefficients: ``A_t = a_1 ... a_t`` and
    ``B_t = a_t * B_{t-1} + b_t`` (``h_t`` from ``h_0 = 0``), so ``h_t = B_t + A_t * h_0``.

    Which scan runs:
    - a known length on JAX and TensorFlow (JAX always; TensorFlow eagerly and in graphs of
      fixed length, as ``fit`` traces): ``keras.ops.associative_scan`` (``lax.associative_scan``;
      a port of TFP's ``scan_associative``);
    - on torch: :func:`_odd_even_scan`, the same algorithm in keras.ops, because Keras
      3.15's torch version allocates its buffers with ``torch.zeros(shape)`` on the default
      device: it fails on the ``meta`` device Keras's own shape inference uses (``fit`` of a
      carried-state model), and would the same way on a GPU (not tried: none here);
    - an unknown length (a TensorFlow graph traced with an open time axis, as the SavedModel
      and ONNX exports are): :func:`_doubling_scan`, because Keras's scan then nests 48
      ``tf.cond`` levels that tf2onnx cannot write (protobuf's nesting limit).

    The scan works in linear space, not in the log space of Heinsen's cumulative-sum form
    that the minGRU paper uses: that form divides by ``A_t``, which underflows within a few
    hundred steps unless taken in logs, and in logs loses float32 precision as ``log A_t``
    grows with the length; the scan only multiplies numbers in [0, 1] and adds, so products
    of forget gates fall smoothly to 0 and no intermediate overflows.
    """
    if a.shape[1] is None:
        return _doubling_scan(a, b)
    if keras.backend.backend() == "torch":
        return _odd_even_scan(a, b)
    # The reshape restores the static shape that TensorFlow's scan loses in its tf.cond
    # branches when the batch size is unknown (layers with an input spec need the rank).
    return tuple(ops.reshape(c, (-1, *a.shape[1:])) for c in ops.associative_scan(_compose, (a, b), axis=1))


def linear_recurrence(a, b, h0):
    """``h_t = a_t * h_{t-1} + b_t`` for every t of (batch, time, units) coefficients, from
    ``h0`` (batch, units): :func:`linear_scan` and ``h = B + A * h0``, except on torch.

    On torch (known length) a sequential loop runs instead, as one autograd function with its
    own backward (:func:`_torch_recurrence`): measured on this 2-core CPU, torch's eager scan
    of 2 log2(time) levels of slices and concatenations took more time than all the layers'
    matrix products (1,000s of small ops and their autograd records per batch), while the loop
    is 2 fused multiply-adds per step forward and one per step backward."""
    if keras.backend.backend() == "torch" and a.shape[1] is not None:
        return _torch_recurrence().apply(a, b, h0)
    products, from_zero = linear_scan(a, b)
    return from_zero + products * h0[:, None, :]


_TORCH_RECURRENCE = []


def _torch_recurrence():
    """The autograd function of :func:`linear_recurrence` on torch (made once, on first use,
    so that the module imports without torch)."""
    if _TORCH_RECURRENCE:
        return _TORCH_RECURRENCE[0]
    import torch

    class Recurrence(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a, b, h0):
            a, b = a.transpose(0, 1).contiguous(), b.transpose(0, 1).contiguous()  # time first
            h = torch.empty_like(b)
            previous = h0
            for t in range(a.shape[0]):
                previous = h[t] = torch.addcmul(b[t], a[t], previous)
            ctx.save_for_backward(a, h, h0)
            return h.transpose(0, 1)

        @staticmethod
        def backward(ctx, grad_h):
            a, h, h0 = ctx.saved_tensors
            grad_h = grad_h.transpose(0, 1)
            # g_t = dL/dh_t through all later steps: g_t = grad_h_t + a_{t+1} * g_{t+1}.
            grad_b = torch.empty_like(h)
            g = torch.zeros_like(h0)
            for t in reversed(range(a.shape[0])):
                g = grad_b[t] = torch.addcmul(grad_h[t], a[t + 1], g) if t + 1 < a.shape[0] else grad_h[t]
            grad_h0 = a[0] * grad_b[0]
            grad_a = grad_b * torch.cat([h0[None], h[:-1]])
            return grad_a.transpose(0, 1), grad_b.transpose(0, 1), grad_h0

    _TORCH_RECURRENCE.append(Recurrence)
    return Recurrence


def _odd_even_scan(a, b):
    """:func:`linear_scan` of a known length by the odd-even recursion of
    ``lax.associative_scan`` (O(time) work, 2 log2(time) levels): compose neighbouring
    pairs, scan those, then fill in the even steps."""
    length = a.shape[1]
    if length < 2:
        return a, b
    pairs = _compose((a[:, 0 : length - 1 : 2], b[:, 0 : length - 1 : 2]), (a[:, 1::2], b[:, 1::2]))
    odd = _odd_even_scan(*pairs)  # steps 1, 3, 5, ...
    filled = _compose(tuple(c[:, : (length - 1) // 2] for c in odd), (a[:, 2::2], b[:, 2::2]))
    even = [ops.concatenate([first[:, :1], rest], axis=1) for first, rest in zip((a, b), filled)]  # 0, 2, 4, ...
    return tuple(_interleave(e, o, length) for e, o in zip(even, odd))


def _interleave(even, odd, length):
    """Steps 0, 2, 4, ... and 1, 3, 5, ... merged into `length` steps."""
    if even.shape[1] > odd.shape[1]:  # an odd length: pad the odd steps by one, cut it off after
        odd = ops.concatenate([odd, even[:, -1:]], axis=1)
    merged = ops.reshape(ops.stack([even, odd], axis=2), (-1, 2 * even.shape[1], *even.shape[2:]))
    return merged[:, :length]


def _doubling_scan(a, b):
    """:func:`linear_scan` for an unknown length: Hillis and Steele's doubling, each step
    composed with the one `shift` earlier, ``shift`` = 1, 2, 4, ... while below the length
    (log2(time) rounds of elementwise ops in one while loop, which exports as one ONNX Loop)."""
    length = ops.shape(a)[1]

    def body(shift, a, b):
        # Steps before `shift` compose with the identity (1, 0).
        a_before = ops.concatenate([ops.ones_like(a[:, :shift]), a[:, : length - shift]], axis=1)
        b_before = ops.concatenate([ops.zeros_like(b[:, :shift]), b[:, : length - shift]], axis=1)
        return (shift * 2, *_compose((a_before, b_before), (a, b)))

    _, a, b = ops.while_loop(lambda shift, a, b: shift < length, body, (1, a, b))
    return a, b


# ------------------------------------------------------------------------------ layers
class _Stateful(keras.layers.Layer):
    """A layer called as ``layer(x, initial_state=[s])`` (zeros when None) that returns
    ``[y, final_state]``, as Keras's recurrent layers do with ``return_state=True``, so
    :class:`CarriedStates` carries it. ``state_kinds`` names its state in step models
    (``state_<kind>_<block>``); states are float32 (batch, size), whatever the dtype policy."""

    state_kinds: tuple = ("h",)

    def _initial(self, inputs, initial_state):
        if initial_state is None:
            return ops.zeros((ops.shape(inputs)[0], self.state_size[0]), "float32")
        return ops.cast(initial_state[0], "float32")

    def output_units(self, input_shape) -> int:
        """The last dimension of the output for inputs of `input_shape`."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return [(*input_shape[:-1], self.output_units(input_shape)), (input_shape[0], self.state_size[0])]

    def compute_output_spec(self, inputs, initial_state=None):
        output, state = self.compute_output_shape(inputs.shape)
        return [keras.KerasTensor(output, self.compute_dtype), keras.KerasTensor(state, "float32")]


@keras.saving.register_keras_serializable(package="zoo")
class CausalConv1D(_Stateful):
    """Depthwise causal convolution over time: ``y_t = sum_k w_k * x_{t-width+1+k} + bias``
    per channel. Its state is the last ``width - 1`` inputs (zeros before the first),
    flattened to (batch, (width - 1) * channels)."""

    state_kinds = ("conv",)

    def __init__(self, width: int, **kwargs):
        super().__init__(**kwargs)
        if width < 2:
            raise ValueError(f"{self.name}: width must be >= 2, got {width}")
        self.width = width

    def build(self, input_shape):
        channels = input_shape[-1]
        # torch's Conv1d default for a depthwise kernel: uniform within 1/sqrt(fan_in = width).
        bound = self.width ** -0.5
        self.kernel = self.add_weight(shape=(self.width, channels), name="kernel",
                                      initializer=keras.initializers.RandomUniform(-bound, bound))
        self.bias = self.add_weight(shape=(channels,), name="bias", initializer="zeros")

    @property
    def state_size(self):
        return [(self.width - 1) * self.kernel.shape[1]]

    def call(self, inputs, initial_state=None):
        channels, length = self.kernel.shape[1], ops.shape(inputs)[1]
        previous = ops.reshape(ops.cast(self._initial(inputs, initial_state), inputs.dtype),
                               (-1, self.width - 1, channels))
        window = ops.concatenate([previous, inputs], axis=1)
        kernel = ops.cast(self.kernel, inputs.dtype)
        # A few shifted products (width is small) run the same on every backend and export.
        outputs = sum(window[:, k : k + length] * kernel[k] for k in range(self.width))
        state = ops.reshape(window[:, -(self.width - 1):], (-1, self.state_size[0]))
        return [outputs + ops.cast(self.bias, inputs.dtype), ops.cast(state, "float32")]

    def output_units(self, input_shape):
        return input_shape[-1]

    def get_config(self):
        return {**super().get_config(), "width": self.width}


class LinearRecurrence(_Stateful):
    """Base of the recurrences ``h_t = a_t * h_{t-1} + b_t`` whose coefficients read only the
    input: a subclass builds its weights and defines :meth:`coefficients`; the layer returns
    ``[h (batch, time, units), h_T]``.

    Under a mixed dtype policy only the input projection's matrix product runs in the compute
    dtype (:func:`projections`); the gates' nonlinearities, the parameters, the coefficients
    and the scan run in float32; only ``h`` goes back to the compute dtype (``h_T`` stays
    float32). bfloat16's largest value below 1 is 0.99609: a gate above about 0.998 taken in
    bfloat16 would be exactly 1, a unit that never forgets, where the float32 exports forget.
    The layer casts for itself: Keras would round the initial state to the compute dtype (a
    step model's ``h`` at every token) unless the layer has ``autocast=False``, and autocast
    every weight unless each has ``autocast=False`` (the layer's flag alone does not stop
    that when the layer is called outside a model)."""

    def __init__(self, units: int, **kwargs):
        super().__init__(autocast=False, **kwargs)
        self.units = units

    @property
    def state_size(self):
        return [self.units]

    def coefficients(self, inputs):
        """(a, b), each (batch, time, units) float32, for `inputs` (batch, time, features) in
        the compute dtype; weights made with ``autocast=False``, read in float32."""
        raise NotImplementedError

    def call(self, inputs, initial_state=None):
        h0 = self._initial(inputs, initial_state)
        a, b = self.coefficients(ops.cast(inputs, self.compute_dtype))
        h = linear_recurrence(a, b, h0)
        return [ops.cast(h, self.compute_dtype), h[:, -1]]

    def output_units(self, input_shape):
        return self.units

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def gate_kernel(layer, input_shape, gates: int):
    """The (kernel, bias) of `gates` input projections of `layer.units` each, as one matrix;
    both read in float32 (``autocast=False``) whatever the dtype policy."""
    kernel = layer.add_weight(shape=(input_shape[-1], gates * layer.units), name="kernel",
                              initializer="glorot_uniform", autocast=False)
    bias = layer.add_weight(shape=(gates * layer.units,), name="bias", initializer="zeros", autocast=False)
    return kernel, bias


def projections(layer, inputs, gates: int) -> list:
    """`inputs` through `layer`'s kernel and bias, split into `gates` (batch, time, units)
    float32 parts: the matrix product in the dtype of `inputs` (the compute dtype), cast to
    float32 before the bias is added and before any gate's nonlinearity."""
    product = ops.matmul(inputs, ops.cast(layer.kernel, inputs.dtype))
    return ops.split(ops.cast(product, "float32") + layer.bias, gates, axis=-1)


@keras.saving.register_keras_serializable(package="zoo")
def gelu_tanh(x):
    """GELU's tanh approximation, the blocks' activation: JAX's default GELU, which Griffin's
    code uses; and tf2onnx cannot write the exact GELU (TensorFlow's ``Erfc``) at opset 15."""
    return keras.activations.gelu(x, approximate=True)


# ------------------------------------------------------------------------------ one graph, three models
class Layers:
    """A model's layers by name. While a builder runs, ``layers(name, make)`` makes each layer
    with ``make(name)`` on first use; :meth:`of` a built model only finds its layers (``make``
    is never called then), so inference and carried-state models share the weights."""

    def __init__(self, existing=None):
        self.existing, self.building = dict(existing or {}), existing is None

    @classmethod
    def of(cls, model: keras.Model) -> "Layers":
        return cls({layer.name: layer for layer in model.layers})

    def __call__(self, name: str, make):
        if name not in self.existing:
            if not self.building:
                raise ValueError(f"the model has no layer named {name!r}")
            self.existing[name] = make(name)
        return self.existing[name]


def residual(layers: Layers, x, kind: str, index: int, branch, config: dict):
    """``x + dropout(branch(RMSNorm(x)))``, layers named ``<kind>_norm_i``, ``<kind>_dropout_i``
    (rate ``config["dropout"]``, 0 included, so every model of a family has the same layers)
    and ``<kind>_residual_i``."""
    y = layers(f"{kind}_norm_{index}", lambda name: keras.layers.RMSNormalization(name=name))(x)
    y = layers(f"{kind}_dropout_{index}", lambda name: keras.layers.Dropout(config["dropout"], name=name))(branch(y))
    return layers(f"{kind}_residual_{index}", lambda name: keras.layers.Add(name=name))([x, y])


def full_sequence(layer, x, index):
    """How the registered model runs a stateful layer: from zero states, its output only."""
    return layer(x)[0]


def _language_model(layers: Layers, tokens, block, run, num_layers: int, config: dict):
    """Token ids -> ``token_embedding`` -> `num_layers` blocks -> ``final_norm`` -> ``logits``.
    ``block(layers, x, index, run, config)`` is the family's block; `run(layer, x, index)`
    runs each stateful layer of it (zero states, named states, or carried states)."""
    x = layers("token_embedding", lambda name: keras.layers.Embedding(config["vocab_size"], config["dim"], name=name))(
        tokens)
    for index in range(1, num_layers + 1):
        x = block(layers, x, index, run, config)
    x = layers("final_norm", lambda name: keras.layers.RMSNormalization(name=name))(x)
    return layers("logits", lambda name: zoo_layers.logits(config["vocab_size"], name=name))(x)


def build_language_model(name: str, block, *, num_layers: int, **config) -> keras.Model:
    """The registered model: ``tokens`` (batch, time) -> logits (batch, time, vocab_size)."""
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    logits = _language_model(Layers(), tokens, block, full_sequence, num_layers, config)
    return keras.Model(tokens, logits, name=name)


class _NamedStates:
    """Runs each stateful layer from a ``state_<kind>_<block>`` Input; collects the final states."""

    def __init__(self):
        self.inputs, self.outputs = [], []

    def __call__(self, layer, x, index):
        state = keras.Input(shape=(layer.state_size[0],), name=f"state_{layer.state_kinds[0]}_{index}")
        y, final = layer(x, initial_state=[state])
        self.inputs.append(state)
        self.outputs.append(final)
        return y


def _from_states(model: keras.Model, block, tokens):
    """`model`'s layers on `tokens` from named state Inputs: (state inputs, logits, final states)."""
    states = _NamedStates()
    logits = _language_model(Layers.of(model), tokens, block, states, _blocks(model), {})
    return states.inputs, logits, states.outputs


def build_state_model(model: keras.Model, block) -> keras.Model:
    """A model sharing `model`'s layers that starts from given states and returns its final
    ones: ``tokens`` (batch, time) and the states in; logits (batch, time, vocab) and the
    next states out (what consecutive windows carry)."""
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    states, logits, finals = _from_states(model, block, tokens)
    return keras.Model([tokens, *states], [logits, *finals], name=f"{model.name}_states")


def build_step_model(model: keras.Model, block) -> keras.Model:
    """One-token step sharing `model`'s layers: ``token`` (batch, 1) and the states in,
    logits (batch, vocab) and the next states out."""
    token = keras.Input(shape=(1,), dtype="int32", name="token")
    states, logits, finals = _from_states(model, block, token)
    logits = keras.layers.Reshape((logits.shape[-1],), name="next_token_logits")(logits)
    return keras.Model([token, *states], [logits, *finals], name=f"{model.name}_step")


def inference_models(model: keras.Model, block) -> dict:
    """The models generation runs, by artifact name: ``step``."""
    return {"step": NamedModel.step(build_step_model(model, block))}


def build_carry_model(model: keras.Model, max_batch_size: int, block) -> keras.Model:
    """A model sharing `model`'s layers whose states (recurrences and convolutions) carry from
    batch to batch: ``tokens`` and ``reset`` in, logits out (see
    :func:`zoo.models.char_lm.build_carry_model`)."""
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    reset = keras.Input(shape=(1,), name="reset")

    def carried(layer, x, index):
        return CarriedStates(layer, max_batch_size, name=f"carried_{layer.name}")([x, reset])

    logits = _language_model(Layers.of(model), tokens, block, carried, _blocks(model), {})
    return keras.Model([tokens, reset], logits, name=f"{model.name}_carry")


def _blocks(model) -> int:
    return len(numbered_layers(model, CONV_PREFIX))


def family_models(block) -> dict:
    """The ``inference`` and ``carry`` arguments of ``register_model`` for a family's `block`."""
    return {"inference": lambda model: inference_models(model, block),
            "carry": lambda model, max_batch_size: build_carry_model(model, max_batch_size, block)}
