"""A task defined outside the package, the proof that a task is one file: the parity of a bit
string (N-vs-1: is the number of ones odd?), read one bit per step by a zoo classifier family.

Loaded through ``ZOO_PLUGINS=tests/plugins/parity_task.py``; tests/test_plugin_task.py trains,
exports, ships and runs it through ``zoo`` with nothing under ``zoo/`` changed. It has options
of its own: ``zoo train --length`` (the training strings' length) and ``zoo predict --words``.
"""

from __future__ import annotations

import dataclasses

import click
import numpy as np

from zoo.errors import ZooError
from zoo.tasks import register_task
from zoo.tasks.base import Examples, Task, TaskData, limit_items, texts
from zoo.tasks.options import Command, DataConfig, json_option


@dataclasses.dataclass(frozen=True)
class ParityData(DataConfig):
    """Random bit strings of `length` bits in splits of the given sizes."""

    length: int = 8
    train_size: int = 2000
    validation_size: int = 200
    test_size: int = 200


def bit_strings(data: ParityData, seed: int) -> dict[str, np.ndarray]:
    """Each split's strings as (n, length) int bits, drawn from `seed`."""
    rng = np.random.default_rng(seed)
    sizes = {"train": data.train_size, "validation": data.validation_size, "test": data.test_size}
    return {split: rng.integers(0, 2, size=(size, data.length)) for split, size in sizes.items()}


def frames(bits) -> np.ndarray:
    """Bits (n, length) as the model's input rows (n, length, 1) float32."""
    return np.asarray(bits, dtype=np.float32)[..., None]


def parse(text: str) -> np.ndarray:
    if not text or set(text) - {"0", "1"}:
        raise ZooError(f"input {text!r}: expected a string of 0s and 1s, such as 10110")
    return np.array([int(c) for c in text])


@register_task("parity")
class Parity(Task):
    headline = ("test_accuracy",)
    check_examples = 200
    api = ("parity",)
    data_type = ParityData
    conventions = "rows (batch, length, 1) float32 bits; logits (batch, 2): even, odd."
    use_and_limits = "A test of the zoo's extension points, not a model to use."
    commands = {"predict": Command(
        help="Tell the parity of each INPUT, a string of 0s and 1s: 1 for an odd number of ones, 0 for even.",
        params=(click.Argument(["inputs"], metavar="BITS...", nargs=-1, required=True), json_option(),
                click.Option(["--words"], is_flag=True, help="Print odd or even instead of 1 or 0.")))}
    train_options = (click.Option(["--length"], type=click.IntRange(1, 64),
                                  help="Bits in each training, validation and test string."),)

    def prepare(self, recipe, *, seed, limit, data_dir, batch_size) -> TaskData:
        from zoo.tasks.datasets import ShuffledArrays

        splits = bit_strings(self.data(recipe.data), seed)
        train, validation, test = (limit_items(splits[s], limit) for s in ("train", "validation", "test"))
        return TaskData(train=ShuffledArrays(frames(train), train.sum(1) % 2, batch_size=batch_size, seed=seed),
                        validation=(frames(validation), validation.sum(1) % 2),
                        test=(frames(test), test.sum(1) % 2),
                        examples=Examples("test", frames(test), test.sum(1) % 2),
                        model_options={"features": 1, "num_classes": 2})

    def examples(self, data_config, *, seed, data_dir=None, vocab=None, limit=None) -> Examples:
        test = bit_strings(self.data(data_config), seed)["test"]
        return Examples("test", frames(test), test.sum(1) % 2).head(limit)

    def measure(self, model, examples: Examples) -> dict:
        predicted = model.logits(examples.inputs).argmax(-1)
        return {"test_accuracy": float(np.mean(predicted == examples.targets)), "test_examples": len(examples)}

    def override(self, data: dict, *, length=None) -> dict:
        return {**data, "length": length}

    def parity(self, model, strings) -> list[int]:
        """The parity the model tells for each bit string (one call per length)."""
        return [int(model.logits(frames([parse(s)])).argmax(-1)[0]) for s in texts(strings, "bits")]

    def predict_command(self, model, *, inputs, as_json=False, words=False) -> list[str]:
        answers = [("odd" if p else "even") if words else str(p) for p in self.parity(model, list(inputs))]
        if as_json:
            import json

            return [json.dumps(dict(zip(inputs, answers)))]
        return answers

    def samples(self, model, data_config) -> list[dict]:
        strings = ["1", "11", "10110", "0000000"]
        return [{"bits": s, "parity": p} for s, p in zip(strings, self.parity(model, strings))]

    def sample_lines(self, samples) -> list[str]:
        return [f"- `{s['bits']}` -> {s['parity']}" for s in samples]

    def usage(self, name, samples) -> tuple[str, str]:
        return 'm.parity("10110")', f"zoo predict {name} 10110 --words"
