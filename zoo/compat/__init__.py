"""Every patch of a library's internals the zoo applies, and what each is doing here.

Keras 3.15, TensorFlow and torch have gaps the zoo works around by wrapping or replacing
their private functions. Each such patch lives in a module of this package and is

- found by name: the private functions it patches or calls must be there, called as read
  (their parameter names), not inferred from a version string;
- checked by behaviour where that is cheap: a small probe on first use (the fused torch
  RNN against Keras's own on a tiny input, the JAX batch placement, the optimizer's
  clipping, whether file descriptor 2 can be held); where either check fails, the
  library's own path stays and the reason is recorded;
- switched on by the code that needs it, never by importing a module; the one exception is
  a setting an engine reads once as it loads (TensorFlow's oneDNN switch), which ``import zoo``
  sets, since Keras may load TensorFlow before any zoo code runs.

:data:`PATCHES` lists them; :func:`report` says, for this process, which apply to this
backend, which are active, and why the others are not (``zoo env`` prints it). Each patch's
module has a ``state(name)`` function returning ``(state, reason)``: "active", "ready" (its
checks pass; applied by each run that needs it) or "off". Importing this package imports
no library.
"""

from __future__ import annotations

import dataclasses
import importlib

from zoo.backend import BACKENDS, current_backend


@dataclasses.dataclass(frozen=True)
class Patch:
    """One patch: `module` (in zoo/compat) holds it and its ``state(name)``."""

    name: str
    module: str
    library: str
    touches: str  # the library internals it wraps, replaces or relies on
    backends: tuple[str, ...]  # the backends on which it can apply
    switched_on_by: str  # the code that switches it on


PATCHES = (
    Patch("torch_fused_rnn", "torch_rnn", "keras, torch",
          "keras.src.backend.lstm/gru replaced; keras.src.backend.torch.rnn.prepare_lstm_params/"
          "prepare_gru_params wrapped, _cudnn_lstm/_cudnn_gru called on the CPU (torch._VF.lstm/gru); "
          "SimpleRNN.inner_loop replaced, calling torch._VF.rnn_tanh on the CPU",
          ("torch",), "zoo.registry.load_families (every model built or loaded)"),
    Patch("glibc_mmap_threshold", "malloc_threshold", "glibc, tensorflow",
          "glibc's mmap and trim thresholds (mallopt), after TensorFlow's GeneratorDatasetOp fixed the first at "
          "128 KiB (ApplyPython311MemoryPatch, triggered first on tensorflow)", BACKENDS,
          "zoo.registry.load_families (every model built or loaded)"),
    Patch("tf_intra_op_threads", "tf_threads", "tensorflow",
          "tf.config.threading.set_intra_op_parallelism_threads (a public setting: one thread on 2 CPUs or "
          "fewer, ZOO_TF_INTRA_OP_THREADS), before TensorFlow's runtime starts", ("tensorflow",),
          "zoo.registry.load_families (every model built or loaded)"),
    Patch("tf_onednn", "tf_onednn", "tensorflow",
          "the TF_ENABLE_ONEDNN_OPTS variable (a public switch: set to 1 before TensorFlow loads, where the user "
          "did not set it; TensorFlow's own default is Eigen on some CPUs, the AVX2-only AMD EPYC among them)", BACKENDS,
          "import zoo (before TensorFlow's first import)"),
    Patch("tensorflow_quiet_import", "library_logs", "tensorflow",
          "TensorFlow's first import (its loader wrapped through sys.meta_path), file descriptor 2 while it "
          "loads, TF_CPP_MIN_LOG_LEVEL", BACKENDS, "the zoo command, zoo.load, the export worker"),
    Patch("jax_even_batches", "keras_distribute", "keras",
          "keras.src.backend.jax.distribution_lib.distribute_data_input, wrapped inside the distribution's scope",
          ("jax",), "zoo train --distribute data-parallel (EvenDataParallel)"),
    Patch("tf_one_step_per_call", "keras_distribute", "keras",
          "Model.compile(steps_per_execution=1) under a strategy (a public option: Keras's multi-step function "
          "fails there)", ("tensorflow",), "zoo train --distribute data-parallel"),
    Patch("tf_global_steps_per_epoch", "keras_distribute", "tensorflow",
          "the distributed dataset's private _cardinality", ("tensorflow",),
          "zoo train --distribute data-parallel"),
    Patch("tf_clip_after_all_reduce", "keras_distribute", "keras",
          "the optimizer's _clip_gradients and _all_reduce_sum_gradients", ("tensorflow",),
          "zoo train --distribute data-parallel, with gradient clipping"),
    Patch("tf_multi_worker", "keras_distribute", "keras",
          "the model's _maybe_symbolic_build and compute_metrics (keras-team/keras #20585)", ("tensorflow",),
          "zoo train --distribute data-parallel, several workers (TF_CONFIG)"),
)


def report() -> list[dict]:
    """Every patch as data: its name, library, what it touches, what switches it on, whether
    it applies to this backend, its state ("active", "ready", "off", "not applicable") and,
    unless active, the reason. Runs the checks of the patches that apply and no run has
    needed yet; imports only the libraries of this backend."""
    backend = current_backend()
    rows = []
    for patch in PATCHES:
        applies = backend in patch.backends
        if applies:
            state, reason = importlib.import_module(f"zoo.compat.{patch.module}").state(patch.name)
        else:
            state, reason = "not applicable", f"for the {' and '.join(patch.backends)} backend, not {backend}"
        rows.append({"name": patch.name, "library": patch.library, "touches": patch.touches,
                     "switched_on_by": patch.switched_on_by, "applies": applies, "state": state,
                     "active": state == "active", "reason": reason})
    return rows
