"""No log noise by default: the commands and the Python API print nothing on stderr but their
own one-line errors and warnings; --verbose, TF_CPP_MIN_LOG_LEVEL or PYTHONWARNINGS bring the
libraries' logs back. A dead export worker and corrupt --data-dir data are one-line errors."""

import os
import pathlib
import re
import signal
import subprocess
import sys
import time
import warnings
import zipfile

import keras
import pytest

from zoo.compat import library_logs
from zoo.recipe import load_recipe
from zoo.training import train

BACKEND = keras.backend.backend()
PYTHON = sys.executable


@pytest.fixture
def env(python_env):
    """A user's environment: no log level, warning options or verbosity of their own."""
    for name in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS", library_logs.VERBOSE_ENV):
        python_env.pop(name, None)
    python_env["KERAS_BACKEND"] = BACKEND
    return python_env


def zoo(env, *args, **popen):
    return subprocess.run([PYTHON, "-m", "zoo", *map(str, args)], env=env, capture_output=True, text=True, **popen)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """`zoo train` of a tiny run through the command line, with what it printed."""
    from conftest import subprocess_env

    env = subprocess_env()
    env.pop("TF_CPP_MIN_LOG_LEVEL")
    env["KERAS_BACKEND"] = BACKEND
    run = tmp_path_factory.mktemp("quiet") / "run"
    result = zoo(env, "train", "seq2seq_word_pairs", "--preset", "tiny", "--epochs", "1", "--out", run)
    return run, result


def test_train_and_export_print_only_their_report(cli_run, env, tmp_path):
    run, trained = cli_run
    assert trained.returncode == 0 and trained.stderr == "", trained.stderr
    exported = zoo(env, "export", run, "--out", tmp_path / "export")
    assert exported.returncode == 0, exported.stderr
    assert exported.stderr == ""
    assert exported.stdout.splitlines()[-1].startswith("exported run to ")


@pytest.mark.parametrize("args", [
    ["translate", "seq2seq_addition", "1+1", "--engine", "keras"],
    ["predict", "simple_rnn_binary_addition", "23+42"],
    # On torch, something probes importlib.util.find_spec("tensorflow") before importing it.
    ["generate", "lstm_fashion_mnist_generator", "--class", "Bag", "--seed", "0", "--engine", "keras"],
])
def test_commands_on_shipped_models_print_nothing_on_stderr(env, args):
    result = zoo(env, *args)
    assert result.returncode == 0 and result.stdout
    assert result.stderr == ""


