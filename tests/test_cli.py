"""The `zoo` command line: listing models and choosing the backend."""

import keras
import pytest

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
