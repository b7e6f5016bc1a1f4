"""The option checks of ``funkrs._checks`` and the public entry points that use them."""

from __future__ import annotations

import doctest
import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from funkrs import _checks
from funkrs._checks import (
    INT64_MAX,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_random_state,
    show_value,
)
from funkrs.exceptions import FunkrsError, InvalidParameterError

INT_TYPES = [
    int,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.intp,
    np.longlong,
    np.ulonglong,
]
FLOAT_TYPES = [float, np.float16, np.float32, np.float64, np.longdouble]
NOT_FINITE = [math.nan, math.inf, -math.inf, np.float32("nan"), np.float64("-inf")]
BOOLS = [True, False, np.True_, np.False_]


def _check_error(exc: BaseException, name: str, value: Any) -> None:
    assert isinstance(exc, InvalidParameterError)
    assert isinstance(exc, ValueError)
    assert isinstance(exc, FunkrsError)
    text = str(exc)
    assert text.startswith(f"{name} must be "), text
    assert f"got {show_value(value)}" in text, text


def test_the_docstring_examples_hold() -> None:
    result = doctest.testmod(_checks, raise_on_error=False)
    assert result.attempted > 0
    assert result.failed == 0


# -- check_int -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", INT_TYPES)
def test_check_int_takes_every_integer_width_and_returns_a_plain_int(kind: type) -> None:
    got = check_int("n_factors", kind(7), minimum=1)
    assert got == 7
    assert type(got) is int
    assert check_int("n", kind(0), minimum=0, maximum=0) == 0


def test_check_int_takes_the_extremes_of_each_width() -> None:
    for kind in INT_TYPES[1:]:
        info = np.iinfo(kind)
        assert check_int("n", kind(info.max)) == int(info.max)
        assert check_int("n", kind(info.min)) == int(info.min)


