"""Hawk language model (De et al. 2024, "Griffin", arXiv 2402.19427): residual blocks of the
Real-Gated Linear Recurrent Unit (RG-LRU) and a gated MLP.

RG-LRU, as in the paper (c = 8): ``r_t = sigmoid(W_a x_t + b_a)``, ``i_t = sigmoid(W_x x_t + b_x)``,
``a_t = sigmoid(L) ** (c * r_t)``, ``h_t = a_t * h_{t-1} + sqrt(1 - a_t ** 2) * (i_t * x_t)``.
The recurrent block: RMSNorm; one branch GELU(Dense(x)), the other Dense(x), a width-4 causal
convolution and the RG-LRU; their product through Dense back to the model width; a residual.
Then RMSNorm, the gated MLP ``Dense(GELU(Dense(x)) * Dense(x))`` and a residual.
"""

import keras
from keras import ops

from zoo.models import parallel_rnn
from zoo.registry import register_model

PRESETS = {
    "tiny": dict(vocab_size=20, dim=16, num_layers=2, rnn_units=16, mlp_units=48, conv_width=4, dropout=0.0),
    # The 2 x LSTM(512) char_lm's 3.3M weights: an MLP expansion of 2.5 (the paper's is 3).
    "default": dict(vocab_size=65, dim=256, num_layers=4, rnn_units=256, mlp_units=640, conv_width=4, dropout=0.0),
}
C = 8.0  # the paper's constant: a_t = a ** (C * r_t)
MAX_GRADIENT = 1000.0  # of sqrt(1 - a_t^2), infinite where a_t = 1; bounded as the paper's code does


def sqrt_bounded_derivative(x):
    """sqrt(x), exactly, with a derivative of at most MAX_GRADIENT (the paper's code's
    ``sqrt_bound_derivative``): 1 / (2 sqrt(max(x, 1 / (4 MAX_GRADIENT^2))))."""
    floor = 0.25 / MAX_GRADIENT**2
    slope = ops.stop_gradient(0.5 / ops.sqrt(ops.maximum(x, floor)))
    # The second term is 0 in value and carries the bounded slope back to x.
    return ops.stop_gradient(ops.sqrt(x)) + (x - ops.stop_gradient(x)) * slope


def _lambda_initializer(shape, dtype=None):
    """L with sigmoid(L) ** C uniform in [0.9, 0.999], as the paper initialises it."""
    a = keras.initializers.RandomUniform(0.9, 0.999)(shape, dtype) ** (1.0 / C)
    return ops.log(a) - ops.log1p(-a)


@keras.saving.register_keras_serializable(package="zoo")
class RGLRU(parallel_rnn.LinearRecurrence):
    """The RG-LRU over inputs of width `units`: weights ``kernel`` (units, 2 * units) =
    [W_a | W_x], ``bias`` and ``a_param`` (L, per unit)."""

    def build(self, input_shape):
        self.kernel, self.bias = parallel_rnn.gate_kernel(self, input_shape, 2)
        self.a_param = self.add_weight(shape=(self.units,), name="a_param", initializer=_lambda_initializer,
                                       autocast=False)

    def coefficients(self, inputs):
        r, i = (ops.sigmoid(k) for k in parallel_rnn.projections(self, inputs, 2))
        log_a = -C * r * ops.softplus(-self.a_param)  # log(sigmoid(L) ** (C r)), no underflow
        a = ops.exp(log_a)
        # 1 - a^2 = tanh(-log a) * (1 + a^2): exact where a is close to 1, unlike 1 - a^2 in
        # float32, and made of ops that ONNX has (tf2onnx cannot write expm1 at opset 15).
        return a, sqrt_bounded_derivative(ops.tanh(-log_a) * (1.0 + a * a)) * (i * ops.cast(inputs, "float32"))


def hawk_block(layers, x, index, run, config):
    """One Hawk residual block: the recurrent block, then the gated MLP."""

    def dense(name, units, activation=None):
        return layers(f"{name}_{index}", lambda n: keras.layers.Dense(config[units], activation=activation, name=n))

    def recurrent(y):
        gate = dense("rnn_gate", "rnn_units", parallel_rnn.gelu_tanh)(y)
        y = run(layers(f"conv_{index}", lambda n: parallel_rnn.CausalConv1D(config["conv_width"], name=n)),
                dense("rnn_in", "rnn_units")(y), index)
        y = run(layers(f"rg_lru_{index}", lambda n: RGLRU(config["rnn_units"], name=n)), y, index)
        y = layers(f"rnn_product_{index}", lambda n: keras.layers.Multiply(name=n))([gate, y])
        return dense("rnn_out", "dim")(y)

    def gated_mlp(y):
        product = layers(f"mlp_product_{index}", lambda n: keras.layers.Multiply(name=n))(
            [dense("mlp_gate", "mlp_units", parallel_rnn.gelu_tanh)(y), dense("mlp_up", "mlp_units")(y)])
        return dense("mlp_down", "dim")(product)

    x = parallel_rnn.residual(layers, x, "mixer", index, recurrent, config)
    return parallel_rnn.residual(layers, x, "mlp", index, gated_mlp, config)


BLOCK = hawk_block


@register_model("hawk", presets=PRESETS, **parallel_rnn.family_models(BLOCK))
def hawk(*, vocab_size, dim, num_layers, rnn_units, mlp_units, conv_width, dropout):
    """Hawk LM: Embedding -> [RMSNorm, RG-LRU block; RMSNorm, gated MLP] x N -> logits."""
    return parallel_rnn.build_language_model("hawk", BLOCK, vocab_size=vocab_size, dim=dim, num_layers=num_layers,
                                             rnn_units=rnn_units, mlp_units=mlp_units, conv_width=conv_width,
                                             dropout=dropout)
