from __future__ import annotations

import importlib.metadata as md
from typing import Any, ClassVar, Literal

import numpy as np
import pytest

import funkrs
from funkrs import solvers
from funkrs.exceptions import (
    InvalidParameterError,
    NonFiniteError,
    ShapeError,
    SolverNameClashWarning,
    SolverNotFoundError,
)
from funkrs.testing import SolverContract, low_rank_ratings


@pytest.fixture(autouse=True)
def _clean_registry():
    saved = (
        dict(solvers._REGISTRY),
        dict(solvers._KNOWN),
        dict(solvers._SOURCES),
        solvers._entry_points_loaded,
    )
    yield
    for live, old in zip(
        (solvers._REGISTRY, solvers._KNOWN, solvers._SOURCES), saved, strict=False
    ):
        live.clear()
        live.update(old)
    solvers._entry_points_loaded = saved[3]


def _item_means(ratings: Any) -> tuple[float, np.ndarray]:
    mu = float(ratings.values.mean())
    counts = np.maximum(np.bincount(ratings.items, minlength=ratings.n_items), 1)
    return mu, np.bincount(ratings.items, ratings.values - mu, ratings.n_items) / counts


class MeanSolver:
    """Global mean plus item means, with ``width`` zero factor columns (protocol version 2)."""

    name: ClassVar[str] = "test-mean"
    protocol_version: ClassVar[int] = 2
    feedback: ClassVar[Literal["explicit", "implicit"]] = "explicit"
    rank_limited: ClassVar[bool] = True

    def __init__(self, *, width: int | None = None) -> None:
        self.width = width

    def fit(self, ratings: Any, params: solvers.SolverParams) -> solvers.Factors:
        mu, bi = _item_means(ratings)
        k = params.n_factors if self.width is None else self.width
        return solvers.Factors(
            np.zeros((ratings.n_users, k)),
            np.zeros((ratings.n_items, k)),
            np.zeros(ratings.n_users),
            bi,
            mu,
            info={"width": k, "mean": np.float64(mu)},
        )


class V1MeanSolver:
    """The same, written against version 1 (no declarations, FitParams, seed keywords)."""

    name: ClassVar[str] = "test-mean-v1"

    def fit(
        self, ratings: Any, params: Any, *, seed: int, n_threads: Any, callback: Any = None
    ) -> solvers.Factors:
        mu, bi = _item_means(ratings)
        assert (params.lr, params.n_epochs) == (0.5, 3)  # the estimator's values arrive
        if callback is not None:
            callback({"epoch": 1})
        k = params.n_factors + 1  # version 1 never had its width checked
        z = np.zeros
        return solvers.Factors(
            z((ratings.n_users, k)), z((ratings.n_items, k)), z(ratings.n_users), bi, mu
        )


def test_register_get_and_available() -> None:
    solvers.register()(MeanSolver)
    assert "test-mean" in solvers.available()
    assert solvers.get("test-mean") is MeanSolver
    data = low_rank_ratings()
    model = funkrs.MatrixFactorization(solver="test-mean", n_factors=2).fit(data)
    assert model.solver_ == "test-mean"
    assert np.isfinite(model.predict(data.raw_users(), data.raw_items())).all()
    assert dict(model.solver_info_) == {"width": 2, "mean": pytest.approx(data.values.mean())}
    assert type(model.solver_info_["mean"]) is float


def test_capabilities_default_to_the_least_a_solver_can_do() -> None:
    caps = solvers.capabilities(MeanSolver)
    assert caps == solvers.Capabilities(protocol_version=2, rank_limited=True)
    sgd = solvers.capabilities("funk-sgd")
    assert sgd.supports_validation
    assert sgd.supports_callback
    assert sgd.estimator_params == set(solvers.ESTIMATOR_PARAMS)
    assert solvers.capabilities("popularity").feedback == "implicit"


@pytest.mark.parametrize(
    ("attr", "value", "match"),
    [
        ("protocol_version", 3, "protocol_version = 3"),
        ("feedback", "clicks", "feedback = 'clicks'"),
        ("supports_validation", "yes", "supports_validation = 'yes'"),
        ("rank_limited", 1, "rank_limited = 1"),
        ("estimator_params", "lr", "estimator_params = 'lr'"),
        ("estimator_params", frozenset({"lr", "alpha"}), r"estimator_params \['alpha'\]"),
    ],
)
def test_bad_declarations_are_refused_by_name(attr: str, value: Any, match: str) -> None:
    bad = type("Bad", (MeanSolver,), {attr: value})
    with pytest.raises(InvalidParameterError, match=match):
        solvers.register("test-bad")(bad)
    assert "test-bad" not in solvers.available()


