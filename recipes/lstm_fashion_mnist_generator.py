"""LSTM drawing Fashion-MNIST garments row by row from their class name (1-vs-N), each row's pixels left to right."""

from zoo.recipe import Recipe

RECIPE = Recipe(
    model="lstm_generator",
    task="image_generation",
    # 8 gray levels (zoo/tasks/image_generation.py says why); the judge is the shipped
    # classifier that labels the drawn garments for the card's class agreement.
    data={"dataset": "fashion_mnist", "source": "idx", "validation_size": 5000, "levels": 8,
          "judge": "lstm_fashion_mnist"},
    # The class as the initial states of 2 x LSTM(256) over rows; each row's pixels drawn left
    # to right by an LSTM(64) reading 32 features of its position and the pixel to its left.
    # Against the rows-only design (each pixel independent given the rows above), measured
    # side by side over 5 epochs: validation 0.783 bits per pixel against 0.948 (docs/recipes.md).
    model_options={"condition": "initial_state", "pixels": "left_to_right", "units": 256, "num_layers": 2,
                   "pixel_units": 64, "pixel_features": 32},
    epochs=20,
    batch_size=128,
    learning_rate=3e-3,
    schedule="cosine",
    warmup_epochs=0.5,
    clipnorm=1.0,
    monitor="val_loss",
    early_stopping_patience=5,
    description=__doc__.strip().splitlines()[0],
)

RECIPE.run_if_script(__name__)
