"""The tutorial's 2 x LSTM(128) on MNIST row by row, through tensorflow-datasets."""

from zoo.recipe import Recipe

RECIPE = Recipe(
    model="lstm_classifier",
    task="classification",
    data={"dataset": "mnist", "source": "tfds", "validation_size": 5000},
    epochs=30,
    batch_size=100,
    learning_rate=1e-3,
    monitor="val_accuracy",
    monitor_mode="max",
    description=__doc__.strip().splitlines()[0],
)

RECIPE.run_if_script(__name__)
