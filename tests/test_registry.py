from __future__ import annotations

import importlib.metadata as md
from typing import Any, ClassVar

import numpy as np
import pytest

import funkrs
from funkrs import solvers
from funkrs.exceptions import InvalidParameterError
from funkrs.testing import SolverContract


@pytest.fixture(autouse=True)
def _clean_registry():
    saved = dict(solvers._REGISTRY), dict(solvers._KNOWN), solvers._entry_points_loaded
    yield
    solvers._REGISTRY.clear()
    solvers._REGISTRY.update(saved[0])
    solvers._KNOWN.clear()
    solvers._KNOWN.update(saved[1])
    solvers._entry_points_loaded = saved[2]


class MeanSolver:
    """Predicts the global mean plus biases (no factors learned)."""

    name: ClassVar[str] = "test-mean"

    def fit(
        self,
        ratings: Any,
        params: solvers.FitParams,
        *,
        seed: int,
        n_threads: Any,
        callback: Any = None,
    ) -> solvers.Factors:
        mu = float(ratings.values.mean())
        bi = np.bincount(ratings.items, ratings.values - mu, ratings.n_items) / np.maximum(
            np.bincount(ratings.items, minlength=ratings.n_items), 1
        )
        k = params.n_factors
        return solvers.Factors(
            np.zeros((ratings.n_users, k)),
            np.zeros((ratings.n_items, k)),
            np.zeros(ratings.n_users),
            bi,
            mu,
        )


def test_register_get_and_available() -> None:
    solvers.register()(MeanSolver)
    assert "test-mean" in solvers.available()
    assert solvers.get("test-mean") is MeanSolver
    data = funkrs.testing.low_rank_ratings()
    model = funkrs.MatrixFactorization(solver="test-mean", n_factors=2).fit(data)
    assert model.solver_ == "test-mean"
    assert np.isfinite(model.predict(data.raw_users(), data.raw_items())).all()


def test_duplicate_names_are_rejected_unless_overwritten() -> None:
    with pytest.raises(InvalidParameterError, match="already registered"):
        solvers.register("funk-sgd")(MeanSolver)
    solvers.register("dup")(MeanSolver)
    with pytest.raises(InvalidParameterError, match="already registered"):
        solvers.register("dup")(MeanSolver)
    with pytest.warns(UserWarning, match="replacing"):
        solvers.register("dup", overwrite=True)(MeanSolver)


def test_a_class_without_fit_is_rejected() -> None:
    class NoFit:
        pass

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
    from funkrs.exceptions import NonFiniteError, ShapeError

    good = solvers.Factors(np.zeros((3, 2)), np.zeros((4, 2)), np.zeros(3), np.zeros(4), 3.0)
    assert good.validate(3, 4, 2).user_factors.dtype == np.float32
    with pytest.raises(ShapeError, match=r"user_factors of shape \(3, 2\), expected \(5, 2\)"):
        good.validate(5, 4)
    with pytest.raises(ShapeError, match="2 factors, expected 3"):
        good.validate(3, 4, 3)
    bad = solvers.Factors(np.zeros((3, 2)), np.full((4, 2), np.nan), np.zeros(3), np.zeros(4), 3.0)
    with pytest.raises(NonFiniteError, match="item_factors"):
        bad.validate(3, 4)


def test_unknown_name_lists_the_available_solvers() -> None:
    with pytest.raises(
        funkrs.exceptions.SolverNotFoundError, match=r"available solvers: .*funk-sgd"
    ):
        solvers.get("nope")


def test_a_broken_plugin_only_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = md.EntryPoint("broken", "funkrs_no_such_module:Solver", solvers.ENTRY_POINT_GROUP)
    monkeypatch.setattr(solvers, "entry_points", lambda group: [broken])
    solvers._entry_points_loaded = False
    with pytest.warns(RuntimeWarning, match="skipping solver plugin 'broken'"):
        names = solvers.available()
    assert "funk-sgd" in names
    assert "broken" not in names


def test_the_installed_example_plugin_is_found_through_its_entry_point() -> None:
    pytest.importorskip("funkrs_plugin_example", reason="pip install ./tests/plugin_pkg")
    assert "example-als" in solvers.available()
    assert solvers.get("example-als").__module__ == "funkrs_plugin_example"


class TestExamplePluginContract(SolverContract):
    solver = "example-als"
    params: ClassVar[dict[str, Any]] = {"n_factors": 3}

    @pytest.fixture(autouse=True)
    def _needs_plugin(self) -> None:
        pytest.importorskip("funkrs_plugin_example", reason="pip install ./tests/plugin_pkg")
