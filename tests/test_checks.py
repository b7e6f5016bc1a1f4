"""The option checks of ``funkrs._checks`` and the public entry points that use them."""

from __future__ import annotations

import doctest
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

import funkrs
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
from funkrs.exceptions import FunkrsError, InvalidParameterError, ShapeError
from funkrs.model_selection import GridSearch, KFold, cross_validate
from funkrs.ranking import ranking_metrics
from funkrs.solvers._reference import Baseline
from funkrs.solvers._sgd import FunkSGD
from funkrs.solvers._svd import ExactSVD, ImputedSVD

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


# -- the public entry points ---------------------------------------------------------------
@pytest.fixture(scope="module")
def ratings() -> funkrs.Ratings:
    return funkrs.datasets.synthetic(60, 40, 1200, random_state=0)


@pytest.fixture(scope="module")
def fitted(ratings: funkrs.Ratings) -> funkrs.MatrixFactorization:
    return funkrs.MatrixFactorization(n_factors=4, n_epochs=3, random_state=0).fit(ratings)


def _grid_search(ratings: funkrs.Ratings, **kwargs: Any) -> Any:
    model = funkrs.MatrixFactorization(n_factors=2, n_epochs=1, random_state=0)
    return GridSearch(model, {"n_factors": [2]}, **{"cv": 2, **kwargs}).fit(ratings)


def _cross_validate(ratings: funkrs.Ratings, **kwargs: Any) -> Any:
    model = funkrs.MatrixFactorization(n_factors=2, n_epochs=1, random_state=0)
    return cross_validate(model, ratings, **{"cv": 2, **kwargs})


def _synthetic(**kwargs: Any) -> funkrs.Ratings:
    return funkrs.datasets.synthetic(**{"n_users": 30, "n_items": 20, "n_ratings": 200, **kwargs})


_A = np.arange(12.0).reshape(4, 3)


def _shown(value: Any) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


@dataclass(frozen=True)
class Part:
    """A bad value and the part of the error message that shows it."""

    value: Any
    shows: str


