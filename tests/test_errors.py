"""The error hierarchy: every class, errors raised by the Rust core, and the option checks."""

from __future__ import annotations

import builtins
import inspect
import math
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import funkrs
from funkrs import exceptions, solvers
from funkrs._checks import show_value
from funkrs.exceptions import (
    ConvergenceError,
    FunkrsError,
    IndexOutOfRangeError,
    InvalidParameterError,
    NonFiniteError,
    OutOfMemoryError,
    ShapeError,
)

ROOT = Path(__file__).resolve().parents[1]

#: Each public error class and the built-in exceptions it also derives from, in order.
BUILTINS: dict[str, tuple[type[BaseException], ...]] = {
    "InvalidParameterError": (ValueError, TypeError),
    "ShapeError": (ValueError,),
    "NonFiniteError": (ValueError,),
    "IndexOutOfRangeError": (IndexError,),
    "OutOfMemoryError": (MemoryError,),
    "ConvergenceError": (ArithmeticError,),
    "RatingsError": (ValueError,),
    "RatingsFileNotFoundError": (FileNotFoundError,),
    "NotFittedError": (AttributeError,),
    "UnknownIdError": (LookupError,),
    "ModelFileError": (ValueError,),
    "SolverNotFoundError": (LookupError,),
}


def _public_classes() -> dict[str, type]:
    return {name: getattr(exceptions, name) for name in exceptions.__all__}


# -- (a) the classes ------------------------------------------------------------------------
def test_every_public_error_is_a_funkrs_error_and_its_builtin() -> None:
    classes = _public_classes()
    errors = {name: cls for name, cls in classes.items() if not issubclass(cls, Warning)}
    assert set(errors) == {"FunkrsError", *BUILTINS}
    assert FunkrsError.__bases__ == (Exception,)
    for name, want in BUILTINS.items():
        cls = errors[name]
        assert cls.__bases__ == (FunkrsError, *want), name
        assert issubclass(cls, FunkrsError)
        for builtin in want:
            assert issubclass(cls, builtin), (name, builtin)
        instance = cls("message")
        assert isinstance(instance, FunkrsError)
        assert str(instance) == "message"
        assert cls.__doc__, f"{name} has no docstring"


def test_builtins_named_in_docstrings_are_bases() -> None:
    # A built-in exception named in a class docstring (``ValueError``) must be one of its
    # bases; asides in parentheses (comparisons with other libraries) are not claims.
    named_any = False
    for name, cls in _public_classes().items():
        claims = re.sub(r"\([^()]*\)", "", inspect.getdoc(cls) or "")
        for word in re.findall(r"``(\w+)``", claims):
            builtin = getattr(builtins, word, None)
            if isinstance(builtin, type) and issubclass(builtin, BaseException):
                named_any = True
                assert issubclass(cls, builtin), (name, word)
    assert named_any


