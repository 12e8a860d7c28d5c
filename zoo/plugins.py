"""Tasks and model families from outside the package: modules that register themselves
(``@register_task``, ``@register_model``) when imported, found in two places:

- ``$ZOO_PLUGINS``: paths of ``.py`` files or module names, separated by ``os.pathsep``;
- the entry points of the group ``keras_rnn_zoo.plugins`` of installed distributions
  (``[project.entry-points."keras_rnn_zoo.plugins"] my_task = "my_package.my_task"``).

Each is imported once, before the task or family registry is first read, so a plugin's task
trains, exports, ships and answers its commands through ``zoo`` like the zoo's own.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import os
import pathlib
import sys

from zoo.errors import ZooError

PLUGINS_ENV = "ZOO_PLUGINS"
ENTRY_POINTS = "keras_rnn_zoo.plugins"
_loaded: set[str] = set()


def plugin_refs() -> list[str]:
    """The plugins to load: ``$ZOO_PLUGINS``'s, then the installed entry points' modules."""
    given = [ref for ref in os.environ.get(PLUGINS_ENV, "").split(os.pathsep) if ref]
    return given + list(_installed())


@functools.cache
def _installed() -> tuple[str, ...]:
    # Read once per process: scanning every installed distribution's metadata takes milliseconds,
    # and the registries ask on every lookup.
    return tuple(entry.value for entry in importlib.metadata.entry_points(group=ENTRY_POINTS))


def load_plugins() -> None:
    """Import every plugin not imported yet; a plugin that fails to import is a one-line
    error naming it."""
    for ref in plugin_refs():
        if ref in _loaded:
            continue
        _loaded.add(ref)  # first: a plugin that reads a registry while importing must not recurse
        try:
            if ref.endswith(".py"):
                _import_file(pathlib.Path(ref))
            else:
                importlib.import_module(ref)
        except ZooError as error:
            raise ZooError(f"{PLUGINS_ENV}: {ref}: {error}") from None
        except Exception as error:  # the user's code: any failure is reported as the plugin's
            raise ZooError(f"{PLUGINS_ENV}: {ref}: {type(error).__name__}: {error}") from None


def _import_file(path: pathlib.Path) -> None:
    if not path.is_file():
        raise ZooError("no such file")
    name = f"zoo_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path.resolve())
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it: dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
