"""Choosing the Keras backend before keras is imported."""

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


def import_tensorflow_quietly() -> None:
    """Import TensorFlow without its start-up log lines, unless the user chose a log level.

    TensorFlow prints its C++ start-up lines (oneDNN, CUDA drivers) before its logging is set
    up, so TF_CPP_MIN_LOG_LEVEL cannot hide them and they bury a one-line error. They are
    captured while TensorFlow loads and shown only if loading fails.
    """
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            os.write(2, captured.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
