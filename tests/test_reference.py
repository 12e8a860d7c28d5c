"""The tutorial's worked numbers, and Keras layers against the numpy reference."""

import keras
import numpy as np
import pytest

import reference
from conftest import to_numpy

WORKED_INPUT = np.array([[[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]]], dtype="float32")


def worked_example_model(activation):
    """2-unit SimpleRNN with all weights 1 and zero bias, then a 2x2 Dense of ones."""
    inputs = keras.Input(shape=(3, 2))
    rnn = keras.layers.SimpleRNN(2, activation=activation, return_sequences=True, name="rnn")
    dense = keras.layers.Dense(2, name="dense")
    hidden = rnn(inputs)
    model = keras.Model(inputs, [hidden, dense(hidden)])
    rnn.set_weights([np.ones((2, 2)), np.ones((2, 2)), np.zeros(2)])
    dense.set_weights([np.ones((2, 2)), np.zeros(2)])
    return model


def test_worked_example_relu():
    hidden, outputs = to_numpy(worked_example_model("relu")(WORKED_INPUT))
    np.testing.assert_allclose(hidden[0, :, 0], [2, 6, 16], atol=1e-6)
    np.testing.assert_allclose(outputs[0, :, 0], [4, 12, 32], atol=1e-6)
    np.testing.assert_allclose(outputs[0, :, 0], outputs[0, :, 1], atol=1e-6)


def test_worked_example_tanh():
    _, outputs = to_numpy(worked_example_model("tanh")(WORKED_INPUT))
    expected = [1.9280551601516338, 1.9984510891336251, 1.9999753470497836]
    np.testing.assert_allclose(outputs[0, :, 0], expected, atol=1e-6)
    np.testing.assert_allclose(outputs[0, :, 1], expected, atol=1e-6)


def test_numpy_reference_reproduces_worked_example():
    ones, zeros = np.ones((2, 2)), np.zeros(2)
    hidden = reference.simple_rnn_forward(WORKED_INPUT, ones, ones, zeros, activation="relu")
    np.testing.assert_allclose(reference.dense_forward(hidden, ones, zeros)[0, :, 0], [4, 12, 32])


def random_sequence(seed, batch=4, time=7, features=5):
    return np.random.default_rng(seed).normal(size=(batch, time, features)).astype("float32")


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_simple_rnn_matches_numpy(activation):
    x = random_sequence(0)
    layer = keras.layers.SimpleRNN(6, activation=activation, return_sequences=True,
                                   bias_initializer="random_normal")
    keras_out = to_numpy(layer(x))
    kernel, recurrent, bias = layer.get_weights()
    expected = reference.simple_rnn_forward(x, kernel, recurrent, bias, activation=activation)
    np.testing.assert_allclose(keras_out, expected, atol=1e-5)


def test_lstm_matches_numpy():
    x = random_sequence(1)
    layer = keras.layers.LSTM(6, return_sequences=True, return_state=True,
                              bias_initializer="random_normal")
    sequence, h, c = to_numpy(layer(x))
    expected_seq, expected_h, expected_c = reference.lstm_forward(x, *layer.get_weights())
    np.testing.assert_allclose(sequence, expected_seq, atol=1e-5)
    np.testing.assert_allclose(h, expected_h, atol=1e-5)
    np.testing.assert_allclose(c, expected_c, atol=1e-5)


def test_lstm_with_initial_state_matches_numpy():
    x = random_sequence(2)
    rng = np.random.default_rng(3)
    h0, c0 = (rng.normal(size=(4, 6)).astype("float32") for _ in range(2))
    layer = keras.layers.LSTM(6, return_sequences=True)
    keras_out = to_numpy(layer(x, initial_state=[h0, c0]))
    expected, _, _ = reference.lstm_forward(x, *layer.get_weights(), h0=h0, c0=c0)
    np.testing.assert_allclose(keras_out, expected, atol=1e-5)


def test_zoo_lstm_layer_matches_numpy():
    from zoo import layers

    x = random_sequence(4)
    layer = layers.lstm(3, name="lstm_1", return_sequences=True)
    keras_out = to_numpy(layer(x))
    expected, _, _ = reference.lstm_forward(x, *layer.get_weights())
    np.testing.assert_allclose(keras_out, expected, atol=1e-5)
