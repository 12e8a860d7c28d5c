"""The precision a model is built and trained in (``--precision``): Keras's global dtype policy.

``auto`` (the recipes' default) picks bfloat16 mixed precision where it was measured to pay,
float32 elsewhere (docs/performance.md, "Time to quality"):

- a GPU with bfloat16 tensor cores (compute capability 8.0 or newer), on every backend;
- torch on a CPU with AMX or AVX-512 BF16: its fused LSTM kernel (zoo.compat.torch_rnn) runs the
  matrix products in bfloat16 through oneDNN, 1.4x to 2x float32's training speed here;
- not TensorFlow or JAX on a CPU: their CPU kernels compute bfloat16 no faster (TensorFlow
  0.96x) or slower (JAX 0.62x) than float32, so ``auto`` keeps float32 there.
"""

from __future__ import annotations

import contextlib
import functools
import pathlib

import keras

from zoo.errors import ZooError
from zoo.recipe import PRECISION_CHOICES as CHOICES  # the recipe field's values

# /proc/cpuinfo flags of CPUs with bfloat16 matrix instructions (AMX tiles or AVX-512 BF16).
BF16_CPU_FLAGS = {"amx_bf16", "avx512_bf16"}


def check_precision(precision: str) -> None:
    """Raise a one-line ZooError unless `precision` is ``auto`` or one of :data:`zoo.recipe.PRECISIONS`."""
    if precision not in CHOICES:
        raise ZooError(f"--precision {precision}: expected one of {', '.join(CHOICES)}")


@functools.lru_cache(maxsize=1)
def cpu_has_bfloat16() -> bool:
    """Whether this CPU has bfloat16 matrix instructions (Linux's /proc/cpuinfo flags)."""
    try:
        text = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return bool(BF16_CPU_FLAGS & set(flags))


def gpu_compute_capability(backend: str | None = None) -> tuple[int, int] | None:
    """The first GPU's CUDA compute capability as `backend` (default: Keras's) sees it; None
    without a GPU."""
    backend = backend or keras.backend.backend()
    if backend == "torch":
        import torch

        return tuple(torch.cuda.get_device_capability(0)) if torch.cuda.is_available() else None
    if backend == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        capability = getattr(gpus[0], "compute_capability", None) if gpus else None
        return tuple(int(part) for part in str(capability).split(".")[:2]) if capability else None
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
    return tuple(capability) if capability else None


def resolve_precision(precision: str, backend: str | None = None) -> str:
    """`precision`, with ``auto`` replaced by what `backend` (default: Keras's) trains fastest in
    on this machine (:func:`auto_precision`)."""
    check_precision(precision)
    return auto_precision(backend)[0] if precision == "auto" else precision


def auto_precision(backend: str | None = None) -> tuple[str, str]:
    """What ``auto`` picks for `backend` (default: Keras's) on this machine, and why."""
    backend = backend or keras.backend.backend()
    capability = gpu_compute_capability(backend)
    if capability is not None:
        version = ".".join(map(str, capability))
        if capability >= (8, 0):
            return "mixed_bfloat16", f"a GPU of compute capability {version}: bfloat16 tensor cores"
        return "float32", f"a GPU of compute capability {version}, below 8.0: no bfloat16 tensor cores"
    if backend != "torch":
        return "float32", f"{backend} on a CPU: its CPU kernels compute bfloat16 no faster than float32"
    if cpu_has_bfloat16():
        return "mixed_bfloat16", ("torch on a CPU with bfloat16 matrix instructions (AMX or AVX-512 BF16): its "
                                  "fused LSTM kernel runs them through oneDNN, measured faster than float32")
    return "float32", "torch on a CPU without bfloat16 matrix instructions (AMX, AVX-512 BF16)"


@contextlib.contextmanager
def precision_policy(precision: str):
    """Keras's global dtype policy set to `precision` inside the block, restored after it."""
    check_precision(precision)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(resolve_precision(precision))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