#: (entry point, option): a call taking the option's value as its one argument.
ENTRY_POINTS: dict[tuple[str, str], Callable[[Any, Any, Any], Any]] = {
    ("FunkSGD", "schedule"): lambda v, r, m: FunkSGD(schedule=v),
    ("FunkSGD", "objective"): lambda v, r, m: FunkSGD(objective=v),
    ("FunkSGD", "patience"): lambda v, r, m: FunkSGD(patience=v),
    ("FunkSGD", "n_blocks"): lambda v, r, m: FunkSGD(n_blocks=v),
    ("FunkSGD", "n_iter_no_change"): lambda v, r, m: FunkSGD(n_iter_no_change=v),
    ("FunkSGD", "validation_fraction"): lambda v, r, m: FunkSGD(validation_fraction=v),
    ("FunkSGD", "early_stopping"): lambda v, r, m: FunkSGD(early_stopping=v),
    ("FunkSGD", "standardize"): lambda v, r, m: FunkSGD(standardize=v),
    ("FunkSGD", "reshuffle"): lambda v, r, m: FunkSGD(reshuffle=v),
    ("FunkSGD", "negatives"): lambda v, r, m: FunkSGD(negatives=v),
    ("FunkSGD", "negative_target"): lambda v, r, m: FunkSGD(negative_target=v),
    ("FunkSGD", "init_mean"): lambda v, r, m: FunkSGD(init_mean=v),
    ("FunkSGD", "lr_decay"): lambda v, r, m: FunkSGD(lr_decay=v),
    ("FunkSGD", "min_delta"): lambda v, r, m: FunkSGD(min_delta=v),
    ("ExactSVD", "fill"): lambda v, r, m: ExactSVD(fill=v),
    ("ExactSVD", "method"): lambda v, r, m: ExactSVD(method=v),
    ("ImputedSVD", "fill"): lambda v, r, m: ImputedSVD(fill=v),
    ("ImputedSVD", "path"): lambda v, r, m: ImputedSVD(path=v),
    ("ImputedSVD", "dense_threshold"): lambda v, r, m: ImputedSVD(dense_threshold=v),
    ("ImputedSVD", "method"): lambda v, r, m: ImputedSVD(method=v),
    ("ImputedSVD", "oversample"): lambda v, r, m: ImputedSVD(oversample=v),
    ("ImputedSVD", "tol"): lambda v, r, m: ImputedSVD(tol=v),
    ("ImputedSVD", "max_iter"): lambda v, r, m: ImputedSVD(max_iter=v),
    ("ImputedSVD", "block_size"): lambda v, r, m: ImputedSVD(block_size=v),
    ("ImputedSVD", "max_basis"): lambda v, r, m: ImputedSVD(max_basis=v),
    ("Baseline", "reg_u"): lambda v, r, m: Baseline(reg_u=v),
    ("Baseline", "reg_i"): lambda v, r, m: Baseline(reg_i=v),
    ("Baseline", "n_epochs"): lambda v, r, m: Baseline(n_epochs=v),
    ("register", "overwrite"): lambda v, r, m: funkrs.solvers.register("x", overwrite=v),
    ("linalg.svd", "k"): lambda v, r, m: funkrs.linalg.svd(_A, k=v),
    ("linalg.svd", "method"): lambda v, r, m: funkrs.linalg.svd(_A, method=v),
    ("linalg.svd", "n_threads"): lambda v, r, m: funkrs.linalg.svd(_A, n_threads=v),
    ("KFold", "n_splits"): lambda v, r, m: list(KFold(v).split_indices(10)),
    ("KFold", "shuffle"): lambda v, r, m: list(KFold(3, shuffle=v).split_indices(10)),
    ("cross_validate", "cv"): lambda v, r, m: _cross_validate(r, cv=v),
    ("cross_validate", "n_jobs"): lambda v, r, m: _cross_validate(r, n_jobs=v),
    ("cross_validate", "metrics"): lambda v, r, m: _cross_validate(r, metrics=v),
    ("cross_validate", "threshold"): lambda v, r, m: _cross_validate(r, threshold=v),
    ("cross_validate", "progress"): lambda v, r, m: _cross_validate(r, progress=v),
    ("GridSearch", "param_grid"): lambda v, r, m: GridSearch(m, v, cv=2).fit(r),
    ("GridSearch", "cv"): lambda v, r, m: _grid_search(r, cv=v),
    ("GridSearch", "n_jobs"): lambda v, r, m: _grid_search(r, n_jobs=v),
    ("GridSearch", "metric"): lambda v, r, m: _grid_search(r, metric=v),
    ("GridSearch", "metrics"): lambda v, r, m: _grid_search(r, metrics=v),
    ("GridSearch", "refit"): lambda v, r, m: _grid_search(r, refit=v),
    ("GridSearch", "threshold"): lambda v, r, m: _grid_search(r, threshold=v),
    ("GridSearch", "progress"): lambda v, r, m: _grid_search(r, progress=v),
    ("synthetic", "n_users"): lambda v, r, m: _synthetic(n_users=v),
    ("synthetic", "n_items"): lambda v, r, m: _synthetic(n_items=v),
    ("synthetic", "n_ratings"): lambda v, r, m: _synthetic(n_ratings=v),
    ("synthetic", "rank"): lambda v, r, m: _synthetic(rank=v),
    ("synthetic", "noise"): lambda v, r, m: _synthetic(noise=v),
    ("synthetic", "popularity"): lambda v, r, m: _synthetic(popularity=v),
    ("synthetic", "activity"): lambda v, r, m: _synthetic(activity=v),
    ("synthetic", "selection"): lambda v, r, m: _synthetic(selection=v),
    ("synthetic", "rating_scale"): lambda v, r, m: _synthetic(rating_scale=v),
    ("synthetic", "step"): lambda v, r, m: _synthetic(step=v),
    ("evaluate", "metrics"): lambda v, r, m: funkrs.evaluate(m, r, v),
    ("ranking_metrics", "k"): lambda v, r, m: ranking_metrics(m, r, k=v),
    ("ranking_metrics", "metrics"): lambda v, r, m: ranking_metrics(m, r, metrics=v),
    ("ranking_metrics", "threshold"): lambda v, r, m: ranking_metrics(m, r, threshold=v),
    ("ranking_metrics", "exclude_seen"): lambda v, r, m: ranking_metrics(m, r, exclude_seen=v),
}

