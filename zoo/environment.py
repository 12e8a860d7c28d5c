"""The zoo's version, and the machine and library versions a run or a shipped model was made with."""

from __future__ import annotations

import os
import pathlib
import platform

# zoo.__version__, written into every export's metadata (pyproject.toml's version too).
VERSION = "0.2.0"


def library_versions() -> dict:
    """Versions that decide whether a run reproduces (keras and its current backend)."""
    import keras
    import numpy as np

    versions = {"python": platform.python_version(), "keras": keras.__version__, "numpy": np.__version__}
    backend = keras.backend.backend()
    versions[backend] = __import__(backend).__version__
    return versions


def machine() -> str:
    """The CPU and core count of this machine, in words."""
    model = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = "GPU" if pathlib.Path("/dev/nvidia0").exists() else "no GPU"
    return f"{model}, {os.cpu_count()} cores, {gpu}"


# Libraries whose installed version the environment report names, imported or not: Keras and
# the three backends (a run records only its own backend's).
INSTALLED = ("keras", "tensorflow", "jax", "jaxlib", "torch", "numpy")


def installed_versions() -> dict:
    """{package: version} of the :data:`INSTALLED` packages present, read without importing them."""
    from importlib import metadata

    found = {}
    for package in INSTALLED:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return found
