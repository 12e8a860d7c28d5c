"""The precision a model is built and trained in (``--precision``): Keras's global dtype policy."""

from __future__ import annotations

import contextlib

import keras

from zoo.errors import ZooError

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def check_precision(precision: str) -> None:
    """Raise a one-line ZooError unless `precision` is one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ZooError(f"--precision {precision}: expected one of {', '.join(PRECISIONS)}")


@contextlib.contextmanager
def precision_policy(precision: str):
    """Keras's global dtype policy set to `precision` inside the block, restored after it."""
    check_precision(precision)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