#: Bad values of each option (several per option: wrong type, NaN, out of range).
BAD: dict[tuple[str, str], list[Any]] = {
    ("FunkSGD", "schedule"): ["random", None, 1],
    ("FunkSGD", "objective"): ["pairwise", "Rating"],
    ("FunkSGD", "patience"): [0, 1.5, True, "2"],
    ("FunkSGD", "n_blocks"): [0, -1, 4.0, "4"],
    ("FunkSGD", "n_iter_no_change"): [0, None, np.float64(2.0), False],
    ("FunkSGD", "validation_fraction"): [0, 1, 1.5, math.nan, "0.1", True],
    ("FunkSGD", "early_stopping"): [1, "yes", None],
    ("FunkSGD", "standardize"): [0, "True"],
    ("FunkSGD", "reshuffle"): ["no", 1],
    ("FunkSGD", "negatives"): [-1, math.nan, math.inf, "4"],
    ("FunkSGD", "negative_target"): [math.inf, math.nan, "low"],
    ("FunkSGD", "init_mean"): [math.nan, "0", True],
    ("FunkSGD", "lr_decay"): [-0.5, math.inf, "0"],
    ("FunkSGD", "min_delta"): [-0.1, math.nan],
    ("ExactSVD", "fill"): ["zeros", "mean", 0],
    ("ExactSVD", "method"): ["lu", None],
    ("ImputedSVD", "fill"): ["zeros", None],
    ("ImputedSVD", "path"): ["sparse", None],
    ("ImputedSVD", "dense_threshold"): [-1, 2.5, "10"],
    ("ImputedSVD", "method"): ["qr"],
    ("ImputedSVD", "oversample"): [-1, 1.5, True],
    ("ImputedSVD", "tol"): [-1e-8, math.nan, "1e-8"],
    ("ImputedSVD", "max_iter"): [0, 10.0, True],
    ("ImputedSVD", "block_size"): [0, 2.5, True],
    ("ImputedSVD", "max_basis"): [-1, np.float32(40)],
    ("Baseline", "reg_u"): [-1.0, math.nan, "15", True],
    ("Baseline", "reg_i"): [-1, math.inf],
    ("Baseline", "n_epochs"): [-1, 2.5, True],
    ("register", "overwrite"): ["yes", 1, None],
    ("linalg.svd", "k"): [2.5, True, -1, 4, "1"],
    ("linalg.svd", "method"): ["qr", None],
    ("linalg.svd", "n_threads"): [0, 1.5, "2"],
    ("KFold", "n_splits"): [1, 11, 2.0, True, "3"],
    ("KFold", "shuffle"): ["yes", 1],
    ("cross_validate", "cv"): [1, "5", 2.0, None],
    ("cross_validate", "n_jobs"): [0, -2, 1.5, True],
    ("cross_validate", "metrics"): [
        "rmse",
        5,
        Part(["rsme"], "unknown metric 'rsme'"),
        Part(["ndcg@0"], "unknown metric 'ndcg@0'"),
    ],
    ("cross_validate", "threshold"): [math.nan, "4"],
    ("cross_validate", "progress"): ["yes", 1],
    ("GridSearch", "param_grid"): [
        [],
        5,
        Part({"n_factors": 4}, "got 4 (int)"),
        Part({"n_factors": []}, "'n_factors' has no values"),
        Part({1: [2]}, "got 1 (int)"),
    ],
    ("GridSearch", "cv"): [1, "3"],
    ("GridSearch", "n_jobs"): [0, "2"],
    ("GridSearch", "metric"): ["rsme", ["rmse"], None],
    ("GridSearch", "metrics"): ["rmse", Part(["mse"], "unknown metric 'mse'")],
    ("GridSearch", "refit"): ["yes", 0],
    ("GridSearch", "threshold"): [math.inf, None],
    ("GridSearch", "progress"): [1],
    ("synthetic", "n_users"): [0, 2.5, True, "30"],
    ("synthetic", "n_items"): [-1, np.float64(20)],
    ("synthetic", "n_ratings"): [0, None],
    ("synthetic", "rank"): [0, 3.0],
    ("synthetic", "noise"): [-0.1, math.nan, "0.5"],
    ("synthetic", "popularity"): [math.inf, True],
    ("synthetic", "activity"): [-1.0],
    ("synthetic", "selection"): [-0.5, "high"],
    ("synthetic", "rating_scale"): [(5.0, 1.0), 5, ("a", "b"), (1, math.inf)],
    ("synthetic", "step"): [0, -0.5, math.nan, "1", 0.7],
    ("evaluate", "metrics"): ["rmse", Part(["rsme"], "unknown metric 'rsme'")],
    ("ranking_metrics", "k"): [0, 2.5, True, "10"],
    ("ranking_metrics", "metrics"): [["ndcg@10"], "ndcg"],
    ("ranking_metrics", "threshold"): [math.nan, "4", True],
    ("ranking_metrics", "exclude_seen"): ["yes", 1],
}

CASES = [
    (key, bad if isinstance(bad, Part) else Part(bad, _shown(bad)[:40]))
    for key, values in BAD.items()
    for bad in values
]


def test_every_entry_point_has_bad_values() -> None:
    assert set(BAD) == set(ENTRY_POINTS)


