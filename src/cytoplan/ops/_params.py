"""Checks of the operations' arguments, raising :class:`~cytoplan.exceptions.ParameterError`.

Every message names the parameter, the value given and what is allowed, in one
form: ``"<name> must be <allowed>, got <value>"`` (then, where useful, a hint).

Examples
--------
>>> check_choice("method", "mode", ("median", "mean"), where="aggregate")
Traceback (most recent call last):
...
cytoplan.exceptions.ParameterError: aggregate: method must be one of 'median', 'mean', got 'mode'
>>> check_number("freq_cut", 0.5, low=0.0, high=1.0)
0.5
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NoReturn

from cytoplan.exceptions import ParameterError

__all__ = [
    "check_choice",
    "check_integer",
    "check_number",
    "one_of",
    "reject",
]


def one_of(allowed: Sequence[str]) -> str:
    """``"one of 'a', 'b'"``: the allowed values, quoted, in order."""
    return "one of " + ", ".join(repr(value) for value in allowed)


def reject(name: str, value: object, allowed: str, *, where: str = "", hint: str = "") -> NoReturn:
    """Raise the error for ``name=value``; ``allowed`` describes what is accepted.

    ``where`` (the operation) leads the message; ``hint`` follows it.
    """
    place = f"{where}: " if where else ""
    tail = f"; {hint}" if hint else ""
    msg = f"{place}{name} must be {allowed}, got {value!r}{tail}"
    raise ParameterError(msg)


def check_choice(
    name: str,
    value: object,
    allowed: Sequence[str],
    *,
    fold_case: bool = False,
    where: str = "",
    hint: str = "",
) -> str:
    """``value`` if it is one of ``allowed`` (lower-cased first with ``fold_case``)."""
    if isinstance(value, str):
        key = value.lower() if fold_case else value
        if key in allowed:
            return key
    reject(name, value, one_of(allowed), where=where, hint=hint)


def check_number(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    allow_infinite: bool = False,
    where: str = "",
    hint: str = "",
) -> float:
    """``value`` if it is a real number (not a bool, not NaN) within ``[low, high]``.

    Infinite values are refused unless ``allow_infinite`` (they still need to be
    within the bounds).
    """
    if low is not None and high is not None:
        allowed = f"a number between {low:g} and {high:g}"
    elif low is not None:
        allowed = f"a number >= {low:g}"
    elif high is not None:
        allowed = f"a number <= {high:g}"
    else:
        allowed = "a number" if allow_infinite else "a finite number"
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or math.isnan(value)
        or (math.isinf(value) and not allow_infinite)
        or (low is not None and value < low)
        or (high is not None and value > high)
    ):
        reject(name, value, allowed, where=where, hint=hint)
    return float(value)


def check_integer(name: str, value: object, *, low: int, where: str = "", hint: str = "") -> int:
    """``value`` if it is an integer (not a bool) ``>= low``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        reject(name, value, f"an integer >= {low}", where=where, hint=hint)
    return value