def test_the_width_must_be_n_factors_unless_rank_limited() -> None:
    data = low_rank_ratings()
    strict = type("Strict", (MeanSolver,), {"rank_limited": False})
    solvers.register("test-strict")(strict)
    solvers.register("test-mean")(MeanSolver)
    fewer = {"width": 1}
    with pytest.raises(ShapeError, match=r"solver 'test-strict' returned 1 factor columns for n_f"):
        funkrs.MatrixFactorization(solver="test-strict", n_factors=3, solver_options=fewer).fit(
            data
        )
    model = funkrs.MatrixFactorization(solver="test-mean", n_factors=3, solver_options=fewer)
    assert model.fit(data).user_factors_.shape[1] == 1
    with pytest.raises(ShapeError, match=r"'test-mean' returned 5 factor columns for n_factors=3"):
        funkrs.MatrixFactorization(
            solver="test-mean", n_factors=3, solver_options={"width": 5}
        ).fit(data)


def test_what_fit_returns_is_checked() -> None:
    data = low_rank_ratings()

    class NotFactors(MeanSolver):
        def fit(self, ratings: Any, params: solvers.SolverParams) -> Any:
            return (1, 2)

    class BadInfo(MeanSolver):
        def fit(self, ratings: Any, params: solvers.SolverParams) -> solvers.Factors:
            f = super().fit(ratings, params)
            return solvers.Factors(
                *[
                    getattr(f, a)
                    for a in (
                        "user_factors",
                        "item_factors",
                        "user_bias",
                        "item_bias",
                        "global_mean",
                    )
                ],
                info={"when": object()},
            )

    solvers.register("test-tuple")(NotFactors)
    solvers.register("test-info")(BadInfo)
    with pytest.raises(InvalidParameterError, match="'test-tuple' returned tuple, not funkrs"):
        funkrs.MatrixFactorization(solver="test-tuple").fit(data)
    with pytest.raises(InvalidParameterError, match=r"'test-info' info\['when'\] is a object"):
        funkrs.MatrixFactorization(solver="test-info").fit(data)


def test_estimator_arguments_are_routed_to_the_solvers_that_take_them() -> None:
    data = low_rank_ratings()
    takes_lr = type("TakesLr", (MeanSolver,), {"estimator_params": frozenset({"lr"})})

    def init(self: Any, *, lr: float) -> None:
        self.width, self.lr = None, lr

    takes_lr.__init__ = init  # type: ignore[misc]
    solvers.register("test-lr")(takes_lr)
    solver = funkrs.MatrixFactorization(solver="test-lr", lr=0.5)._make_solver()
    assert solver.lr == 0.5
    with pytest.raises(InvalidParameterError, match=r"solver_options\['lr'\]: lr is an argument"):
        funkrs.MatrixFactorization(solver="test-lr", solver_options={"lr": 0.1})._make_solver()
    # Not taken: an error once set away from its default, whatever the solver.
    with pytest.raises(InvalidParameterError, match=r"reg=0.5 .*'test-lr' does not take reg"):
        funkrs.MatrixFactorization(solver="test-lr", reg=0.5).fit(data)
    for name, value in (("n_epochs", 5), ("init_std", 0.2), ("biased", False)):
        with pytest.raises(InvalidParameterError, match=rf"{name}=.*'exact-svd' does not take"):
            funkrs.MatrixFactorization(solver="exact-svd", **{name: value}).fit(data)
    # The default solver keeps taking all five.
    sgd = funkrs.MatrixFactorization(n_epochs=3, lr=0.01, reg=0.1, init_std=0.2, biased=False)
    made = sgd._make_solver()
    assert (made.n_epochs, made.lr, made.reg, made.init_std, made.biased) == (
        3,
        0.01,
        0.1,
        0.2,
        False,
    )


def test_validation_is_refused_by_solvers_that_do_not_declare_it() -> None:
    solvers.register()(MeanSolver)
    data = low_rank_ratings()
    with pytest.raises(InvalidParameterError, match="validation: solver 'test-mean' does not"):
        funkrs.MatrixFactorization(solver="test-mean").fit(data, validation=data)


