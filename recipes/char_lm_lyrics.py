"""The tutorial's LSTM(256) character language model on Jay Chou lyrics."""

from zoo.recipe import Recipe

RECIPE = Recipe(
    model="char_lm",
    task="language_model",
    # The tutorial's consecutive sampling: the hidden state carries from batch to batch.
    data={"source": "jaychou_lyrics", "seq_len": 35, "sampling": "consecutive", "sample_prompt": "分开"},
    model_options={"units": 256, "num_layers": 1, "embedding_dim": 128, "dropout": 0.0},
    epochs=40,
    batch_size=32,
    learning_rate=2e-3,
    clipnorm=1.0,
    early_stopping_patience=5,
    description=__doc__.strip().splitlines()[0],
)

RECIPE.run_if_script(__name__)
