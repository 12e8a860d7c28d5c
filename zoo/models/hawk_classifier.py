"""Hawk classifier: an image read row by row by Hawk's residual blocks (the RG-LRU trained as a
parallel scan, :mod:`zoo.models.hawk`), then class logits.

Input ``rows`` (batch, time, features) -> ``row_projection`` (Dense to the model width) ->
N Hawk blocks -> ``final_norm`` (RMSNorm) -> the mean over rows -> ``logits``. The blocks
are causal (row t sees rows 1..t); the mean reads every row's state, so the early rows'
features reach the logits without passing through every later step.
"""

import keras

from zoo import layers as zoo_layers
from zoo.models import hawk, parallel_rnn
from zoo.registry import register_model

PRESETS = {
    "tiny": dict(dim=16, num_layers=2, rnn_units=16, mlp_units=48, conv_width=4, features=28, num_classes=10,
                 dropout=0.0),
    "default": dict(dim=128, num_layers=3, rnn_units=128, mlp_units=384, conv_width=4, features=28, num_classes=10,
                    dropout=0.1),
}


@register_model("hawk_classifier", presets=PRESETS)
def hawk_classifier(*, dim, num_layers, rnn_units, mlp_units, conv_width, features, num_classes, dropout):
    """Rows -> Dense -> [RMSNorm, RG-LRU block; RMSNorm, gated MLP] x N -> mean over rows -> logits."""
    config = dict(dim=dim, rnn_units=rnn_units, mlp_units=mlp_units, conv_width=conv_width, dropout=dropout)
    layers = parallel_rnn.Layers()
    rows = keras.Input(shape=(None, features), name="rows")
    x = keras.layers.Dense(dim, name="row_projection")(rows)
    for index in range(1, num_layers + 1):
        x = hawk.BLOCK(layers, x, index, parallel_rnn.full_sequence, config)
    x = keras.layers.RMSNormalization(name="final_norm")(x)
    x = keras.layers.GlobalAveragePooling1D(name="mean_over_rows")(x)
    return keras.Model(rows, zoo_layers.logits(num_classes)(x), name="hawk_classifier")
