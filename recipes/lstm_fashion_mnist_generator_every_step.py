"""LSTM drawing Fashion-MNIST garments row by row from their class name (1-vs-N), the class an input at every step."""

from zoo.recipe import load_recipe

# lstm_fashion_mnist_generator with the class at every step instead of in the initial states:
# the same data and settings, so the two forms are measured side by side (docs/recipes.md).
INITIAL_STATE = load_recipe("lstm_fashion_mnist_generator")
RECIPE = INITIAL_STATE.replace(
    model_options={**INITIAL_STATE.model_options, "condition": "every_step"},
    description=__doc__.strip().splitlines()[0],
)

RECIPE.run_if_script(__name__)