# -- name clashes ---------------------------------------------------------------------------
def test_register_on_a_taken_name_warns_and_keeps_the_holder_unless_overwrite() -> None:
    class Other(MeanSolver):
        pass

    with pytest.warns(
        SolverNameClashWarning,
        match=r"'funk-sgd': built-in funkrs\.solvers\._sgd:FunkSGD holds it and "
        r"register\(\) of .*Other is ignored",
    ):
        solvers.register("funk-sgd")(Other)
    assert solvers.get("funk-sgd").__name__ == "FunkSGD"
    solvers.register("dup")(MeanSolver)
    with pytest.warns(SolverNameClashWarning, match=r"register\(\) of .*MeanSolver holds it"):
        solvers.register("dup")(Other)
    assert solvers.get("dup") is MeanSolver
    with pytest.warns(SolverNameClashWarning, match=r"register\(\) of .*Other takes it over"):
        solvers.register("dup", overwrite=True)(Other)
    assert solvers.get("dup") is Other
    solvers.register("dup")(Other)  # the holder again: nothing to warn about


def _fake_entry_points(monkeypatch: pytest.MonkeyPatch, *eps: md.EntryPoint) -> None:
    monkeypatch.setattr(solvers, "entry_points", lambda group: list(eps))
    solvers._entry_points_loaded = False


def test_an_entry_point_never_shadows_a_built_in(monkeypatch: pytest.MonkeyPatch) -> None:
    # The shadowing plugin is not even imported (its module does not exist).
    shadow = md.EntryPoint("funk-sgd", "funkrs_no_such_module:Solver", solvers.ENTRY_POINT_GROUP)
    _fake_entry_points(monkeypatch, shadow)
    with pytest.warns(
        SolverNameClashWarning,
        match=r"built-in funkrs\.solvers\._sgd:FunkSGD holds it and "
        r"entry point funk-sgd = funkrs_no_such_module:Solver is ignored",
    ):
        names = solvers.available()
    assert names.count("funk-sgd") == 1
    assert solvers.get("funk-sgd").__module__ == "funkrs.solvers._sgd"


def test_the_first_of_two_entry_points_keeps_the_name(monkeypatch: pytest.MonkeyPatch) -> None:
    group = solvers.ENTRY_POINT_GROUP
    first = md.EntryPoint("twice", "funkrs_plugin_example.v2:ExampleALSv2", group)
    second = md.EntryPoint("twice", "funkrs_plugin_example:ExampleALS", group)
    pytest.importorskip("funkrs_plugin_example", reason="pip install ./tests/plugin_pkg")
    _fake_entry_points(monkeypatch, first, second)
    with pytest.warns(
        SolverNameClashWarning,
        match=r"entry point twice = funkrs_plugin_example\.v2:ExampleALSv2 holds it and "
        r"entry point twice = funkrs_plugin_example:ExampleALS is ignored",
    ):
        solvers.available()
    assert solvers.get("twice").__name__ == "ExampleALSv2"


def test_register_loads_entry_points_first(monkeypatch: pytest.MonkeyPatch) -> None:
    # So a register() call never wins against an entry point by running earlier.
    pytest.importorskip("funkrs_plugin_example", reason="pip install ./tests/plugin_pkg")
    ep = md.EntryPoint(
        "claimed", "funkrs_plugin_example.v2:ExampleALSv2", solvers.ENTRY_POINT_GROUP
    )
    _fake_entry_points(monkeypatch, ep)
    with pytest.warns(SolverNameClashWarning, match="entry point claimed .* holds it"):
        solvers.register("claimed")(MeanSolver)
    assert solvers.get("claimed").__name__ == "ExampleALSv2"


def test_a_class_without_fit_is_rejected() -> None:
    class NoFit:
        protocol_version = 2

    with pytest.raises(InvalidParameterError, match="no fit"):
        solvers.register("nofit")(NoFit)


def test_register_checks_its_arguments() -> None:
    with pytest.raises(InvalidParameterError, match="overwrite must be True or False, got 'yes'"):
        solvers.register("dup2", overwrite="yes")  # type: ignore[arg-type]

    class Nameless:
        def fit(self) -> None: ...

    with pytest.raises(InvalidParameterError, match=r"needs a name.*got name=None"):
        solvers.register()(Nameless)
    assert "dup2" not in solvers.available()


