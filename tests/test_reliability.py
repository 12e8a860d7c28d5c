"""Runs and exports never lose data: kills at every phase, damaged backups, two commands on
one folder, and a resumed run that ends as the uninterrupted one."""

import json
import pathlib
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from zoo import storage
from zoo.cli import main
from zoo.recipe import load_recipe
from zoo.training import staging_dir, train

from conftest import require_data

BACKEND = keras.backend.backend()
# How far a resumed run may end from the uninterrupted one (docs/reliability.md). TensorFlow and
# torch on the CPU repeat the run number for number, with the backup's random generators.
# JAX's compiled CPU kernels may sum in another order in another process.
RESUME_TOLERANCE = {"tensorflow": 1e-6, "torch": 1e-6, "jax": 1e-3}


def zoo(*args):
    return main(["--backend", BACKEND, *map(str, args)])


def tiny(name="seq2seq_addition", **changes):
    return load_recipe(name).replace(**{"preset": "tiny", "epochs": 4, "batch_size": 16, **changes})


def snapshot(folder: pathlib.Path) -> dict:
    """Every file under `folder` with its bytes: to show that nothing changed."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


class RecordEpochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)


# The kill-and-resume runs: a recipe's changes and train()'s options. lstm_fashion_mnist keeps
# its dropout (0.3 after each LSTM layer): masks drawn at random, which a resume must draw again.
RUNS = {
    "seq2seq_addition": ({"preset": "tiny", "epochs": 4, "batch_size": 16}, {"limit": 64, "seed": 5}),
    "lstm_fashion_mnist": ({"preset": "tiny", "epochs": 4}, {"limit": 200, "seed": 5}),
}

# A training command that kills itself with SIGKILL at a chosen point, as a crash or an
# impatient user would. The kill comes from test-only code: a callback, or a patched function.
KILLER = r"""
import json, os, signal, sys
import keras
from zoo import storage, training
from zoo.recipe import load_recipe

point, out, name = sys.argv[1], sys.argv[2], sys.argv[3]
changes, options = json.loads(sys.argv[4])
die = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)

