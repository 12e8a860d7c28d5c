"""Task pieces the end-to-end recipe runs can't see: carried states across consecutive windows."""

import numpy as np

from zoo.models.char_lm import build_carry_models
from zoo.registry import create_model
from zoo.tasks import ConsecutiveWindows


def make_windows(ids, *, seq_len=5, batch_size=3):
    model = create_model("char_lm", "tiny", vocab_size=30)
    units = [layer.units for layer in model.layers if layer.name.startswith("lstm_")]
    windows = ConsecutiveWindows(ids, seq_len=seq_len, batch_size=batch_size, seed=0,
                                 zero_states=lambda n: [np.zeros((n, u), "float32") for u in units for _ in "hc"])
    windows.state_model = build_carry_models(model)[1]
    return windows


def test_rows_continue_across_batches_and_targets_are_next_characters():
    ids = np.arange(200, dtype="int32") % 30
    windows = make_windows(ids)
    (x0, *_), y0 = windows[0]
    (x1, *_), _ = windows[1]
    assert x0.shape == (3, 5)
    np.testing.assert_array_equal(y0[:, :-1], x0[:, 1:])
    # Row b of batch 1 starts right where row b of batch 0 stopped.
    np.testing.assert_array_equal((x0[:, -1] + 1) % 30, x1[:, 0])


def test_states_carry_from_the_previous_batch():
    ids = np.random.default_rng(0).integers(0, 30, size=300).astype("int32")
    windows = make_windows(ids)
    (x0, *s0), _ = windows[0]
    assert all(not s.any() for s in s0)  # each epoch starts from zero states
    (_, *s1), _ = windows[1]
    expected = windows.state_model.predict_on_batch([x0, *s0])
    for got, want in zip(s1, expected):
        np.testing.assert_allclose(got, np.asarray(want), atol=1e-6)
    # Asked out of order, the chain is replayed and gives the same states.
    (_, *s2_direct), _ = windows[2]
    windows._last = None
    (_, *s2_replayed), _ = windows[2]
    for a, b in zip(s2_direct, s2_replayed):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_a_new_epoch_shifts_the_streams():
    ids = np.arange(400, dtype="int32") % 30
    windows = make_windows(ids)
    firsts = set()
    for _ in range(6):
        firsts.add(int(windows[0][0][0][0, 0]))
        windows.on_epoch_end()
    assert len(firsts) > 1  # a random offset each epoch, as in the tutorial
