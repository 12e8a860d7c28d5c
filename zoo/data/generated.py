"""Generated sequence-to-sequence tasks and their vocabulary.

Tokens follow the tutorial: ``?`` pads, ``S`` starts the decoder, ``E`` ends a target.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from zoo.errors import DataError

PAD, START, END = "?", "S", "E"

# The tutorial's word pairs (N-vs-M "translation").
WORD_PAIRS = [("man", "women"), ("black", "white"), ("king", "queen"),
              ("girl", "boy"), ("up", "down"), ("high", "low")]


class Seq2SeqVocabulary:
    """Characters of a task plus the pad, start and end symbols (pad is id 0)."""

    def __init__(self, chars):
        chars = [c for c in chars if c not in (PAD, START, END)]
        self.chars = [PAD, START, END, *chars]
        self.index = {ch: i for i, ch in enumerate(self.chars)}
        self.pad_id, self.start_id, self.end_id = 0, 1, 2

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str, *, what: str = "text") -> list[int]:
        for ch in text:
            if ch not in self.index or ch in (PAD, START, END):
                raise DataError(f"{what}: character {ch!r} is not in the task's vocabulary {''.join(self.chars[3:])!r}")
        return [self.index[ch] for ch in text]

    def decode(self, ids) -> str:
        """Characters of `ids`, stopping at the end symbol and skipping pads and starts."""
        out = []
        for i in ids:
            if int(i) == self.end_id:
                break
            if int(i) > self.end_id:
                out.append(self.chars[int(i)])
        return "".join(out)

    def pad(self, rows: list[list[int]], length: int) -> np.ndarray:
        array = np.full((len(rows), length), self.pad_id, dtype=np.int32)
        for r, ids in enumerate(rows):
            array[r, : len(ids)] = ids
        return array


@dataclasses.dataclass
class PairSplits:
    """(source, target) string pairs per split."""

    train: list[tuple[str, str]]
    validation: list[tuple[str, str]]
    test: list[tuple[str, str]]


def addition_problems(*, digits: int = 3, train_size: int = 50000, validation_size: int = 5000,
                      test_size: int = 5000, seed: int = 0) -> PairSplits:
    """Distinct problems ``"a+b" -> "a+b's sum"`` with 1..`digits`-digit operands.

    Problems are drawn without replacement, so no validation or test problem is seen in
    training (``a+b`` and ``b+a`` count as different problems, as they read differently).
    """
    if digits < 1:
        raise DataError(f"addition: digits must be at least 1, got {digits}")
    span = 10**digits
    total = train_size + validation_size + test_size
    if total > span * span:
        raise DataError(f"addition: only {span * span} distinct {digits}-digit problems, {total} requested")
    # Sample pair codes a * span + b without replacement.
    codes = np.random.default_rng(seed).choice(span * span, size=total, replace=False)
    pairs = [(f"{a}+{b}", str(a + b)) for a, b in zip(codes // span, codes % span)]
    return PairSplits(
        train=pairs[:train_size],
        validation=pairs[train_size : train_size + validation_size],
        test=pairs[train_size + validation_size :],
    )


def word_pairs() -> PairSplits:
    """The tutorial's six pairs; a memorisation task, so every split holds all six."""
    return PairSplits(train=list(WORD_PAIRS), validation=list(WORD_PAIRS), test=list(WORD_PAIRS))


def vocabulary_for(splits: PairSplits) -> Seq2SeqVocabulary:
    chars = sorted({ch for split in (splits.train, splits.validation, splits.test) for pair in split for ch in "".join(pair)})
    return Seq2SeqVocabulary(chars)


def encode_pairs(pairs, vocab: Seq2SeqVocabulary, *, source_len: int, target_len: int, reverse_source: bool = False):
    """Teacher-forcing arrays: (source, decoder input ``S+target``), decoder target ``target+E``.

    `target_len` counts the end symbol. Sources are reversed when asked (the trick
    keras-io's addition example uses to shorten dependencies).
    """
    sources, decoder_in, decoder_out = [], [], []
    for source, target in pairs:
        text = source[::-1] if reverse_source else source
        if len(text) > source_len or len(target) + 1 > target_len:
            raise DataError(f"pair {source!r} -> {target!r} is longer than {source_len} / {target_len - 1} characters")
        sources.append(vocab.encode(text, what="source"))
        target_ids = vocab.encode(target, what="target")
        decoder_in.append([vocab.start_id, *target_ids])
        decoder_out.append([*target_ids, vocab.end_id])
    return (
        [vocab.pad(sources, source_len), vocab.pad(decoder_in, target_len)],
        vocab.pad(decoder_out, target_len),
    )
