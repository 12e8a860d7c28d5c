"""1-vs-N generation (zoo/tasks/image_generation.py, zoo/models/lstm_generator.py): the class
in either of the tutorial's two ways, pictures drawn row by row through the step model the
same way by Keras and by every export, and the command that draws them."""

import json

import keras
import numpy as np
import pytest
from PIL import Image

import zoo
from conftest import random_batch, require_data, stepwise_logits, to_numpy
from zoo import generate
from zoo.cli import main
from zoo.errors import ZooError
from zoo.recipe import load_recipe
from zoo.registry import RegistryError, create_model, get_spec
from zoo.tasks import get_task
from zoo.tasks import image_generation as task_module
from zoo.training import train

TASK = get_task("image_generation")


def zoo_cli(*args):
    return main(["--backend", keras.backend.backend(), *map(str, args)])


def test_levels_and_the_rows_above():
    pictures = np.array([[[0.0, 0.5, 1.0], [0.07, 0.93, 0.2]]], dtype=np.float32)  # one 2 x 3 picture
    levels = task_module.quantise(pictures, 8)
    assert levels.tolist() == [[[0, 4, 7], [0, 7, 1]]]  # the nearest of k / 7
    above = task_module.rows_above(levels, 8)
    assert above[0, 0].tolist() == [0, 0, 0]  # a blank row first
    np.testing.assert_allclose(above[0, 1], [0, 4 / 7, 1])  # then the row above, as gray


def test_the_pixels_to_the_left():
    levels = np.array([[[1, 2, 7], [0, 7, 3]]])  # one 2 x 3 picture of levels
    left = task_module.pixels_left(levels, 8)
    np.testing.assert_allclose(left[0], [[0, 1 / 7, 2 / 7], [0, 0, 1]])  # 0 first, then the pixel to the left
    assert sorted(task_module.model_inputs(("class_id", "rows", "left"), [3], levels, 8)) == ["class_id", "left", "rows"]
    assert sorted(task_module.model_inputs(("class_id", "rows"), [3], levels, 8)) == ["class_id", "rows"]


def pixelwise_logits(models, x):
    """A pixel decoder's logits computed as drawing computes them: the encoder, then per row
    the row step's features and per pixel the pixel step, teacher-forced on `x`'s rows and
    left neighbours."""
    labels, rows, left = x
    states = models["encoder"].run({"class_id": labels})
    row_step, pixel_step = models["step"].step_function(generate.FEATURES), models["pixel_step"].step_function()
    logits = np.zeros((*rows.shape, models["pixel_step"].model.outputs[0].shape[-1]), dtype=np.float32)
    for t in range(rows.shape[1]):
        features, states = row_step(rows[:, t : t + 1], states)
        pixel_states = models["pixel_step"].zero_states(len(labels))
        for i in range(rows.shape[2]):
            token = np.concatenate([features[:, i : i + 1], left[:, t : t + 1, i : i + 1]], axis=-1)
            logits[:, t, i], pixel_states = pixel_step(token, pixel_states)
    return logits


def drawn_logits(spec, model, x):
    """The logits drawing computes, row by row (and pixel by pixel with a pixel decoder)."""
    models = spec.inference_models(model)
    return pixelwise_logits(models, x) if "pixel_step" in models else stepwise_logits(spec, model, x)


@pytest.mark.parametrize("pixels", ["independent", "left_to_right"])
@pytest.mark.parametrize("condition", ["initial_state", "every_step"])
def test_drawing_step_by_step_equals_the_full_model_and_the_class_matters(condition, pixels, tmp_path):
    spec = get_spec("lstm_generator")
    model = create_model("lstm_generator", "tiny", condition=condition, pixels=pixels)
    x, _ = random_batch(model, 4, time_steps=6, seed=3)
    x[0][:] = [0, 3, 7, 9]
    full = to_numpy(model(x))
    np.testing.assert_allclose(drawn_logits(spec, model, x), full, atol=1e-5)
    other = [np.array([1, 1, 1, 1], dtype="int32"), *x[1:]]
    assert np.abs(to_numpy(model(other)) - full).max() > 1e-3  # the class reaches the logits
    models = spec.inference_models(model)
    assert ("state_class" in models["step"].state_names) == (condition == "every_step")
    assert sorted(models) == sorted(["encoder", "step"] + (["pixel_step"] if pixels == "left_to_right" else []))
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(drawn_logits(spec, loaded, x), full, atol=1e-5)


