"""The libraries' own logs and warnings, held back unless asked for.

They say nothing a zoo user can act on, and they bury a one-line error, so they are hidden
unless asked for: ``zoo --verbose`` (or ZOO_VERBOSE=1), a TF_CPP_MIN_LOG_LEVEL the user
set, or Python warning options (PYTHONWARNINGS, -W) bring them back.

The one patch here (``tensorflow_quiet_import`` in :mod:`zoo.compat`) wraps TensorFlow's
first import, whoever imports it (keras, tfds, an export format's loader): its C++
start-up lines (oneDNN, CUDA drivers, CPU features) print before its logging is set up, so
TF_CPP_MIN_LOG_LEVEL cannot hide them. They are held back by pointing file descriptor 2 at
a temporary file while TensorFlow loads; where that descriptor cannot be redirected (the
check on first use), TensorFlow loads as it would without the zoo, and :func:`state` says why.
"""

from __future__ import annotations

import contextlib
import glob
import os
import sys
import warnings

from zoo.import_hooks import around_first_import, pending

PATCH = "tensorflow_quiet_import"
VERBOSE_ENV = "ZOO_VERBOSE"
TF_LOG_LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
_SET_HERE: dict = {}  # environment variables this process set itself, not the user
# What became of TensorFlow's first import: "held" (its lines held back), or why it was not.
_outcome: dict = {}

# Warnings, by category and message (a regex matching its start), that a user cannot act on.
# keras.saving.load_model(compile=True) of a run's model.keras: the published model's
# optimizer was never stepped (it is rebuilt from the best epoch's weights), so Keras skips
# loading its few unbuilt variables.
OPTIMIZER_NOT_LOADED = (UserWarning, r"Skipping variable loading for optimizer ")
# keras.export's tf2onnx probes `hasattr(np, "object")`, which numpy 2 answers with a warning.
NP_OBJECT_PROBE = (FutureWarning, r"In the future `np\.object` will be defined")


def verbose() -> bool:
    """Whether the libraries' own logs and warnings are shown (`zoo --verbose`, ZOO_VERBOSE=1)."""
    return os.environ.get(VERBOSE_ENV, "").strip() not in ("", "0")


def set_verbose() -> None:
    """Show the libraries' logs and warnings in this process and the subprocesses it starts."""
    os.environ[VERBOSE_ENV] = "1"


def user_environ() -> dict:
    """os.environ without the variables zoo set itself, for a subprocess that decides anew."""
    return {name: value for name, value in os.environ.items() if _SET_HERE.get(name) != value}


def _user_chose_tf_log_level() -> bool:
    value = os.environ.get(TF_LOG_LEVEL_ENV)
    return value is not None and _SET_HERE.get(TF_LOG_LEVEL_ENV) != value


def no_gpu_visible() -> bool:
    """True where CUDA can find no GPU: no NVIDIA device node and CUDA_VISIBLE_DEVICES unset, or
    CUDA_VISIBLE_DEVICES hiding every device ("" or -1, as the export worker runs). CUDA's
    probing can then only fail, and TensorFlow logs that failure as an error."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return not glob.glob("/dev/nvidia*")
    return visible.strip() in ("", "-1")


@contextlib.contextmanager
def stderr_held():
    """Send file descriptor 2 (C++ logs included) to a temporary file while the block runs;
    write what it caught to stderr only if the block raises."""
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                yield
            except BaseException:
                sys.stderr.flush()
                os.dup2(saved, 2)
                captured.seek(0)
                os.write(2, captured.read())
                raise
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def _stderr_unholdable() -> str:
    """Why file descriptor 2 cannot be held here ("" where it can): the check, on first use,
    that :func:`stderr_held` can point it at a file and back (a daemon may run without one)."""
    try:
        with stderr_held():
            os.write(2, b"")
    except OSError as error:
        return f"file descriptor 2 cannot be redirected ({error.strerror or error})"
    return ""


def _load_tensorflow_quietly(exec_module, module) -> None:
    """Run TensorFlow's own loader with its start-up lines held back (and, where no GPU is
    visible, its CUDA probe, which fails with a logged error). Whether the user chose a log
    level was decided when the hook was installed: a library imported since may have set one
    of its own (Keras on jax sets TF_CPP_MIN_LOG_LEVEL=1), which is not the user's choice."""
    if verbose():
        _outcome["why"] = "--verbose (or ZOO_VERBOSE=1) shows TensorFlow's logs"
        exec_module(module)
        return
    unholdable = _stderr_unholdable()
    if unholdable:
        _outcome["why"] = unholdable
        exec_module(module)
        return
    os.environ[TF_LOG_LEVEL_ENV] = _SET_HERE[TF_LOG_LEVEL_ENV] = "2"  # INFO and WARNING lines after start-up
    with stderr_held():
        exec_module(module)
    _outcome["why"] = ""
    if no_gpu_visible():  # the probe, done now, held back too; it does not start the runtime
        try:
            with stderr_held():
                module.config.list_physical_devices()
        except Exception:  # its lines are shown; TensorFlow raises it again where devices are used
            pass


def quiet_tensorflow_import() -> None:
    """Make this process's first import of TensorFlow quiet, whoever imports it: its start-up
    lines are held back while it loads and shown only if loading fails; TF_CPP_MIN_LOG_LEVEL=2
    then hides its INFO and WARNING lines. Does nothing with --verbose, with a
    TF_CPP_MIN_LOG_LEVEL the user set, or once TensorFlow is imported."""
    if verbose() or _user_chose_tf_log_level() or "tensorflow" in sys.modules:
        return
    around_first_import("tensorflow", _load_tensorflow_quietly)


def state(name: str = PATCH) -> tuple[str, str]:
    """("active", "") where TensorFlow loaded, or will load, with its start-up lines held back;
    otherwise ("off", why not). Imports nothing."""
    if "why" in _outcome:
        return ("active", "") if not _outcome["why"] else ("off", _outcome["why"])
    if pending("tensorflow", _load_tensorflow_quietly):
        return "active", ""  # waiting for TensorFlow's first import
    if verbose():
        return "off", "--verbose (or ZOO_VERBOSE=1) shows TensorFlow's logs"
    if _user_chose_tf_log_level():
        return "off", f"{TF_LOG_LEVEL_ENV}={os.environ[TF_LOG_LEVEL_ENV]} was set by the user"
    if "tensorflow" in sys.modules:
        return "off", "tensorflow was imported before quiet_tensorflow_import()"
    return "off", "quiet_tensorflow_import() not called (the zoo command and zoo.load call it)"


@contextlib.contextmanager
def quiet_logger(name: str | None):
    """Hold a Python logger's (None: the root's) INFO and WARNING lines while the block runs,
    unless --verbose: converters log advice a zoo user cannot act on."""
    import logging

    logger = logging.getLogger(name)
    level = logger.level
    if not verbose():
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def ignore_warnings(*warnings_) -> None:
    """Hide these (category, message) warnings, unless the user set Python's warning options
    (PYTHONWARNINGS, -W) or asked for --verbose."""
    if verbose() or sys.warnoptions:
        return
    for category, message in warnings_:
        warnings.filterwarnings("ignore", message=message, category=category)
