"""Sequence to sequence: source string -> target string with teacher forcing, judged by the
exact match of greedy decoding through the family's ``encoder`` and ``decoder_step``."""

from __future__ import annotations

import keras
import numpy as np

from zoo import generate
from zoo.data import generated
from zoo.errors import ZooError, user_error
from zoo.registry import get_spec
from zoo.tasks.base import Task, TaskData, limit_items
from zoo.tasks.datasets import ShuffledArrays


def decode_texts(family, model, vocab, sources, data_config, *, beam_width=1) -> list[str]:
    """Translate `sources` (strings) with greedy decoding, or beam search when beam_width > 1."""
    models = get_spec(family).inference_models(model)
    encoder, step = models["encoder"], models["decoder_step"]

    def encode(source):
        return encoder.run({encoder.input_names[0]: source})

    return user_error(ZooError, generate.translate, encode, step.step_function(), vocab, list(sources),
                      beam_width=beam_width, **generated.decoding_options(data_config))


def exact_match(family, model, vocab, pairs, data_config) -> tuple[float, list[str]]:
    """The share of `pairs` whose greedy translation equals the target, and the translations."""
    predictions = decode_texts(family, model, vocab, [s for s, _ in pairs], data_config)
    return float(np.mean([p == t for p, (_, t) in zip(predictions, pairs)])), predictions


class ExactMatch(keras.callbacks.Callback):
    """Adds the exact match of greedy decoding to the logs and prints examples: as
    ``val_exact_match`` on validation pairs, or as ``exact_match`` (Keras's name for a
    training-set metric) on the training pairs of a task without held-out pairs."""

    def __init__(self, family, vocab, pairs, data_config, *, held_out=True, examples=3):
        super().__init__()
        self.family, self.vocab, self.pairs, self.data_config, self.examples = family, vocab, pairs, data_config, examples
        self.key, self.split = ("val_exact_match", "validation") if held_out else ("exact_match", "training")

    def on_epoch_end(self, epoch, logs=None):
        rate, predictions = exact_match(self.family, self.model, self.vocab, self.pairs, self.data_config)
        if logs is not None:
            logs[self.key] = rate
        shown = ", ".join(f"{s} -> {p}" for (s, _), p in zip(self.pairs[: self.examples], predictions))
        print(f"\nexact match {rate:.4f} on {len(self.pairs)} {self.split} pairs; {shown}")


class Seq2Seq(Task):
    metrics = ("accuracy",)

    def prepare(self, recipe, *, seed, limit, data_dir, batch_size) -> TaskData:
        d = recipe.data
        splits = generated.load_pairs(d, seed=seed)
        vocab = generated.vocabulary_for(splits)
        source_len, target_len = generated.pair_lengths(d)

        def encode(pairs):
            return generated.encode_pairs(pairs, vocab, source_len=source_len, target_len=target_len,
                                          reverse_source=d.get("reverse_source", False))

        train, validation, test = (limit_items(p, limit) for p in (splits.train, splits.validation, splits.test))
        return TaskData(
            train=ShuffledArrays(*encode(train), batch_size=batch_size, seed=seed),
            validation=encode(validation) if validation else None,
            test=encode(test), vocab=vocab,
            model_options={"source_vocab_size": len(vocab), "target_vocab_size": len(vocab)},
            test_pairs=test, validation_pairs=(validation or train)[:1000],
            evaluation_split=splits.evaluation_split,
        )

    def callbacks(self, model, data, recipe, out_dir=None):
        return [ExactMatch(recipe.model, data.vocab, data.validation_pairs, recipe.data,
                           held_out=data.validation is not None)]

    def evaluate(self, model, data, recipe, *, batch_size) -> dict:
        loss, accuracy = model.evaluate(*data.test, batch_size=batch_size, verbose=0)
        rate, predictions = exact_match(recipe.model, model, data.vocab, data.test_pairs, recipe.data)
        split = data.evaluation_split
        metrics = {f"{split}_exact_match": rate, f"{split}_loss": float(loss),
                   f"{split}_char_accuracy": float(accuracy), f"{split}_examples": len(data.test_pairs)}
        if recipe.data["task"] == "addition":
            metrics.update(generated.exact_match_by_digits(data.test_pairs, predictions, split))
        return metrics

