"""TensorFlow's oneDNN CPU kernels, switched on where TensorFlow leaves them off.

TensorFlow's x86-64 Linux wheels carry two sets of CPU kernels, Eigen's and oneDNN's, and
read ``TF_ENABLE_ONEDNN_OPTS`` once, when they load, to choose; unset, they choose by the
CPU: oneDNN on the 2-core Intel Xeon with AMX and the AMD EPYC Zen 4 (AVX-512), Eigen on the
AMD EPYC Zen 3 (AVX2 only). There oneDNN ran one Keras LSTM layer's forward and backward pass
in 0.69x (Fashion), 0.70x (char LM) and 0.95x (addition) of Eigen's time
(``python benchmarks/rnn_kernels.py --levers``, docs/performance.md "What each lever gave"),
and on the other two CPUs setting it changes nothing (it is their default). So the zoo sets
``TF_ENABLE_ONEDNN_OPTS=1`` before TensorFlow loads.

:func:`enable` (called by ``import zoo``, since TensorFlow may be imported by Keras itself
before any zoo code runs) sets it where TensorFlow has not been imported yet and the user has
not set it: ``TF_ENABLE_ONEDNN_OPTS=0`` keeps Eigen. Only x86-64 is concerned (elsewhere
oneDNN's default was not measured). The variable is inherited by the processes a zoo command
starts (the export worker, the precision probe), so they run the same kernels.
"""

from __future__ import annotations

import os
import platform
import sys

PATCH = "tf_onednn"  # its name in zoo.compat
ENV = "TF_ENABLE_ONEDNN_OPTS"
X86_64 = ("x86_64", "amd64")
_state = {"on": False, "reason": None}


def enable() -> bool:
    """Set ``TF_ENABLE_ONEDNN_OPTS=1`` for this process and its children unless TensorFlow is
    already imported, the variable is set, or the CPU is not x86-64. True where oneDNN is
    chosen that way (by the zoo, or by a parent process or user who set it to 1). Imports
    nothing; idempotent."""
    value = os.environ.get(ENV, "").strip()
    if _state["on"] or value == "1":
        _state.update(on=True, reason=None)
    elif value:
        _state["reason"] = f"{ENV}={value} was set by the user"
    elif platform.machine().lower() not in X86_64:
        _state["reason"] = f"a {platform.machine() or 'non-x86'} CPU: TensorFlow's own default (measured on x86-64 only)"
    elif "tensorflow" in sys.modules:
        _state["reason"] = "tensorflow was imported before the zoo: it keeps the kernels it chose"
    else:
        os.environ[ENV] = "1"
        _state.update(on=True, reason=None)
    return _state["on"]


def state(name: str = PATCH) -> tuple[str, str]:
    """("active", "") where ``TF_ENABLE_ONEDNN_OPTS=1`` was in place before TensorFlow loaded;
    otherwise ("off", why not). Imports nothing."""
    if _state["on"]:
        return "active", ""
    return "off", _state["reason"] or "not switched on: enable() not called (import zoo calls it)"
