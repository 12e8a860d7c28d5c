"""The three tasks a recipe can train: data pipeline, metrics, callbacks and evaluation.

* ``classification``: image rows -> class (accuracy).
* ``language_model``: next character (cross-entropy, perplexity, bits per character),
  trained on windows at random offsets drawn anew each epoch, or on consecutive windows
  whose LSTM states carry from batch to batch (and are evaluated the same way).
* ``seq2seq``: source string -> target string with teacher forcing; judged by the exact
  match of greedy decoding through the inference models.

Metrics are named by the split they were measured on (``test_...``; ``val_...`` in the
history); a task without held-out examples reports ``train_...``.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import math
import pathlib
from typing import Any

import keras
import numpy as np

from zoo import generate
from zoo.data import generated, images, text
from zoo.data.vocabulary import Vocabulary
from zoo.errors import DataError, ZooError, user_error
from zoo.models import char_lm, seq2seq
from zoo.models.recurrent_state import stream_resets


@dataclasses.dataclass
class TaskData:
    """Splits ready for ``fit``: ``train`` is an :class:`EpochDataset`, the others (x, y) arrays.

    `validation` is None for a task without held-out examples; `evaluation_split` names the
    split in ``test`` ("test", or "train" for such a task), and so the final metrics.
    `streams` is set for language models evaluated with carried states: the rows of the
    evaluation splits are then `streams` parallel streams, laid out window by window, and
    are evaluated in batches of `streams` rows.
    """

    train: Any
    validation: tuple | None
    test: tuple
    vocab: Any = None
    model_options: dict = dataclasses.field(default_factory=dict)
    test_pairs: list = dataclasses.field(default_factory=list)  # seq2seq: (source, target) strings
    validation_pairs: list = dataclasses.field(default_factory=list)
    evaluation_split: str = "test"
    streams: int | None = None

    def check(self, limit=None) -> None:
        """Every split holds examples (a small --limit can leave one empty)."""
        hint = f" with --limit {limit}; raise it" if limit is not None else ""
        if len(self.train) < 1:
            raise DataError(f"the training split is empty{hint}")
        splits = (("validation", self.validation), ("test", self.test))
        for name, (_, y) in ((n, split) for n, split in splits if split is not None):
            if len(y) < 1:
                raise DataError(f"the {name} split is empty{hint}")


def _limit(items, limit):
    return items if limit is None else items[:limit]


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
    run cannot put back where the interrupted one left it.
    """

    def __init__(self, x, y, *, batch_size, seed):
        super().__init__(seed)
        self.x, self.y, self.batch_size = x, y, batch_size
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
        return x, self.y[rows]


class Task(abc.ABC):
    """What every task provides; subclasses define prepare and evaluate, and what differs."""

    metrics: tuple = ()

    @abc.abstractmethod
    def prepare(self, recipe, *, seed, limit, data_dir, batch_size) -> TaskData:
        """Load the recipe's data as TaskData."""

    def training_model(self, model, data):
        """The model `fit` trains and its validation data: usually `model` itself."""
        return model, data.validation

    def callbacks(self, model, data, recipe, out_dir=None) -> list:
        return []

    @abc.abstractmethod
    def evaluate(self, model, data, recipe, *, batch_size) -> dict:
        """The test metrics of a trained model."""


# ---------------------------------------------------------------------- classification
class Classification(Task):
    metrics = ("accuracy",)

    def prepare(self, recipe, *, seed, limit, data_dir, batch_size) -> TaskData:
        d = recipe.data
        splits = images.load_image_rows(
            d["dataset"], source=d.get("source", "idx"), data_dir=data_dir,
            validation_size=d.get("validation_size", 5000), seed=seed, limit=limit,
        )
        return TaskData(
            train=ShuffledArrays(splits.x_train, splits.y_train, batch_size=batch_size, seed=seed),
            validation=(splits.x_val, splits.y_val),
            test=(splits.x_test, splits.y_test),
        )

    def evaluate(self, model, data, recipe, *, batch_size) -> dict:
        loss, accuracy = model.evaluate(*data.test, batch_size=batch_size, verbose=0)
        return {"test_loss": float(loss), "test_accuracy": float(accuracy), "test_examples": len(data.test[1])}


# ---------------------------------------------------------------------- language model
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
    Inputs are ``(tokens, reset)`` for :func:`zoo.models.char_lm.build_carry_model`, whose
    LSTM states carry from batch to batch inside the training step; `reset` is 1 in the
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


class PerplexityLogs(keras.callbacks.Callback):
    """Adds perplexity and bits per character, derived from the cross-entropy in nats."""

    def on_epoch_end(self, epoch, logs=None):
        for prefix in ("", "val_"):
            if logs is not None and f"{prefix}loss" in logs:
                loss = float(logs[f"{prefix}loss"])
                logs[f"{prefix}perplexity"] = math.exp(min(loss, 50.0))
                logs[f"{prefix}bits_per_char"] = loss / math.log(2)


