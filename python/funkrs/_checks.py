"""Checks of option values, shared by every public entry point.

Each ``check_*`` function returns the value as a plain Python object (``int``, ``float``,
``bool`` or ``str``) or raises :class:`~funkrs.exceptions.InvalidParameterError` naming the
option, the value given (with its type) and what is accepted, for example::

    n_factors must be a positive integer, got 2.5 (float)

The rules are the same everywhere:

- an integer is a Python ``int`` or a numpy integer of any width, signed or unsigned; ``bool``
  and ``numpy.bool_`` are not integers here, and neither is a float with an integral value
  (``3.0``) or a string;
- a number is an integer as above, a Python ``float`` or a numpy float; it must be finite
  (NaN and infinities are rejected);
- a flag is ``True``, ``False`` or a ``numpy.bool_``, never ``0``/``1`` or a string;
- a choice is one of a fixed set of strings.

This module is a leaf: it imports nothing from funkrs but :mod:`funkrs.exceptions`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Literal, TypeGuard, overload

import numpy as np

from funkrs.exceptions import InvalidParameterError

__all__ = [
    "INT64_MAX",
    "check_bool",
    "check_choice",
    "check_float",
    "check_int",
    "check_random_state",
    "is_integer",
    "is_real",
    "show_value",
]

#: Largest value of a signed 64-bit integer, the widest integer the Rust core takes.
INT64_MAX = 2**63 - 1

_MAX_SHOWN = 80


def show_value(value: object) -> str:
    """``repr`` of ``value`` followed by its type, for error messages: ``2.5 (float)``.

    Numpy scalars show their Python value and their numpy type (``3 (numpy.int32)``);
    a representation longer than 80 characters is cut with ``...``.
    """
    kind = type(value).__name__
    shown = value
    if isinstance(value, np.generic):
        kind, shown = f"numpy.{kind}", value.item()
    try:
        text = repr(shown)
    except Exception:  # an int over the str-conversion digit limit, a broken __repr__
        text = f"<{kind} object>"
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 3] + "..."
    return f"{text} ({kind})"


def is_integer(value: object) -> TypeGuard[numbers.Integral]:
    """Whether ``value`` is a Python or numpy integer (``bool`` and ``numpy.bool_`` are not)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def is_real(value: object) -> TypeGuard[numbers.Real]:
    """Whether ``value`` is an integer (see :func:`is_integer`) or a Python or numpy float."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _fmt(bound: float) -> str:
    """A bound as written in a message: ``1``, ``0.5``, ``1e-8``."""
    if isinstance(bound, int):
        return str(bound)
    return f"{bound:g}".replace("e-0", "e-").replace("e+0", "e+")


def _or_none(accepted: str, allow_none: bool) -> str:
    return f"{accepted} or None" if allow_none else accepted


def _int_range(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"an integer in [{minimum}, {maximum}]"
    if minimum == 1:
        return "a positive integer"
    if minimum == 0:
        return "a non-negative integer"
    if minimum is not None:
        return f"an integer >= {minimum}"
    if maximum is not None:
        return f"an integer <= {maximum}"
    return "an integer"


@overload
def check_int(
    name: str,
    value: object,
    *,
    minimum: int | None = ...,
    maximum: int | None = ...,
    allow_none: Literal[False] = ...,
) -> int: ...


@overload
def check_int(
    name: str,
    value: object,
    *,
    minimum: int | None = ...,
    maximum: int | None = ...,
    allow_none: bool,
) -> int | None: ...


def check_int(
    name: str,
    value: object,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    allow_none: bool = False,
) -> int | None:
    """``value`` as a plain ``int``, checked to lie in ``[minimum, maximum]``.

    Parameters
    ----------
    name : str
        The option's name, as the caller wrote it.
    value : object
        What was given: a Python int or a numpy integer of any width.
    minimum, maximum : int, optional
        Inclusive bounds; None leaves that side open.
    allow_none : bool
        Accept ``None`` (and return it).

    Returns
    -------
    int or None

    Raises
    ------
    InvalidParameterError
        ``value`` is not an integer (a bool, a float even with an integral value, a string,
        ...) or lies outside the bounds.

    Examples
    --------
    >>> import numpy as np
    >>> check_int("n_factors", np.uint8(8), minimum=1)
    8
    >>> check_int("n_factors", 2.5, minimum=1)
    Traceback (most recent call last):
    ...
    funkrs.exceptions.InvalidParameterError: n_factors must be a positive integer, got 2.5 (float)
    """
    if value is None and allow_none:
        return None
    if is_integer(value):
        number = int(value)
        if (minimum is None or number >= minimum) and (maximum is None or number <= maximum):
            return number
    accepted = _or_none(_int_range(minimum, maximum), allow_none)
    raise InvalidParameterError(f"{name} must be {accepted}, got {show_value(value)}")


def _float_range(
    minimum: float | None,
    maximum: float | None,
    exclusive_minimum: bool,
    exclusive_maximum: bool,
) -> str:
    if minimum is not None and maximum is not None:
        left = "(" if exclusive_minimum else "["
        right = ")" if exclusive_maximum else "]"
        return f"a finite number in {left}{_fmt(minimum)}, {_fmt(maximum)}{right}"
    if minimum is not None:
        return f"a finite number {'>' if exclusive_minimum else '>='} {_fmt(minimum)}"
    if maximum is not None:
        return f"a finite number {'<' if exclusive_maximum else '<='} {_fmt(maximum)}"
    return "a finite number"


def _as_finite_float(value: object) -> float | None:
    """``float(value)`` for a finite real number, else None (an int too large is not finite)."""
    if not is_real(value):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError, TypeError):
        return None
    return number if math.isfinite(number) else None


@overload
def check_float(
    name: str,
    value: object,
    *,
    minimum: float | None = ...,
    maximum: float | None = ...,
    exclusive_minimum: bool = ...,
    exclusive_maximum: bool = ...,
    allow_none: Literal[False] = ...,
) -> float: ...


@overload
def check_float(
    name: str,
    value: object,
    *,
    minimum: float | None = ...,
    maximum: float | None = ...,
    exclusive_minimum: bool = ...,
    exclusive_maximum: bool = ...,
    allow_none: bool,
) -> float | None: ...


def check_float(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    exclusive_maximum: bool = False,
    allow_none: bool = False,
) -> float | None:
    """``value`` as a finite ``float``, checked against ``minimum`` and ``maximum``.

    Parameters
    ----------
    name : str
        The option's name, as the caller wrote it.
    value : object
        What was given: a Python or numpy integer or float.
    minimum, maximum : float, optional
        Bounds; None leaves that side open.
    exclusive_minimum, exclusive_maximum : bool
        Exclude the bound itself (``> minimum`` rather than ``>= minimum``).
    allow_none : bool
        Accept ``None`` (and return it).

    Returns
    -------
    float or None

    Raises
    ------
    InvalidParameterError
        ``value`` is not a number (a bool, a string, ...), is NaN or infinite, or lies
        outside the bounds.

    Examples
    --------
    >>> check_float("lr", 1, minimum=0, exclusive_minimum=True)
    1.0
    >>> check_float("reg", float("nan"), minimum=0)
    Traceback (most recent call last):
    ...
    funkrs.exceptions.InvalidParameterError: reg must be a finite number >= 0, got nan (float)
    """
    if value is None and allow_none:
        return None
    number = _as_finite_float(value)
    if number is not None:
        low_ok = minimum is None or (number > minimum if exclusive_minimum else number >= minimum)
        high_ok = maximum is None or (number < maximum if exclusive_maximum else number <= maximum)
        if low_ok and high_ok:
            return number
    accepted = _float_range(minimum, maximum, exclusive_minimum, exclusive_maximum)
    raise InvalidParameterError(
        f"{name} must be {_or_none(accepted, allow_none)}, got {show_value(value)}"
    )


def check_bool(name: str, value: object) -> bool:
    """``value`` as a ``bool``: only ``True``, ``False`` and ``numpy.bool_`` are accepted.

    Raises
    ------
    InvalidParameterError
        Anything else, including ``0``, ``1`` and the strings ``"True"``/``"False"``.

    Examples
    --------
    >>> check_bool("shuffle", False)
    False
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise InvalidParameterError(f"{name} must be True or False, got {show_value(value)}")