def test_the_readme_table_matches_the_classes() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Errors\n(.*?)(?=^## )", readme, re.M | re.S)
    assert section is not None, "README.md has no Errors section"
    rows = re.findall(r"^\| `(\w+)` \| .* \| (`\w+`(?:, `\w+`)*) \|$", section.group(1), re.M)
    table = {name: tuple(re.findall(r"`(\w+)`", also)) for name, also in rows}
    assert table == {name: tuple(b.__name__ for b in want) for name, want in BUILTINS.items()}


def test_the_warning_is_a_user_warning_not_an_error() -> None:
    assert issubclass(exceptions.PoorFitWarning, UserWarning)
    assert not issubclass(exceptions.PoorFitWarning, FunkrsError)


def test_every_exception_defined_in_the_module_is_public() -> None:
    defined = {
        name
        for name, obj in vars(exceptions).items()
        if isinstance(obj, type)
        and issubclass(obj, BaseException | Warning)
        and obj.__module__ == exceptions.__name__
    }
    assert defined == set(exceptions.__all__)


def test_the_core_raises_only_classes_that_exist() -> None:
    # The extension looks the classes up by name when it raises; a renamed class would turn
    # into an import error at the worst moment.
    source = ROOT / "rust" / "funkrs-py" / "src" / "errors.rs"
    if not source.is_file():
        pytest.skip("the Rust sources are not next to the tests")
    names = set(re.findall(r'=> "(\w+)"', source.read_text(encoding="utf-8")))
    names |= set(re.findall(r'funkrs_error\("(\w+)"', source.read_text(encoding="utf-8")))
    assert names >= {"InvalidParameterError", "OutOfMemoryError", "NonFiniteError"}
    for name in names - {"KeyboardInterrupt"}:
        assert name in exceptions.__all__, name
        assert issubclass(getattr(exceptions, name), FunkrsError), name


# -- (b) errors from the Rust core ----------------------------------------------------------
@pytest.fixture(scope="module")
def data() -> funkrs.Ratings:
    return funkrs.datasets.synthetic(60, 40, 800, random_state=0)


@pytest.fixture(scope="module")
def model(data: funkrs.Ratings) -> funkrs.MatrixFactorization:
    return funkrs.MatrixFactorization(n_factors=3, n_epochs=2, random_state=0).fit(data)


@pytest.mark.parametrize(
    ("row", "col", "value", "shown"),
    [(2, 3, np.nan, "NaN"), (0, 1, np.inf, "inf"), (4, 0, -np.inf, "-inf")],
)
def test_svd_of_a_non_finite_matrix_names_the_entry(
    row: int, col: int, value: float, shown: str
) -> None:
    a = np.arange(20, dtype=np.float64).reshape(5, 4)
    a[row, col] = value
    before = a.copy()
    for method in ("gram", "direct"):
        with pytest.raises(NonFiniteError, match=rf"A\[{row}, {col}\] is not finite \({shown}"):
            funkrs.linalg.svd(a, method=method)
    with pytest.raises(ValueError, match=rf"A\[{row}, {col}\]"):
        funkrs.linalg.svd(np.asfortranarray(a))
    np.testing.assert_array_equal(a, before)


def test_a_huge_fit_is_refused_before_allocating_and_the_process_survives() -> None:
    # n_factors=10**9 on 50 users and 30 items asks for hundreds of GiB of factors. It must
    # raise in the child process, which then fits a small model and exits normally.
    script = textwrap.dedent(
        """
        import funkrs
        from funkrs.exceptions import OutOfMemoryError
        data = funkrs.datasets.synthetic(50, 30, 500, random_state=0)
        model = funkrs.MatrixFactorization(n_factors=10**9, n_epochs=1)
        try:
            model.fit(data)
        except OutOfMemoryError as exc:
            assert isinstance(exc, MemoryError)
            print("refused:", exc)
        print("fitted:", hasattr(model, "user_factors_"))
        small = funkrs.MatrixFactorization(n_factors=2, n_epochs=1, random_state=0).fit(data)
        print("then:", small.user_factors_.shape)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("refused: this call needs "), lines
    assert re.search(r"\d+(\.\d+)? [GTPE]iB of it for the factors", lines[0]), lines[0]
    assert "50 users and 30 items × 1000000000 factors" in lines[0]
    assert "this machine has" in lines[0]
    assert lines[1:] == ["fitted: False", "then: (50, 2)"]


def test_top_n_lists_that_do_not_fit_in_memory_are_refused() -> None:
    # 100 000 users × 100 000 items: every user's full list is 10¹⁰ entries, far more than
    # the machine holds; the same model answers for a few users.
    n = 100_000
    ids = np.arange(n)
    data = funkrs.Ratings.from_arrays(ids, ids[::-1].copy(), np.full(n, 3.0))
    big = funkrs.MatrixFactorization(n_factors=1, n_epochs=1, random_state=0).fit(data)
    with pytest.raises(OutOfMemoryError, match=rf"top-{n} lists of {n} queries") as info:
        big.recommend(n=n)
    assert isinstance(info.value, MemoryError)
    assert re.search(r"needs \d+(\.\d+)? GiB", str(info.value))
    assert "fewer users per call" in str(info.value)
    assert big.recommend(users=[0, 1], n=3).height == 6


def test_a_bad_learning_rate_is_named_by_the_estimator_and_by_the_core(
    data: funkrs.Ratings,
) -> None:
    with pytest.raises(InvalidParameterError, match=r"^lr must be a finite number > 0, got nan"):
        funkrs.MatrixFactorization(lr=math.nan, n_epochs=1).fit(data)
    # Straight to the solver, the core checks it.
    solver = solvers.get("funk-sgd")()
    for lr in (math.nan, 0.0, -1.0):
        params = solvers.FitParams(n_factors=2, n_epochs=1, lr=lr)
        with pytest.raises(InvalidParameterError, match="`lr`"):
            solver.fit(data, params, seed=0, n_threads=None, callback=None)


def test_an_index_out_of_range_names_it(data: funkrs.Ratings, model) -> None:
    # A plugin-facing solver call with a validation user past the training users.
    validation = solvers.ValidationSet(
        users=np.array([0, data.n_users + 7]),
        items=np.array([0, 0]),
        values=np.array([3.0, 4.0], np.float32),
        rating_scale=data.rating_scale,
    )
    solver = solvers.get("funk-sgd")()
    with pytest.raises(
        IndexOutOfRangeError,
        match=rf"validation user index {data.n_users + 7} at position 1 .*size {data.n_users}",
    ) as info:
        solver.fit(
            data,
            solvers.FitParams(n_factors=2, n_epochs=1),
            seed=0,
            n_threads=None,
            callback=None,
            validation=validation,
        )
    assert isinstance(info.value, IndexError)
    # Inner ids of a vocabulary.
    with pytest.raises(IndexOutOfRangeError, match=rf"inner id {data.n_users} at position 2"):
        model.users_.ids([0, 1, data.n_users, -1])
    with pytest.raises(IndexOutOfRangeError, match="inner id -1 at position 0"):
        model.items_.ids([-1])
    assert model.users_.ids([0]).tolist() == [model.users_.ids_array[0]]


def test_core_kernels_raise_the_library_classes(model) -> None:
    args = (
        model.user_factors_,
        model.item_factors_,
        model.user_bias_,
        model.item_bias_,
        model.global_mean_,
        model.biased_,
    )
    n_users = model.n_users_
    with pytest.raises(ShapeError):
        funkrs._funkrs.predict(*args, np.zeros(2, np.int64), np.zeros(1, np.int64))
    with pytest.raises(IndexOutOfRangeError, match=rf"user .*{n_users}.* position 1"):
        funkrs._funkrs.predict(*args, np.array([0, n_users]), np.array([0, 0]))
    with pytest.raises(OutOfMemoryError, match="lists"):
        funkrs._funkrs.top_n(
            model.user_factors_,
            np.zeros(n_users, np.float32),
            model.item_factors_,
            np.zeros(0, np.float32),
            2**62,
        )
    with pytest.raises(NonFiniteError, match=r"A\[1, 0\]"):
        funkrs._funkrs.dense_svd(np.array([[1.0, 2.0], [np.nan, 3.0]]))


def test_divergence_is_a_convergence_error(data: funkrs.Ratings) -> None:
    model = funkrs.MatrixFactorization(lr=100.0, n_epochs=30, random_state=0)
    with pytest.raises(ConvergenceError, match="smaller learning rate") as info:
        model.fit(data)
    assert isinstance(info.value, ArithmeticError)
    assert not hasattr(model, "user_factors_")


def _arrays(r: funkrs.Ratings) -> list[np.ndarray]:
    return [r.users.copy(), r.items.copy(), r.values.copy(), r.raw_users().copy()]


def test_a_stopped_fit_leaves_the_inputs_and_the_previous_fit(data: funkrs.Ratings) -> None:
    model = funkrs.MatrixFactorization(n_factors=3, n_epochs=2, random_state=0).fit(data)
    before = model.user_factors_.copy()
    arrays = _arrays(data)
    with pytest.raises(KeyboardInterrupt):
        model.fit(data, callback=lambda e: e["epoch"] < 2)
    np.testing.assert_array_equal(model.user_factors_, before)
    for got, want in zip(_arrays(data), arrays, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.timeout(120)
def test_ctrl_c_leaves_the_inputs_and_the_previous_fit() -> None:
    # About 4·10¹¹ updates: the fit cannot end on its own before the timeout.
    script = textwrap.dedent(
        """
        import os, signal, threading
        import numpy as np
        import funkrs
        data = funkrs.testing.low_rank_ratings(300, 200, density=0.7)
        copies = [data.users.copy(), data.items.copy(), data.values.copy()]
        model = funkrs.MatrixFactorization(n_factors=4, n_epochs=2, random_state=0).fit(data)
        first = model.user_factors_.copy()
        model.set_params(n_epochs=10_000_000)
        threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        try:
            model.fit(data)
        except KeyboardInterrupt:
            same = [np.array_equal(a, b) for a, b in
                    zip([data.users, data.items, data.values], copies)]
            print("interrupted", all(same), np.array_equal(model.user_factors_, first))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=100
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["interrupted", "True", "True"]


# -- (c) the estimator's options ------------------------------------------------------------
BAD_OPTIONS: list[tuple[str, Any]] = [
    ("n_factors", True),
    ("n_factors", 2.5),
    ("n_factors", 8.0),
    ("n_factors", 0),
    ("n_factors", -3),
    ("n_factors", "8"),
    ("n_factors", None),
    ("n_factors", 2**63),
    ("n_factors", np.float64(8)),
    ("n_epochs", False),
    ("n_epochs", 1.5),
    ("n_epochs", -1),
    ("n_epochs", "20"),
    ("lr", math.nan),
    ("lr", math.inf),
    ("lr", 0.0),
    ("lr", -0.01),
    ("lr", "0.01"),
    ("lr", True),
    ("lr", None),
    ("lr", np.float32("nan")),
    ("reg", -0.1),
    ("reg", math.nan),
    ("reg", "x"),
    ("reg", True),
    ("reg", 10**400),
    ("init_std", -1.0),
    ("init_std", math.inf),
    ("init_std", [0.1]),
    ("biased", 1),
    ("biased", "True"),
    ("biased", None),
    ("random_state", "x"),
    ("random_state", -1),
    ("random_state", 1.5),
    ("random_state", True),
    ("random_state", np.random.RandomState(0)),
    ("n_threads", 0),
    ("n_threads", -2),
    ("n_threads", 1.5),
    ("n_threads", True),
    ("n_threads", "4"),
    ("clip", 1),
    ("clip", "yes"),
    ("clip", None),
    ("unknown", "zero"),
    ("unknown", "Baseline"),
    ("unknown", None),
    ("unknown", 1),
    ("popularity_weight", "Auto"),
    ("popularity_weight", -1.0),
    ("popularity_weight", math.nan),
    ("popularity_weight", True),
    ("popularity_weight", None),
    ("solver_options", ["n_blocks"]),
    ("solver_options", "n_blocks=2"),
    ("solver", 5),
]


@pytest.mark.parametrize(("name", "value"), BAD_OPTIONS, ids=lambda v: repr(v)[:30])
def test_a_bad_option_is_named(data: funkrs.Ratings, name: str, value: Any) -> None:
    params = {"n_factors": 2, "n_epochs": 1, name: value}
    model = funkrs.MatrixFactorization(**params)
    with pytest.raises(InvalidParameterError, match=rf"^{name} must be ") as info:
        model.fit(data)
    message = str(info.value)
    assert f"got {show_value(value)}" in message, message
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, TypeError)
    assert not hasattr(model, "user_factors_")
    # set_params stores the value as __init__ does; fit checks it the same way.
    other = funkrs.MatrixFactorization(n_factors=2, n_epochs=1).set_params(**params)
    with pytest.raises(InvalidParameterError, match=rf"^{name} must be "):
        other.fit(data)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("n_factors", np.int64(8)),
        ("n_factors", np.uint8(8)),
        ("n_epochs", np.int32(1)),
        ("lr", np.float32(0.02)),
        ("reg", 1),
        ("reg", np.int64(0)),
        ("init_std", np.float16(0.01)),
        ("biased", np.bool_(False)),
        ("random_state", np.int64(3)),
        ("random_state", np.random.default_rng(3)),
        ("n_threads", np.uint16(2)),
        ("clip", np.bool_(False)),
        ("popularity_weight", np.float64(0.5)),
        ("popularity_weight", 0),
        ("solver_options", {"n_blocks": np.int64(2)}),
    ],
    ids=lambda v: repr(v)[:30],
)
def test_numpy_scalars_and_plain_numbers_are_accepted(
    data: funkrs.Ratings, name: str, value: Any
) -> None:
    params = {"n_factors": 2, "n_epochs": 1, "random_state": 0, name: value}
    model = funkrs.MatrixFactorization(**params).fit(data)
    assert model.get_params()[name] is value  # stored unchanged, as scikit-learn expects
    assert np.isfinite(model.predict(data.raw_users()[:5], data.raw_items()[:5])).all()
    if name == "n_factors":
        assert model.user_factors_.shape == (data.n_users, 8)


def test_unknown_parameter_names_are_invalid_parameters() -> None:
    model = funkrs.MatrixFactorization()
    with pytest.raises(InvalidParameterError, match="invalid parameter 'learning_rate'"):
        model.set_params(learning_rate=0.1)
    with pytest.raises(TypeError):  # Python's own check of keyword arguments
        funkrs.MatrixFactorization(learning_rate=0.1)  # type: ignore[call-arg]
