"""The tutorial's word pairs (man -> women, king -> queen, ...) by an LSTM encoder-decoder."""

from zoo.recipe import Recipe

RECIPE = Recipe(
    model="seq2seq",
    task="seq2seq",
    data={"task": "word_pairs"},
    model_options={"units": 64, "num_layers": 1, "embedding_dim": 16},
    epochs=150,
    batch_size=6,
    learning_rate=1e-2,
    # No held-out pairs (a memorisation task): the training loss decides the best epoch.
    monitor="loss",
    early_stopping_patience=150,
    reduce_lr_patience=150,
    description=__doc__.strip().splitlines()[0],
)

RECIPE.run_if_script(__name__)
