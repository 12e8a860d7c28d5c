"""Choosing the Keras backend before keras is imported.

Holding the libraries' own logs back (TensorFlow's start-up lines, warnings, converter
loggers) is :mod:`zoo.compat.library_logs`.
"""

import os
import sys

from zoo.errors import ZooError

BACKENDS = ("tensorflow", "jax", "torch")


class BackendError(ZooError):
    """Raised when the requested backend can no longer be selected."""


def use_backend(name: str) -> str:
    """Select the Keras backend `name`; it must be called before keras is imported.

    Returns the backend now in force. Raises BackendError when keras is already loaded
    with another backend, since Keras fixes its backend at import.
    """
    if name not in BACKENDS:
        raise BackendError(f"backend {name!r} is not one of {', '.join(BACKENDS)}")
    if sys.modules.get("keras") is not None:
        current = sys.modules["keras"].backend.backend()
        if current != name:
            raise BackendError(
                f"keras was already imported with backend {current!r}; "
                f"cannot switch to {name!r} in this process"
            )
        return current
    os.environ["KERAS_BACKEND"] = name
    return name


def current_backend() -> str:
    """The backend keras uses or will use in this process."""
    if sys.modules.get("keras") is not None:
        return sys.modules["keras"].backend.backend()
    return os.environ.get("KERAS_BACKEND", "tensorflow")
