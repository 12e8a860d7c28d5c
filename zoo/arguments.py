"""Checks of the numbers a user passes (command options, Python API arguments): a one-line
ZooError naming the argument and what was expected. Below the tasks and the inference
models, which both check their arguments with them."""

from __future__ import annotations

import math

import numpy as np

from zoo.errors import ZooError


def whole_number(name: str, value, *, minimum: int, maximum: int | None = None, optional: bool = False):
    """`value` checked as a whole number in [minimum, maximum] (None allowed when optional)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum \
            or maximum is not None and value > maximum:
        bound = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        raise ZooError(f"{name} {value!r}: expected a whole number {bound}")
    return int(value)


def finite_number(name: str, value, *, minimum: float, maximum: float | None = None, above: bool = False,
                  optional: bool = False):
    """`value` checked as a finite number >= minimum (> with `above`) and <= maximum."""
    if value is None and optional:
        return None
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating)) \
        and math.isfinite(value) and (value > minimum if above else value >= minimum) \
        and (maximum is None or value <= maximum)
    if not ok:
        low = f"{'>' if above else '>='} {minimum:g}"
        raise ZooError(f"{name} {value!r}: expected a finite number {low}"
                       + ("" if maximum is None else f" and <= {maximum:g}"))
    return float(value)
