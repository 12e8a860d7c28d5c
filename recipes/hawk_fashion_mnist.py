"""Hawk classifier (RG-LRU blocks trained as a parallel scan) reading Fashion-MNIST images row by row."""

from zoo.recipe import Recipe

RECIPE = Recipe(
    model="hawk_classifier",
    task="classification",
    # The LSTM recipe's data (lstm_fashion_mnist): shifts of up to 2 pixels and mirroring.
    data={"dataset": "fashion_mnist", "source": "idx", "validation_size": 5000, "augment_shift": 2,
          "augment_flip": True},
    # One cycle to 3e-3 and decoupled weight decay, as residual-block models train.
    epochs=12,
    batch_size=128,
    learning_rate=3e-3,
    schedule="cosine",
    warmup_epochs=1,
    weight_decay=0.05,
    clipnorm=1.0,
    monitor="val_accuracy",
    monitor_mode="max",
    early_stopping_patience=10,
    description=__doc__.strip().splitlines()[0],
)

RECIPE.run_if_script(__name__)
