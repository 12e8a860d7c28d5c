"""Recipes: a model preset plus data, optimizer and training settings, declared in
``recipes/<name>.py`` as ``RECIPE = Recipe(...)``."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Any

from zoo.errors import ZooError

TASKS = ("classification", "language_model", "seq2seq")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Everything `zoo train` needs; a recipe states only what differs from these defaults.

    Attributes:
        name: the recipe's name (its module name in ``recipes/``).
        model: registry name of the model family.
        task: one of TASKS; it picks the data pipeline, metrics and task callbacks.
        data: options of the task's data source (see zoo.tasks).
        preset: the model preset; ``model_options`` are overrides on top of it.
        clipnorm: gradient clipping by global norm (the language models use it).
        monitor, monitor_mode: the validation metric for checkpointing and early stopping.
    """

    name: str
    model: str
    task: str
    data: dict[str, Any]
    preset: str = "default"
    model_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 1e-3
    clipnorm: float | None = None
    monitor: str = "val_loss"
    monitor_mode: str = "min"
    early_stopping_patience: int = 5
    reduce_lr_patience: int = 2
    reduce_lr_factor: float = 0.5
    description: str = ""

    def __post_init__(self):
        if self.task not in TASKS:
            raise ZooError(f"recipe {self.name!r}: task must be one of {', '.join(TASKS)}, got {self.task!r}")

    def replace(self, **changes: Any) -> "Recipe":
        """A copy with the non-None `changes` applied (CLI options left unset change nothing)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def list_recipes() -> list[str]:
    """Names of the recipes in the ``recipes`` package."""
    import recipes

    return sorted(m.name for m in pkgutil.iter_modules(recipes.__path__) if not m.name.startswith("_"))


def load_recipe(name: str) -> Recipe:
    """The RECIPE of ``recipes/<name>.py``; an unknown name lists the known ones."""
    known = list_recipes()
    if name not in known:
        raise ZooError(f"unknown recipe {name!r}; known recipes: {', '.join(known)}")
    return importlib.import_module(f"recipes.{name}").RECIPE
