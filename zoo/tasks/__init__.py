"""The task registry: what a recipe trains and how its trained model is used.

A task is one module in ``zoo/tasks/`` (found by name, no list to edit), or in a plugin
(:mod:`zoo.plugins`), whose :class:`~zoo.tasks.base.Task` subclass is decorated with
:func:`register_task`. The task owns
everything that depends on what the model does: its data pipeline, loss and metrics, the
inference artifacts an export holds, its metric (computed once, over named artifacts, for
training evaluation, ``evaluate``, export verification and ``zoo ship``), its headline
figure and check slice, its Python API and CLI commands, and its model-card text. Nothing
outside this package branches on a task's name (``tests/test_layout.py`` checks it).

Task modules import neither keras nor the training datasets at import time, so exports run
through them without Keras.
"""

from __future__ import annotations

import importlib
import pkgutil

from zoo.errors import ZooError
from zoo.plugins import load_plugins

_TASKS: dict = {}
# Modules of this package that are not tasks.
_HELPERS = {"base", "datasets", "callbacks", "options"}


def register_task(name: str):
    """Class decorator: register a Task subclass under `name` (one instance serves every run)."""

    def decorate(cls):
        if name in _TASKS and type(_TASKS[name]) is not cls:
            raise ValueError(f"task {name!r} is already registered")
        cls.name = name
        _TASKS[name] = cls()
        return cls

    return decorate


_loaded = False


def _load_tasks() -> None:
    global _loaded
    if not _loaded:
        for module in pkgutil.iter_modules(__path__):
            if module.name not in _HELPERS:
                importlib.import_module(f"{__name__}.{module.name}")
        _loaded = True
    load_plugins()  # a plugin named in $ZOO_PLUGINS after the first lookup loads at the next


def list_tasks() -> list[str]:
    """Names of the registered tasks, sorted."""
    _load_tasks()
    return sorted(_TASKS)


def get_task(name: str):
    """The registered Task `name`; an unknown name lists the known ones."""
    _load_tasks()
    if name not in _TASKS:
        raise ZooError(f"unknown task {name!r}; known tasks: {', '.join(sorted(_TASKS))}")
    return _TASKS[name]


def api_methods() -> dict[str, str]:
    """Every task's Python API method names, mapped to the tasks that have it ("a or b")."""
    _load_tasks()
    owners: dict[str, list[str]] = {}
    for task in sorted(_TASKS.values(), key=lambda t: t.name):
        for method in task.api:
            owners.setdefault(method, []).append(task.name)
    return {method: " or ".join(names) for method, names in owners.items()}


__all__ = ["api_methods", "get_task", "list_tasks", "register_task"]
