"""Generic checks run for every registered model with its tiny preset.

A new model registered in zoo.models is covered here without new test code.
"""

import os

import keras
import numpy as np
import pytest

from conftest import random_batch, stepwise_logits, to_numpy
from zoo.registry import get_spec, list_models

MODELS = list_models()


def tiny(name, time_steps=None, seed=0, batch_size=4):
    spec = get_spec(name)
    model = spec.builder(**spec.resolve("tiny"))
    x, y = random_batch(model, batch_size, time_steps=time_steps or 7, seed=seed)
    return spec, model, x, y


def test_registry_lists_the_families():
    assert set(MODELS) >= {"simple_rnn_classifier", "lstm_classifier", "char_lm", "seq2seq", "simple_rnn_tagger"}


@pytest.mark.parametrize("name", MODELS)
def test_the_keras_model_is_named_after_its_family(name):
    """What tells a run's model.keras of one family from another's (zoo.runs.load_run)."""
    model = get_spec(name).builder(**get_spec(name).presets["tiny"])
    assert model.name == name


@pytest.mark.parametrize("name", MODELS)
def test_output_shape_and_finite(name):
    _, model, x, y = tiny(name)
    logits = to_numpy(model(x))
    assert logits.shape == (*y.shape, model.output_shape[-1])
    assert np.isfinite(logits).all()


@pytest.mark.parametrize("name", MODELS)
def test_every_layer_is_named_by_the_builder(name):
    # A layer Keras names itself gets a new counter each time it is built (dense, dense_1, ...):
    # two builds in one process agree on every name only if the builder gave them all.
    _, first, _, _ = tiny(name)
    _, second, _, _ = tiny(name)
    assert [layer.name for layer in first.layers] == [layer.name for layer in second.layers]


@pytest.mark.parametrize("name", MODELS)
def test_config_round_trip(name):
    _, model, x, _ = tiny(name)
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    assert clone.get_config() == model.get_config()
    np.testing.assert_allclose(to_numpy(clone(x)), to_numpy(model(x)), atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_keras_save_and_load(name, tmp_path):
    _, model, x, _ = tiny(name)
    path = os.fspath(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)), atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_fit_steps_lower_the_loss(name):
    keras.utils.set_random_seed(0)
    _, model, x, y = tiny(name, batch_size=8)
    model.compile(
        optimizer=keras.optimizers.Adam(0.02),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=20, batch_size=8, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert after < 0.9 * before, (before, after)


@pytest.mark.parametrize("name", MODELS)
def test_variable_sequence_length(name):
    spec, model, _, _ = tiny(name)
    for time_steps in (5, 11):
        x, y = random_batch(model, 2, time_steps=time_steps)
        logits = to_numpy(model(x))
        assert logits.shape == (*y.shape, model.output_shape[-1])
        assert np.isfinite(logits).all()


GENERATIVE = [n for n in MODELS if get_spec(n).inference]


@pytest.mark.parametrize("name", GENERATIVE)
def test_step_models_agree_with_full_model(name):
    spec, model, x, _ = tiny(name, seed=1)
    np.testing.assert_allclose(stepwise_logits(spec, model, x), to_numpy(model(x)), atol=1e-5)


@pytest.mark.parametrize("name", GENERATIVE)
def test_step_models_agree_after_save_and_load(name, tmp_path):
    spec, model, x, _ = tiny(name, seed=2)
    path = os.fspath(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(stepwise_logits(spec, loaded, x), to_numpy(model(x)), atol=1e-5)


def test_seq2seq_with_the_context_at_every_step_decodes_as_it_trains(tmp_path):
    """``context="every_step"``: the encoder's summary joins every decoder input; the decoder
    step carries it as ``state_context`` and returns it unchanged, so step-by-step decoding
    equals the full model, before and after a save; the summary, not only the initial
    states, reaches the decoder (zeroed initial states leave the logits source-dependent)."""
    spec = get_spec("seq2seq")
    model = spec.builder(**spec.resolve("tiny", context="every_step"))
    (source, tokens), _ = random_batch(model, 4, time_steps=7, seed=3)
    full = to_numpy(model([source, tokens]))
    np.testing.assert_allclose(stepwise_logits(spec, model, (source, tokens)), full, atol=1e-5)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(stepwise_logits(spec, loaded, (source, tokens)), full, atol=1e-5)
    models = spec.inference_models(model)
    step = models["decoder_step"]
    assert step.state_names[-1] == "state_context" and models["encoder"].output_names == step.state_names
    states = models["encoder"].run({"source_tokens": source})
    zeroed = {name: value * (name == "state_context") for name, value in states.items()}
    other = models["encoder"].run({"source_tokens": source[::-1]})["state_context"]
    logits = [step.run({"token": tokens[:, :1], **zeroed, "state_context": c})["logits"]
              for c in (states["state_context"], other)]
    assert np.abs(logits[0] - logits[1]).max() > 1e-4
    with pytest.raises(ValueError, match="context 'each_step': expected one of initial_state, every_step"):
        spec.builder(**spec.resolve("tiny", context="each_step"))


@pytest.mark.parametrize("name", GENERATIVE)
def test_inference_models_name_their_inputs_and_outputs(name):
    """The names the exports and the runtime use: token and states in, logits and
    next_<state> out; an encoder returns exactly the decoder step's states."""
    spec, model, _, _ = tiny(name)
    models = spec.inference_models(model)
    step = models.get("step") or models["decoder_step"]
    assert step.input_names[0] == "token" and all(n.startswith("state_") for n in step.state_names)
    assert step.output_names == ("logits", *(f"next_{n}" for n in step.state_names))
    if "encoder" in models:
        assert models["encoder"].output_names == step.state_names