def test_a_pixel_sees_the_pixels_to_its_left_and_none_to_its_right():
    model = create_model("lstm_generator", "tiny", pixels="left_to_right")
    x, _ = random_batch(model, 2, time_steps=3, seed=4)
    full = to_numpy(model(x))
    changed = [x[0], x[1], x[2].copy()]
    changed[2][:, :, 10] += 0.5  # the left input at column 10 is pixel 9: it reaches pixels 10 onwards
    delta = np.abs(to_numpy(model(changed)) - full).max(axis=(0, 1, 3))
    assert np.all(delta[:10] == 0) and np.all(delta[10:] > 0)


@pytest.mark.parametrize("options, message", [
    ({"pixels": "top_down"}, "pixels 'top_down': expected one of independent, left_to_right"),
    ({"pixel_units": 0}, "pixel_units 0: expected a whole number >= 1"),
    ({"pixels": "left_to_right", "pixel_features": 0}, "pixel_features 0: expected a whole number >= 1"),
    ({"pixel_units": 2.5}, "pixel_units 2.5: expected a whole number >= 1"),
    ({"pixels": "left_to_right", "height": 0}, "height 0: expected a whole number >= 1"),
])
def test_bad_pixel_decoder_options_are_one_line(options, message):
    with pytest.raises(RegistryError, match=message):
        create_model("lstm_generator", "tiny", **options)


def test_an_unknown_condition_is_one_line():
    with pytest.raises(RegistryError, match="condition 'both': expected one of initial_state, every_step"):
        create_model("lstm_generator", "tiny", condition="both")


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    """A short real run of the recipe on a slice of Fashion-MNIST, exported in every format."""
    require_data("fashion_mnist")
    out = tmp_path_factory.mktemp("generator") / "run"
    recipe = load_recipe("lstm_fashion_mnist_generator").replace(epochs=2, preset="tiny")
    metrics = train(recipe, out_dir=out, limit=600, seed=0, verbose=0)
    assert zoo_cli("export", out) == 0
    return out, metrics


def test_the_likelihood_is_the_training_loss_in_bits(generator):
    _, metrics = generator
    assert metrics["test_bits_per_pixel"] == pytest.approx(metrics["test_loss"] / np.log(2), rel=1e-4)
    assert 0 < metrics["test_bits_per_pixel"] < 3  # 8 levels: 3 bits a pixel is a uniform guess


@pytest.mark.parametrize("engine", ["onnx", "savedmodel"])
def test_every_engine_draws_what_keras_draws(generator, engine):
    run, _ = generator
    keras_model, exported = zoo.load(run), zoo.load(run / "export", engine)
    expected = keras_model.generate(["Sneaker", "Bag"], count=3, seed=5)
    assert expected.shape == (2, 3, 28, 28) and expected.dtype == np.float32
    # All of them, but for a picture where a uniform number falls within rounding of a level's edge.
    assert task_module.identical_share(exported.generate(["Sneaker", "Bag"], count=3, seed=5), expected) >= 5 / 6
    assert set(np.unique(expected)) <= set((np.arange(8) / 7).astype(np.float32))  # the 8 gray levels
    manifest = json.loads((run / "export" / "manifest.json").read_text())
    assert set(manifest["artifacts"]) == {"model", "encoder", "step", "pixel_step"}  # the recipe's pixel decoder
    assert manifest["verification"]["drawing"][engine]["identical_pictures"] >= task_module.MIN_IDENTICAL


def test_an_export_that_draws_other_pictures_is_refused(generator):
    """The export check compares whole seeded drawings: an engine whose step differs fails it."""
    run, _ = generator
    keras_model = zoo.load(run)

    class Shifted:  # the ONNX export with its logits nudged: another model, drawing other pictures
        def __init__(self, model):
            self.model = model

        def __getattr__(self, name):
            return getattr(self.model, name)

        def step_function(self, artifact="step", output="logits"):
            step = self.model.step_function(artifact, output)
            if output != "logits":  # a pixel decoder's row features: its pixel step's logits are nudged
                return step
            return lambda token, states: (lambda out: (out[0] + np.linspace(0, 3, 8), out[1]))(step(token, states))

    report, failures = TASK.export_checks(keras_model, {"onnx": Shifted(zoo.load(run / "export"))}, None)
    assert failures and "drew other pictures than Keras" in failures[0]
    assert report["drawing"]["onnx"]["identical_pictures"] < task_module.MIN_IDENTICAL


