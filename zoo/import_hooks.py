"""Running code around a library's first import, without importing it now.

The zoo must not import its heavy libraries up front (``import zoo`` and the keras-free
commands stay fast), yet two things must happen exactly when one is first imported, by
whoever imports it: TensorFlow's start-up lines are held back while it loads
(:mod:`zoo.compat.library_logs`), and the families' Keras layers are registered once Keras has loaded
(:mod:`zoo.registry`). :func:`around_first_import` serves both.
"""

from __future__ import annotations

import importlib.abc
import sys
from typing import Callable

# (exec_module, module) -> None: runs the library's own loader (exec_module(module)), with
# whatever the hook does before, around or after it.
Wrapper = Callable[[Callable, object], None]


class _WrappedLoader(importlib.abc.Loader):
    def __init__(self, loader, finder: "_FirstImportFinder"):
        self.loader, self.finder = loader, finder

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.loader  # the module keeps its own loader
        sys.meta_path[:] = [finder for finder in sys.meta_path if finder is not self.finder]  # once
        self.finder.wrapper(self.loader.exec_module, module)


class _FirstImportFinder(importlib.abc.MetaPathFinder):
    """Finds `name` with the other finders and wraps its loader; it leaves ``sys.meta_path``
    when the module is loaded, not when it is first looked up: a probe such as
    ``importlib.util.find_spec("tensorflow")`` (libraries check what is installed) loads
    nothing, and the import that follows must still be wrapped."""

    def __init__(self, name: str, wrapper: Wrapper):
        self.name, self.wrapper = name, wrapper

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _WrappedLoader(spec.loader, self)
                return spec
        return None


def around_first_import(name: str, wrapper: Wrapper) -> None:
    """Run the first import of top-level module `name` through `wrapper`; nothing happens now.
    Installing the same wrapper twice installs it once."""
    if not pending(name, wrapper):
        sys.meta_path.insert(0, _FirstImportFinder(name, wrapper))


def pending(name: str, wrapper: Wrapper) -> bool:
    """Whether `wrapper` is installed for `name`'s first import, which has not happened yet."""
    return any(isinstance(f, _FirstImportFinder) and (f.name, f.wrapper) == (name, wrapper) for f in sys.meta_path)


def initializing(prefix: str) -> bool:
    """Whether a module named `prefix` or below it is being imported right now (its code has
    not finished running): importing its siblings then may meet it half-made."""
    return any((module_name == prefix or module_name.startswith(prefix + "."))
               and getattr(getattr(module, "__spec__", None), "_initializing", False)
               for module_name, module in list(sys.modules.items()))