@pytest.mark.parametrize(
    ("key", "bad"), CASES, ids=[f"{k[0]}-{k[1]}-{b.value!r}" for k, b in CASES]
)
def test_a_bad_option_is_an_invalid_parameter_error_naming_it(
    key: tuple[str, str], bad: Part, ratings: funkrs.Ratings, fitted: Any
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        ENTRY_POINTS[key](bad.value, ratings, fitted)
    message = str(info.value)
    assert key[1] in message, message
    assert bad.shows in message, message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("kind", [np.int64, np.int32, np.uint16])
def test_numpy_integers_are_taken_where_ints_are(
    kind: type, ratings: funkrs.Ratings, fitted: Any
) -> None:
    sgd = FunkSGD(patience=kind(2), n_blocks=kind(3), n_iter_no_change=kind(4))
    assert (sgd.patience, sgd.n_blocks, sgd.n_iter_no_change) == (2, 3, 4)
    assert type(sgd.n_blocks) is int
    svd = ImputedSVD(
        dense_threshold=kind(7),
        oversample=kind(5),
        max_iter=kind(9),
        block_size=kind(4),
        max_basis=kind(50),
    )
    assert (svd.dense_threshold, svd.oversample, svd.max_iter) == (7, 5, 9)
    assert (svd.block_size, svd.max_basis) == (4, 50)
    assert Baseline(n_epochs=kind(3), reg_u=kind(2)).n_epochs == 3
    u, s, vt = funkrs.linalg.svd(_A, k=kind(2), n_threads=kind(1))
    assert u.shape == (4, 2)
    assert s.shape == (2,)
    assert vt.shape == (2, 3)
    folds = list(KFold(kind(3), shuffle=False).split_indices(10))
    assert [len(test) for _, test in folds] == [4, 3, 3]
    data = funkrs.datasets.synthetic(
        kind(30), kind(20), kind(300), rank=kind(2), rating_scale=(kind(1), kind(5)), step=kind(1)
    )
    assert data.n_users <= 30
    assert data.n_items <= 20
    scores = ranking_metrics(fitted, ratings, k=kind(5), metrics=["precision"])
    assert list(scores) == ["precision@5"]
    cv = _cross_validate(ratings, cv=kind(2), n_jobs=kind(1))
    assert cv.height == 2


def test_numpy_floats_and_bools_are_taken_where_floats_and_bools_are() -> None:
    sgd = FunkSGD(
        validation_fraction=np.float32(0.25),
        negatives=np.float16(2),
        early_stopping=np.True_,
        standardize=np.False_,
        lr_decay=np.int64(1),
    )
    assert sgd.validation_fraction == 0.25
    assert type(sgd.validation_fraction) is float
    assert sgd.early_stopping is True
    assert sgd.standardize is False
    assert sgd.lr_decay == 1.0
    assert ImputedSVD(tol=np.float32(1e-4)).tol == pytest.approx(1e-4)
    assert Baseline(reg_i=np.float64(3.5)).reg_i == 3.5


def test_defaults_come_from_the_core() -> None:
    from funkrs._funkrs import IMPUTED_SVD_DEFAULTS, SGD_DEFAULTS

    svd = ImputedSVD()
    assert svd.oversample == IMPUTED_SVD_DEFAULTS.oversample
    assert svd.tol == IMPUTED_SVD_DEFAULTS.tol
    assert svd.max_iter == IMPUTED_SVD_DEFAULTS.max_iter
    doc = ImputedSVD.__doc__ or ""
    assert "%(" not in doc
    assert f"default {IMPUTED_SVD_DEFAULTS.max_iter}" in doc
    assert FunkSGD().standardize is SGD_DEFAULTS.standardize
    params = funkrs.solvers.FitParams()
    assert (params.n_factors, params.n_epochs) == (SGD_DEFAULTS.n_factors, SGD_DEFAULTS.n_epochs)
    assert (params.lr, params.reg, params.init_std) == (
        SGD_DEFAULTS.lr,
        SGD_DEFAULTS.reg,
        SGD_DEFAULTS.init_std,
    )


WRONG_KIND: dict[str, Callable[[Any, Any], Any]] = {
    "svd-complex": lambda frame, m: funkrs.linalg.svd(np.ones((2, 2), complex)),
    "svd-strings": lambda frame, m: funkrs.linalg.svd(np.array([["a", "b"]])),
    "KFold.split": lambda frame, m: next(KFold(2).split(frame)),
    "evaluate": lambda frame, m: funkrs.evaluate(m, frame),
    "ranking_metrics": lambda frame, m: ranking_metrics(m, frame),
}


@pytest.mark.parametrize("name", list(WRONG_KIND))
def test_a_wrong_kind_of_argument_is_a_funkrs_error_and_still_a_type_error(
    name: str, ratings: funkrs.Ratings, fitted: Any
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        WRONG_KIND[name](ratings.to_frame(), fitted)
    assert isinstance(info.value, TypeError)


def test_a_vector_is_not_a_matrix() -> None:
    with pytest.raises(ShapeError, match="2-D"):
        funkrs.linalg.svd(np.ones(3))
