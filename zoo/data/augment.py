"""Training-time augmentation of image batches: random shifts and mirroring, drawn from the
training epoch's own random generator so that a run reproduces."""

from __future__ import annotations

import numpy as np


def random_shifts(x: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Each image (N, rows, cols) moved by its own whole number of pixels in -max_shift..max_shift
    along each axis, the uncovered border filled with 0 (the background): a small translation
    the label does not depend on."""
    n, rows, cols = x.shape
    padded = np.pad(x, ((0, 0), (max_shift, max_shift), (max_shift, max_shift)))
    dy, dx = rng.integers(0, 2 * max_shift + 1, size=(2, n))
    out = np.empty_like(x)
    for i in range(n):
        out[i] = padded[i, dy[i] : dy[i] + rows, dx[i] : dx[i] + cols]
    return out


def random_flips(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each image (N, rows, cols) mirrored left to right with probability 1/2: a garment's
    class does not depend on which way it faces."""
    flip = rng.random(len(x)) < 0.5
    out = x.copy()
    out[flip] = x[flip, :, ::-1]
    return out


def augmentation(shift: int = 0, flip: bool = False):
    """The training-batch transform ``augment(x, rng)`` for shifts of up to `shift` pixels and
    random mirroring, or None for neither."""
    if not shift and not flip:
        return None

    def augment(x, rng):
        x = random_shifts(x, shift, rng) if shift else x
        return random_flips(x, rng) if flip else x

    return augment
