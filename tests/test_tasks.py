"""Task pieces the end-to-end recipe runs can't see: consecutive windows, and LSTM states
carried across them inside the training step."""

import keras
import numpy as np
import pytest

from zoo.data import text
from zoo.models.char_lm import build_carry_model
from zoo.models.recurrent_state import stream_resets
from zoo.registry import create_model
from zoo.tasks.datasets import ConsecutiveWindows

VOCAB = 30


def lm(**options):
    return create_model("char_lm", "tiny", vocab_size=VOCAB, **options)


def final_states(model, tokens):
    """[(h, c) per LSTM layer] after one pass of `model`'s layers over `tokens`."""
    x = model.get_layer("token_embedding")(tokens)
    states = []
    for index in (1, 2):
        x, h, c = model.get_layer(f"lstm_{index}")(x)
        states.append((keras.ops.convert_to_numpy(h), keras.ops.convert_to_numpy(c)))
    return states


def test_rows_continue_across_batches_and_targets_are_next_characters():
    ids = np.arange(200, dtype="int32") % VOCAB
    windows = ConsecutiveWindows(ids, seq_len=5, batch_size=3, seed=0)
    (x0, reset0), y0 = windows[0]
    (x1, reset1), _ = windows[1]
    assert x0.shape == (3, 5)
    np.testing.assert_array_equal(y0[:, :-1], x0[:, 1:])
    # Row b of batch 1 starts right where row b of batch 0 stopped.
    np.testing.assert_array_equal((x0[:, -1] + 1) % VOCAB, x1[:, 0])
    # Only the epoch's first batch starts from zero states.
    assert reset0.tolist() == [[1.0]] * 3 and reset1.tolist() == [[0.0]] * 3


def test_a_new_epoch_shifts_the_streams():
    ids = np.arange(400, dtype="int32") % VOCAB
    windows = ConsecutiveWindows(ids, seq_len=5, batch_size=3, seed=0)
    firsts = set()
    for epoch in range(6):
        windows.start_epoch(epoch)
        firsts.add(int(windows[0][0][0][0, 0]))
    assert len(firsts) > 1  # a random offset each epoch, as in the tutorial


def test_streams_are_laid_out_window_by_window():
    ids = np.arange(31, dtype="int32")
    x, y = text.streams(ids, 5, 3)  # 3 streams of 10 characters, 2 windows each
    assert x.tolist() == [[0, 1, 2, 3, 4], [10, 11, 12, 13, 14], [20, 21, 22, 23, 24],
                          [5, 6, 7, 8, 9], [15, 16, 17, 18, 19], [25, 26, 27, 28, 29]]
    np.testing.assert_array_equal(y, x + 1)
    assert stream_resets(len(x), 3).ravel().tolist() == [1, 1, 1, 0, 0, 0]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "predict_on_batch"])
def test_k_carried_windows_equal_one_pass_over_their_concatenation(compiled):
    model = lm()
    batch, seq_len, k = 3, 6, 4
    tokens = np.random.default_rng(0).integers(0, VOCAB, size=(batch, k * seq_len)).astype("int32")
    carry = build_carry_model(model, batch)
    pieces = []
    for i in range(k):
        inputs = [tokens[:, i * seq_len : (i + 1) * seq_len], np.full((batch, 1), float(i == 0), "float32")]
        out = carry.predict_on_batch(inputs) if compiled else carry(inputs, training=False)
        pieces.append(keras.ops.convert_to_numpy(out))
    whole = keras.ops.convert_to_numpy(model(tokens))
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole, atol=1e-5)
    # A reset row starts again from zero states, whatever the variables held.
    again = carry([tokens[:, :seq_len], np.ones((batch, 1), "float32")], training=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again), pieces[0], atol=1e-5)


class StatesAfterEachBatch(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.states = []

    def on_train_batch_end(self, batch, logs=None):
        if keras.backend.backend() == "jax":
            self.model.jax_state_sync()  # JAX keeps the variables out of the model during an epoch
        layers = [self.model.get_layer(f"carried_lstm_{i}") for i in (1, 2)]
        self.states.append([tuple(keras.ops.convert_to_numpy(v.value) for v in layer.states) for layer in layers])


def test_fit_carries_the_states_of_its_own_training_step():
    """The dataset serves plain arrays (it runs no model: one forward pass per batch, the
    training step's), and after training step i the carried states are those of one pass
    over windows 0..i (weights frozen by a zero learning rate)."""
    model = lm()
    batch, seq_len = 3, 5
    ids = np.random.default_rng(1).integers(0, VOCAB, size=80).astype("int32")
    windows = ConsecutiveWindows(ids, seq_len=seq_len, batch_size=batch, seed=0)
    carry = build_carry_model(model, batch)
    carry.compile(optimizer=keras.optimizers.SGD(0.0), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    # The epoch's streams, read before fit ends the epoch (which draws the next offset).
    streams = np.concatenate([windows[i][0][0] for i in range(len(windows))], axis=1)
    recorder = StatesAfterEachBatch()
    carry.fit(windows, epochs=1, shuffle=False, verbose=0, callbacks=[recorder])
    assert len(recorder.states) == len(windows) == 4
    assert not any(isinstance(value, keras.Model) for value in vars(windows).values())
    for i, got in enumerate(recorder.states):
        want = final_states(model, streams[:, : (i + 1) * seq_len])
        for (gh, gc), (wh, wc) in zip(got, want):
            np.testing.assert_allclose(gh, wh, atol=1e-5)
            np.testing.assert_allclose(gc, wc, atol=1e-5)
