"""Exporting a run folder as .keras, SavedModel and ONNX artifacts, verified before publishing.

Keras 3.15 writes SavedModel from TensorFlow and JAX only and ONNX from TensorFlow and
torch (JAX needs jax2onnx), so the export always runs under the TensorFlow backend: in a
subprocess (``python -m zoo.export``, :mod:`zoo.export.worker`) that reloads the run's
backend-independent ``model.keras``. That subprocess also hides GPUs, so a model trained
with cuDNN kernels is traced with the portable kernels (tf2onnx cannot convert
``CudnnRNNV3``).

Besides the full model, an export holds the family's inference models (from the registry),
the artifacts the task needs (a language model's ``step``, an encoder-decoder's
``encoder`` and ``decoder_step``). Formats come from :mod:`zoo.formats`. Every artifact
is compared with the Keras model (:mod:`zoo.export.verify`) before the export is renamed
into place; a failed check publishes nothing and leaves the previous export intact.

Modules: this one starts the worker and guards ``--out``; ``worker`` builds and publishes;
``verify`` checks the artifacts.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

from zoo import formats as export_formats
from zoo import runs, storage
from zoo.compat import library_logs
from zoo.errors import ReportedError, WorkerDied, ZooError
from zoo.export.verify import TOLERANCE, ExportFailed
from zoo.manifest import MANIFEST

PARENT_PID = "ZOO_EXPORT_PARENT"  # the worker publishes only while this process lives


def export_run(run_dir, *, formats=None, out=None, data_dir=None, tolerance=TOLERANCE) -> pathlib.Path:
    """Export `run_dir` into `out` (default ``RUN_DIR/export``) through a TensorFlow subprocess.

    `out` must be absent, empty, or an earlier export (it has a manifest): nothing else is
    ever replaced. The export is built in a staging folder beside `out` and swapped in whole.
    `formats` defaults to the default formats (``zoo.formats.defaults``). The worker reports its own errors on one
    line (ReportedError here); one that dies without doing so (killed by a signal) is a
    WorkerDied error.
    """
    formats = export_formats.defaults() if formats is None else tuple(formats)
    run_dir = runs.require_finished_run(run_dir)
    out = pathlib.Path(out) if out else run_dir / "export"
    storage.check_out_dir(out, what="export", is_ours=lambda folder: (folder / MANIFEST).is_file(), overwrite=None)
    if run_dir.resolve().is_relative_to(out.resolve()):
        raise ZooError(f"--out {out}: the run folder {run_dir} lies inside it; choose another folder")
    storage.make_parent(out)
    # The user's environment, not the log level this process chose for itself: the worker
    # quiets its own TensorFlow (zoo.compat.library_logs), or not, as the user asked.
    env = dict(library_logs.user_environ(), KERAS_BACKEND="tensorflow", CUDA_VISIBLE_DEVICES="-1",
               **{PARENT_PID: str(os.getpid())})
    cmd = [sys.executable, "-m", "zoo.export", str(run_dir), str(out), ",".join(formats), repr(float(tolerance))]
    if data_dir:
        cmd.append(str(data_dir))
    with storage.folder_lock(out, "export folder"):
        # Leftovers of killed exports into `out`; holding the lock, none of them is in use.
        for kind in ("staging", "trash"):
            storage.remove_stale(out.parent, f".{out.name}.{kind}-")
        pid, code, reported = _run_worker(cmd, env)
    if code < 0:
        raise WorkerDied(f"the export worker (pid {pid}) died ({_signal_name(-code)}); nothing was published")
    if code != 0 and not reported:
        raise WorkerDied(f"the export worker (pid {pid}) died (exit code {code}); nothing was published")
    if code != 0:  # the worker printed its one-line reason
        raise ReportedError(code)
    return out


def _run_worker(cmd, env) -> tuple[int, int, bool]:
    """Run the worker, passing its stderr on line by line; (its pid, its exit code, whether it
    reported an error itself: a ``zoo: error`` or ``zoo: interrupted`` line). A negative code
    is the signal that ended it."""
    with subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, preexec_fn=_die_with_parent) as worker:
        try:
            reported = False
            for line in worker.stderr:
                reported = reported or line.startswith((b"zoo: error", b"zoo: interrupted"))
                sys.stderr.write(line.decode("utf-8", "replace"))
                sys.stderr.flush()
            return worker.pid, worker.wait(), reported
        except BaseException:  # interrupted: the worker must not publish behind the user's back
            worker.kill()
            raise


def _signal_name(number: int) -> str:
    import signal

    try:
        return f"signal {number}, {signal.Signals(number).name}"
    except ValueError:
        return f"signal {number}"


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


__all__ = ["TOLERANCE", "ExportFailed", "export_run"]
