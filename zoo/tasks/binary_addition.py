"""Binary addition (N-vs-N sequence labelling), the tutorial's exercise: two numbers' bits
enter one pair per step, least significant first, and the network emits one sum bit per
step, learning to carry.

Training and validation use 8-bit sums of operands below 128 (the tutorial's); the test
split holds 8-bit problems never trained on and, to show whether the carry was learned
rather than the lengths memorised, 16- and 32-bit problems the model never saw.
"""

from __future__ import annotations

import dataclasses
import re

import click
import numpy as np

from zoo.errors import DataError, ZooError
from zoo.tasks import register_task
from zoo.tasks.base import Examples, QualityBudget, Task, TaskData, limit_items, texts
from zoo.tasks.options import Command, DataConfig, json_option

TRAIN_BITS = 8
LONGER_BITS = (16, 32)  # test-only lengths, never trained on
MAX_BITS = 1024  # the longest sum `add` accepts
PROBLEM = re.compile(r"\s*(\d+)\s*\+\s*(\d+)\s*")


def encode(problems, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames (n, width, 2) float32 of the operands' bits and targets (n, width) int32 of the
    sum's bits, least significant first."""
    shifts = np.arange(width, dtype=object)
    a = np.array([[(p[0] >> int(s)) & 1 for s in shifts] for p in problems], dtype=np.float32).reshape(-1, width)
    b = np.array([[(p[1] >> int(s)) & 1 for s in shifts] for p in problems], dtype=np.float32).reshape(-1, width)
    sums = np.array([[((p[0] + p[1]) >> int(s)) & 1 for s in shifts] for p in problems], dtype=np.int32)
    return np.stack([a, b], axis=-1), sums.reshape(-1, width)


def decode(bits) -> int:
    """The number whose bits (least significant first) are `bits`."""
    return sum(int(bit) << i for i, bit in enumerate(bits))


@dataclasses.dataclass(frozen=True)
class AdditionData(DataConfig):
    """Generated sums: `bits`-bit training, validation and test problems, and `longer_size`
    test problems of each of `longer_bits`."""

    bits: int = TRAIN_BITS
    train_size: int = 20000
    validation_size: int = 1000
    test_size: int = 1000
    longer_size: int = 1000
    longer_bits: tuple[int, ...] = LONGER_BITS


def problems_of(data_config: dict, *, seed: int) -> dict:
    """The splits of a binary addition data config, as (a, b) pairs.

    The 8-bit problems are the pairs of operands below ``2**(bits - 1)`` (their sum fits in
    `bits` bits): validation and test are distinct sets drawn without replacement, training
    draws `train_size` examples from the other pairs. The longer test problems draw each
    operand below ``2**(width - 1)``.
    """
    d = AdditionData.parse(data_config)
    bits = d.bits
    sizes = {"train": d.train_size, "validation": d.validation_size, "test": d.test_size}
    if bits < 2 or min(sizes.values()) < 0 or sizes["train"] == 0:
        raise DataError(f"binary addition: expected bits >= 2, a positive train size and non-negative held-out "
                        f"sizes, got bits {bits}, sizes {sizes}")
    rng = np.random.default_rng(seed)
    limit = 2 ** (bits - 1)
    held_out = sizes["validation"] + sizes["test"]
    if held_out >= limit * limit:
        raise DataError(f"binary addition: {held_out} held-out problems leave none to train on ({limit}^2 in all)")
    codes = rng.choice(limit * limit, size=held_out, replace=False)
    taken = set(int(c) for c in codes)
    pairs = [divmod(int(c), limit) for c in codes]
    train = []
    while len(train) < sizes["train"]:
        code = int(rng.integers(limit * limit))
        if code not in taken:
            train.append(divmod(code, limit))
    longer = {width: [(int(rng.integers(2 ** (width - 1), dtype=np.uint64)), int(rng.integers(2 ** (width - 1), dtype=np.uint64)))
                      for _ in range(d.longer_size)] for width in d.longer_bits}
    return {"bits": bits, "train": train, "validation": pairs[: sizes["validation"]],
            "test": pairs[sizes["validation"]:], "longer": longer}


def parse(problem) -> tuple[int, int]:
    """``"23+42"`` as (23, 42); anything else is a one-line error."""
    match = PROBLEM.fullmatch(str(problem))
    if not isinstance(problem, str) or match is None:
        raise ZooError(f"input {problem!r}: expected a sum of two whole numbers written in decimal, such as 23+42")
    a, b = int(match[1]), int(match[2])
    if (a + b).bit_length() > MAX_BITS:
        raise ZooError(f"input {problem!r}: expected a sum of at most {MAX_BITS} bits")
    return a, b


def _width(a: int, b: int) -> int:
    """Steps needed to emit a + b: the longer operand's bits and one for the carry out."""
    return max(a.bit_length(), b.bit_length(), 1) + 1


@register_task("binary_addition")
class BinaryAddition(Task):
    headline = ("test_exact_match",)
    conventions = ("frames (batch, time, 2) float32: the two operands' bits, least significant first, one pair a "
                   "step, as many steps as the sum has bits; logits (batch, time, 2): the sum's bit at each step. "
                   "step: token, one frame (batch, 1, 2), and state_h_1 (zeros first) -> logits (batch, 2) and "
                   "next_state_h_1 to feed back.")
    int8_budget = QualityBudget(max_loss=0.005, higher_is_better=True)
    hub_pipeline = "token-classification"
    check_examples = 3000  # all of the test split: 1,000 problems of each length
    api = ("add", "label_stream")
    data_type = AdditionData
    commands = {"predict": Command(
        help="Add: each INPUT is a sum of two whole numbers written in decimal, such as 23+42; prints the sum the "
             "network computes bit by bit.",
        params=(click.Argument(["inputs"], metavar="INPUT...", nargs=-1, required=True), json_option()))}
    use_and_limits = (
        "Adds two whole numbers written in binary by labelling each bit position with the sum's bit, least "
        "significant first, carrying in its recurrent state: a teaching example of sequence labelling (N-vs-N), "
        "not a calculator. It was trained on 8-bit sums only; the card reports how it does on 16- and 32-bit "
        "sums it never saw. `zoo predict` and `add` take sums written in decimal (`23+42`)."
    )

    # ------------------------------------------------------------------ training
    def prepare(self, recipe, *, seed, limit, data_dir, batch_size) -> TaskData:
        from zoo.tasks.datasets import ShuffledArrays

        splits = problems_of(recipe.data, seed=seed)
        bits = splits["bits"]
        train, validation, test = (limit_items(splits[s], limit) for s in ("train", "validation", "test"))
        return TaskData(
            train=ShuffledArrays(*encode(train, bits), batch_size=batch_size, seed=seed),
            validation=encode(validation, bits) if validation else None,
            test=encode(test, bits),
            examples=_examples(test, bits, {w: limit_items(p, limit) for w, p in splits["longer"].items()}),
            model_options={"features": 2, "num_classes": 2},
        )

    # ------------------------------------------------------------------ the metric
    def examples(self, data_config, *, seed, data_dir=None, vocab=None, limit=None) -> Examples:
        splits = problems_of(data_config, seed=seed)
        return _examples(splits["test"], splits["bits"], splits["longer"]).head(limit)

    def measure(self, model, examples: Examples) -> dict:
        """Exact match of the sums (every bit right) and bit accuracy, on the training length
        and on each longer length."""
        by_width: dict[int, list] = {}
        for a, b, width in examples.inputs:
            by_width.setdefault(width, []).append((a, b))
        metrics = {}
        shortest = min(by_width)
        for width in sorted(by_width):
            frames, targets = encode(by_width[width], width)
            predicted = model.logits(frames).argmax(-1)
            exact = float(np.mean(np.all(predicted == targets, axis=1)))
            suffix = "" if width == shortest else f"_{width}_bits"
            metrics.update({f"test_exact_match{suffix}": exact,
                            f"test_bit_accuracy{suffix}": float(np.mean(predicted == targets)),
                            f"test_examples{suffix}": len(targets)})
        return metrics

    # ------------------------------------------------------------------ inference
    def add(self, model, problems):
        """The sum of a problem ``"a+b"`` (decimal), or of each of a list of them, computed
        bit by bit by the full model."""
        sums = [row["sum"] for row in self._answers(model, problems)]
        return sums[0] if isinstance(problems, str) else sums

    def _answers(self, model, problems) -> list[dict]:
        problems = texts(problems, "sum")
        pairs = [parse(p) for p in problems]
        by_width: dict[int, list[int]] = {}  # one model call per length, not per problem
        for index, (a, b) in enumerate(pairs):
            by_width.setdefault(_width(a, b), []).append(index)
        answers = [None] * len(pairs)
        for width, indices in by_width.items():
            frames, _ = encode([pairs[i] for i in indices], width)
            for row, (i, bits) in enumerate(zip(indices, model.logits(frames).argmax(-1))):
                answers[i] = {"problem": problems[i].strip(), "sum": decode(bits),
                              "a_bits": "".join(str(int(v)) for v in frames[row, :, 0]),
                              "b_bits": "".join(str(int(v)) for v in frames[row, :, 1]),
                              "sum_bits": "".join(str(int(v)) for v in bits)}
        return answers

    def label_stream(self, model, frames) -> np.ndarray:
        """Sum bits for a stream of bit pairs (batch, time, 2), least significant first, fed
        one step at a time through the ``step`` artifact (a fixed-size state, any length)."""
        frames = np.asarray(frames, dtype=np.float32)
        if frames.ndim != 3 or frames.shape[-1] != 2 or not len(frames) or not np.isin(frames, (0, 1)).all():
            raise ZooError(f"frames: expected bit pairs of shape (batch, time, 2) holding 0 and 1, got {frames.shape}")
        step, states, labels = model.step_function("step"), model.zero_states("step", len(frames)), []
        for t in range(frames.shape[1]):
            logits, states = step(frames[:, t : t + 1], states)
            labels.append(logits.argmax(-1))
        return np.stack(labels, axis=1)

    def predict_command(self, model, *, inputs, as_json=False) -> list[str]:
        answers = self._answers(model, list(inputs))
        if as_json:
            import json

            return [json.dumps({"bit_order": "least significant first", "predictions": answers}, indent=2)]
        return [str(answer["sum"]) for answer in answers]

    def export_checks(self, keras_model, exported, real_inputs) -> tuple[dict, list]:
        """Streaming the real test problems bit by bit through each engine's ``step`` labels
        them as the Keras full model does."""
        expected = keras_model.logits(real_inputs).argmax(-1)
        report, failures = {}, []
        for fmt, model in exported.items():
            same = bool(np.array_equal(self.label_stream(model, real_inputs), expected))
            report[fmt] = {"stream_equals_full_model": same}
            if not same:
                failures.append(f"{fmt}: the step artifact's stream labels differ from Keras's full model")
        return {"streaming": report}, failures

    # ------------------------------------------------------------------ model card
    def data_text(self, data_config) -> str:  # generated: the text follows the config
        d = self.data(data_config)
        bits = d.bits
        return (f"Generated problems: training and validation sums of two operands below {2 ** (bits - 1)} "
                f"({bits}-bit sums, the tutorial's), the validation and test problems distinct and never trained "
                f"on; the test split adds {', '.join(map(str, d.longer_bits))}-bit "
                f"sums, lengths never seen in training.")

    SAMPLES = ("23+42", "1+1", "0+0", "127+127", "100+27", "30000+2767", "2000000000+147483647")

    def samples(self, model, data_config) -> list[dict]:
        return [{"source": p, "sum": s, "expected": sum(parse(p))} for p, s in zip(self.SAMPLES, self.add(model, list(self.SAMPLES)))]

    def sample_lines(self, samples) -> list[str]:
        return [f"- `{s['source']}` -> `{s['sum']}` ({'right' if s['sum'] == s['expected'] else 'wrong'})"
                for s in samples]

    def usage(self, name, samples) -> tuple[str, str]:
        return 'm.add("23+42")   # 65', f"zoo predict {name} 23+42"


def _examples(test, bits: int, longer: dict) -> Examples:
    """The test problems of every length as (a, b, width), interleaved so that any prefix
    holds every length in proportion."""
    groups = [[(a, b, bits) for a, b in test]] + [[(a, b, w) for a, b in pairs] for w, pairs in longer.items()]
    rows = [row for i in range(max(map(len, groups))) for row in (g[i] for g in groups if i < len(g))]
    return Examples("test", rows, [a + b for a, b, _ in rows])
