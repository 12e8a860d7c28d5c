"""Generated sequence-to-sequence tasks: (source, target) string pairs per split.

Their vocabulary (:mod:`zoo.data.vocabulary`) reserves ids for padding, start and end, so
every character can appear in a source or a target.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from zoo.data.vocabulary import Vocabulary
from zoo.errors import DataError

# The tutorial's word pairs (N-vs-M "translation").
WORD_PAIRS = [("man", "women"), ("black", "white"), ("king", "queen"),
              ("girl", "boy"), ("up", "down"), ("high", "low")]


@dataclasses.dataclass
class PairSplits:
    """(source, target) string pairs per split.

    `evaluation_split` names the split the final metrics are measured on: "test", or
    "train" for a memorisation task that has no held-out pairs (then `test` is `train`).
    """

    train: list[tuple[str, str]]
    validation: list[tuple[str, str]]
    test: list[tuple[str, str]]
    evaluation_split: str = "test"


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
    """The tutorial's six pairs: a memorisation task with no held-out pairs, so its metrics
    are measured on the training pairs and named so."""
    return PairSplits(train=list(WORD_PAIRS), validation=[], test=list(WORD_PAIRS), evaluation_split="train")


def vocabulary_for(splits: PairSplits) -> Vocabulary:
    """The characters of the training pairs (other splits' new characters become <unk>)."""
    return Vocabulary.from_text(*("".join(pair) for pair in splits.train))


def encode_pairs(pairs, vocab: Vocabulary, *, source_len: int, target_len: int, reverse_source: bool = False):
    """Teacher-forcing arrays: (source, decoder input ``<start>+target``), decoder target
    ``target+<end>``.

    `target_len` counts the end symbol. Sources are reversed when asked (the trick
    keras-io's addition example uses to shorten dependencies).
    """
    sources, decoder_in, decoder_out = [], [], []
    for source, target in pairs:
        text = source[::-1] if reverse_source else source
        if len(text) > source_len or len(target) + 1 > target_len:
            raise DataError(f"pair {source!r} -> {target!r} is longer than {source_len} / {target_len - 1} characters")
        sources.append(vocab.encode(text, unknown=True))
        target_ids = vocab.encode(target, unknown=True)
        decoder_in.append([vocab.start_id, *target_ids])
        decoder_out.append([*target_ids, vocab.end_id])
    return (
        [vocab.pad(sources, source_len), vocab.pad(decoder_in, target_len)],
        vocab.pad(decoder_out, target_len),
    )