def test_a_probe_for_tensorflow_does_not_undo_the_quiet_import(env):
    """Libraries look TensorFlow up (find_spec) before importing it; the import that follows
    is still held back."""
    code = ("import importlib.util; from zoo.compat import library_logs; library_logs.quiet_tensorflow_import(); "
            "assert importlib.util.find_spec('tensorflow') is not None; import tensorflow")
    result = subprocess.run([PYTHON, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_the_python_api_prints_nothing_on_stderr(env):
    code = "import zoo; print(zoo.load('seq2seq_addition', engine='keras').translate('1+1'))"
    result = subprocess.run([PYTHON, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip()
    assert result.stderr == ""


def test_the_savedmodel_engine_loads_tensorflow_quietly_and_verbose_shows_its_logs(cli_run, env, tmp_path):
    """TensorFlow imported late (by an export format, on any backend) is as quiet; --verbose
    brings the export worker's warnings back (tf2onnx's numpy probe)."""
    run, _ = cli_run
    out = tmp_path / "export"
    verbose = zoo(env, "--verbose", "export", run, "--out", out)
    assert verbose.returncode == 0, verbose.stderr
    assert "np.object" in verbose.stderr  # a FutureWarning otherwise hidden
    result = zoo(env, "translate", out, "man", "--engine", "savedmodel")
    assert result.returncode == 0 and result.stderr == ""


def test_a_killed_export_worker_is_a_one_line_error(cli_run, env, tmp_path):
    run, _ = cli_run
    out = tmp_path / "export"
    command = [PYTHON, "-m", "zoo", "export", str(run), "--out", str(out)]
    parent = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        worker, deadline = None, time.monotonic() + 120
        while worker is None and parent.poll() is None and time.monotonic() < deadline:
            worker = _child(parent.pid, "zoo.export")
            time.sleep(0.05)
        assert worker is not None, "the export worker never started"
        os.kill(worker, signal.SIGKILL)
        stdout, stderr = parent.communicate(timeout=120)
    finally:
        parent.kill()
        parent.wait()
    assert parent.returncode == 2
    assert re.fullmatch(rf"zoo: error: the export worker \(pid {worker}\) died \(signal 9, SIGKILL\); "
                        r"nothing was published\n", stderr), stderr
    assert stdout == "" and not out.exists()


def _child(pid: int, marker: str):
    """The pid of a child process of `pid` whose command line holds `marker` (Linux /proc)."""
    try:
        children = pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    for child in map(int, children):
        try:
            if marker.encode() in pathlib.Path(f"/proc/{child}/cmdline").read_bytes():
                return child
        except OSError:
            continue
    return None


@pytest.fixture(scope="module")
def lyrics_run(tmp_path_factory):
    """A tiny language model trained on a lyrics archive in its own --data-dir."""
    root = tmp_path_factory.mktemp("lyrics")
    data = root / "data"
    (data / "jaychou_lyrics").mkdir(parents=True)
    with zipfile.ZipFile(data / "jaychou_lyrics" / "jaychou_lyrics.txt.zip", "w") as archive:
        archive.writestr("jaychou_lyrics.txt", "分开 the quick brown fox jumps over the lazy dog\n" * 80)
    run = root / "run"
    recipe = load_recipe("char_lm_lyrics").replace(preset="tiny", epochs=1, batch_size=8)
    train(recipe, out_dir=run, data_dir=data, limit=100, verbose=0)
    return run, data


def _corrupt(data_dir: pathlib.Path) -> None:
    (data_dir / "jaychou_lyrics").mkdir(parents=True, exist_ok=True)
    (data_dir / "jaychou_lyrics" / "jaychou_lyrics.txt.zip").write_bytes(b"not a zip archive")


def test_export_with_corrupt_data_dir_is_a_one_line_error(lyrics_run, env, tmp_path):
    run, _ = lyrics_run
    corrupt = tmp_path / "corrupt"
    _corrupt(corrupt)
    out = tmp_path / "export"
    result = zoo(env, "export", run, "--out", out, "--format", "onnx", "--data-dir", corrupt)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"zoo: error: --data-dir {corrupt}: ") and result.stderr.count("\n") == 1
    assert "jaychou_lyrics.txt.zip" in result.stderr and "nothing was published" in result.stderr
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".export")]


def test_export_without_its_data_says_so_in_one_line(lyrics_run, env, tmp_path):
    """Without --data-dir, data that cannot be loaded (here the run's own, now corrupt) leaves the
    check to reference.npz, and one line says the metric was not recomputed."""
    run, data = lyrics_run
    _corrupt(data)
    out = tmp_path / "export"
    result = zoo(env, "export", run, "--out", out, "--format", "onnx")
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("zoo: warning: test data not found (") and result.stderr.count("\n") == 1
    assert "the metric was not recomputed" in result.stderr
    assert (out / "manifest.json").is_file()


# ---------------------------------------------------------------------- the switches, in-process
def test_user_settings_turn_the_quieting_off(monkeypatch):
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    finders = list(sys.meta_path)
    with warnings.catch_warnings():
        before = list(warnings.filters)
        monkeypatch.setattr(sys, "warnoptions", ["default"])  # PYTHONWARNINGS or -W
        library_logs.ignore_warnings(library_logs.OPTIMIZER_NOT_LOADED)
        assert warnings.filters == before
        monkeypatch.setattr(sys, "warnoptions", [])
        monkeypatch.setenv(library_logs.VERBOSE_ENV, "1")
        library_logs.ignore_warnings(library_logs.OPTIMIZER_NOT_LOADED)
        assert warnings.filters == before
        monkeypatch.delenv(library_logs.VERBOSE_ENV)
        library_logs.ignore_warnings(library_logs.OPTIMIZER_NOT_LOADED)
        assert warnings.filters != before
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    library_logs.quiet_tensorflow_import()
    assert sys.meta_path == finders


def test_gpus_count_as_absent_only_without_a_device_or_when_hidden(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert library_logs.no_gpu_visible()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert not library_logs.no_gpu_visible()
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert library_logs.no_gpu_visible() == (not list(pathlib.Path("/dev").glob("nvidia*")))