def _alternatives(options: Sequence[str]) -> str:
    if len(options) == 1:
        return options[0]
    if len(options) == 2:
        return f"{options[0]} or {options[1]}"
    return f"one of {', '.join(options[:-1])} or {options[-1]}"


@overload
def check_choice(
    name: str, value: object, choices: Sequence[str], *, allow_none: Literal[False] = ...
) -> str: ...


@overload
def check_choice(
    name: str, value: object, choices: Sequence[str], *, allow_none: bool
) -> str | None: ...


def check_choice(
    name: str, value: object, choices: Sequence[str], *, allow_none: bool = False
) -> str | None:
    """``value`` as a ``str``, checked to be one of ``choices``.

    Raises
    ------
    InvalidParameterError
        ``value`` is not one of the strings in ``choices`` (nor None, with ``allow_none``).

    Examples
    --------
    >>> check_choice("path", "dense", ("dense", "implicit"))
    'dense'
    >>> check_choice("path", "Dense", ("dense", "implicit"))
    Traceback (most recent call last):
    ...
    funkrs.exceptions.InvalidParameterError: path must be 'dense' or 'implicit', got 'Dense' (str)
    """
    if value is None and allow_none:
        return None
    if isinstance(value, str) and value in choices:
        return str(value)
    options = [*(["None"] if allow_none else []), *(repr(c) for c in choices)]
    raise InvalidParameterError(f"{name} must be {_alternatives(options)}, got {show_value(value)}")


def check_random_state(name: str, value: object) -> int | np.random.Generator | None:
    """A seed option: ``None``, an integer ``>= 0`` (returned as ``int``) or a Generator.

    Raises
    ------
    InvalidParameterError
        Anything else: a negative integer, a float, a string, a ``numpy.random.RandomState``.

    Examples
    --------
    >>> import numpy as np
    >>> check_random_state("random_state", np.int64(7))
    7
    """
    if value is None or isinstance(value, np.random.Generator):
        return value
    if is_integer(value) and int(value) >= 0:
        return int(value)
    raise InvalidParameterError(
        f"{name} must be None, an integer >= 0 or a numpy.random.Generator, got {show_value(value)}"
    )
