"""Language models: next character (cross-entropy, perplexity, bits per character).

Trained on windows at random offsets drawn anew each epoch, or on consecutive windows whose
recurrent states carry from batch to batch (the family's ``carry`` model), and then
evaluated the same way.
"""

from __future__ import annotations

import json
import math
import pathlib

import keras

from zoo import generate
from zoo.data import text
from zoo.data.vocabulary import Vocabulary
from zoo.errors import DataError, ZooError, user_error
from zoo.models.recurrent_state import stream_resets
from zoo.registry import get_spec
from zoo.tasks.base import Task, TaskData
from zoo.tasks.datasets import ConsecutiveWindows, RandomWindows


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

    def __init__(self, family, lm, vocab, prompt, *, length=100, path=None, seed=0):
        super().__init__()
        self.family, self.lm, self.vocab, self.prompt = family, lm, vocab, prompt
        self.length, self.path, self.seed = length, path, seed

    def on_epoch_end(self, epoch, logs=None):
        (line,) = sample_texts(self.family, self.lm, self.vocab, [self.prompt], length=self.length, temperature=0.8,
                               seed=self.seed)
        print(f"\nsample after epoch {epoch + 1}: {self.prompt + line!r}")
        if self.path:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"epoch": epoch + 1, "text": self.prompt + line}, ensure_ascii=False) + "\n")


def sample_texts(family, model, vocab, prompts, *, length, temperature=1.0, top_k=None, top_p=None,
                 seed=None) -> list[str]:
    """Continue each of `prompts` by `length` characters, all prompts in one batch, one step
    call per character through the family's step model."""
    step = get_spec(family).inference_models(model)["step"]
    return user_error(ZooError, generate.continue_texts, step.step_function(), step.zero_states(len(prompts)), vocab,
                      list(prompts), length, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)


class LanguageModel(Task):
    """Next-character prediction. With ``sampling: consecutive`` the model trains and is
    evaluated with recurrent states carried across windows (the family's ``carry`` model);
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
        if sampling == "consecutive" and get_spec(recipe.model).carry is None:
            raise ZooError(f"recipe {recipe.name!r}: model family {recipe.model!r} cannot carry states across "
                           f"windows; use sampling 'random'")

        def ids_of(split):
            ids = vocab.encode(getattr(corpus, split), unknown=True)
            # Keep `limit` windows' worth of each split: a quick run on real text.
            return ids if limit is None else ids[: limit * seq_len + 1]

        ids = {split: ids_of(split) for split in ("train", "validation", "test")}
        streams = None
        if sampling == "consecutive":
            # As many parallel streams as training uses, or fewer where a held-out split is
            # short; every stream holds at least one window.
            shortest = min(len(ids["validation"]), len(ids["test"]))
            streams = max(1, min(batch_size, (shortest - 1) // seq_len))

        def evaluation_windows(split):
            hint = f" (with --limit {limit}; raise it)" if limit is not None else ""
            try:
                return text.streams(ids[split], seq_len, streams) if streams else text.windows(ids[split], seq_len)
            except DataError as error:
                raise DataError(f"the {split} split: {error}{hint}") from None

        if sampling == "consecutive":
            train = ConsecutiveWindows(ids["train"], seq_len=seq_len, batch_size=batch_size, seed=seed)
        else:
            steps = max(1, (len(ids["train"]) - 1) // (seq_len * batch_size))
            train = RandomWindows(ids["train"], seq_len=seq_len, batch_size=batch_size, steps_per_epoch=steps, seed=seed)
        return TaskData(
            train=train,
            validation=evaluation_windows("validation"),
            test=evaluation_windows("test"),
            vocab=vocab,
            model_options={"vocab_size": len(vocab)},
            streams=streams,
        )

    def training_model(self, model, data, recipe):
        """`model` itself, or for consecutive windows a carried-state model sharing its layers."""
        if not data.streams:
            return model, data.validation
        x, y = data.validation
        carry = get_spec(recipe.model).carry(model, data.train.batch_size)  # streams <= batch size
        return carry, ((x, stream_resets(len(x), data.streams)), y)

    def callbacks(self, model, data, recipe, out_dir=None):
        prompt = recipe.data.get("sample_prompt", "")
        if not prompt or any(ch not in data.vocab.index for ch in prompt):  # e.g. with --text-file
            prompt = data.vocab.decode(data.train.ids[:8])
        path = None if out_dir is None else pathlib.Path(out_dir) / "samples.jsonl"
        return [PerplexityLogs(), SampleText(recipe.model, model, data.vocab, prompt, path=path)]

    def evaluate(self, model, data, recipe, *, batch_size) -> dict:
        x, y = data.test
        if data.streams:  # as it was trained: states carried from window to window
            carry = get_spec(recipe.model).carry(model, data.streams)
            carry.compile(loss=model.loss)
            loss = carry.evaluate((x, stream_resets(len(x), data.streams)), y, batch_size=data.streams, verbose=0)
        else:
            loss = model.evaluate(x, y, batch_size=batch_size, verbose=0)
        loss = float(loss)
        return {"test_loss": loss, "test_perplexity": math.exp(loss), "test_bits_per_char": loss / math.log(2),
                "test_characters": int(y.size)}
