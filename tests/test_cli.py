"""The `zoo` command line: listing models, choosing the backend, and the commands that answer
without Keras or any backend's library."""

import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import subprocess_env
from zoo.cli import main


def test_list_shows_every_family_with_parameter_counts(capsys):
    assert main(["--backend", keras.backend.backend(), "list"]) == 0
    out = capsys.readouterr().out
    for name in ("simple_rnn_classifier", "lstm_classifier", "char_lm", "seq2seq"):
        assert f"{name} " in out
    assert "213,258" in out  # the tutorial's 2 x LSTM(128) -> Dense(10)


def test_backend_cannot_change_after_keras_is_imported(capsys):
    other = next(b for b in ("tensorflow", "jax", "torch") if b != keras.backend.backend())
    assert main(["--backend", other, "list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already imported" in err and other in err


@pytest.mark.parametrize("args", [["--backend", "theano", "list"], ["nope"]])
def test_bad_usage_exits_2(args, capsys):
    assert main(args) == 2


# What a keras-free command must not import, on any backend (each costs seconds to start).
HEAVY = ("tensorflow", "keras", "jax", "torch", "tf2onnx")
KERAS_FREE_COMMANDS = [
    ["--help"], ["list"], ["recipes"], ["train", "--help"],
    ["predict", "simple_rnn_binary_addition", "23+42"],
    ["predict", "lstm_fashion_mnist", "{picture}"],
    ["generate", "char_lm_shakespeare", "--prompt", "A", "--length", "5", "--seed", "0"],
    ["generate", "lstm_fashion_mnist_generator", "--class", "Sneaker", "--seed", "0"],
    ["translate", "seq2seq_addition", "1+1"],
]


@pytest.mark.parametrize("args", KERAS_FREE_COMMANDS, ids=" ".join)
def test_keras_free_commands_import_no_backend_library(args, tmp_path):
    """On the ONNX engine (the default) and for listings, `zoo` answers without importing
    TensorFlow, Keras, JAX or torch, whatever the backend: run in a fresh process."""
    picture = tmp_path / "picture.npy"
    np.save(picture, np.zeros((1, 28, 28), "float32"))
    args = ["--backend", keras.backend.backend(), *(a.format(picture=picture) for a in args)]
    code = ("import io, contextlib, sys\n"
            "from zoo.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            f"    code = main({args!r})\n"
            f"print(code, len(out.getvalue()), sorted(m for m in {HEAVY!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True,
                            check=True)
    status, printed, imported = result.stdout.split(" ", 2)
    assert status == "0" and int(printed) > 0, result.stderr
    assert imported.strip() == "[]", f"zoo {' '.join(args)} imported {imported.strip()}"
