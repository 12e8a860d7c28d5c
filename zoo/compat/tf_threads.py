"""TensorFlow's intra-op thread pool, set to one thread on a machine of two CPUs or fewer.

TensorFlow splits each kernel over a pool of intra-op threads, one per CPU by default. A
recurrent network's training step is thousands of small kernels, and on two CPUs the pool's
hand-offs cost more than the second core gives back, while the Python side of ``fit`` (the
``PyDataset`` producing batches, Keras's callbacks) has no core to itself. One intra-op
thread ran the recipes' training steps faster on the 2-core Intel Xeon with AMX
(``python benchmarks/throughput.py --networks addition,fashion,char_lm --backends tensorflow,jax
--repeats 3 --steps 8 [--threads 1]``, medians of 3 fresh processes, 2026-12-06): the
addition network 5,060 -> 6,349 problems/s (1.25x), the Fashion LSTM 1,293 -> 1,760 images/s
(1.36x), the char LM 7,541 -> 8,475 chars/s (1.12x). On the 2-core AMD EPYC (Zen 4) it won
on the addition network (1.05x plain PyTorch against 0.92x with the pool) and stayed within
the runs' spread on the other two. With more CPUs the pool has cores to spread a large
product over, and nothing was measured there, so TensorFlow's default stays.

:func:`enable` sets it before TensorFlow's runtime starts (it cannot change after):
``ZOO_TF_INTRA_OP_THREADS=N`` chooses N threads, ``=0`` leaves TensorFlow's default. Where
the runtime had already started (a program that ran TensorFlow before building a zoo model)
it stays as it is, and :func:`state` says so. JAX and torch are left alone: one thread moved
JAX by 1% to 11% in the same runs (within two runs' spread on two of three networks), and
made torch slower (docs/performance.md).
"""

from __future__ import annotations

import os

from zoo.errors import ZooError

PATCH = "tf_intra_op_threads"  # its name in zoo.compat
FEW_CPUS = 2  # at or below this many CPUs, one intra-op thread (measured); above, TensorFlow's default
_state = {"enabled": False, "threads": None, "reason": None}


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads() -> int:
    """The intra-op threads the zoo sets: ``ZOO_TF_INTRA_OP_THREADS``, else 1 on a machine of
    :data:`FEW_CPUS` CPUs or fewer; 0 leaves TensorFlow's default. A value that is not a whole
    number is a one-line error."""
    text = os.environ.get("ZOO_TF_INTRA_OP_THREADS", "").strip()
    if not text:
        return 1 if usable_cpus() <= FEW_CPUS else 0
    if not text.isdigit() or int(text) > 4096:
        raise ZooError(f"ZOO_TF_INTRA_OP_THREADS={text!r}: expected a whole number of threads from 0 "
                       f"(TensorFlow's default) to 4096")
    return int(text)


def enable() -> bool:
    """Set TensorFlow's intra-op threads to :func:`threads` if its runtime has not started;
    True when set. Idempotent; a no-op on other backends and where :func:`threads` is 0."""
    import keras

    if _state["enabled"]:
        return True
    if keras.backend.backend() != "tensorflow":
        return False
    wanted = threads()
    if not wanted:
        _state["reason"] = ("ZOO_TF_INTRA_OP_THREADS=0: TensorFlow's default" if os.environ.get(
            "ZOO_TF_INTRA_OP_THREADS", "").strip() else
            f"{usable_cpus()} CPUs, more than {FEW_CPUS}: TensorFlow's default (one thread per CPU)")
        return False
    import tensorflow as tf

    if tf.config.threading.get_intra_op_parallelism_threads() == wanted:
        _state.update(enabled=True, threads=wanted, reason=None)
        return True
    try:
        tf.config.threading.set_intra_op_parallelism_threads(wanted)
    except RuntimeError:  # "cannot be modified after initialization"
        _state["reason"] = (f"TensorFlow's runtime had started before the zoo could set {wanted} intra-op "
                            f"thread(s); it keeps its own setting")
        return False
    _state.update(enabled=True, threads=wanted, reason=None)
    return True


def state(name: str = PATCH) -> tuple[str, str]:
    """("active", "") once :func:`enable` set them (:func:`threads` says how many), otherwise
    ("off", why not)."""
    if _state["enabled"]:
        return "active", ""
    if _state["reason"]:
        return "off", _state["reason"]
    threads()  # a malformed value is reported as the error it is
    return "off", "not switched on: enable() not called (building or loading a zoo model calls it)"