class SampleText(keras.callbacks.Callback):
    """Prints a line sampled from a prefix after each epoch, and appends it to a JSON-lines file.

    It samples with `lm` (the model `fit` trains may be a carried-state view of its layers).
    """

    def __init__(self, lm, vocab, prompt, *, length=100, path=None, seed=0):
        super().__init__()
        self.lm, self.vocab, self.prompt, self.length, self.path, self.seed = lm, vocab, prompt, length, path, seed

    def on_epoch_end(self, epoch, logs=None):
        line = sample_text(self.lm, self.vocab, self.prompt, length=self.length, temperature=0.8, seed=self.seed)
        print(f"\nsample after epoch {epoch + 1}: {self.prompt + line!r}")
        if self.path:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"epoch": epoch + 1, "text": self.prompt + line}, ensure_ascii=False) + "\n")


def sample_text(model, vocab, prompt, *, length, temperature=1.0, top_k=None, top_p=None, seed=None) -> str:
    """Continue `prompt` by `length` characters, one step per character through the step model."""
    step, initial_states = char_lm.step_function(model)
    return user_error(ZooError, generate.continue_text, step, initial_states(1), vocab, prompt, length,
                       temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)


class LanguageModel(Task):
    """Next-character prediction. With ``sampling: consecutive`` the model trains and is
    evaluated with LSTM states carried across windows (:func:`char_lm.build_carry_model`);
    with random windows, every window starts from zero states."""

    def prepare(self, recipe, *, seed, limit, data_dir, batch_size) -> TaskData:
        d = recipe.data
        corpus = text.load_text(d["source"], path=d.get("path"), data_dir=data_dir)
        vocab = Vocabulary.from_text(corpus.train)  # the training split only: nothing leaks
        if len(vocab.chars) < 2:
            raise DataError(f"{d.get('path') or d['source']}: expected a training text of at least 2 distinct "
                            f"characters, found {len(vocab.chars)}")
        seq_len, sampling = d.get("seq_len", 100), d.get("sampling", "random")
        if sampling not in ("random", "consecutive"):
            raise ZooError(f"recipe {recipe.name!r}: sampling must be 'random' or 'consecutive', got {sampling!r}")

        def ids_of(split):
            ids = vocab.encode(getattr(corpus, split), unknown=True)
            # Keep `limit` windows' worth of each split: a quick run on real text.
            return ids if limit is None else ids[: limit * seq_len + 1]

        streams = None
        if sampling == "consecutive":
            # As many parallel streams as training uses, or fewer where a held-out split is
            # short; every stream holds at least one window.
            shortest = min(len(ids_of("validation")), len(ids_of("test")))
            streams = max(1, min(batch_size, (shortest - 1) // seq_len))

        def evaluation_windows(split):
            hint = f" (with --limit {limit}; raise it)" if limit is not None else ""
            try:
                ids = ids_of(split)
                return text.streams(ids, seq_len, streams) if streams else text.windows(ids, seq_len)
            except DataError as error:
                raise DataError(f"the {split} split: {error}{hint}") from None

        train_ids = ids_of("train")
        if sampling == "consecutive":
            train = ConsecutiveWindows(train_ids, seq_len=seq_len, batch_size=batch_size, seed=seed)
        else:
            steps = max(1, (len(train_ids) - 1) // (seq_len * batch_size))
            train = RandomWindows(train_ids, seq_len=seq_len, batch_size=batch_size, steps_per_epoch=steps, seed=seed)
        return TaskData(
            train=train,
            validation=evaluation_windows("validation"),
            test=evaluation_windows("test"),
            vocab=vocab,
            model_options={"vocab_size": len(vocab)},
            streams=streams,
        )

    def training_model(self, model, data):
        """`model` itself, or for consecutive windows a carried-state model sharing its layers."""
        if not data.streams:
            return model, data.validation
        x, y = data.validation
        carry = char_lm.build_carry_model(model, max(data.train.batch_size, data.streams))
        return carry, ((x, stream_resets(len(x), data.streams)), y)

    def callbacks(self, model, data, recipe, out_dir=None):
        prompt = recipe.data.get("sample_prompt", "")
        if not prompt or any(ch not in data.vocab.index for ch in prompt):  # e.g. with --text-file
            prompt = data.vocab.decode(data.train.ids[:8])
        path = None if out_dir is None else pathlib.Path(out_dir) / "samples.jsonl"
        return [PerplexityLogs(), SampleText(model, data.vocab, prompt, path=path)]

    def evaluate(self, model, data, recipe, *, batch_size) -> dict:
        x, y = data.test
        if data.streams:  # as it was trained: states carried from window to window
            carry = char_lm.build_carry_model(model, data.streams)
            carry.compile(loss=model.loss)
            loss = carry.evaluate((x, stream_resets(len(x), data.streams)), y, batch_size=data.streams, verbose=0)
        else:
            loss = model.evaluate(x, y, batch_size=batch_size, verbose=0)
        loss = float(loss)
        return {"test_loss": loss, "test_perplexity": math.exp(loss), "test_bits_per_char": loss / math.log(2),
                "test_characters": int(y.size)}


# ---------------------------------------------------------------------- seq2seq
def pair_lengths(d) -> tuple[int, int]:
    """Source length and target length (end symbol included) of a seq2seq data config."""
    if d["task"] == "addition":
        digits = d.get("digits", 3)
        return 2 * digits + 1, digits + 2
    longest = generated.word_pairs().train
    return max(len(s) for s, _ in longest), max(len(t) for _, t in longest) + 1


def load_pairs(d, *, seed) -> generated.PairSplits:
    if d["task"] == "addition":
        return generated.addition_problems(
            digits=d.get("digits", 3), train_size=d.get("train_size", 50000),
            validation_size=d.get("validation_size", 5000), test_size=d.get("test_size", 5000), seed=seed)
    if d["task"] == "word_pairs":
        return generated.word_pairs()
    raise DataError(f"unknown seq2seq task {d['task']!r}; expected addition or word_pairs")


def decoding_options(data_config) -> dict:
    """What decoding needs to know of a seq2seq data config (also stored in export manifests)."""
    source_len, target_len = pair_lengths(data_config)
    return {"source_len": source_len, "target_len": target_len,
            "reverse_source": bool(data_config.get("reverse_source", False))}


def decode_texts(model, vocab, sources, data_config, *, beam_width=1) -> list[str]:
    """Translate `sources` (strings) with greedy decoding, or beam search when beam_width > 1."""
    encode, step = seq2seq.inference_functions(model)
    return user_error(ZooError, generate.translate, encode, step, vocab, list(sources), beam_width=beam_width,
                       **decoding_options(data_config))


def exact_match(model, vocab, pairs, data_config) -> tuple[float, list[str]]:
    predictions = decode_texts(model, vocab, [s for s, _ in pairs], data_config)
    return float(np.mean([p == t for p, (_, t) in zip(predictions, pairs)])), predictions


class ExactMatch(keras.callbacks.Callback):
    """Adds the exact match of greedy decoding to the logs and prints examples: as
    ``val_exact_match`` on validation pairs, or as ``exact_match`` (Keras's name for a
    training-set metric) on the training pairs of a task without held-out pairs."""

    def __init__(self, vocab, pairs, data_config, *, held_out=True, examples=3):
        super().__init__()
        self.vocab, self.pairs, self.data_config, self.examples = vocab, pairs, data_config, examples
        self.key, self.split = ("val_exact_match", "validation") if held_out else ("exact_match", "training")

    def on_epoch_end(self, epoch, logs=None):
        rate, predictions = exact_match(self.model, self.vocab, self.pairs, self.data_config)
        if logs is not None:
            logs[self.key] = rate
        shown = ", ".join(f"{s} -> {p}" for (s, _), p in zip(self.pairs[: self.examples], predictions))
        print(f"\nexact match {rate:.4f} on {len(self.pairs)} {self.split} pairs; {shown}")


class Seq2Seq(Task):
    metrics = ("accuracy",)

    def prepare(self, recipe, *, seed, limit, data_dir, batch_size) -> TaskData:
        d = recipe.data
        splits = load_pairs(d, seed=seed)
        vocab = generated.vocabulary_for(splits)
        source_len, target_len = pair_lengths(d)

        def encode(pairs):
            return generated.encode_pairs(pairs, vocab, source_len=source_len, target_len=target_len,
                                          reverse_source=d.get("reverse_source", False))

        train, validation, test = (_limit(p, limit) for p in (splits.train, splits.validation, splits.test))
        return TaskData(
            train=ShuffledArrays(*encode(train), batch_size=batch_size, seed=seed),
            validation=encode(validation) if validation else None,
            test=encode(test), vocab=vocab,
            model_options={"source_vocab_size": len(vocab), "target_vocab_size": len(vocab)},
            test_pairs=test, validation_pairs=(validation or train)[:1000],
            evaluation_split=splits.evaluation_split,
        )

    def callbacks(self, model, data, recipe, out_dir=None):
        return [ExactMatch(data.vocab, data.validation_pairs, recipe.data, held_out=data.validation is not None)]

    def evaluate(self, model, data, recipe, *, batch_size) -> dict:
        loss, accuracy = model.evaluate(*data.test, batch_size=batch_size, verbose=0)
        rate, _ = exact_match(model, data.vocab, data.test_pairs, recipe.data)
        split = data.evaluation_split
        return {f"{split}_exact_match": rate, f"{split}_loss": float(loss), f"{split}_char_accuracy": float(accuracy),
                f"{split}_examples": len(data.test_pairs)}


TASKS = {"classification": Classification(), "language_model": LanguageModel(), "seq2seq": Seq2Seq()}
