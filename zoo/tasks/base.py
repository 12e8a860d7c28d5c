"""What every task provides (:class:`Task`), the data it hands to ``fit`` (:class:`TaskData`)
and the examples its metric is measured on (:class:`Examples`).

A task's metric is written once, in :meth:`Task.measure`, over an
:class:`~zoo.inference.InferenceModel`: the same code scores a Keras model at the end of
training, an export during its verification, a shipped model's check slice and
``zoo.load(...).evaluate()``.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Literal

import click

from zoo.errors import DataError, ZooError
from zoo.tasks.options import DataConfig


@dataclasses.dataclass
class Examples:
    """The examples of one split that a task's metric reads: `inputs` and `targets` in the
    task's own form (arrays, token windows, string pairs), `split` naming the split ("test",
    or "train" for a task without held-out examples)."""

    split: str
    inputs: Any
    targets: Any

    def __len__(self) -> int:
        return len(self.targets)

    def head(self, limit: int | None) -> "Examples":
        """The first `limit` examples (all of them when `limit` is None)."""
        if limit is None:
            return self
        return Examples(self.split, self.inputs[:limit], self.targets[:limit])


@dataclasses.dataclass
class TaskData:
    """Splits ready for ``fit``: ``train`` is an EpochDataset, ``validation`` and ``test``
    (x, y) arrays for Keras, ``examples`` the evaluation split for the task's metric.

    `validation` is None for a task without held-out examples. `streams` is set for language
    models evaluated with carried states: the rows of the evaluation splits are then
    `streams` parallel streams, laid out window by window, evaluated `streams` rows a batch.
    """

    train: Any
    validation: tuple | None
    test: tuple
    examples: Examples
    vocab: Any = None
    classes: list | None = None  # the name of each label, for tasks that name them
    model_options: dict = dataclasses.field(default_factory=dict)
    validation_examples: Examples | None = None  # for a task callback that scores each epoch
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


@dataclasses.dataclass(frozen=True)
class QualityBudget:
    """The most a task's main figure may lose (`max_loss`, in the figure's own units), and
    which way is better."""

    max_loss: float
    higher_is_better: bool

    def loss(self, reference: float, measured: float) -> float:
        """How much worse `measured` is than `reference` (negative: better)."""
        return reference - measured if self.higher_is_better else measured - reference


def artifact_models(family: str, model) -> dict:
    """The models an export holds and inference runs, by artifact name: the full ``model``
    and the family's inference models (``step``, or ``encoder`` and ``decoder_step``), each
    a NamedModel."""
    from zoo.models.recurrent_state import NamedModel
    from zoo.registry import get_spec

    spec = get_spec(family)
    extra = spec.inference_models(model) if spec.inference is not None else {}
    return {"model": NamedModel(model, ["logits"]), **extra}


def texts(value, what: str) -> list[str]:
    """A string or a non-empty list of strings, as a list; anything else is a one-line error."""
    items = [value] if isinstance(value, str) else value
    if isinstance(items, (list, tuple)) and items and all(isinstance(item, str) for item in items):
        return list(items)
    raise ZooError(f"{what}: expected a string or a non-empty list of strings, got {type(value).__name__}"
                   + (" (empty)" if isinstance(value, (list, tuple)) and not value else ""))


def limit_items(items, limit):
    """The first `limit` items (all of them when `limit` is None)."""
    return items if limit is None else items[:limit]


class Task(abc.ABC):
    """What a task provides. Subclasses define :meth:`prepare`, :meth:`examples` and
    :meth:`measure`, set the class attributes below, and override what differs."""

    name: str = ""  # set by register_task
    artifacts: tuple = ("model",)  # the inference artifacts every export of this task holds
    keras_metrics: tuple = ("accuracy",)  # compiled into the training model
    headline: tuple = ()  # the metrics `zoo list` shows, the first present wins
    check_examples: int = 1000  # the slice of the test split a shipped model is re-measured on
    api: tuple = ()  # methods of a loaded model: model.NAME(...) calls task.NAME(model, ...)
    # The zoo commands it answers (predict, generate, translate, or one of its own) by name,
    # each a zoo.tasks.options.Command; `<name>_command(model, **options)` answers it.
    commands: dict = {}
    # Its options of `zoo train` and `zoo.train(...)` (click options), each applied to the
    # recipe's data by data_overrides.
    train_options: tuple = ()
    data_type: type = DataConfig  # its data options (a DataConfig dataclass)
    use_and_limits: str = ""  # for the model card
    # For a client handed one exported file (its metadata, zoo.manifest.artifact_metadata):
    # how to make the inputs and read the outputs, beyond the names, shapes and vocabulary.
    conventions: str = ""
    # How much of its main figure (measure()'s first) an int8 artifact may lose against
    # float32 before the export refuses to publish it; None: the task has no int8 check.
    int8_budget: "QualityBudget | None" = None
    hub_pipeline: str | None = None  # the model hubs' pipeline tag for a card's front matter

    # ------------------------------------------------------------------ training
    def loss(self):
        """The training loss: cross-entropy on the model's logits."""
        import keras

        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @abc.abstractmethod
    def prepare(self, recipe, *, seed, limit, data_dir, batch_size) -> TaskData:
        """Load the recipe's data as TaskData."""

    def training_model(self, model, data, recipe):
        """The model `fit` trains and its validation data: usually `model` itself."""
        return model, data.validation

    def callbacks(self, model, data, recipe, out_dir=None) -> list:
        return []

    def evaluate(self, model, data, recipe, *, batch_size) -> dict:
        """The test metrics of a trained Keras model: Keras's loss on the test split and the
        task metric measured through the model's artifacts."""
        loss = model.evaluate(*data.test, batch_size=batch_size, verbose=0, return_dict=True)["loss"]
        split = data.examples.split
        return {f"{split}_loss": float(loss), **self.measure(self.keras_inference(model, data, recipe), data.examples)}

    def keras_inference(self, model, data, recipe):
        """A trained Keras model as an InferenceModel, for :meth:`measure`."""
        from zoo.inference import KerasInference

        return KerasInference(self.name, artifact_models(recipe.model, model), vocab=data.vocab, classes=data.classes,
                              data_config=recipe.data, origin=f"recipe {recipe.name}")

    # ------------------------------------------------------------------ the metric
    @abc.abstractmethod
    def examples(self, data_config: dict, *, seed: int, data_dir=None, vocab=None, limit=None) -> Examples:
        """The evaluation split of `data_config` as :class:`Examples` (encoded with `vocab`)."""

    @abc.abstractmethod
    def measure(self, model, examples: Examples) -> dict:
        """The task metric of InferenceModel `model` on `examples`, keyed by the split's name."""

    def headline_of(self, metrics: dict) -> tuple[str, float]:
        """The metric `zoo list` shows: its name and value."""
        for name in self.headline:
            if name in metrics:
                return name, metrics[name]
        raise ZooError(f"no headline metric ({' or '.join(self.headline)}) among {', '.join(metrics)}")

    # ------------------------------------------------------------------ inference
    def decoding(self, data_config: dict) -> dict | None:
        """What decoding needs to know beyond the artifacts (stored in export manifests)."""
        return None

    def check_manifest(self, manifest: dict) -> None:
        """Raise ValueError where an export manifest does not fit this task."""
        missing = [a for a in self.artifacts if a not in manifest["artifacts"]]
        if missing:
            raise ValueError(f"a {self.name} export needs the artifacts {', '.join(missing)}")

    @staticmethod
    def check_vocabulary(manifest: dict) -> None:
        """A text task's manifest holds a vocabulary as large as the model's output."""
        from zoo.data.vocabulary import Vocabulary

        size = len(Vocabulary.from_json(manifest.get("vocab")))  # a one-line DataError when malformed
        classes = manifest["artifacts"]["model"]["outputs"][0]["shape"][-1]
        if classes is not None and classes != size:
            raise ValueError(f"the vocabulary has {size} symbols, the model predicts {classes}")

    def export_checks(self, keras_model, exported: dict, real_inputs) -> tuple[dict, list]:
        """Task-specific checks of an export before it is published: (report, failures),
        comparing the Keras InferenceModel with each exported engine by format, on real
        inputs of the full model (a few test examples)."""
        return {}, []

    def data(self, data_config, where: str = "data"):
        """`data_config` (a recipe's ``data`` mapping) as this task's typed :attr:`data_type`;
        an unknown or mistyped key is a one-line error naming `where`."""
        return self.data_type.parse(data_config, where)

    def data_overrides(self, recipe, **options) -> dict:
        """The recipe's data with `zoo train`'s task options (:attr:`train_options`) applied,
        through :meth:`override`; an option this task does not take is a one-line error."""
        known = [option.name for option in self.train_options]
        for name in options:
            if name not in known:
                takes = f"it takes {', '.join(known)}" if known else "it takes none"
                raise ZooError(f"{name}: not an option of recipe {recipe.name!r} (a {self.name} task); {takes}")
        given = {name: value for name, value in options.items() if value is not None}
        return self.override(dict(recipe.data), **given) if given else recipe.data

    def override(self, data: dict, **options) -> dict:
        """`data` with the given train options applied (tasks with :attr:`train_options`)."""
        return data

    def check_command(self, command: str, origin: str) -> None:
        """A one-line error unless this task answers `zoo COMMAND` (:attr:`commands`)."""
        if command not in self.commands:
            answers = ", ".join(f"zoo {c}" for c in self.commands) or "no zoo command"
            raise ZooError(f"zoo {command}: {origin} is a {self.name} model; it answers {answers}")

    def run_command(self, command: str, model, **options) -> list[str]:
        """The lines `zoo COMMAND` prints for `model`, from its task options."""
        self.check_command(command, model.origin)
        return getattr(self, f"{command}_command")(model, **options)

    # ------------------------------------------------------------------ model card
    DATA_TEXT: dict = {}  # the card's "Data and splits" text by dataset, source or generated task name

    @staticmethod
    def data_key(data_config: dict) -> str | None:
        """The name of the data a config reads: its dataset, corpus or generated task."""
        return data_config.get("dataset") or data_config.get("source") or data_config.get("task")

    def data_text(self, data_config: dict) -> str:
        """The card's "Data and splits" paragraph for `data_config`."""
        import json

        return self.DATA_TEXT.get(self.data_key(data_config), json.dumps(data_config))

    def samples(self, model, data_config: dict) -> list[dict]:
        """A few outputs of a shipped model, for its card."""
        return []

    def sample_files(self, model, data_config: dict) -> dict:
        """Files the card shows beside its samples (a picture), by file name: their bytes."""
        return {}

    def card_figures(self, model, data_config: dict, load) -> dict:
        """Figures of a shipped model that need another shipped model (`load(name, engine)`
        loads one), for its card, by name: each a dict of values."""
        return {}

    def sample_lines(self, samples: list[dict]) -> list[str]:
        """The card's Markdown lines for `samples`."""
        return [f"- {sample}" for sample in samples]

    def usage(self, name: str, samples: list[dict]) -> tuple[str, str]:
        """One Python line (on a loaded model `m`) and one CLI line that use a shipped model."""
        return "m.evaluate(limit=100)", "zoo list"


@dataclasses.dataclass(frozen=True)
class ImageData(DataConfig):
    """The data options of an image task: the dataset (zoo.data.images.DATASETS), read from
    IDX files or tfds, with `validation_size` training images held out."""

    dataset: str
    source: Literal["idx", "tfds"] = "idx"
    validation_size: int = 5000


class ImageTask(Task):
    """A task on the image datasets of zoo.data.images; `zoo train --data-source` picks IDX
    files or tfds."""

    data_type = ImageData
    train_options = (click.Option(["--data-source"], type=click.Choice(["idx", "tfds"]),
                                  help="Read the images from IDX files or tfds [default: the recipe's]."),)

    def splits(self, data_config: dict, *, seed, data_dir=None, limit=None):
        """The training, validation and test images `data_config` names (zoo.data.images)."""
        from zoo.data import images

        d = self.data(data_config)
        return images.load_image_rows(d.dataset, source=d.source, data_dir=data_dir,
                                      validation_size=d.validation_size, seed=seed, limit=limit)

    def override(self, data: dict, *, data_source=None) -> dict:
        return {**data, "source": data_source}
