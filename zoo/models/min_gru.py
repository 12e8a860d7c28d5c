"""minGRU language model (Feng et al. 2024, "Were RNNs All We Needed?", arXiv 2410.01201).

The minGRU's gate and candidate read only the input, so a whole sequence is one scan:
``z_t = sigmoid(W_z x_t)``, ``h~_t = g(W_h x_t)``, ``h_t = (1 - z_t) * h_{t-1} + z_t * h~_t``,
with the paper's ``g(x) = x + 0.5`` for ``x >= 0`` and ``sigmoid(x)`` below (positive, so
the same weights run in the paper's log-space form too). Its language-model block: RMSNorm,
a width-4 causal convolution, the minGRU, a residual; then RMSNorm, an MLP, a residual.
Scan, convolution, step and carried-state models: :mod:`zoo.models.parallel_rnn`.
"""

import keras
from keras import ops

from zoo.models import parallel_rnn
from zoo.registry import register_model

PRESETS = {
    "tiny": dict(vocab_size=20, dim=16, num_layers=2, mlp_units=32, conv_width=4, dropout=0.0),
    # The 2 x LSTM(512) char_lm's 3.3M weights, on tiny_shakespeare's 65 characters.
    "default": dict(vocab_size=65, dim=256, num_layers=5, mlp_units=1024, conv_width=4, dropout=0.0),
}


def g(x):
    """The paper's positive candidate activation: x + 0.5 for x >= 0, sigmoid(x) below."""
    return ops.where(x >= 0, x + 0.5, ops.sigmoid(x))


@keras.saving.register_keras_serializable(package="zoo")
class MinGRU(parallel_rnn.LinearRecurrence):
    """``h_t = (1 - z_t) * h_{t-1} + z_t * g(W_h x_t)``, ``z_t = sigmoid(W_z x_t)``: weights
    ``kernel`` (features, 2 * units) = [W_z | W_h] and ``bias``."""

    def build(self, input_shape):
        self.kernel, self.bias = parallel_rnn.gate_kernel(self, input_shape, 2)

    def coefficients(self, inputs):
        k, candidate = parallel_rnn.projections(self, inputs, 2)
        # 1 - z = sigmoid(-k): the paper's log-space coefficient exp(-softplus(k)), which
        # never rounds to 0 where z rounds to 1 as 1 - sigmoid(k) would.
        return ops.sigmoid(-k), ops.sigmoid(k) * g(candidate)


def min_rnn_block(cell, prefix):
    """The paper's LM block around recurrent layer class `cell` (named ``<prefix><i>``)."""

    def block(layers, x, index, run, config):
        def mixer(y):
            y = run(layers(f"conv_{index}", lambda name: parallel_rnn.CausalConv1D(config["conv_width"], name=name)),
                    y, index)
            return run(layers(f"{prefix}{index}", lambda name: cell(config["dim"], name=name)), y, index)

        def mlp(y):
            y = layers(f"mlp_up_{index}", lambda name: keras.layers.Dense(
                config["mlp_units"], activation=parallel_rnn.gelu_tanh, name=name))(y)
            return layers(f"mlp_down_{index}", lambda name: keras.layers.Dense(config["dim"], name=name))(y)

        x = parallel_rnn.residual(layers, x, "mixer", index, mixer, config)
        return parallel_rnn.residual(layers, x, "mlp", index, mlp, config)

    return block


BLOCK = min_rnn_block(MinGRU, "min_gru_")


@register_model("min_gru", presets=PRESETS, **parallel_rnn.family_models(BLOCK))
def min_gru(*, vocab_size, dim, num_layers, mlp_units, conv_width, dropout):
    """minGRU LM: Embedding -> [RMSNorm, causal conv, minGRU; RMSNorm, MLP] x N -> logits."""
    return parallel_rnn.build_language_model("min_gru", BLOCK, vocab_size=vocab_size, dim=dim, num_layers=num_layers,
                                             mlp_units=mlp_units, conv_width=conv_width, dropout=dropout)
