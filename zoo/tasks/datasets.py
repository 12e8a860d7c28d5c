"""Training datasets whose batches are a function of (seed, epoch, index): seeded shuffles
of arrays, and windows of a text (random offsets, or consecutive streams)."""

from __future__ import annotations

import math

import keras
import numpy as np

from zoo.data import text
from zoo.errors import DataError


class EpochDataset(keras.utils.PyDataset):
    """A training dataset whose batches are a function of (seed, epoch, index) only, so a
    resumed run sees exactly the batches the uninterrupted run saw.

    The epoch is set by :class:`DataEpoch` from Keras's own epoch number: counting
    ``on_epoch_end`` calls would not do, Keras also calls it before the first epoch.
    """

    def __init__(self, seed):
        super().__init__()
        self.seed, self.epoch = seed, 0

    def start_epoch(self, epoch: int) -> None:
        self.epoch = epoch


class DataEpoch(keras.callbacks.Callback):
    """Tells an :class:`EpochDataset` which epoch `fit` is starting (resumed runs included)."""

    def __init__(self, dataset: EpochDataset):
        super().__init__()
        self.dataset = dataset

    def on_epoch_begin(self, epoch, logs=None):
        self.dataset.start_epoch(epoch)


class ShuffledArrays(EpochDataset):
    """Batches of arrays (one array or a list of them, and targets) in a seeded order per epoch.

    Keras's own shuffling of arrays draws from the backend's global RNG, which a resumed
    run cannot put back where the interrupted one left it. `augment(x, rng)`, when given,
    transforms each training batch with a generator seeded by (seed, epoch, batch index).
    """

    def __init__(self, x, y, *, batch_size, seed, augment=None):
        super().__init__(seed)
        self.x, self.y, self.batch_size, self.augment = x, y, batch_size, augment
        self.size = len(y)
        if self.size < 1:
            raise DataError("the training split is empty: raise --limit or check the data")
        self.start_epoch(0)

    def start_epoch(self, epoch):
        super().start_epoch(epoch)
        self.order = np.random.default_rng([self.seed, epoch]).permutation(self.size)

    def __len__(self):
        return math.ceil(self.size / self.batch_size)

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        x = tuple(a[rows] for a in self.x) if isinstance(self.x, (list, tuple)) else self.x[rows]
        if self.augment is not None:
            x = self.augment(x, np.random.default_rng([self.seed, self.epoch, index]))
        return x, self.y[rows]


class RandomWindows(EpochDataset):
    """Batches of windows at random offsets, drawn anew each epoch from a seeded generator."""

    def __init__(self, ids, *, seq_len, batch_size, steps_per_epoch, seed):
        super().__init__(seed)
        self.ids, self.seq_len, self.batch_size, self.steps = ids, seq_len, batch_size, steps_per_epoch

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        # Seeded by (seed, epoch, index): same numbers for the same seed, in any order.
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return text.random_windows(self.ids, self.seq_len, self.batch_size, rng)


class ConsecutiveWindows(EpochDataset):
    """The tutorial's consecutive sampling: row b of batch i+1 continues row b of batch i.

    The text is cut into `batch_size` parallel streams (from a random offset each epoch).
    Inputs are ``(tokens, reset)`` for a family's ``carry`` model (see the registry), whose
    recurrent states carry from batch to batch inside the training step; `reset` is 1 in the
    epoch's first batch only. Batches must be served in order (``fit(shuffle=False)``).
    """

    def __init__(self, ids, *, seq_len, batch_size, seed):
        super().__init__(seed)
        self.ids, self.seq_len, self.batch_size = ids, seq_len, batch_size
        # Leave room for any offset in [0, seq_len) and the shifted target.
        self.steps = (len(ids) - seq_len - 1) // (batch_size * seq_len)
        if self.steps < 1:
            raise DataError(f"text of {len(ids)} characters is too short for {batch_size} streams of {seq_len}")
        self.start_epoch(0)

    def start_epoch(self, epoch):
        super().start_epoch(epoch)
        offset = int(np.random.default_rng([self.seed, self.epoch]).integers(0, self.seq_len))
        stop = offset + self.batch_size * self.steps * self.seq_len + 1
        self.x, self.y = text.streams(self.ids[offset:stop], self.seq_len, self.batch_size)

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        reset = np.full((self.batch_size, 1), float(index == 0), dtype="float32")
        return (self.x[rows], reset), self.y[rows]
