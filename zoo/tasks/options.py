"""What a task declares about its inputs: its data options, typed, and its commands' options.

- :class:`DataConfig`: a task's data options as a frozen dataclass (names, types, defaults).
  A recipe's ``data`` mapping is read through :meth:`DataConfig.parse`, so an unknown or
  misspelled key, or a value of the wrong type, is a one-line error when the recipe loads.
- :class:`Command`: a ``zoo`` command a task answers (``predict``, ``generate``, ...) and its
  click parameters after MODEL. ``zoo/cli.py`` builds each command from the tasks that answer
  it, so click itself refuses an option the model's task does not take.
- The few options several tasks share (``--json``, ``--temperature``, ``--seed``) are made
  here, once.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

import click

from zoo.errors import ZooError


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Base of a task's data options: subclass it as a frozen dataclass whose fields are the
    keys a recipe's ``data`` may hold (a field without a default is required)."""

    @classmethod
    def parse(cls, data, where: str = "data") -> "DataConfig":
        """`data` (a recipe's mapping) as this config; an unknown key, a missing required key
        or a value of the wrong type is a one-line error naming `where` and the key."""
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise ZooError(f"{where}: expected a mapping of data options, got {type(data).__name__}")
        fields = {field.name: field for field in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        for key in data:
            if key not in fields:
                raise ZooError(f"{where}: unknown data key {key!r}; expected {', '.join(fields) or 'none'}")
        for name, field in fields.items():
            required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
            if required and name not in data:
                raise ZooError(f"{where}: data key {name!r} is missing; expected {_describe(hints[name])}")
        return cls(**{key: _typed(value, hints[key], f"{where}: data key {key!r}") for key, value in data.items()})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _typed(value, hint, what: str):
    """`value` as type `hint` (bool, int, float, str, a Literal, a union with None, a
    ``tuple[T, ...]`` given as a list or tuple); anything else is a one-line error."""
    if not _fits(value, hint):
        raise ZooError(f"{what}: {value!r}; expected {_describe(hint)}")
    if typing.get_origin(hint) is tuple:
        return tuple(value)
    if hint is float:
        return float(value)
    return value


def _fits(value, hint) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arm) for arm in args)
    if origin is typing.Literal:
        return any(value == arm and type(value) is type(arm) for arm in args)
    if origin is tuple:
        return isinstance(value, (list, tuple)) and all(_fits(item, args[0]) for item in value)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return isinstance(value, hint)


def _describe(hint) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arm) for arm in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(arm) for arm in args)
    if origin is tuple:
        return f"a list of {_describe(args[0])}s"
    names = {bool: "true or false", int: "a whole number", float: "a finite number", str: "a string",
             type(None): "null"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


@dataclasses.dataclass(frozen=True)
class Command:
    """A ``zoo`` command a task answers: `help` says what it does for this task's models,
    `params` are its click parameters after MODEL (``click.Argument``/``click.Option``). The
    task's method ``<command>_command(model, **options)`` answers it with the lines to print."""

    help: str
    params: tuple = ()


def json_option() -> click.Option:
    return click.Option(["--json", "as_json"], is_flag=True, help="Machine-readable output.")


def temperature_option() -> click.Option:
    return click.Option(["--temperature"], type=float, default=1.0, show_default=True, help=">= 0; 0 = greedy.")


def seed_option() -> click.Option:
    return click.Option(["--seed"], type=int, help="Seed for reproducible samples (0 to 2**32 - 1).")
