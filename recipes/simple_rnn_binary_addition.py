"""The tutorial's binary addition: a SimpleRNN(16) reads two numbers bit by bit and writes their sum's bits."""

from zoo.recipe import Recipe

RECIPE = Recipe(
    model="simple_rnn_tagger",
    task="binary_addition",
    # The tutorial's 8-bit sums of operands below 128; the test split adds 16- and 32-bit sums.
    data={"bits": 8, "train_size": 20000, "validation_size": 1000, "test_size": 1000,
          "longer_bits": [16, 32], "longer_size": 1000},
    model_options={"units": 16, "num_layers": 1},
    epochs=10,
    batch_size=32,
    learning_rate=1e-2,
    monitor="val_loss",
    early_stopping_patience=5,
    # Keras runs SimpleRNN's steps itself on every backend: bfloat16 gains nothing (docs/recipes.md).
    precision="float32",
    description=__doc__.strip().splitlines()[0],
)

RECIPE.run_if_script(__name__)
