"""Parity of 8-bit strings with one small LSTM: the recipe of the test-only plugin task
(tests/plugins/parity_task.py), trained by path: zoo train tests/plugins/parity.py."""

from zoo.recipe import Recipe

RECIPE = Recipe(
    model="lstm_classifier",
    task="parity",
    data={"length": 8, "train_size": 512, "validation_size": 64, "test_size": 64},
    model_options={"num_layers": 1, "bidirectional": False, "dropout": 0.0},
    epochs=2,
    batch_size=32,
    learning_rate=1e-2,
    monitor="val_accuracy",
    monitor_mode="max",
    description=__doc__.strip().splitlines()[0],
)

RECIPE.run_if_script(__name__)
