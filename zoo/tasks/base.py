"""What every task provides (:class:`Task`) and the data it hands to ``fit`` (:class:`TaskData`)."""

from __future__ import annotations

import abc
import dataclasses
from typing import Any

from zoo.errors import DataError


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
    classes: list | None = None  # classification: the name of each label
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


def artifact_models(family: str, model) -> dict:
    """The models an export holds and inference runs, by artifact name: the full ``model``
    and, for a generative family, its inference models (``step``, or ``encoder`` and
    ``decoder_step``), each a NamedModel."""
    from zoo.models.recurrent_state import NamedModel
    from zoo.registry import get_spec

    spec = get_spec(family)
    extra = spec.inference_models(model) if spec.inference is not None else {}
    return {"model": NamedModel(model, ["logits"]), **extra}


def limit_items(items, limit):
    """The first `limit` items (all of them when `limit` is None)."""
    return items if limit is None else items[:limit]


class Task(abc.ABC):
    """What every task provides; subclasses define prepare and evaluate, and what differs."""

    metrics: tuple = ()

    @abc.abstractmethod
    def prepare(self, recipe, *, seed, limit, data_dir, batch_size) -> TaskData:
        """Load the recipe's data as TaskData."""

    def training_model(self, model, data, recipe):
        """The model `fit` trains and its validation data: usually `model` itself."""
        return model, data.validation

    def callbacks(self, model, data, recipe, out_dir=None) -> list:
        return []

    @abc.abstractmethod
    def evaluate(self, model, data, recipe, *, batch_size) -> dict:
        """The test metrics of a trained model."""
