"""Every recipe trains end to end (tiny preset, a few examples) into a complete run folder,
and the run folder serves `zoo evaluate`, `zoo generate` and `zoo translate` (--engine keras)."""

import csv
import json
import pathlib

import keras
import pytest

from zoo.cli import main
from zoo.recipe import list_recipes, load_recipe
from zoo.training import staging_dir, train

from conftest import require_recipe_data as needs_data


def tiny(name, **changes):
    return load_recipe(name).replace(**{"preset": "tiny", "epochs": 2, "batch_size": 16, **changes})


def read_history(run):
    with open(run / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_every_recipe_file_is_a_recipe_named_by_its_stem():
    from zoo.recipe import recipes_dir

    files = sorted(path.stem for path in recipes_dir().glob("*.py") if not path.name.startswith("_"))
    assert list_recipes() == files
    for name in files:
        assert load_recipe(name).name == name


@pytest.mark.parametrize("data, fragment", [
    ({"source": "tiny_shakespeare", "seq_lenn": 100}, "unknown data key 'seq_lenn'; expected source, path"),
    ({"source": "tiny_shakespeare", "seq_len": "100"}, "data key 'seq_len': '100'; expected a whole number"),
    ({"source": "tiny_shakespeare", "seq_len": True}, "data key 'seq_len': True; expected a whole number"),
    ({"source": "tiny_shakespeare", "sampling": "sequential"},
     "data key 'sampling': 'sequential'; expected one of 'random', 'consecutive'"),
    ({"seq_len": 100}, "data key 'source' is missing; expected a string"),
])
def test_a_recipe_with_an_unknown_or_mistyped_data_key_is_refused_at_load(tmp_path, capsys, data, fragment):
    recipe = tmp_path / "my_lm.py"
    recipe.write_text(f"from zoo.recipe import Recipe\nRECIPE = Recipe(model='char_lm', task='language_model', "
                      f"data={data!r})\n")
    assert zoo("train", recipe, "--out", tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert f"recipe 'my_lm' ({recipe}): {fragment}" in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


def test_a_users_recipe_file_trains_resumes_and_is_listed(tmp_path, capsys, monkeypatch):
    """A recipe kept outside the checkout: `zoo train PATH`, the same checks and run folder;
    found by name in a folder of $ZOO_RECIPES_PATH, and `zoo recipes` says where it is."""
    folder = tmp_path / "mine"
    folder.mkdir()
    source = pathlib.Path(__file__).resolve().parents[1] / "recipes" / "seq2seq_word_pairs.py"
    (folder / "my_pairs.py").write_text(source.read_text())
    run = tmp_path / "run"
    assert zoo("train", folder / "my_pairs.py", "--epochs", "1", "--preset", "tiny", "--out", run) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["recipe"]["name"] == "my_pairs"
    assert zoo("train", folder / "my_pairs.py", "--epochs", "1", "--preset", "tiny", "--out", run) == 2
    assert "--overwrite" in capsys.readouterr().err  # a finished run is kept, as for the zoo's own recipes
    monkeypatch.setenv("ZOO_RECIPES_PATH", str(folder))
    assert load_recipe("my_pairs").name == "my_pairs"
    capsys.readouterr()
    assert zoo("recipes") == 0
    listing = capsys.readouterr().out
    assert f"[{folder}]" in next(line for line in listing.splitlines() if line.startswith("my_pairs "))
    assert "[" in next(line for line in listing.splitlines() if line.startswith("seq2seq_word_pairs "))


def test_the_python_api_takes_the_options_of_zoo_train(tmp_path):
    """zoo.train(recipe, ...) takes zoo train's options, its task's own among them."""
    import zoo

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 40, encoding="utf-8")
    metrics = zoo.train("char_lm_lyrics", preset="tiny", epochs=1, text_file=str(corpus), out_dir=tmp_path / "r",
                        verbose=0)
    assert metrics["epochs"] == 1
    assert json.loads((tmp_path / "r" / "config.json").read_text())["recipe"]["data"]["path"] == str(corpus)
    from zoo.errors import ZooError

    with pytest.raises(ZooError, match="data_source: not an option of recipe 'char_lm_lyrics'.*it takes text_file"):
        zoo.train("char_lm_lyrics", preset="tiny", data_source="idx", out_dir=tmp_path / "s")


def test_cosine_schedule_warms_up_then_decays_to_zero():
    from zoo.training import learning_rate, standard_callbacks

    recipe = load_recipe("lstm_fashion_mnist_fast").replace(epochs=4, warmup_epochs=1, learning_rate=3e-3,
                                                             schedule="cosine")
    schedule = learning_rate(recipe, steps_per_epoch=10)
    values = [float(keras.ops.convert_to_numpy(schedule(step))) for step in (0, 5, 10, 25, 40)]
    assert values == pytest.approx([0.0, 1.5e-3, 3e-3, 1.5e-3, 0.0], abs=1e-9)
    # A schedule sets the rate itself: no ReduceLROnPlateau to fight it.
    callbacks = standard_callbacks(recipe, pathlib.Path("logs"))
    assert not [c for c in callbacks if isinstance(c, keras.callbacks.ReduceLROnPlateau)]
    assert learning_rate(recipe.replace(schedule="plateau"), steps_per_epoch=10) == 3e-3
    no_warmup = learning_rate(recipe.replace(warmup_epochs=0), steps_per_epoch=10)
    assert [float(keras.ops.convert_to_numpy(no_warmup(step))) for step in (0, 20, 40)] == pytest.approx(
        [3e-3, 1.5e-3, 0.0], abs=1e-9)


def test_unknown_schedule_is_refused_by_name():
    from zoo.errors import ZooError

    with pytest.raises(ZooError, match="schedule 'linear'; expected one of plateau, cosine"):
        load_recipe("lstm_fashion_mnist").replace(schedule="linear")


def test_another_preset_takes_its_sizes_and_keeps_the_recipes_form():
    from zoo.registry import get_spec

    shakespeare = load_recipe("char_lm_shakespeare").replace(preset="tiny")
    assert shakespeare.model_options == {"dropout": 0.35}  # not 2 x LSTM(512) in a smoke run
    assert get_spec("char_lm").resolve("tiny", **shakespeare.model_options)["units"] == 16
    assert load_recipe("lstm_fashion_mnist").replace(preset="tiny").model_options == {
        "dropout": 0.3, "bidirectional": True}
    assert load_recipe("lstm_fashion_mnist_generator_every_step").replace(preset="tiny").model_options == {
        "condition": "every_step", "pixels": "independent"}
    assert load_recipe("lstm_fashion_mnist_generator").replace(preset="tiny").model_options == {
        "condition": "initial_state", "pixels": "left_to_right"}  # the pixel decoder, at the tiny sizes
    # The recipe's own preset, or options given with the preset, are taken as they are.
    assert load_recipe("seq2seq_addition").replace(preset="default").model_options["units"] == 256
    assert load_recipe("seq2seq_addition").replace(preset="tiny", model_options={"units": 8}).model_options == {
        "units": 8}


@pytest.mark.parametrize("name", list_recipes())
def test_recipe_trains_into_a_complete_run_folder(name, tmp_path, request):
    needs_data(name)
    run = tmp_path / name
    if name == "lstm_mnist":  # MNIST is not available offline: tfds mock data, same code path
        with request.getfixturevalue("mock_tfds_images")("mnist", 64):
            metrics = train(tiny(name), out_dir=run, limit=64, verbose=0)
    else:
        metrics = train(tiny(name), out_dir=run, limit=64, verbose=0)

    for file in ("model.keras", "config.json", "history.csv", "metrics.json", "curves.png"):
        assert (run / file).is_file(), file
    assert any((run / "logs").rglob("*tfevents*")), "TensorBoard wrote no events"
    assert not staging_dir(run).exists()
    config = json.loads((run / "config.json").read_text())
    assert config["backend"] == keras.backend.backend() and config["recipe"]["name"] == name
    assert json.loads((run / "metrics.json").read_text()) == metrics
    assert len(read_history(run)) == 2
    task = load_recipe(name).task
    # Metrics are named by the split they were measured on; the word pairs have no held-out split.
    split = "train" if name == "seq2seq_word_pairs" else "test"
    key = {"classification": "accuracy", "language_model": "loss", "seq2seq": "exact_match",
           "binary_addition": "exact_match", "image_generation": "bits_per_pixel"}[task]
    assert f"{split}_{key}" in metrics and not [k for k in metrics if k.startswith("eval")]
    assert (run / "vocab.json").is_file() == (task in ("language_model", "seq2seq"))
    if task == "language_model":
        assert {"val_perplexity", "val_bits_per_char"} <= set(read_history(run)[0])
        samples = (run / "samples.jsonl").read_text(encoding="utf-8").splitlines()
        assert [json.loads(line)["epoch"] for line in samples] == [1, 2]
    if task == "seq2seq":
        assert ("exact_match" if split == "train" else "val_exact_match") in read_history(run)[0]


def test_same_seed_same_numbers(tmp_path):
    recipe = tiny("seq2seq_addition", epochs=2)
    first = train(recipe, out_dir=tmp_path / "a", limit=64, seed=3, verbose=0)
    second = train(recipe, out_dir=tmp_path / "b", limit=64, seed=3, verbose=0)
    assert first["test_loss"] == pytest.approx(second["test_loss"], abs=1e-6)
    assert read_history(tmp_path / "a")[1]["loss"] == pytest.approx(read_history(tmp_path / "b")[1]["loss"], abs=1e-6)


# ---------------------------------------------------------------------- the CLI on run folders
def zoo(*args):
    return main(["--backend", keras.backend.backend(), *map(str, args)])


@pytest.fixture(scope="module")
def lyrics_run(tmp_path_factory):
    needs_data("char_lm_lyrics")
    run = tmp_path_factory.mktemp("runs") / "lyrics"
    train(tiny("char_lm_lyrics", epochs=1), out_dir=run, limit=32, verbose=0)
    return run


def test_cli_train_and_evaluate_agree(tmp_path, capsys):
    run = tmp_path / "run"
    assert zoo("train", "seq2seq_addition", "--preset", "tiny", "--epochs", "1", "--limit", "32", "--out", run) == 0
    trained = json.loads((run / "metrics.json").read_text())
    capsys.readouterr()
    assert zoo("evaluate", run) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["test_loss"] == pytest.approx(trained["test_loss"], abs=1e-5)
    assert evaluated["test_exact_match"] == trained["test_exact_match"]


def test_cli_generate_from_a_run_is_reproducible(lyrics_run, capsys):
    assert zoo("generate", lyrics_run, "--engine", "keras", "--prompt", "分开", "--length", "30", "--seed", "7", "--top-k", "5") == 0
    first = capsys.readouterr().out
    assert zoo("generate", lyrics_run, "--engine", "keras", "--prompt", "分开", "--length", "30", "--seed", "7", "--top-k", "5") == 0
    assert capsys.readouterr().out == first
    assert first.startswith("分开") and len(first.rstrip("\n")) == 32


def test_cli_translate_from_a_run_gives_the_six_pairs(word_pairs_run, capsys):
    for beam in ("1", "3"):
        assert zoo("translate", word_pairs_run, "--engine", "keras", "man", "black", "king", "girl", "up", "high", "--beam", beam) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines == ["man\twomen", "black\twhite", "king\tqueen", "girl\tboy", "up\tdown", "high\tlow"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "nope"], "unknown recipe 'nope'"),
        (["train", "lstm_fashion_mnist", "--data-dir", "/nonexistent/dir"], "/nonexistent/dir"),
        (["train", "char_lm_lyrics", "--data-dir", "/nonexistent/dir"], "jaychou_lyrics.txt.zip"),
        (["evaluate", "/nonexistent/run"], "not a finished run folder"),
        (["generate", "RUN", "--engine", "keras", "--prompt", "分x"], "character 'x' is not in the model's vocabulary"),
        (["generate", "RUN", "--engine", "keras", "--prompt", ""], "prompt"),
        (["translate", "RUN", "--engine", "keras", "abc"], "is a language_model model; it answers zoo generate"),
    ],
)
def test_cli_errors_are_one_line_exit_2(args, message, lyrics_run, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # `zoo train`'s default run folder, runs/RECIPE, is never a real one
    args = [str(lyrics_run) if a == "RUN" else a for a in args]
    assert zoo(*args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_text_file_errors(tmp_path, capsys):
    empty, latin1 = tmp_path / "empty.txt", tmp_path / "latin1.txt"
    empty.write_text("   \n")
    latin1.write_bytes("caf\xe9 au lait".encode("latin-1"))
    for path, message in ((empty, "non-empty"), (latin1, "expected UTF-8"), (tmp_path / "missing.txt", "cannot read")):
        assert zoo("train", "char_lm_lyrics", "--preset", "tiny", "--text-file", path, "--out", tmp_path / "r") == 2
        err = capsys.readouterr().err
        assert str(path) in err and message in err and err.count("\n") == 1, err


def test_text_file_trains(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 40, encoding="utf-8")
    assert zoo("train", "char_lm_lyrics", "--preset", "tiny", "--epochs", "1", "--text-file", corpus,
               "--out", tmp_path / "r") == 0
    assert json.loads((tmp_path / "r" / "vocab.json").read_text())["chars"][0] == " "


def test_recipe_runs_as_its_own_script(tmp_path, python_env):
    import subprocess
    import sys

    script = pathlib.Path(__file__).resolve().parents[1] / "recipes" / "seq2seq_word_pairs.py"
    result = subprocess.run(
        [sys.executable, str(script), "--epochs", "1", "--preset", "tiny", "--out", str(tmp_path / "r")],
        env=python_env, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "r" / "model.keras").is_file()
