"""The scan families under ``mixed_bfloat16`` (what ``--precision auto`` picks on bfloat16
hardware): the gates, the recurrence's parameters and the scan stay float32, so a gate in
(0.998, 1), which bfloat16 rounds to exactly 1.0 (its largest value below 1 is 0.99609), still
forgets; the state passed from token to token stays float32; and the parallel model equals
its step model within bfloat16's rounding."""

import keras
import numpy as np
import pytest

from conftest import to_numpy
from test_parallel_families import (FAMILIES, loop, paper_min_gru, paper_min_lstm, paper_rg_lru, parallel_and_step,
                                    tiny, weights)
from zoo.distribute.precision import precision_policy

# Per family: its first recurrent layer, its paper's (a_t, b_t), and biases (per gate, in the
# order of its kernel's parts) that put the forget gates a_t in (0.998, 1) at initialisation.
SATURATING = {"min_gru": ("min_gru_1", paper_min_gru, (-9.0, 0.0)),  # a = sigmoid(-k_z)
              "min_lstm": ("min_lstm_1", paper_min_lstm, (12.0, -9.0, 0.0)),  # a = sigmoid(log f - log i)
              "hawk": ("rg_lru_1", paper_rg_lru, (-6.0, 0.0))}  # a = sigmoid(L) ** (8 r), r ~ 0.003


@pytest.fixture
def mixed_bfloat16():
    with precision_policy("mixed_bfloat16"):
        yield


def as_bfloat16(x):
    """`x` rounded to bfloat16, as the layer's inputs are under the policy, back in float64."""
    return to_numpy(keras.ops.cast(keras.ops.cast(x, "bfloat16"), "float32")).astype("float64")


@pytest.mark.parametrize("name", FAMILIES)
def test_gates_near_one_still_forget_under_mixed_bfloat16(name, mixed_bfloat16):
    """Over 300 steps from h0 = 1 and from h0 = 0, the final states differ by the product of
    the forget gates (the recurrence is linear in h0): that retention is below 1 for every
    unit and equals the float64 recurrence's, where bfloat16 gates would make it exactly 1
    (rounded to 1.0) or 0.99609 ** 300 = 0.31."""
    _, model = tiny(name)
    layer_name, paper, biases = SATURATING[name]
    layer = model.get_layer(layer_name)
    assert layer.compute_dtype == "bfloat16"
    layer.bias.assign(np.repeat(np.array(biases, "float32"), layer.units))
    x = 0.5 * np.random.default_rng(0).standard_normal((2, 300, layer.kernel.shape[0])).astype("float32")
    ones, zeros = np.ones((2, layer.units), "float32"), np.zeros((2, layer.units), "float32")
    retention = to_numpy(layer(x, initial_state=[ones])[1]) - to_numpy(layer(x, initial_state=[zeros])[1])

    a, b = paper(weights(layer), as_bfloat16(x))
    assert ((a > 0.998) & (a < 1)).mean() > 0.9  # the inputs do what the test is about
    expected = loop(a, np.zeros_like(b), np.ones((2, layer.units)))[:, -1]
    assert (retention < 1).all(), retention.max()
    # The projections are bfloat16 products, so each 1 - a_t is off by up to about 1%.
    np.testing.assert_allclose(np.log(retention), np.log(expected), rtol=0.05)


@pytest.mark.parametrize("name", FAMILIES)
def test_the_state_stays_float32_from_token_to_token(name, mixed_bfloat16):
    """The recurrent layer run one token at a time, its state passed on as a step model does,
    ends where the whole sequence does within float32 rounding: Keras rounds every float
    argument of a layer to the compute dtype unless the layer says not to, which would round
    ``h`` to bfloat16 at every token. The products are exact in bfloat16 here (inputs in
    {-1, 0, 1}, kernel entries multiples of 1/8), so no matrix-product rounding differs."""
    model = tiny(name)[1]
    layer = model.get_layer(SATURATING[name][0])
    layer.kernel.assign(np.round(to_numpy(layer.kernel) * 8) / 8)
    rng = np.random.default_rng(3)
    x = rng.integers(-1, 2, (3, 12, layer.kernel.shape[0])).astype("float32")
    h = rng.standard_normal((3, layer.units)).astype("float32")  # not bfloat16 numbers
    whole = to_numpy(layer(x, initial_state=[h])[1])
    for t in range(x.shape[1]):
        h = layer(x[:, t : t + 1], initial_state=[h])[1]
    np.testing.assert_allclose(to_numpy(h), whole, atol=1e-6)


@pytest.mark.parametrize("name", FAMILIES)
def test_the_parallel_model_equals_its_step_model_under_mixed_bfloat16(name, mixed_bfloat16):
    """Logits and final states of the whole sequence and of token-by-token steps, from the
    same random states; apart only by bfloat16 rounding of the layers' products."""
    model = tiny(name)[1]
    assert model.get_layer("conv_1").compute_dtype == "bfloat16"
    (step_logits, step_states), (whole_logits, whole_states) = parallel_and_step(name, model)
    np.testing.assert_allclose(step_logits, whole_logits, atol=0.05)
    for n in whole_states:
        np.testing.assert_allclose(step_states[n], whole_states[n], atol=0.05, err_msg=n)
