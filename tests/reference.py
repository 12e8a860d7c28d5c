"""Plain numpy forward passes of SimpleRNN and LSTM, the ground truth the Keras layers are
tested against. Weight layouts follow Keras: ``kernel`` (features, k*units),
``recurrent_kernel`` (units, k*units), ``bias`` (k*units,), LSTM gates in the order
input, forget, cell candidate, output.
"""

import numpy as np

ACTIVATIONS = {
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "linear": lambda z: z,
}


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def simple_rnn_forward(x, kernel, recurrent_kernel, bias, activation="tanh", h0=None):
    """Hidden states (batch, time, units) of h_t = act(x_t W + h_{t-1} U + b)."""
    act = ACTIVATIONS[activation]
    x = np.asarray(x, dtype=np.float64)
    units = recurrent_kernel.shape[0]
    h = np.zeros((x.shape[0], units)) if h0 is None else np.asarray(h0, dtype=np.float64)
    states = []
    for t in range(x.shape[1]):
        h = act(x[:, t] @ kernel + h @ recurrent_kernel + bias)
        states.append(h)
    return np.stack(states, axis=1)


def lstm_forward(x, kernel, recurrent_kernel, bias, h0=None, c0=None):
    """Hidden states (batch, time, units) and the final (h, c) of a Keras-layout LSTM."""
    x = np.asarray(x, dtype=np.float64)
    units = recurrent_kernel.shape[0]
    h = np.zeros((x.shape[0], units)) if h0 is None else np.asarray(h0, dtype=np.float64)
    c = np.zeros((x.shape[0], units)) if c0 is None else np.asarray(c0, dtype=np.float64)
    states = []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent_kernel + bias
        i, f, g, o = np.split(z, 4, axis=-1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        states.append(h)
    return np.stack(states, axis=1), h, c


def dense_forward(x, kernel, bias):
    """x W + b."""
    return np.asarray(x, dtype=np.float64) @ kernel + bias
