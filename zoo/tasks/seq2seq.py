"""Sequence to sequence (N-vs-M): source string -> target string with teacher forcing,
judged by the exact match of greedy decoding through the family's ``encoder`` and
``decoder_step``."""

from __future__ import annotations

import dataclasses
import re
from typing import Literal

import click
import numpy as np

from zoo import generate
from zoo.arguments import whole_number
from zoo.data import generated
from zoo.errors import ZooError, user_error
from zoo.tasks import register_task
from zoo.tasks.base import Examples, QualityBudget, Task, TaskData, limit_items, texts
from zoo.tasks.options import Command, DataConfig


@dataclasses.dataclass(frozen=True)
class PairData(DataConfig):
    """A generated problem (zoo.data.generated): sums of operands of 1 to `digits` digits, in
    splits of the given sizes, or the tutorial's word pairs; `reverse_source` feeds each
    source backwards."""

    task: Literal["addition", "word_pairs"]
    digits: int = 3
    reverse_source: bool = False
    train_size: int = 50000
    validation_size: int = 5000
    test_size: int = 5000


@register_task("seq2seq")
class Seq2Seq(Task):
    artifacts = ("model", "encoder", "decoder_step")
    headline = ("test_exact_match", "train_exact_match")
    conventions = ("ids index zoo.vocab (specials <pad>, <start>, <end>, <unk> first, then its chars). encoder: "
                   "source_tokens, the source (reversed first when zoo.decoding's reverse_source) padded with <pad> "
                   "to its source_len -> the states a decoder_step starts from; decoder_step: token (<start> first, "
                   "then the previous answer) and the states -> logits (batch, vocab) and next_<state> to feed back, "
                   "until <end> or target_len tokens.")
    int8_budget = QualityBudget(max_loss=0.005, higher_is_better=True)
    hub_pipeline = "text2text-generation"
    check_examples = 1000
    api = ("translate",)
    data_type = PairData
    commands = {"translate": Command(
        help="Translate each of TEXTS (greedy, or beam search).",
        params=(click.Argument(["texts"], nargs=-1, required=True),
                click.Option(["--beam"], type=int, default=1, show_default=True, help="Beam width (>= 1; 1 = greedy).")))}
    use_and_limits = (
        "Translates short strings of the generated task it was trained on; sources must use its characters and "
        "fit its source length. Outside the training distribution (longer operands, other operators) the "
        "answers are wrong without warning."
    )

    DATA_TEXT = {
        "addition": ("Generated problems `a+b` whose operand lengths (1 to 3 digits) are drawn uniformly, sources "
                     "reversed. Validation and test problems are distinct and never trained on: each class of "
                     "operand lengths gives them an equal share, at most 15% of its problems (so 15 of the 100 "
                     "one-digit problems each); training draws 100,000 examples with replacement from the rest."),
        "word_pairs": "The tutorial's six word pairs; a memorisation task with no held-out pairs.",
    }

    # ------------------------------------------------------------------ training
    def prepare(self, recipe, *, seed, limit, data_dir, batch_size) -> TaskData:
        from zoo.tasks.datasets import ShuffledArrays

        d = self.data(recipe.data)
        splits = generated.load_pairs(d, seed=seed)
        vocab = generated.vocabulary_for(splits)
        source_len, target_len = generated.pair_lengths(d)

        def encode(pairs):
            return generated.encode_pairs(pairs, vocab, source_len=source_len, target_len=target_len,
                                          reverse_source=d.reverse_source)

        train, validation, test = (limit_items(p, limit) for p in (splits.train, splits.validation, splits.test))
        held_out = ("validation", validation) if validation else ("train", train)
        return TaskData(
            train=ShuffledArrays(*encode(train), batch_size=batch_size, seed=seed),
            validation=encode(validation) if validation else None,
            test=encode(test), vocab=vocab,
            examples=_examples(splits.evaluation_split, test),
            validation_examples=_examples(held_out[0], held_out[1][:1000]),
            model_options={"source_vocab_size": len(vocab), "target_vocab_size": len(vocab)},
        )

    def callbacks(self, model, data, recipe, out_dir=None):
        from zoo.tasks.callbacks import TaskMetric

        examples = data.validation_examples
        shown = examples.head(3)

        def show(inference):
            return ", ".join(f"{s} -> {p}" for s, p in zip(shown.inputs, self.translate(inference, shown.inputs)))

        return [TaskMetric(self, self.keras_inference(model, data, recipe), examples, metric="exact_match",
                           held_out=data.validation is not None, show=show)]

    def evaluate(self, model, data, recipe, *, batch_size) -> dict:
        result = model.evaluate(*data.test, batch_size=batch_size, verbose=0, return_dict=True)
        split = data.examples.split
        return {f"{split}_loss": float(result["loss"]), f"{split}_char_accuracy": float(result["accuracy"]),
                **self.measure(self.keras_inference(model, data, recipe), data.examples)}

    # ------------------------------------------------------------------ the metric
    def examples(self, data_config, *, seed, data_dir=None, vocab=None, limit=None) -> Examples:
        splits = generated.load_pairs(self.data(data_config), seed=seed)
        split = splits.evaluation_split
        return _examples(split, getattr(splits, split)).head(limit)

    def measure(self, model, examples: Examples) -> dict:
        """Exact match of greedy decoding (per operand length too, for addition)."""
        predictions = self.translate(model, list(examples.inputs))
        split = examples.split
        metrics = {f"{split}_exact_match": float(np.mean([p == t for p, t in zip(predictions, examples.targets)])),
                   f"{split}_examples": len(examples)}
        if self.data(model.data_config).task == "addition":
            pairs = list(zip(examples.inputs, examples.targets))
            metrics.update(generated.exact_match_by_digits(pairs, predictions, split))
        return metrics

    # ------------------------------------------------------------------ inference
    def decoding(self, data_config) -> dict:
        return generated.decoding_options(self.data(data_config))

    def check_manifest(self, manifest: dict) -> None:
        super().check_manifest(manifest)
        self.check_vocabulary(manifest)
        decoding = manifest["decoding"]
        for key in ("source_len", "target_len"):
            if not isinstance(decoding[key], int) or decoding[key] < 1:
                raise ValueError(f"decoding.{key} must be a positive whole number")
        if not isinstance(decoding["reverse_source"], bool):
            raise ValueError("decoding.reverse_source must be true or false")

    def translate(self, model, sources, *, beam: int = 1):
        """The translation of a source string, or of each of a list (greedy, or beam search of
        width `beam`), through the encoder and decoder step."""
        source_list = texts(sources, "source")
        beam = whole_number("beam", beam, minimum=1)
        d = self.data(model.data_config) if model.data_config else None
        grammar = _GRAMMARS.get(d and d.task)
        for source in source_list if grammar else ():
            grammar(source, d)
        (name,) = model.input_units("encoder")
        encode = lambda source: model.run("encoder", {name: source})  # noqa: E731
        targets = user_error(ZooError, generate.translate, encode, model.step_function("decoder_step"), model.vocab,
                             source_list, beam_width=beam, **model.decoding)
        return targets[0] if isinstance(sources, str) else targets

    def translate_command(self, model, *, texts, beam=1) -> list[str]:
        return [f"{source}\t{target}" for source, target in zip(texts, self.translate(model, list(texts), beam=beam))]

    # ------------------------------------------------------------------ model card
    def samples(self, model, data_config) -> list[dict]:
        sources = generated.FIRST_SUMS if self.data(data_config).task == "addition" else [s for s, _ in generated.WORD_PAIRS]
        return [{"source": s, "translation": t} for s, t in zip(sources, self.translate(model, sources))]

    def sample_lines(self, samples) -> list[str]:
        return [f"- `{s['source']}` -> `{s['translation']}`" for s in samples]

    def usage(self, name, samples) -> tuple[str, str]:
        source = samples[0]["source"]
        return f"m.translate({source!r}, beam=3)", f'zoo translate {name} "{source}"'


def _addition_problem(source: str, d: PairData) -> None:
    """An addition model's inputs are ``digits+digits``, each operand at most its digits long."""
    digits = d.digits
    if re.fullmatch(rf"[0-9]{{1,{digits}}}\+[0-9]{{1,{digits}}}", source) is None:
        raise ZooError(f"input {source!r}: expected two numbers of 1 to {digits} digits joined by +, such as "
                       f"{'1' * digits}+{'2' * max(1, digits - 1)}")


# The input grammar of each generated seq2seq problem that has one, by its data task.
_GRAMMARS = {"addition": _addition_problem}


def _examples(split, pairs) -> Examples:
    return Examples(split, [s for s, _ in pairs], [t for _, t in pairs])
