"""LSTM classifier: an image read row by row (28 steps of 28 features) -> class logits."""

from zoo import layers
from zoo.models.sequence_classifier import build_sequence_classifier
from zoo.registry import register_model

PRESETS = {
    "tiny": dict(units=8, num_layers=2, features=28, num_classes=10, bidirectional=False, dropout=0.0),
    # The tutorial's model: 2 x LSTM(128) -> Dense(10).
    "default": dict(units=128, num_layers=2, features=28, num_classes=10, bidirectional=False, dropout=0.0),
}


@register_model("lstm_classifier", presets=PRESETS)
def lstm_classifier(*, units, num_layers, features, num_classes, bidirectional, dropout):
    """Stacked (optionally bidirectional) LSTM over image rows -> Dense logits."""

    def make_recurrent(index, return_sequences):
        return layers.lstm(units, name=f"lstm_{index}", return_sequences=return_sequences)

    return build_sequence_classifier(
        name="lstm_classifier",
        make_recurrent=make_recurrent,
        num_layers=num_layers,
        features=features,
        num_classes=num_classes,
        bidirectional=bidirectional,
        dropout=dropout,
    )
