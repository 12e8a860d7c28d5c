"""Recipes: a model preset plus data, optimizer and training settings, declared in a file
``<name>.py`` as ``RECIPE = Recipe(...)``; a recipe's name is its file's stem.

The zoo's own recipes are in ``recipes/``. It is not a top-level Python package (a package
named ``recipes`` would collide with any other project's): a wheel ships it inside this
package as ``zoo/recipes``, a checkout keeps it beside ``zoo/``, and recipes are loaded from
there by file path. A user's recipe is any other file, given by its path
(``zoo train path/to/my_recipe.py``), or found by name in the folders of ``$ZOO_RECIPES_PATH``.
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
# Training precisions (Keras dtype policies), "auto" choosing one per machine (zoo.distribute.precision).
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
PRECISION_CHOICES = ("auto", *PRECISIONS)
DISTRIBUTE_MODES = ("none", "data-parallel")  # zoo.distribute.devices
# The largest count (epochs, batch size, examples) a run takes: the engines hold them in 32-bit
# integers, and a larger one used to fail inside Keras after the run folder was made.
MAX_COUNT = 2**31 - 1


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Everything `zoo train` needs; a recipe states only what differs from these defaults.

    Attributes:
        name: the recipe's name: its file's stem, set when the file is loaded.
        model: registry name of the model family.
        task: a registered task (zoo.tasks); it picks the data pipeline, metrics and callbacks.
        data: the task's data options (its ``data_type`` in zoo.tasks: unknown or mistyped
            keys are refused).
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

    model: str
    task: str
    data: dict[str, Any]
    name: str = ""
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
        from zoo.tasks import get_task

        where = f"recipe {self.name!r}" if self.name else "recipe"
        for field in ("epochs", "batch_size"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COUNT:
                raise ZooError(f"{where}: {field} {value!r}; expected a whole number in 1..{MAX_COUNT}")
        if self.schedule not in SCHEDULES:
            raise ZooError(f"{where}: schedule {self.schedule!r}; expected one of {', '.join(SCHEDULES)}")
        if self.precision not in PRECISION_CHOICES:
            raise ZooError(f"{where}: precision {self.precision!r}; expected one of {', '.join(PRECISION_CHOICES)}")
        get_task(self.task).data(self.data, where)  # an unknown or mistyped data key is refused here

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
        ``python path/NAME.py [options]`` is ``zoo train path/NAME.py [options]``: this process
        becomes that command (the command line, not an import of it)."""
        if module_name == "__main__":
            script = os.path.abspath(sys.argv[0])
            os.execv(sys.executable, [sys.executable, "-m", "zoo", "train", script, *sys.argv[1:]])


def _is_size(value: Any) -> bool:
    """Whether a model option is a size (an int, not a bool): a preset's to set."""
    return isinstance(value, int) and not isinstance(value, bool)


RECIPES_PATH_ENV = "ZOO_RECIPES_PATH"


def recipes_dir() -> pathlib.Path:
    """Where the zoo's own recipe files are: inside the installed package, or beside it in a
    checkout."""
    package = pathlib.Path(__file__).resolve().parent
    for folder in (package / "recipes", package.parent / "recipes"):
        if folder.is_dir():
            return folder
    raise ZooError(f"no recipes folder found in {package} or beside it; reinstall keras-rnn-zoo")


def recipe_files() -> dict[str, pathlib.Path]:
    """Every recipe found by name, with its file: the zoo's own, then those in the folders of
    ``$ZOO_RECIPES_PATH`` (a name found twice is a one-line error naming both files)."""
    folders = [recipes_dir()] + [pathlib.Path(p) for p in os.environ.get(RECIPES_PATH_ENV, "").split(os.pathsep) if p]
    found: dict[str, pathlib.Path] = {}
    for folder in folders:
        if not folder.is_dir():
            raise ZooError(f"{RECIPES_PATH_ENV}: {folder} is not a folder")
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith("_"):
                continue
            if path.stem in found and found[path.stem] != path.resolve():
                raise ZooError(f"recipe {path.stem!r} is defined twice: {found[path.stem]} and {path}")
            found[path.stem] = path.resolve()
    return dict(sorted(found.items()))


def list_recipes() -> list[str]:
    """Names of the recipes found by name (:func:`recipe_files`)."""
    return list(recipe_files())


def _is_recipe_path(ref) -> bool:
    """Whether `ref` names a recipe file (a path ending in .py) rather than a recipe's name."""
    return isinstance(ref, pathlib.Path) or str(ref).endswith(".py")


def load_recipe(ref) -> Recipe:
    """The RECIPE of a recipe file: a recipe's name (:func:`list_recipes`; an unknown name
    lists the known ones) or the path of a ``.py`` file anywhere. Its name is the file's stem."""
    if _is_recipe_path(ref):
        path = pathlib.Path(ref).resolve()
        if not path.is_file():
            raise ZooError(f"recipe file {ref}: not found")
    else:
        files = recipe_files()
        if ref not in files:
            raise ZooError(f"unknown recipe {ref!r}; known recipes: {', '.join(files)}")
        path = files[ref]
    # One module per file (two files may share a stem), read once per process.
    module_name = f"zoo_recipe_{path.stem}_{abs(hash(str(path))):x}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except ZooError as error:
            # The recipe was not named yet: its checks said "recipe: ..."; name it here.
            raise ZooError(f"recipe {path.stem!r} ({path}): {str(error).removeprefix('recipe: ')}") from None
        except Exception as error:  # a user's file: any error in it is reported as the file's
            raise ZooError(f"recipe file {path}: {type(error).__name__}: {error}") from None
        if not isinstance(getattr(module, "RECIPE", None), Recipe):
            raise ZooError(f"recipe file {path}: expected RECIPE = Recipe(...) in it")
        sys.modules[module_name] = module
    # Named by its file, also when made from another recipe (``load_recipe(...).replace(...)``).
    return dataclasses.replace(sys.modules[module_name].RECIPE, name=path.stem)
