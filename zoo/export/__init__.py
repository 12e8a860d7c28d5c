"""Exporting a run folder as .keras, SavedModel and ONNX artifacts, verified before publishing.

Keras 3.15 writes SavedModel from TensorFlow and JAX only and ONNX from TensorFlow and
torch (JAX needs jax2onnx), so the export always runs under the TensorFlow backend: in a
subprocess (``python -m zoo.export``, :mod:`zoo.export.worker`) that reloads the run's
backend-independent ``model.keras``. That subprocess also hides GPUs, so a model trained
with cuDNN kernels is traced with the portable kernels (tf2onnx cannot convert
``CudnnRNNV3``).

Besides the full model, generation needs the family's inference models (from the registry):
``step`` for a language model, ``encoder`` and ``decoder_step`` for seq2seq. Every artifact
is compared with the Keras model (:mod:`zoo.export.verify`) before the export is renamed
into place; a failed check publishes nothing and leaves the previous export intact.

Modules: this one starts the worker and guards ``--out``; ``worker`` builds and publishes;
``writers`` writes each format and the manifest; ``verify`` checks the artifacts.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

from zoo import storage
from zoo.errors import ReportedError, ZooError

FORMATS = ("keras", "savedmodel", "onnx")
# Largest absolute difference allowed between Keras and an artifact (``--tolerance``).
TOLERANCE = 1e-5
PARENT_PID = "ZOO_EXPORT_PARENT"  # the worker publishes only while this process lives


def parse_formats(text: str) -> tuple[str, ...]:
    formats = tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ZooError(f"--format {text!r}: expected a comma-separated subset of {','.join(FORMATS)}")
    return formats


def export_run(run_dir, *, formats=FORMATS, out=None, data_dir=None, tolerance=TOLERANCE) -> pathlib.Path:
    """Export `run_dir` into `out` (default ``RUN_DIR/export``) through a TensorFlow subprocess.

    `out` must be absent, empty, or an earlier export (it has a manifest): nothing else is
    ever replaced. The export is built in a staging folder beside `out` and swapped in whole.
    """
    from zoo.runtime import MANIFEST

    run_dir = pathlib.Path(run_dir)
    out = pathlib.Path(out) if out else run_dir / "export"
    for name in ("model.keras", "config.json"):
        if not (run_dir / name).is_file():
            raise ZooError(f"{run_dir}: not a finished run folder (missing {name})")
    if out.is_symlink() or out.exists() and not out.is_dir():
        raise ZooError(f"--out {out}: expected a folder for the export, found a file")
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise ZooError(f"--out {out}: the folder holds files that are not a zoo export (no {MANIFEST}); "
                       f"choose an absent or empty folder, or an earlier export")
    if run_dir.resolve().is_relative_to(out.resolve()):
        raise ZooError(f"--out {out}: the run folder {run_dir} lies inside it; choose another folder")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ZooError(f"--out {out}: cannot create its parent folder ({error.strerror})") from None
    env = dict(os.environ, KERAS_BACKEND="tensorflow", CUDA_VISIBLE_DEVICES="-1", **{PARENT_PID: str(os.getpid())})
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    cmd = [sys.executable, "-m", "zoo.export", str(run_dir), str(out), ",".join(formats), repr(float(tolerance))]
    if data_dir:
        cmd.append(str(data_dir))
    with storage.folder_lock(out, "export folder"):
        # Leftovers of killed exports into `out`; holding the lock, none of them is in use.
        for kind in ("staging", "trash"):
            storage.remove_stale(out.parent, f".{out.name}.{kind}-")
        code = subprocess.call(cmd, env=env, preexec_fn=_die_with_parent)
    if code != 0:  # the worker printed its one-line reason
        raise ReportedError(code)
    return out


def _die_with_parent() -> None:
    """In the worker, before it starts: the kernel kills it when `zoo export` dies (Linux), so
    a killed export never publishes later behind the user's back."""
    import ctypes
    import ctypes.util
    import signal

    pr_set_pdeathsig = 1
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        ctypes.CDLL(libc_name).prctl(pr_set_pdeathsig, signal.SIGKILL)


from zoo.export.verify import ExportFailed  # noqa: E402  (after the constants verify reads)

__all__ = ["FORMATS", "TOLERANCE", "ExportFailed", "export_run", "parse_formats"]
