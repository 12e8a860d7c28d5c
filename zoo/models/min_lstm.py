"""minLSTM language model (Feng et al. 2024, arXiv 2410.01201): min_gru's block and
presets with the minLSTM, whose forget and input gates are normalised to sum to one:
``f_t = sigmoid(W_f x_t)``, ``i_t = sigmoid(W_i x_t)``, ``h~_t = g(W_h x_t)``,
``h_t = f_t / (f_t + i_t) * h_{t-1} + i_t / (f_t + i_t) * h~_t``.
"""

import keras
from keras import ops

from zoo.models import min_gru, parallel_rnn
from zoo.registry import register_model


@keras.saving.register_keras_serializable(package="zoo")
class MinLSTM(parallel_rnn.LinearRecurrence):
    """The minLSTM: weights ``kernel`` (features, 3 * units) = [W_f | W_i | W_h] and ``bias``."""

    def build(self, input_shape):
        self.kernel, self.bias = parallel_rnn.gate_kernel(self, input_shape, 3)

    def coefficients(self, inputs):
        k_f, k_i, candidate = parallel_rnn.projections(self, inputs, 3)
        # In logs, as the paper: log f - log i = softplus(-k_i) - softplus(-k_f), so
        # f / (f + i) = sigmoid(log f - log i) never divides by a vanishing f + i.
        log_ratio = ops.softplus(-k_i) - ops.softplus(-k_f)
        return ops.sigmoid(log_ratio), ops.sigmoid(-log_ratio) * min_gru.g(candidate)


# min_gru's, with a narrower MLP for the minLSTM's third projection: the same 3.3M weights.
PRESETS = {**min_gru.PRESETS, "default": {**min_gru.PRESETS["default"], "mlp_units": 896}}
BLOCK = min_gru.min_rnn_block(MinLSTM, "min_lstm_")


@register_model("min_lstm", presets=PRESETS, **parallel_rnn.family_models(BLOCK))
def min_lstm(*, vocab_size, dim, num_layers, mlp_units, conv_width, dropout):
    """minLSTM LM: Embedding -> [RMSNorm, causal conv, minLSTM; RMSNorm, MLP] x N -> logits."""
    return parallel_rnn.build_language_model("min_lstm", BLOCK, vocab_size=vocab_size, dim=dim, num_layers=num_layers,
                                             mlp_units=mlp_units, conv_width=conv_width, dropout=dropout)