class Kill(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_end(self, batch, logs=None):
        # With several steps per execution Keras reports only each chunk's last batch.
        if point == "mid-epoch" and self.epoch == 2 and batch >= 1:
            die()
    def on_epoch_end(self, epoch, logs=None):  # runs after the history row, before the backup
        if point == "before-backup" and epoch == 1:
            die()

if point == "final-writes":  # the finished model is written, the curves are not
    training.plot_history = die
if point == "backup-write":  # an epoch backup half-written
    real_save = keras.Model.save_weights
    def save_then_die(self, path, *args, **kwargs):
        real_save(self, path, *args, **kwargs)
        if "epoch-0002" in str(path):
            with open(path, "r+b") as f:
                f.truncate(100)
            die()
    keras.Model.save_weights = save_then_die
training.train(load_recipe(name).replace(**changes), out_dir=out, verbose=0, extra_callbacks=[Kill()], **options)
"""


def run_recipe(name, out, **kwargs):
    """Train RUNS[name] into `out`, as KILLER does."""
    changes, options = RUNS[name]
    return train(load_recipe(name).replace(**changes), out_dir=out, verbose=0, **options, **kwargs)


def killed_run(tmp_path, python_env, point, name="seq2seq_addition") -> pathlib.Path:
    out = tmp_path / f"killed-{point}"
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    result = subprocess.run([sys.executable, str(script), point, str(out), name, json.dumps(RUNS[name])],
                            env=python_env, capture_output=True, text=True)
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    assert not out.exists() and staging_dir(out).is_dir()  # nothing published, the work kept
    return out


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "whole"
    run_recipe("seq2seq_addition", out)
    return out


def history(run):
    return (run / "history.csv").read_text().splitlines()


@pytest.mark.parametrize("point, epochs_rerun", [("mid-epoch", [2, 3]), ("before-backup", [1, 2, 3]),
                                                 ("final-writes", []), ("backup-write", [1, 2, 3])])
def test_killed_run_resumes_and_ends_as_the_uninterrupted_run(point, epochs_rerun, tmp_path, python_env,
                                                              uninterrupted):
    out = killed_run(tmp_path, python_env, point)
    record = RecordEpochs()
    run_recipe("seq2seq_addition", out, extra_callbacks=[record])
    assert record.seen == epochs_rerun  # at most the epoch in progress is lost
    assert_same_run(out, uninterrupted)


def test_killed_run_with_dropout_resumes_as_the_uninterrupted_run(tmp_path, python_env):
    # Dropout masks are random draws: on torch, Keras's unseeded Dropout takes them from torch's
    # global generator, which the backup holds with the layers' seed generators. Killed in
    # epoch 3, the resumed run re-runs epochs 3 and 4 and must draw the masks they drew.
    require_data("fashion_mnist")
    whole = tmp_path / "whole"
    run_recipe("lstm_fashion_mnist", whole)
    out = killed_run(tmp_path, python_env, "mid-epoch", "lstm_fashion_mnist")
    record = RecordEpochs()
    run_recipe("lstm_fashion_mnist", out, extra_callbacks=[record])
    assert record.seen == [2, 3]
    got, want = [r.split(",") for r in history(out)], [r.split(",") for r in history(whole)]
    assert got[0] == want[0] and len(got) == len(want) == 5
    tolerance = RESUME_TOLERANCE[BACKEND]
    for row_got, row_want in zip(got[1:], want[1:]):  # the re-run epochs too, column by column
        assert [float(v) for v in row_got] == pytest.approx([float(v) for v in row_want], abs=tolerance), row_got[0]
    got, want = json.loads((out / "metrics.json").read_text()), json.loads((whole / "metrics.json").read_text())
    assert got["best_epoch"] == want["best_epoch"]
    for key in ("test_loss", "test_accuracy"):
        assert got[key] == pytest.approx(want[key], abs=tolerance), key


def assert_same_run(out, uninterrupted):
    assert not staging_dir(out).exists()
    assert len(history(out)) == len(history(uninterrupted)) == 5  # header and 4 epochs, none twice
    got = json.loads((out / "metrics.json").read_text())
    want = json.loads((uninterrupted / "metrics.json").read_text())
    assert got["epochs"] == want["epochs"] == 4 and got["best_epoch"] == want["best_epoch"]
    tolerance = RESUME_TOLERANCE[BACKEND]
    for key in ("test_loss", "test_char_accuracy", "test_exact_match"):
        assert got[key] == pytest.approx(want[key], abs=tolerance), key


class InterruptAtEpochBegin(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_final_model_is_the_best_epoch_even_before_an_interruption(tmp_path):
    # Judged by the highest validation loss, the first epoch is the best one (the loss falls
    # from there): a monitor whose best epoch is known to lie before the last.
    recipe = tiny(epochs=5, learning_rate=0.01, early_stopping_patience=10, monitor="val_loss", monitor_mode="max")
    whole = train(recipe, out_dir=tmp_path / "whole", limit=64, seed=1, verbose=0)
    rows = history(tmp_path / "whole")
    header = rows[0].split(",")
    losses = [float(r.split(",")[header.index("val_loss")]) for r in rows[1:]]
    best = int(np.argmax(losses)) + 1
    assert whole["best_epoch"] == best < 5
    # seq2seq_addition's validation and test problems are alike: the kept model is the best
    # epoch's, whose loss is far from the last epoch's.
    assert abs(whole["test_loss"] - losses[best - 1]) < abs(whole["test_loss"] - losses[-1])

    interrupted = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):  # stopped after the best epoch was backed up
        train(recipe, out_dir=interrupted, limit=64, seed=1, verbose=0, extra_callbacks=[InterruptAtEpochBegin(best)])
    resumed = train(recipe, out_dir=interrupted, limit=64, seed=1, verbose=0)
    assert resumed["best_epoch"] == best
    assert resumed["test_loss"] == pytest.approx(whole["test_loss"], abs=RESUME_TOLERANCE[BACKEND])


def test_a_damaged_backup_falls_back_to_the_one_before(tmp_path, python_env, uninterrupted, capsys):
    out = killed_run(tmp_path, python_env, "mid-epoch")  # backups after epochs 1 and 2
    newest = staging_dir(out) / "backups" / "epoch-0002" / "state.weights.h5"
    newest.write_bytes(newest.read_bytes()[:200])
    record = RecordEpochs()
    run_recipe("seq2seq_addition", out, extra_callbacks=[record])
    assert record.seen == [1, 2, 3]
    err = capsys.readouterr().err
    assert "epoch-0002 is damaged" in err and "resuming from the backup after epoch 1" in err
    assert_same_run(out, uninterrupted)


def test_all_backups_damaged_starts_again_and_says_so(tmp_path, python_env, capsys):
    out = killed_run(tmp_path, python_env, "mid-epoch")
    for weights in staging_dir(out).rglob("*.weights.h5"):
        weights.write_bytes(b"not hdf5")
    record = RecordEpochs()
    run_recipe("seq2seq_addition", out, extra_callbacks=[record])
    assert record.seen == [0, 1, 2, 3]
    assert "training starts again from epoch 1" in capsys.readouterr().err


# ---------------------------------------------------------------------- what a re-run may replace
def test_rerun_into_a_finished_run_needs_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    assert zoo("train", "seq2seq_word_pairs", "--preset", "tiny", "--epochs", "1", "--out", out) == 0
    before = snapshot(out)
    capsys.readouterr()
    assert zoo("train", "seq2seq_word_pairs", "--preset", "tiny", "--epochs", "1", "--out", out) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and err.count("\n") == 1
    assert snapshot(out) == before
    assert zoo("train", "seq2seq_word_pairs", "--preset", "tiny", "--epochs", "2", "--out", out, "--overwrite") == 0
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 2


def test_resume_with_another_configuration_names_the_keys(tmp_path, python_env, capsys):
    out = killed_run(tmp_path, python_env, "mid-epoch")
    staged = snapshot(staging_dir(out))
    assert zoo("train", "seq2seq_addition", "--preset", "default", "--epochs", "4", "--batch-size", "16",
               "--limit", "64", "--seed", "5", "--out", out) == 2
    err = capsys.readouterr().err
    assert "recipe.preset" in err and err.count("\n") == 1, err
    assert zoo("train", "seq2seq_word_pairs", "--preset", "tiny", "--out", out) == 2
    assert "recipe.name" in capsys.readouterr().err
    assert snapshot(staging_dir(out)) == staged and not out.exists()


@pytest.mark.parametrize("kind", ["notes", "file"])
def test_train_never_replaces_what_is_not_a_run(tmp_path, kind, capsys):
    out = tmp_path / "mine"
    if kind == "notes":
        out.mkdir()
        (out / "notes.txt").write_text("precious")
    else:
        out.write_text("precious")
    assert zoo("train", "seq2seq_word_pairs", "--preset", "tiny", "--epochs", "1", "--out", out,
               "--overwrite") == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert (out / "notes.txt" if kind == "notes" else out).read_text() == "precious"


def test_a_second_command_on_a_locked_folder_is_a_one_line_error(tmp_path, capsys):
    out = tmp_path / "run"
    with storage.folder_lock(out, "run folder"):
        assert zoo("train", "seq2seq_word_pairs", "--preset", "tiny", "--epochs", "1", "--out", out) == 2
    err = capsys.readouterr().err
    assert "another zoo command" in err and err.count("\n") == 1
    assert not out.exists()


def test_two_trainings_into_one_folder_at_once(tmp_path, python_env):
    python_env.pop("TF_CPP_MIN_LOG_LEVEL")  # the CLI's own quieting keeps the error one line
    out = tmp_path / "run"
    command = [sys.executable, "-m", "zoo.cli", "--backend", BACKEND, "train", "seq2seq_word_pairs", "--preset",
               "tiny", "--epochs", "100000", "--out", str(out)]
    first = subprocess.Popen(command, env=python_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        backups = staging_dir(out) / "backups"
        deadline = time.monotonic() + 120
        while not list(backups.glob("epoch-*")) and time.monotonic() < deadline:  # the first is training
            time.sleep(0.2)
        second = subprocess.run(command, env=python_env, capture_output=True, text=True)
        assert first.poll() is None, "the first training ended before the second one started"
    finally:
        first.kill()
        first.wait()
    assert second.returncode == 2
    assert second.stderr.startswith("zoo: error:") and second.stderr.count("\n") == 1, second.stderr
    assert "another zoo command" in second.stderr
    assert list(backups.glob("epoch-*")) and not out.exists()  # the first one's work is intact


# ---------------------------------------------------------------------- export --out
@pytest.fixture(scope="module")
def finished_run(word_pairs_run):
    return word_pairs_run


@pytest.mark.parametrize("target", ["notes", "run", "file", "parent"])
def test_export_never_replaces_what_is_not_an_export(target, tmp_path, finished_run, capsys):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("precious")
    (tmp_path / "file").write_text("precious")
    out = {"notes": notes, "run": finished_run, "file": tmp_path / "file", "parent": finished_run.parent}[target]
    watched = out if out.is_dir() else out.parent
    before = snapshot(watched)
    assert zoo("export", finished_run, "--out", out) == 2
    err = capsys.readouterr().err
    assert err.startswith("zoo: error:") and "--out" in err and err.count("\n") == 1, err
    assert snapshot(watched) == before


def worker_processes(run_dir) -> list[int]:
    """Pids of export workers for `run_dir` that are still alive."""
    found = []
    for proc in pathlib.Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if b"zoo.export" in cmdline and str(run_dir).encode() in cmdline:
            found.append(int(proc.name))
    return found


def test_a_killed_export_publishes_nothing_later_and_its_leftovers_go(tmp_path, finished_run, python_env):
    out = tmp_path / "export"
    command = [sys.executable, "-m", "zoo.cli", "export", str(finished_run), "--out", str(out)]
    parent = subprocess.Popen(command, env=python_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".export.staging-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(tmp_path.glob(".export.staging-*")), "the export worker never started"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while worker_processes(finished_run) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert worker_processes(finished_run) == []  # the worker died with its parent
    assert not out.exists()
    assert zoo("export", finished_run, "--out", out, "--format", "onnx") == 0
    assert (out / "manifest.json").is_file()
    assert not list(tmp_path.glob(".export.staging-*")) and not list(tmp_path.glob(".export.trash-*"))
