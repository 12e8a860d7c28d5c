"""2 x LSTM(512) character language model on tiny_shakespeare, clipped gradients."""

from zoo.recipe import Recipe

RECIPE = Recipe(
    model="char_lm",
    task="language_model",
    data={"source": "tiny_shakespeare", "seq_len": 100, "sample_prompt": "ROMEO:"},
    model_options={"units": 512, "num_layers": 2, "embedding_dim": 64, "dropout": 0.35},
    epochs=20,
    batch_size=64,
    # One cycle: a warm-up over half an epoch to a higher peak, then a cosine decay to 0.
    learning_rate=3e-3,
    schedule="cosine",
    warmup_epochs=0.5,
    clipnorm=1.0,
    early_stopping_patience=4,
    description=__doc__.strip().splitlines()[0],
)

RECIPE.run_if_script(__name__)
