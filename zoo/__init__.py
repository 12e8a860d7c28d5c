"""keras-rnn-zoo: recurrent networks for Keras 3 on TensorFlow, JAX and PyTorch.

Importing this package must not import keras: the backend is fixed when keras is first
imported, so the CLI (and users) call :func:`zoo.backend.use_backend` first. It registers the
families' Keras layers when keras is imported, so Keras alone loads a zoo model's ``.keras``.
The registry functions below import the model families lazily, and :func:`load` and
:func:`from_pretrained` import keras only when a Keras model is asked for.
"""

import contextlib

from zoo.compat import tf_onednn as _tf_onednn
from zoo.environment import VERSION as __version__
from zoo.registry import create_model, get_spec, list_models, register_layers_with_keras, register_model

register_layers_with_keras()  # keras.saving.load_model(a zoo model) works after `import zoo`
_tf_onednn.enable()  # read once, when TensorFlow loads: Keras may load it before any zoo code runs

__all__ = ["create_model", "from_pretrained", "get_spec", "list_models", "load", "register_model", "train",
           "__version__"]


def load(name_or_folder, engine=None):
    """A trained model ready for inference (``classify``, ``generate``, ``translate``,
    ``evaluate``) from a shipped model's name (``zoo list``), a run folder or an export
    folder; `engine` "keras" (current backend), "onnx" or "savedmodel" (no Keras)."""
    from zoo.pretrained import load as load_model

    with _quietly():
        return load_model(name_or_folder, engine)


def from_pretrained(name_or_folder):
    """The trained ``keras.Model`` of a shipped model or run folder, compiled as its recipe
    trains it, ready to fine-tune with ``fit``."""
    from zoo.pretrained import from_pretrained as keras_model

    with _quietly():
        return keras_model(name_or_folder)


def train(recipe, **options) -> dict:
    """Train a recipe (its name, a recipe file's path, or a :class:`zoo.recipe.Recipe`) as
    ``zoo train`` does, with its options (``epochs=``, ``preset=``, ``out_dir=``, ``limit=``,
    and the recipe's task's own, such as ``text_file=``); returns the test metrics. Set the
    backend (KERAS_BACKEND) before the first call."""
    from zoo.training import train as train_recipe

    with _quietly():
        return train_recipe(recipe, **options)


@contextlib.contextmanager
def _quietly():
    """TensorFlow, when it loads, loads without its start-up lines
    (:mod:`zoo.compat.library_logs`), and Keras's warning about a run's unbuilt optimizer is
    hidden while the model loads; with ZOO_VERBOSE=1, a TF_CPP_MIN_LOG_LEVEL or Python warning
    options of the user's, both show."""
    import warnings

    from zoo.compat import library_logs

    library_logs.quiet_tensorflow_import()
    with warnings.catch_warnings():
        library_logs.ignore_warnings(library_logs.OPTIMIZER_NOT_LOADED)
        yield
