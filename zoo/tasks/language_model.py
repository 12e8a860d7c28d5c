"""Language models (N-vs-N over characters): next character, judged by cross-entropy in
nats per character (perplexity and bits per character derived).

Trained on windows at random offsets drawn anew each epoch, or on consecutive windows whose
recurrent states carry from batch to batch (the family's ``carry`` model), and then
evaluated the same way.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
from typing import Literal

import click

from zoo import generate
from zoo.arguments import finite_number, whole_number
from zoo.data import text
from zoo.data.vocabulary import Vocabulary
from zoo.errors import DataError, ZooError, user_error
from zoo.registry import get_spec
from zoo.tasks import register_task
from zoo.tasks.base import Examples, QualityBudget, Task, TaskData, texts
from zoo.tasks.options import Command, DataConfig, seed_option, temperature_option


@dataclasses.dataclass(frozen=True)
class TextData(DataConfig):
    """A corpus (zoo.data.text: a shared corpus by name, or ``file`` at `path`) cut into
    windows of `seq_len` characters, at random offsets or consecutive with states carried;
    the card's samples continue `sample_prompt`."""

    source: str
    path: str | None = None
    seq_len: int = 100
    sampling: Literal["random", "consecutive"] = "random"
    sample_prompt: str = ""


def _consecutive(data_config) -> bool:
    return TextData.parse(data_config).sampling == "consecutive"


