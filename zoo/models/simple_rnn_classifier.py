"""SimpleRNN classifier: an image read row by row (28 steps of 28 features) -> class logits."""

from zoo import layers
from zoo.models.sequence_classifier import build_sequence_classifier
from zoo.registry import register_model

PRESETS = {
    "tiny": dict(units=8, num_layers=1, features=28, num_classes=10, activation="tanh",
                 bidirectional=False, dropout=0.0),
    "default": dict(units=128, num_layers=2, features=28, num_classes=10, activation="tanh",
                    bidirectional=False, dropout=0.0),
}


@register_model("simple_rnn_classifier", presets=PRESETS)
def simple_rnn_classifier(*, units, num_layers, features, num_classes, activation, bidirectional, dropout):
    """Stacked SimpleRNN over image rows -> Dense logits."""

    def make_recurrent(index, return_sequences):
        return layers.simple_rnn(
            units, name=f"simple_rnn_{index}", activation=activation, return_sequences=return_sequences
        )

    return build_sequence_classifier(
        name="simple_rnn_classifier",
        make_recurrent=make_recurrent,
        num_layers=num_layers,
        features=features,
        num_classes=num_classes,
        bidirectional=bidirectional,
        dropout=dropout,
    )