def test_factors_of_the_wrong_shape_or_non_finite_are_rejected() -> None:
    good = solvers.Factors(np.zeros((3, 2)), np.zeros((4, 2)), np.zeros(3), np.zeros(4), 3.0)
    assert good.validate(3, 4, 2).user_factors.dtype == np.float32
    with pytest.raises(ShapeError, match=r"user_factors of shape \(3, 2\), expected \(5, 2\)"):
        good.validate(5, 4)
    with pytest.raises(ShapeError, match="solver 'mine' returned 2 factors, expected 3"):
        good.validate(3, 4, 3, solver="mine")
    bad = solvers.Factors(np.zeros((3, 2)), np.full((4, 2), np.nan), np.zeros(3), np.zeros(4), 3.0)
    with pytest.raises(NonFiniteError, match="item_factors"):
        bad.validate(3, 4)


def test_unknown_name_lists_the_available_solvers() -> None:
    with pytest.raises(SolverNotFoundError, match=r"available solvers: .*funk-sgd"):
        solvers.get("nope")


def test_a_broken_plugin_only_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = md.EntryPoint("broken", "funkrs_no_such_module:Solver", solvers.ENTRY_POINT_GROUP)
    _fake_entry_points(monkeypatch, broken)
    with pytest.warns(RuntimeWarning, match="skipping solver plugin 'broken'"):
        names = solvers.available()
    assert "funk-sgd" in names
    assert "broken" not in names


# -- version 1 ------------------------------------------------------------------------------
def test_a_version_1_solver_still_works_with_a_deprecation_warning() -> None:
    solvers.register()(V1MeanSolver)  # registering is silent; fitting warns
    data = low_rank_ratings()
    calls: list[Any] = []
    model = funkrs.MatrixFactorization(solver="test-mean-v1", n_factors=2, lr=0.5, n_epochs=3)
    with pytest.warns(DeprecationWarning, match=r"'test-mean-v1' .* version 1 of the solver"):
        model.fit(data, callback=calls.append)
    assert calls == [{"epoch": 1}]
    assert model.user_factors_.shape[1] == 3
    assert dict(model.solver_info_) == {}
    with pytest.raises(InvalidParameterError, match="validation: solver 'test-mean-v1'"):
        model.fit(data, validation=data)  # its fit has no validation keyword


def test_built_in_solvers_still_take_the_version_1_call() -> None:
    data = low_rank_ratings()
    for name in ("funk-sgd", "exact-svd", "imputed-svd", "baseline", "popularity"):
        solver = solvers.get(name)(**({"fill": "item"} if name == "exact-svd" else {}))
        old = solver.fit(data, solvers.FitParams(n_factors=3, n_epochs=2), seed=1, n_threads=1)
        new = funkrs.MatrixFactorization(
            solver=name,
            n_factors=3,
            random_state=1,
            n_threads=1,
            solver_options={"fill": "item"} if name == "exact-svd" else None,
            **({"n_epochs": 2} if name == "funk-sgd" else {}),
        ).fit(data)
        np.testing.assert_array_equal(
            old.validate(data.n_users, data.n_items).item_factors, new.item_factors_
        )


def test_the_installed_example_plugins_are_found_through_their_entry_points() -> None:
    pytest.importorskip("funkrs_plugin_example", reason="pip install ./tests/plugin_pkg")
    assert {"example-als", "example-als-v2"} <= set(solvers.available())
    assert solvers.get("example-als").__module__ == "funkrs_plugin_example"
    assert solvers.capabilities("example-als").protocol_version == 1
    assert solvers.capabilities("example-als-v2").protocol_version == 2


def test_the_version_1_example_plugin_fits_with_a_deprecation_warning() -> None:
    pytest.importorskip("funkrs_plugin_example", reason="pip install ./tests/plugin_pkg")
    data = low_rank_ratings()
    model = funkrs.MatrixFactorization(solver="example-als", n_factors=3, random_state=0)
    with pytest.warns(DeprecationWarning, match="'example-als' .*ExampleALS"):
        model.fit(data)
    v2 = funkrs.MatrixFactorization(solver="example-als-v2", n_factors=3, random_state=0).fit(data)
    # The same method from different starting points: about the same fit.
    for fitted in (model, v2):
        pred = fitted.predict(data.raw_users(), data.raw_items())
        assert float(np.sqrt(np.mean((pred - data.values) ** 2))) < 0.1


class TestExamplePluginContract(SolverContract):
    solver = "example-als-v2"
    params: ClassVar[dict[str, Any]] = {"n_factors": 3}

    @pytest.fixture(autouse=True)
    def _needs_plugin(self) -> None:
        pytest.importorskip("funkrs_plugin_example", reason="pip install ./tests/plugin_pkg")
