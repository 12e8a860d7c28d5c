"""2 x bidirectional LSTM(128) reading Fashion-MNIST images row by row, with shifted copies."""

from zoo.recipe import Recipe

RECIPE = Recipe(
    name="lstm_fashion_mnist",
    model="lstm_classifier",
    task="classification",
    # Shifts of up to 2 pixels: a few pixels' translation does not change the class.
    data={"dataset": "fashion_mnist", "source": "idx", "validation_size": 5000, "augment_shift": 2},
    # Dropout and both directions: the tutorial's model overfits Fashion-MNIST (docs/recipes.md).
    model_options={"dropout": 0.3, "bidirectional": True},
    epochs=40,
    batch_size=100,
    learning_rate=1e-3,
    weight_decay=1e-4,
    monitor="val_accuracy",
    monitor_mode="max",
    early_stopping_patience=8,
    reduce_lr_patience=3,
    description=__doc__.strip().splitlines()[0],
)

RECIPE.run_if_script(__name__)
