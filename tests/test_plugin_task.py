"""A task is one file, outside the package too: the parity task of tests/plugins/ (loaded by
ZOO_PLUGINS, nothing under zoo/ knows it) trains from its recipe file, exports, ships and
answers `zoo predict` with its own options, and its options stay its own."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from conftest import REPO, subprocess_env

PLUGINS = pathlib.Path(REPO) / "tests" / "plugins"
BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")


def zoo(*args, env):
    return subprocess.run([sys.executable, "-m", "zoo", "--backend", BACKEND, *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def plugin_env():
    env = subprocess_env()
    env["ZOO_PLUGINS"] = str(PLUGINS / "parity_task.py")
    return env


@pytest.fixture(scope="module")
def shipped(tmp_path_factory, plugin_env):
    """The parity recipe trained (tiny preset, with the task's own --length), exported and
    shipped under this backend."""
    folder = tmp_path_factory.mktemp("parity")
    run, ship = folder / "run", folder / "shipped"
    for args in (("train", PLUGINS / "parity.py", "--preset", "tiny", "--length", 6, "--out", run),
                 ("export", run), ("ship", run, "--out", ship)):
        result = zoo(*args, env=plugin_env)
        assert result.returncode == 0, result.stderr[-2000:]
    return run, ship


def test_the_plugin_task_trains_with_its_own_train_option(shipped):
    run, _ = shipped
    config = json.loads((run / "config.json").read_text())
    assert config["recipe"]["task"] == "parity" and config["recipe"]["name"] == "parity"
    assert config["recipe"]["data"]["length"] == 6  # --length, the task's own option of zoo train


def test_the_shipped_plugin_model_answers_its_own_command(shipped, plugin_env):
    _, ship = shipped
    card = json.loads((ship / "card.json").read_text())
    assert card["task"] == "parity" and "test_accuracy" in card["metrics"]
    result = zoo("predict", ship, "1011", "111", "--words", env=plugin_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() and set(result.stdout.split()) <= {"odd", "even"}
    result = zoo("predict", ship, "0110", "--json", "--engine", "keras", env=plugin_env)
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)) == {"0110"}


def test_options_stay_with_their_task(shipped, plugin_env):
    """Click refuses another task's option for the parity model, and the parity task's option
    for another task's model, in one line each."""
    _, ship = shipped
    for args, fragment in (((ship, "1011", "--invert", "yes"), "No such option '--invert'"),
                           (("simple_rnn_binary_addition", "1+1", "--words"), "No such option '--words'"),
                           (("train", "seq2seq_word_pairs", "--length", "3"), "No such option '--length'")):
        command = args if args[0] == "train" else ("predict", *args)
        result = zoo(*command, env=plugin_env)
        assert result.returncode == 2 and fragment in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
    result = zoo("predict", "--help", env=plugin_env)
    assert "Arguments and options of parity models" in result.stdout and "--words" in result.stdout


def test_without_the_plugin_its_models_are_unknown(shipped):
    _, ship = shipped
    result = zoo("predict", ship, "1011", env=subprocess_env())
    assert result.returncode == 2 and "unknown task 'parity'" in result.stderr, result.stderr
    broken = subprocess_env()
    broken["ZOO_PLUGINS"] = str(PLUGINS / "missing_task.py")
    result = zoo("predict", ship, "1011", env=broken)
    assert result.returncode == 2 and "ZOO_PLUGINS: " in result.stderr and "no such file" in result.stderr
