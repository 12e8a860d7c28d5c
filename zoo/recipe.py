"""Recipes: a model preset plus data, optimizer and training settings, declared in
``recipes/<name>.py`` as ``RECIPE = Recipe(...)``.

The ``recipes/`` folder is not a top-level Python package (a package named ``recipes``
would collide with any other project's): a wheel ships it inside this package as
``zoo/recipes``, a checkout keeps it beside ``zoo/``, and recipes are loaded from there by
file path.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import pathlib
import sys
from typing import Any

from zoo.errors import ZooError


SCHEDULES = ("plateau", "cosine")
# The largest count (epochs, batch size, examples) a run takes: the engines hold them in 32-bit
# integers, and a larger one used to fail inside Keras after the run folder was made.
MAX_COUNT = 2**31 - 1


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Everything `zoo train` needs; a recipe states only what differs from these defaults.

    Attributes:
        name: the recipe's name (its module name in ``recipes/``).
        model: registry name of the model family.
        task: a registered task (zoo.tasks); it picks the data pipeline, metrics and callbacks.
        data: options of the task's data source (see zoo.tasks).
        preset: the model preset; ``model_options`` are overrides on top of it.
        clipnorm: gradient clipping by global norm (the language models use it).
        weight_decay: Adam's decoupled weight decay (AdamW), None for none.
        monitor, monitor_mode: the validation metric for checkpointing and early stopping.
        schedule: the learning rate over training. ``plateau``: `learning_rate` until the
            monitored metric stalls for `reduce_lr_patience` epochs, then times
            `reduce_lr_factor`. ``cosine``: a linear warm-up from 0 to `learning_rate` over
            `warmup_epochs`, then a cosine decay to 0 at the end of `epochs` (one cycle).
        precision: the training precision (zoo.distribute.precision): ``auto`` picks
            bfloat16 where it was measured to train faster, float32 elsewhere.
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
    weight_decay: float | None = None
    monitor: str = "val_loss"
    monitor_mode: str = "min"
    early_stopping_patience: int = 5
    reduce_lr_patience: int = 2
    reduce_lr_factor: float = 0.5
    schedule: str = "plateau"
    warmup_epochs: float = 0.0
    precision: str = "auto"
    description: str = ""

    def __post_init__(self):
        for field in ("epochs", "batch_size"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COUNT:
                raise ZooError(f"recipe {self.name!r}: {field} {value!r}; expected a whole number in 1..{MAX_COUNT}")
        if self.schedule not in SCHEDULES:
            raise ZooError(f"recipe {self.name!r}: schedule {self.schedule!r}; expected one of {', '.join(SCHEDULES)}")

    def replace(self, **changes: Any) -> "Recipe":
        """A copy with the non-None `changes` applied (CLI options left unset change nothing).

        Another `preset` (``tiny`` for a smoke run) takes its sizes from that preset: the
        recipe's integer model options (units, layers, widths) are dropped, and its other
        options (the model's form: ``bidirectional``, ``condition``, ``context``, dropout) are
        kept, unless `model_options` is given too.
        """
        changes = {k: v for k, v in changes.items() if v is not None}
        if changes.get("preset", self.preset) != self.preset and "model_options" not in changes:
            changes["model_options"] = {k: v for k, v in self.model_options.items() if not _is_size(v)}
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def run_if_script(self, module_name: str) -> None:
        """The last line of a recipe file, ``RECIPE.run_if_script(__name__)``: run as a script,
        ``python recipes/NAME.py [options]`` is ``zoo train NAME [options]``: this process
        becomes ``python -m zoo train NAME [options]`` (the command line, not an import of it)."""
        if module_name == "__main__":
            os.execv(sys.executable, [sys.executable, "-m", "zoo", "train", self.name, *sys.argv[1:]])


def _is_size(value: Any) -> bool:
    """Whether a model option is a size (an int, not a bool): a preset's to set."""
    return isinstance(value, int) and not isinstance(value, bool)


def recipes_dir() -> pathlib.Path:
    """Where the recipe files are: inside the installed package, or beside it in a checkout."""
    package = pathlib.Path(__file__).resolve().parent
    for folder in (package / "recipes", package.parent / "recipes"):
        if folder.is_dir():
            return folder
    raise ZooError(f"no recipes folder found in {package} or beside it; reinstall keras-rnn-zoo")


def list_recipes() -> list[str]:
    """Names of the recipes (``recipes/<name>.py``)."""
    return sorted(path.stem for path in recipes_dir().glob("*.py") if not path.name.startswith("_"))


def load_recipe(name: str) -> Recipe:
    """The RECIPE of ``recipes/<name>.py``; an unknown name lists the known ones."""
    known = list_recipes()
    if name not in known:
        raise ZooError(f"unknown recipe {name!r}; known recipes: {', '.join(known)}")
    module_name = f"zoo_recipe_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, recipes_dir() / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[module_name] = module
    return sys.modules[module_name].RECIPE
