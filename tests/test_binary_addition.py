"""The tutorial's binary addition (N-vs-N sequence labelling), added as one task module
(zoo/tasks/binary_addition.py), one family (zoo/models/simple_rnn_tagger.py) and one recipe:
its data, its grammar, training to the carry, and streaming bit by bit through an export."""

import json

import keras
import numpy as np
import pytest

import zoo
from zoo.cli import main
from zoo.errors import ZooError
from zoo.recipe import load_recipe
from zoo.tasks import binary_addition as task_module
from zoo.tasks import get_task
from zoo.training import train

TASK = get_task("binary_addition")


def zoo_cli(*args):
    return main(["--backend", keras.backend.backend(), *map(str, args)])


def test_bits_are_least_significant_first_and_round_trip():
    frames, sums = task_module.encode([(23, 42), (127, 127)], 8)
    assert frames.shape == (2, 8, 2) and sums.shape == (2, 8)
    assert frames[0, :, 0].tolist() == [1, 1, 1, 0, 1, 0, 0, 0]  # 23 = 0b10111
    assert task_module.decode(sums[0]) == 65 and task_module.decode(sums[1]) == 254


def test_held_out_problems_are_never_trained_on_and_longer_ones_are_longer():
    splits = task_module.problems_of(load_recipe("simple_rnn_binary_addition").data, seed=3)
    train_set, validation, test = (set(splits[s]) for s in ("train", "validation", "test"))
    assert len(validation) == len(splits["validation"]) == 1000 and len(test) == 1000
    assert not (train_set & validation) and not (train_set & test) and not (validation & test)
    assert all(a < 128 and b < 128 for a, b in splits["train"])
    for width, pairs in splits["longer"].items():
        assert len(pairs) == 1000 and all(a + b < 2**width for a, b in pairs)
        assert max(max(a, b) for a, b in pairs) >= 2 ** (width - 4)  # really that long, not 8-bit sums
    examples = TASK.examples(load_recipe("simple_rnn_binary_addition").data, seed=3, limit=30)
    assert sorted({width for _, _, width in examples.inputs}) == [8, 16, 32]  # any prefix holds every length


@pytest.mark.parametrize("problem", ["12+", "+3", "a+b", "-1+2", "1+2+3", "1.5+2", "", 12])
def test_the_grammar_refuses_what_is_not_a_sum(problem):
    with pytest.raises(ZooError) as excinfo:
        task_module.parse(problem)
    assert "expected a sum of two whole numbers" in str(excinfo.value) and "\n" not in str(excinfo.value)


@pytest.fixture(scope="module")
def adder(tmp_path_factory):
    """A short real training run of the recipe, exported in every format."""
    out = tmp_path_factory.mktemp("binary") / "run"
    recipe = load_recipe("simple_rnn_binary_addition").replace(epochs=4)
    metrics = train(recipe, out_dir=out, limit=4000, seed=0, verbose=0)
    assert zoo_cli("export", out) == 0
    return out, metrics


def test_a_short_run_learns_to_carry_at_every_length(adder):
    """The carry is learned, not the lengths: a few epochs on 8-bit sums add 16- and 32-bit
    sums the model never saw."""
    _, metrics = adder
    assert metrics["test_exact_match"] >= 0.9, metrics
    assert metrics["test_exact_match_16_bits"] >= 0.9 and metrics["test_exact_match_32_bits"] >= 0.9, metrics
    assert metrics["test_examples"] == metrics["test_examples_16_bits"] == metrics["test_examples_32_bits"] == 1000


@pytest.mark.parametrize("engine", ["keras", "onnx"])
def test_predict_prints_the_sum_and_json_gives_the_bits(adder, engine, capsys):
    run, _ = adder
    folder = run if engine == "keras" else run / "export"
    assert zoo_cli("predict", folder, "23+42", "100 + 27", "--engine", engine) == 0
    assert capsys.readouterr().out.splitlines() == ["65", "127"]
    assert zoo_cli("predict", folder, "23+42", "--json", "--engine", engine) == 0
    (answer,) = json.loads(capsys.readouterr().out)["predictions"]
    # 23 = 10111 and 42 = 101010, least significant bit first, one step for the carry out.
    assert answer == {"problem": "23+42", "sum": 65, "a_bits": "1110100", "b_bits": "0101010",
                      "sum_bits": "1000001"}


def test_the_step_artifact_streams_bit_by_bit_as_the_full_model_labels(adder):
    run, _ = adder
    frames, _ = task_module.encode([(2**30 + 12345, 987654321), (5, 3)], 32)
    full = zoo.load(run / "export").logits(frames).argmax(-1)
    for engine in ("onnx", "savedmodel"):
        streamed = zoo.load(run / "export", engine=engine).label_stream(frames)
        np.testing.assert_array_equal(streamed, full)
    assert zoo.load(run).add(["23+42", "0+0"]) == [65, 0]


def test_bad_inputs_are_one_line_errors(adder, capsys):
    run, _ = adder
    for args in (["12+"], ["23+42", "--invert", "yes"]):
        assert zoo_cli("predict", run / "export", *args) == 2
        err = capsys.readouterr().err
        assert err.startswith("zoo: error:") and err.count("\n") == 1, err
    assert zoo_cli("generate", run / "export", "--prompt", "1") == 2
    assert "it answers zoo predict" in capsys.readouterr().err
    with pytest.raises(ZooError, match="expected bit pairs"):
        zoo.load(run / "export").label_stream(np.full((1, 4, 2), 0.5))
    with pytest.raises(ZooError, match="translate needs a seq2seq model"):
        zoo.load(run / "export").translate("1+1")
