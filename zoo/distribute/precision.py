"""The precision a model is built and trained in (``--precision``): Keras's global dtype policy.

``auto`` (the recipes' default) picks bfloat16 mixed precision where it pays, float32 elsewhere:

- on a GPU, bfloat16 where it has bfloat16 tensor cores (compute capability 8.0 or newer), on
  every backend;
- on a CPU, by measurement (:mod:`zoo.distribute.precision_probe`): a short probe times an
  LSTM training step in both precisions on this backend, once per machine and library
  versions, and bfloat16 wins where it is clearly faster. On the 2-core Intel Xeon with AMX
  that picks bfloat16 for torch (its fused LSTM runs the products through oneDNN's bfloat16
  kernels) and float32 for TensorFlow and JAX (docs/performance.md). A CPU without any
  bfloat16 instructions is float32 without a probe.
"""

from __future__ import annotations

import contextlib

import keras

from zoo.errors import ZooError
from zoo.recipe import PRECISION_CHOICES as CHOICES  # the recipe field's values


def check_precision(precision: str) -> None:
    """Raise a one-line ZooError unless `precision` is ``auto`` or one of :data:`zoo.recipe.PRECISIONS`."""
    if precision not in CHOICES:
        raise ZooError(f"--precision {precision}: expected one of {', '.join(CHOICES)}")


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
    from zoo.distribute import precision_probe

    if precision_probe.bfloat16_emulated():
        return "float32", ("this CPU has no bfloat16 arithmetic (none of "
                           f"{', '.join(sorted(precision_probe.BF16_CPU_FLAGS))} among its flags): "
                           "bfloat16 would be emulated, so it is not probed")
    try:
        found = precision_probe.measured(backend)
    except ZooError as error:
        return "float32", f"{error}; float32 is the safe choice"
    times = "; ".join(f"{shape}: {ms['float32']:g} ms float32, {ms['mixed_bfloat16']:g} ms bfloat16"
                      for shape, ms in found["shapes"].items())
    where = f"cached in {found['cached']}" if found.get("cached") else "not cached: the cache folder is not writable"
    measured = (f"an LSTM training step measured on this CPU: bfloat16 {found['speedup']:.2f}x float32's speed "
                f"({times}; {where})")
    if found["speedup"] >= precision_probe.MIN_SPEEDUP:
        return "mixed_bfloat16", measured
    return "float32", f"{measured}, below the {precision_probe.MIN_SPEEDUP}x that bfloat16 must reach"


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