def test_generate_draws_by_name_id_and_seed(generator):
    run, _ = generator
    m = zoo.load(run / "export")
    one = m.generate("Sneaker", count=2, seed=1)
    assert one.shape == (2, 28, 28)
    np.testing.assert_array_equal(m.generate("sneaker", count=2, seed=1), one)  # case does not matter
    np.testing.assert_array_equal(m.generate(7, count=2, seed=1), one)  # Sneaker is class 7
    assert not np.array_equal(m.generate("Sneaker", count=2, seed=2), one)
    greedy = m.generate("Bag", count=2, temperature=0)
    np.testing.assert_array_equal(greedy[0], greedy[1])  # temperature 0: each pixel's likeliest level


@pytest.mark.parametrize("call, message", [
    (lambda m: m.generate("Sneakers"), "class 'Sneakers': expected one of T-shirt/top, Trouser, Pullover, Dress, "
                                       "Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot"),
    (lambda m: m.generate(10), "class 10: expected one of"),
    (lambda m: m.generate([]), "class: expected a class name or a non-empty list"),
    (lambda m: m.generate("Bag", count=0), "count 0: expected a whole number in 1..10000"),
    (lambda m: m.generate("Bag", temperature=-1), "temperature -1: expected a finite number >= 0"),
    (lambda m: m.generate("Bag", seed=-3), "seed -3: expected a whole number"),
])
def test_bad_requests_are_one_line_errors(generator, call, message):
    with pytest.raises(ZooError) as excinfo:
        call(zoo.load(generator[0] / "export"))
    assert message in str(excinfo.value) and "\n" not in str(excinfo.value)


def test_the_command_writes_a_grid_and_refuses_what_it_cannot_do(generator, tmp_path, capsys):
    run, _ = generator
    png = tmp_path / "sneakers.png"
    assert zoo_cli("generate", run, "--class", "Sneaker", "--class", "Bag", "--count", 3, "--seed", 0,
                   "--out", png) == 0
    picture = Image.open(png)
    assert picture.mode == "L" and picture.height == 2 * (2 * 28 + 2) + 2  # two rows of 2x-scaled pictures
    assert capsys.readouterr().out.startswith(f"{png}: 2 x 3 pictures (Sneaker, Bag)")
    assert zoo_cli("generate", run / "export", "--class", "Trouser", "--seed", 0) == 0  # as text
    assert capsys.readouterr().out.splitlines()[0] == "Trouser 1:"
    before = png.read_bytes()
    for args, message in [
        (["--class", "Sneakers", "--out", png, "--overwrite"], "class 'Sneakers': expected one of T-shirt/top"),
        (["--class", "Bag", "--out", png], "the file exists; pass --overwrite to replace it"),
        (["--prompt", "abc"], "No such option '--prompt'"),
        (["--class", "Bag", "--length", 5], "No such option '--length'"),
        (["--class", "Bag", "--out", tmp_path / "bags.jpg"], "expected a file name ending in .png"),
        (["--class", "Bag", "--out", tmp_path / "none" / "bags.png"], "create it first"),
        ([], "Missing option '--class'"),
    ]:
        capsys.readouterr()
        assert zoo_cli("generate", run, *args) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert png.read_bytes() == before  # a refused command leaves the earlier picture as it was


def test_a_language_model_refuses_the_picture_options(capsys):
    assert zoo_cli("generate", "char_lm_lyrics", "--class", "Bag") == 2
    err = capsys.readouterr().err
    assert "No such option '--class'" in err and err.count("\n") == 1
    assert zoo_cli("generate", "char_lm_lyrics") == 2
    assert "Missing option '--prompt'" in capsys.readouterr().err


def test_class_agreement_is_judged_by_a_classifier_of_the_same_classes(generator):
    m = zoo.load(generator[0] / "export")
    result = m.class_agreement(zoo.load("lstm_fashion_mnist", "onnx"), per_class=3, seed=0)
    assert set(result["by_class"]) == set(m.classes) and 0 <= result["agreement"] <= 1
    assert result["agreement"] == pytest.approx(np.mean(list(result["by_class"].values())))
    with pytest.raises(ZooError, match="are not the generator's"):
        m.class_agreement(zoo.load("simple_rnn_binary_addition", "onnx"))