@pytest.mark.parametrize(
    "bad",
    [
        *BOOLS,
        3.0,
        np.float64(3.0),
        np.float32(2.0),
        2.5,
        "3",
        b"3",
        None,
        3 + 0j,
        Fraction(3, 1),
        [3],
        np.array(3),
        np.array([3]),
        *NOT_FINITE,
    ],
)
def test_check_int_rejects_what_is_not_an_integer(bad: Any) -> None:
    with pytest.raises(InvalidParameterError) as info:
        check_int("n_factors", bad, minimum=1)
    _check_error(info.value, "n_factors", bad)
    assert "a positive integer" in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "bad", "accepted"),
    [
        ({"minimum": 1}, 0, "a positive integer"),
        ({"minimum": 0}, -1, "a non-negative integer"),
        ({"minimum": 2}, np.int64(1), "an integer >= 2"),
        ({"maximum": 5}, np.uint8(6), "an integer <= 5"),
        ({"minimum": 0, "maximum": 3}, 4, "an integer in [0, 3]"),
        ({"minimum": 0, "maximum": 3}, np.int16(-1), "an integer in [0, 3]"),
        ({"minimum": 1, "maximum": INT64_MAX}, 2**63, f"an integer in [1, {INT64_MAX}]"),
        ({"minimum": 1, "allow_none": True}, 0, "a positive integer or None"),
    ],
)
def test_check_int_rejects_out_of_range_values_saying_what_is_accepted(
    kwargs: dict[str, Any], bad: Any, accepted: str
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        check_int("k", bad, **kwargs)
    _check_error(info.value, "k", bad)
    assert f"k must be {accepted}, got" in str(info.value)


def test_check_int_none() -> None:
    assert check_int("n_blocks", None, minimum=1, allow_none=True) is None
    with pytest.raises(InvalidParameterError, match=r"n_blocks must be .*, got None \(NoneType\)"):
        check_int("n_blocks", None, minimum=1)


def test_check_int_message_matches_the_documented_form() -> None:
    with pytest.raises(InvalidParameterError) as info:
        check_int("n_factors", 2.5, minimum=1)
    assert str(info.value) == "n_factors must be a positive integer, got 2.5 (float)"


# -- check_float ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", FLOAT_TYPES + INT_TYPES)
def test_check_float_takes_every_float_and_integer_width(kind: type) -> None:
    got = check_float("lr", kind(2), minimum=0, exclusive_minimum=True)
    assert got == 2.0
    assert type(got) is float


def test_check_float_takes_fractions_and_returns_plain_floats() -> None:
    got = check_float("reg", Fraction(1, 4), minimum=0)
    assert got == 0.25
    assert type(got) is float
    assert type(check_float("x", np.float32(0.5))) is float


@pytest.mark.parametrize(
    "bad", [*BOOLS, *NOT_FINITE, "0.5", None, 1j, [0.5], np.array([0.5]), 10**400, -(10**400)]
)
def test_check_float_rejects_non_numbers_and_non_finite_values(bad: Any) -> None:
    with pytest.raises(InvalidParameterError) as info:
        check_float("reg", bad)
    _check_error(info.value, "reg", bad)
    assert "a finite number" in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "bad", "accepted"),
    [
        ({"minimum": 0}, -0.1, "a finite number >= 0"),
        ({"minimum": 0, "exclusive_minimum": True}, 0.0, "a finite number > 0"),
        ({"minimum": 0, "exclusive_minimum": True}, np.int32(0), "a finite number > 0"),
        ({"maximum": 1}, 1.5, "a finite number <= 1"),
        ({"maximum": 1, "exclusive_maximum": True}, 1, "a finite number < 1"),
        (
            {"minimum": 0, "maximum": 1, "exclusive_minimum": True, "exclusive_maximum": True},
            np.float32(1.0),
            "a finite number in (0, 1)",
        ),
        (
            {"minimum": 0, "maximum": 1, "exclusive_minimum": True},
            0.0,
            "a finite number in (0, 1]",
        ),
        ({"minimum": 1e-8}, 0.0, "a finite number >= 1e-8"),
        ({"minimum": 0, "allow_none": True}, -1.0, "a finite number >= 0 or None"),
    ],
)
def test_check_float_rejects_out_of_range_values_saying_what_is_accepted(
    kwargs: dict[str, Any], bad: Any, accepted: str
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        check_float("x", bad, **kwargs)
    _check_error(info.value, "x", bad)
    assert f"x must be {accepted}, got" in str(info.value)


def test_check_float_bounds_are_inclusive_by_default() -> None:
    assert check_float("x", 0, minimum=0, maximum=1) == 0.0
    assert check_float("x", np.float16(1), minimum=0, maximum=1) == 1.0
    assert check_float("x", -5.5) == -5.5
    assert check_float("x", None, allow_none=True) is None


# -- check_bool, check_choice, check_random_state ------------------------------------------
@pytest.mark.parametrize("value", BOOLS)
def test_check_bool_takes_python_and_numpy_bools(value: Any) -> None:
    got = check_bool("shuffle", value)
    assert got is bool(value)


@pytest.mark.parametrize("bad", [0, 1, np.int64(1), 1.0, "True", "false", None, [True]])
def test_check_bool_rejects_everything_else(bad: Any) -> None:
    with pytest.raises(InvalidParameterError) as info:
        check_bool("shuffle", bad)
    _check_error(info.value, "shuffle", bad)
    assert "True or False" in str(info.value)


def test_check_choice() -> None:
    fills = ("item", "user", "global", "zero")
    got = check_choice("fill", np.str_("user"), fills)
    assert got == "user"
    assert type(got) is str
    assert check_choice("fill", None, fills, allow_none=True) is None
    for bad in ("Item", "zeros", "", None, 1, ["item"], b"item"):
        with pytest.raises(InvalidParameterError) as info:
            check_choice("fill", bad, fills)
        _check_error(info.value, "fill", bad)
        assert "'item', 'user', 'global' or 'zero'" in str(info.value)
    with pytest.raises(InvalidParameterError, match="path must be 'dense' or 'implicit', got"):
        check_choice("path", "auto", ("dense", "implicit"))
    with pytest.raises(InvalidParameterError, match=r"one of None, 'item', .*'zero', got 'z'"):
        check_choice("fill", "z", fills, allow_none=True)


def test_check_random_state() -> None:
    rng = np.random.default_rng(0)
    assert check_random_state("random_state", rng) is rng
    assert check_random_state("random_state", None) is None
    for kind in INT_TYPES:
        got = check_random_state("random_state", kind(3))
        assert got == 3
        assert type(got) is int
    for bad in (-1, np.int8(-1), 1.0, True, "0", np.random.RandomState(0)):
        with pytest.raises(InvalidParameterError) as info:
            check_random_state("random_state", bad)
        _check_error(info.value, "random_state", bad)


def test_show_value() -> None:
    assert show_value(2.5) == "2.5 (float)"
    assert show_value("a") == "'a' (str)"
    assert show_value(np.int32(3)) == "3 (numpy.int32)"
    assert show_value(np.True_) == f"True (numpy.{type(np.True_).__name__})"
    long = show_value("x" * 500)
    assert len(long) < 100
    assert long.endswith("... (str)")
    assert show_value(10**5000) == "<int object> (int)"
