"""keras-rnn-zoo: recurrent networks for Keras 3 on TensorFlow, JAX and PyTorch.

Importing this package must not import keras: the backend is fixed when keras is first
imported, so the CLI (and users) call :func:`zoo.backend.use_backend` first.
The registry functions below import the model families lazily.
"""

from zoo.registry import create_model, get_spec, list_models, register_model

__version__ = "0.1.0"

__all__ = ["create_model", "get_spec", "list_models", "register_model", "__version__"]