@register_task("language_model")
class LanguageModel(Task):
    """Next-character prediction. With ``sampling: consecutive`` the model trains and is
    evaluated with recurrent states carried across windows (the family's ``carry`` model);
    with random windows, every window starts from zero states."""

    artifacts = ("model", "step")
    keras_metrics = ()
    headline = ("test_loss",)
    conventions = ("tokens and token are character ids: zoo.vocab's specials take ids 0.. (<pad>, <start>, <end>, "
                   "<unk>), then its chars in order. step: start from zero states, feed each output next_<state> "
                   "back as input <state>; logits (batch, vocab) score the next character.")
    int8_budget = QualityBudget(max_loss=0.02, higher_is_better=False)  # nats per character
    hub_pipeline = "text-generation"
    check_examples = 20000
    api = ("generate",)
    data_type = TextData
    commands = {"generate": Command(
        help="Continue each --prompt, one step per character.",
        params=(click.Option(["--prompt", "prompts"], multiple=True, required=True,
                             help="Text to continue (every character in the vocabulary); repeat it to continue "
                                  "several texts in one batch, printed in order."),
                # Ranges are checked by generate(), as for the Python API: one check, one message.
                click.Option(["--length"], type=int, default=200, show_default=True, help="Characters to add (>= 1)."),
                click.Option(["--top-k"], type=int, help="Sample among the k most likely characters (>= 1)."),
                click.Option(["--top-p"], type=float, help="Nucleus sampling mass, in (0, 1]."),
                temperature_option(), seed_option()))}
    train_options = (click.Option(["--text-file"], type=click.Path(),
                                  help="Train on this UTF-8 file instead of the recipe's corpus."),)
    use_and_limits = (
        "Continues a text one character at a time in the style of its training corpus; a demonstration and a "
        "starting point for fine-tuning (`zoo.from_pretrained`), not a source of facts. Characters outside its "
        "vocabulary are refused in a prompt. It reproduces the spelling, names and line layout of its corpus "
        "and can repeat passages of it."
    )

    DATA_TEXT = {
        "tiny_shakespeare": ("tiny_shakespeare through tensorflow-datasets (built offline from `input.txt`), with "
                             "tfds's own train / validation / test splits (1,003,854 / 55,770 / 55,770 characters); "
                             "the vocabulary is the training split's characters plus 4 reserved ids."),
        "jaychou_lyrics": "The tutorial's Chinese lyrics, cut in order into 90% train, 5% validation and 5% test.",
    }

    # ------------------------------------------------------------------ training
    def prepare(self, recipe, *, seed, limit, data_dir, batch_size) -> TaskData:
        from zoo.tasks.datasets import ConsecutiveWindows, RandomWindows

        d = self.data(recipe.data)
        corpus = text.load_text(d.source, path=d.path, data_dir=data_dir)
        vocab = Vocabulary.from_text(corpus.train)  # the training split only: nothing leaks
        if len(vocab.chars) < 2:
            raise DataError(f"{d.path or d.source}: expected a training text of at least 2 distinct "
                            f"characters, found {len(vocab.chars)}")
        seq_len, sampling = d.seq_len, d.sampling
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
        test = evaluation_windows("test")
        return TaskData(train=train, validation=evaluation_windows("validation"), test=test,
                        examples=Examples("test", *test), vocab=vocab, model_options={"vocab_size": len(vocab)},
                        streams=streams)

    def training_model(self, model, data, recipe):
        """`model` itself, or for consecutive windows a carried-state model sharing its layers."""
        from zoo.models.recurrent_state import stream_resets

        if not data.streams:
            return model, data.validation
        x, y = data.validation
        carry = get_spec(recipe.model).carry(model, data.train.batch_size)  # streams <= batch size
        return carry, ((x, stream_resets(len(x), data.streams)), y)

    def callbacks(self, model, data, recipe, out_dir=None):
        from zoo.tasks.callbacks import PerplexityLogs, SampleText

        prompt = self.data(recipe.data).sample_prompt
        if not prompt or any(ch not in data.vocab.index for ch in prompt):  # e.g. with --text-file
            prompt = data.vocab.decode(data.train.ids[:8])
        path = None if out_dir is None else pathlib.Path(out_dir) / "samples.jsonl"
        return [PerplexityLogs(), SampleText(self, self.keras_inference(model, data, recipe), prompt, path=path)]

    def evaluate(self, model, data, recipe, *, batch_size) -> dict:
        if data.streams:  # as it was trained: states carried from window to window
            from zoo.models.recurrent_state import stream_resets

            x, y = data.test
            carry = get_spec(recipe.model).carry(model, data.streams)
            carry.compile(loss=model.loss)
            loss = float(carry.evaluate((x, stream_resets(len(x), data.streams)), y, batch_size=data.streams,
                                        verbose=0))
            metrics = {"test_loss": loss, "test_characters": int(y.size)}
        else:
            metrics = self.measure(self.keras_inference(model, data, recipe), data.examples)
        loss = metrics["test_loss"]
        return {**metrics, "test_perplexity": math.exp(loss), "test_bits_per_char": loss / math.log(2)}

    def override(self, data: dict, *, text_file=None) -> dict:
        # Absolute, so `zoo evaluate` and `zoo export` find it from anywhere.
        return {**data, "source": "file", "path": str(pathlib.Path(text_file).resolve())}

    # ------------------------------------------------------------------ the metric
    def examples(self, data_config, *, seed, data_dir=None, vocab=None, limit=None) -> Examples:
        """Windows of the test text, `limit` characters of it at most."""
        d = self.data(data_config)
        corpus = text.load_text(d.source, path=d.path, data_dir=data_dir)
        ids = vocab.encode(corpus.test, unknown=True)
        return Examples("test", *text.windows(ids if limit is None else ids[: limit + 1], d.seq_len))

    def measure(self, model, examples: Examples) -> dict:
        """Cross-entropy of the full model, every window from zero states. For a model trained
        with states carried across windows that is another number than its carried test_loss,
        so it is named ``test_window_loss`` then."""
        name = "test_window_loss" if _consecutive(model.data_config) else "test_loss"
        return {name: generate.cross_entropy(model.logits(examples.inputs, 32), examples.targets),
                "test_characters": int(examples.targets.size)}

    # ------------------------------------------------------------------ inference
    def check_manifest(self, manifest: dict) -> None:
        super().check_manifest(manifest)
        self.check_vocabulary(manifest)

    def generate(self, model, prompts, length: int = 200, *, temperature: float = 1.0, top_k=None, top_p=None,
                 seed=None):
        """The continuation of a prompt (a string), or of each of a list of prompts (all in
        one batch, one step call per character); temperature 0 is greedy."""
        prompt_list = texts(prompts, "prompt")
        length = whole_number("length", length, minimum=1)
        temperature = finite_number("temperature", temperature, minimum=0)
        top_k = whole_number("top_k", top_k, minimum=1, optional=True)
        top_p = finite_number("top_p", top_p, minimum=0, maximum=1, above=True, optional=True)
        seed = whole_number("seed", seed, minimum=0, maximum=2**32 - 1, optional=True)
        continued = user_error(ZooError, generate.continue_texts, model.step_function("step"),
                               model.zero_states("step", len(prompt_list)), model.vocab, prompt_list, length,
                               temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
        return continued[0] if isinstance(prompts, str) else continued

    def generate_command(self, model, *, prompts, length, temperature, top_k, top_p, seed) -> list[str]:
        texts = self.generate(model, list(prompts), length, temperature=temperature, top_k=top_k, top_p=top_p,
                              seed=seed)
        return [prompt + continued for prompt, continued in zip(prompts, texts)]

    def export_checks(self, keras_model, exported, real_inputs) -> tuple[dict, list]:
        """200 greedy characters from a real prompt, identical through every engine."""
        vocab = keras_model.vocab
        # Ten characters of a real window (skipping <unk>: a prompt must be in the vocabulary).
        prompt = vocab.decode([i for i in real_inputs[0] if i != vocab.unknown_id][:10])
        expected = self.generate(keras_model, prompt, 200, temperature=0)
        report, failures = {}, []
        for fmt, model in exported.items():
            same = self.generate(model, prompt, 200, temperature=0) == expected
            report[fmt] = {"greedy_200_identical": same}
            if not same:
                failures.append(f"{fmt}: 200 greedy characters differ from Keras's")
        return {"generation": report}, failures

    # ------------------------------------------------------------------ model card
    def samples(self, model, data_config) -> list[dict]:
        prompt = self.data(data_config).sample_prompt or model.vocab.chars[0]
        return [{"prompt": prompt, "temperature": t, "seed": 0,
                 "text": prompt + self.generate(model, prompt, 300, temperature=t, seed=0)} for t in (0.5, 0.8)]

    def sample_lines(self, samples) -> list[str]:
        lines = []
        for s in samples:
            lines += [f"temperature {s['temperature']}, seed {s['seed']}:", "", "```", s["text"], "```", ""]
        return lines

    def usage(self, name, samples) -> tuple[str, str]:
        import json

        prompt = samples[0]["prompt"] if samples else "a"
        return (f"m.generate({prompt!r}, 200, temperature=0.8, seed=0)",
                f"zoo generate {name} --prompt {json.dumps(prompt)}")
