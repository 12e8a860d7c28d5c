"""LSTM encoder-decoder adding two 3-digit numbers written as strings."""

from zoo.recipe import Recipe

RECIPE = Recipe(
    name="seq2seq_addition",
    model="seq2seq",
    task="seq2seq",
    data={"task": "addition", "digits": 3, "reverse_source": True, "train_size": 50000, "validation_size": 5000, "test_size": 5000},
    model_options={"units": 256, "num_layers": 1, "embedding_dim": 32},
    epochs=60,
    batch_size=128,
    learning_rate=2e-3,
    monitor="val_exact_match",
    monitor_mode="max",
    early_stopping_patience=8,
    reduce_lr_patience=3,
    description=__doc__.strip().splitlines()[0],
)

RECIPE.run_if_script(__name__)
