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


# At most this share of a (length of a, length of b) class of problems is held out for
# validation, and as much again for test: 1-digit problems are only 100, and training must
# still see most of them.
HELD_OUT_SHARE = 0.15
# The sums a person types first. Each is trained on once and never held out: 0+0 is the only
# problem whose answer is 0, so holding it out would ask for an answer training never shows.
# Shipped models are checked on them by name.
FIRST_SUMS = ["1+1", "2+2", "7+0", "0+0", "9+9", "5+7", "10+10", "12+34", "99+1", "100+100", "123+45", "999+999"]


def operand_digits(source: str) -> int:
    """The number of digits of the longer operand of ``"a+b"``: the problem's length class."""
    return max(len(operand) for operand in source.split("+"))


def addition_problems(*, digits: int = 3, train_size: int = 50000, validation_size: int = 5000,
                      test_size: int = 5000, seed: int = 0) -> PairSplits:
    """Problems ``"a+b" -> "a+b's sum"`` whose operand lengths are drawn uniformly from 1..`digits`.

    As in keras-io's addition example, each operand first draws its length, then its digits
    (no leading zeros), so ``1+1`` is as common a shape as ``123+456``; drawing numbers
    uniformly from 0..999 instead leaves almost no short operand. Each class of operand
    lengths (9 for 3 digits) gives validation and test an equal share of their sizes, at most
    `HELD_OUT_SHARE` of its problems each, all distinct; training draws its examples with
    replacement from the class's other problems, so no held-out problem is ever trained on
    (``a+b`` and ``b+a`` count as different problems, as they read differently). The
    `FIRST_SUMS` that fit `digits` are among the training examples and never held out.
    """
    if digits < 1:
        raise DataError(f"addition: digits must be at least 1, got {digits}")
    if min(train_size, validation_size, test_size) < 0 or train_size == 0:
        raise DataError(f"addition: expected a positive train size and non-negative held-out sizes, got "
                        f"{train_size}/{validation_size}/{test_size}")
    rng = np.random.default_rng(seed)
    first = [tuple(map(int, s.split("+"))) for s in FIRST_SUMS if operand_digits(s) <= digits]
    lengths = [(la, lb) for la in range(1, digits + 1) for lb in range(1, digits + 1)]
    pools = []  # per class: the training pool's (first operand, second operand) codes
    held_out = {"validation": [], "test": []}
    for la, lb in lengths:
        low_a, low_b = (0 if la == 1 else 10 ** (la - 1)), (0 if lb == 1 else 10 ** (lb - 1))
        span_a, span_b = 10**la - low_a, 10**lb - low_b
        size = span_a * span_b
        share = {split: min(wanted // len(lengths), int(HELD_OUT_SHARE * size))
                 for split, wanted in (("validation", validation_size), ("test", test_size))}
        # Only the held-out codes and the class size are kept; big classes are never enumerated.
        kept = [(a - low_a) * span_b + (b - low_b) for a, b in first if len(str(a)) == la and len(str(b)) == lb]
        wanted = share["validation"] + share["test"]
        chosen = [c for c in rng.choice(size, size=min(size, wanted + len(kept)), replace=False) if c not in kept][:wanted]

        def as_pair(code, low_a=low_a, low_b=low_b, span_b=span_b):  # bound now, not at call time
            return int(low_a + code // span_b), int(low_b + code % span_b)

        held_out["validation"] += [as_pair(c) for c in chosen[: share["validation"]]]
        held_out["test"] += [as_pair(c) for c in chosen[share["validation"]:]]
        pools.append((as_pair, size, set(int(c) for c in chosen)))
    train = first[:train_size]
    for index in rng.integers(len(lengths), size=train_size - len(train)):
        as_pair, size, taken = pools[index]
        code = int(rng.integers(size))
        while code in taken:  # at most 2 x HELD_OUT_SHARE of draws retry
            code = int(rng.integers(size))
        train.append(as_pair(code))

    def problems(pairs):
        return [(f"{a}+{b}", str(a + b)) for a, b in pairs]

    def shuffled(pairs):  # classes interleaved, so any prefix is a fair sample
        return [pairs[i] for i in rng.permutation(len(pairs))]

    return PairSplits(train=problems(train), validation=problems(shuffled(held_out["validation"])),
                      test=problems(shuffled(held_out["test"])))


def exact_match_by_digits(pairs, predictions, split="test") -> dict:
    """Exact match per length class of addition problems (the longer operand's digits):
    ``test_exact_match_1_digit``, ``test_examples_1_digit``, ``..._2_digits``, ..."""
    metrics = {}
    for digits in sorted({operand_digits(s) for s, _ in pairs}):
        hits = [p == t for p, (s, t) in zip(predictions, pairs) if operand_digits(s) == digits]
        suffix = f"{digits}_digit" + ("s" if digits > 1 else "")
        metrics[f"{split}_exact_match_{suffix}"] = float(np.mean(hits))
        metrics[f"{split}_examples_{suffix}"] = len(hits)
    return metrics


def word_pairs() -> PairSplits:
    """The tutorial's six pairs: a memorisation task with no held-out pairs, so its metrics
    are measured on the training pairs and named so."""
    return PairSplits(train=list(WORD_PAIRS), validation=[], test=list(WORD_PAIRS), evaluation_split="train")


def pair_lengths(d) -> tuple[int, int]:
    """Source length and target length (end symbol included) of a seq2seq data config (its
    ``task`` and ``digits``)."""
    if d.task == "addition":
        digits = d.digits
        return 2 * digits + 1, digits + 2
    longest = word_pairs().train
    return max(len(s) for s, _ in longest), max(len(t) for _, t in longest) + 1


def load_pairs(d, *, seed) -> PairSplits:
    """The pair splits a seq2seq data config describes (``task``: addition or word_pairs; the
    sizes and ``digits`` of addition)."""
    if d.task == "addition":
        return addition_problems(digits=d.digits, train_size=d.train_size, validation_size=d.validation_size,
                                 test_size=d.test_size, seed=seed)
    if d.task == "word_pairs":
        return word_pairs()
    raise DataError(f"unknown seq2seq task {d.task!r}; expected addition or word_pairs")


def decoding_options(data_config) -> dict:
    """What decoding needs to know of a seq2seq data config (also stored in export manifests)."""
    source_len, target_len = pair_lengths(data_config)
    return {"source_len": source_len, "target_len": target_len, "reverse_source": data_config.reverse_source}


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
