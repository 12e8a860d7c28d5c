"""glibc's mmap threshold, fixed high: tensors reused from the heap (TensorFlow's two speeds).

The first time a TensorFlow process builds a ``tf.data.Dataset.from_generator`` pipeline,
its ``GeneratorDatasetOp`` calls ``mallopt(M_MMAP_THRESHOLD, 128 KiB)``, once a process
(``tensorflow::data::ApplyPython311MemoryPatch``, a workaround for memory growth with
generators on Python 3.11, tensorflow/tensorflow #65675). Setting that option also freezes
glibc's dynamic threshold, which otherwise rises to the size of the blocks a program frees
(up to 32 MiB). From then on every tensor over 128 KiB is a fresh ``mmap`` and ``munmap``,
and its pages fault in again, zeroed by the kernel, at every allocation. A recurrent
network's training step allocates thousands of such tensors: the addition network trains
about 1.4x slower and one LSTM layer's forward and backward pass 1.5x slower. Keras feeds
every ``PyDataset`` (every zoo recipe's data) through ``from_generator``, so a process that
trained on one first stayed slow for its life, and one that first trained on arrays stayed
fast (``benchmarks/tf_two_speeds.py`` reproduces both, docs/performance.md has the evidence).

:func:`enable` makes TensorFlow's once-a-process call happen now (one tiny generator
dataset iterated), then sets the threshold to ``ZOO_MMAP_THRESHOLD`` bytes (default 32 MiB,
the ceiling of glibc's own dynamic threshold, where a process without TensorFlow's call
settles) and the trim threshold to twice that (glibc's own rule), so freed tensors are
reused from the heap. It then checks the effect: a ``malloc`` of half the threshold (at
most 16 MiB) must come from the heap, not from ``mmap`` (the ``IS_MMAPPED`` bit of its
chunk header). ``ZOO_MMAP_THRESHOLD=0`` leaves the library's setting.

Torch has no such call, but glibc's dynamic threshold makes it two-speed too: the threshold
rises only when a block above it is freed, so whether a step's tensors come from the heap
depends on the order of a process's first allocations (the addition network on torch ran
3,858 to 4,898 problems/s in three fresh processes, 5,101 to 5,515 with the threshold fixed).
So :func:`enable` fixes it on every backend (JAX: no change beyond noise). Only glibc
(Linux) is concerned; elsewhere it is off with that reason.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform

from zoo.errors import ZooError

PATCH = "glibc_mmap_threshold"  # its name in zoo.compat
DEFAULT_THRESHOLD = 32 << 20  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit systems
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)
_IS_MMAPPED = 0x2  # the bit of a chunk's size field that marks a chunk glibc got from mmap
_state = {"enabled": False, "reason": None}


def threshold() -> int:
    """The mmap threshold the zoo sets, in bytes: ``ZOO_MMAP_THRESHOLD`` or 32 MiB; 0 leaves
    the library's. A value that is not a whole number of bytes is a one-line error."""
    text = os.environ.get("ZOO_MMAP_THRESHOLD", "").strip()
    if not text:
        return DEFAULT_THRESHOLD
    if not text.isdigit() or int(text) > DEFAULT_THRESHOLD:
        raise ZooError(f"ZOO_MMAP_THRESHOLD={text!r}: expected a whole number of bytes from 0 (leave "
                       f"the library's setting) to {DEFAULT_THRESHOLD} (glibc's largest)")
    return int(text)


def enable() -> bool:
    """Fix glibc's mmap threshold at :func:`threshold` (on tensorflow, after letting TensorFlow
    make its once-a-process ``mallopt`` call now); True when the check after it passes.
    Idempotent; a no-op with ``ZOO_MMAP_THRESHOLD=0`` or without glibc."""
    import keras

    if _state["enabled"]:
        return True
    reason = _unavailable()
    if reason:
        _state["reason"] = reason
        return False
    if keras.backend.backend() == "tensorflow":
        _trigger_tensorflows_call()
    value = threshold()
    libc = _libc()
    if not (libc.mallopt(_M_MMAP_THRESHOLD, value) and libc.mallopt(_M_TRIM_THRESHOLD, 2 * value)):
        _state["reason"] = f"glibc refused mallopt(M_MMAP_THRESHOLD, {value})"
        return False
    probe = min(16 << 20, value // 2)  # below the new threshold, far above TensorFlow's 128 KiB
    if _mmapped(probe):
        _state["reason"] = f"a {probe}-byte malloc still came from mmap after mallopt"
        return False
    _state.update(enabled=True, reason=None)
    return True


def state(name: str = PATCH) -> tuple[str, str]:
    """("active", "") once :func:`enable` fixed the threshold, otherwise ("off", why not)."""
    if _state["enabled"]:
        return "active", ""
    return "off", _state["reason"] or _unavailable() or (
        "not switched on: enable() not called (building or loading a zoo model calls it)")


def heap_serves(size: int) -> bool:
    """Whether a ``malloc`` of `size` bytes comes from the heap rather than from ``mmap``,
    now, in this process: what the threshold decides (the tests read it after training)."""
    return not _mmapped(size)


def _unavailable() -> str:
    if os.environ.get("ZOO_MMAP_THRESHOLD", "").strip() == "0":
        return "disabled by ZOO_MMAP_THRESHOLD=0"
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return "not glibc (Linux): its malloc thresholds do not apply"
    threshold()  # a malformed value is an error before anything is changed
    return ""


@functools.cache
def _libc():
    libc = ctypes.CDLL(None)  # the C library this process already uses
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = (ctypes.c_size_t,)
    libc.free.argtypes = (ctypes.c_void_p,)
    return libc


def _mmapped(size: int) -> bool:
    libc = _libc()
    pointer = libc.malloc(size)
    try:
        # glibc keeps a chunk's size, with its flag bits, in the word before the pointer.
        return bool(ctypes.c_size_t.from_address(pointer - ctypes.sizeof(ctypes.c_size_t)).value & _IS_MMAPPED)
    finally:
        libc.free(pointer)


def _trigger_tensorflows_call() -> None:
    # TensorFlow calls mallopt when it first constructs a GeneratorDataset kernel, which
    # creating an iterator over a from_generator dataset does; later ones do not call it again.
    import tensorflow as tf

    dataset = tf.data.Dataset.from_generator(lambda: iter((0,)), output_signature=tf.TensorSpec((), tf.int32))
    for _ in dataset:
        pass
