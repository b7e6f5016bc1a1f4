"""Reusable test suites for solvers, built-in or third-party.

A plugin author subclasses :class:`SolverContract` in their own pytest suite::

    from funkrs.testing import SolverContract

    class TestMySolver(SolverContract):
        solver = "my-solver"
        solver_options = {"alpha": 0.1}

Every check runs on small synthetic data in well under a second.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from funkrs import solvers
from funkrs._ratings import Ratings
from funkrs.model import MatrixFactorization, load

__all__ = ["SolverContract", "low_rank_ratings"]


def low_rank_ratings(
    n_users: int = 60, n_items: int = 40, rank: int = 3, density: float = 0.5, seed: int = 0
) -> Ratings:
    """Noiseless low-rank ratings (plus biases) observed at ``density`` of the cells."""
    rng = np.random.default_rng(seed)
    p = rng.normal(0, 0.6, (n_users, rank))
    q = rng.normal(0, 0.6, (n_items, rank))
    full = 3.0 + rng.normal(0, 0.3, (n_users, 1)) + rng.normal(0, 0.3, (1, n_items)) + p @ q.T
    mask = rng.random((n_users, n_items)) < density
    mask[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    mask[rng.integers(0, n_users, n_items), np.arange(n_items)] = True
    users, items = np.nonzero(mask)
    return Ratings.from_arrays(users, items, full[users, items])


class SolverContract:
    """Checks every solver must pass: shapes, dtypes, finiteness, determinism, accuracy.

    Attributes to override
    ----------------------
    solver : str
        Registry name of the solver under test.
    solver_options : dict
        Passed as ``solver_options``.
    params : dict
        Extra estimator parameters (``n_factors``, ``n_epochs``, ...).
    max_rmse_ratio : float
        Training RMSE must be at most this fraction of the global-mean baseline's RMSE.
    """

    solver: ClassVar[str] = ""
    solver_options: ClassVar[dict[str, Any]] = {}
    params: ClassVar[dict[str, Any]] = {}
    max_rmse_ratio: ClassVar[float] = 0.9

    def make_model(self, **overrides: Any) -> MatrixFactorization:
        """An unfitted estimator for the solver under test."""
        kwargs: dict[str, Any] = {"n_factors": 4, "random_state": 0}
        kwargs.update(self.params)
        kwargs.update(overrides)
        return MatrixFactorization(
            solver=self.solver, solver_options=dict(self.solver_options) or None, **kwargs
        )

    def data(self) -> Ratings:
        """Training data of the contract."""
        return low_rank_ratings()

    def test_registered(self) -> None:
        assert self.solver in solvers.available()

    def test_factor_shapes_and_dtypes(self) -> None:
        data = self.data()
        model = self.make_model().fit(data)
        k = model.user_factors_.shape[1]
        assert model.user_factors_.shape == (data.n_users, k)
        assert model.item_factors_.shape == (data.n_items, k)
        assert model.user_bias_.shape == (data.n_users,)
        assert model.item_bias_.shape == (data.n_items,)
        for arr in (model.user_factors_, model.item_factors_, model.user_bias_, model.item_bias_):
            assert arr.dtype == np.float32
            assert np.isfinite(arr).all()
        assert np.isfinite(model.global_mean_)

    def test_predictions_are_finite_and_in_scale(self) -> None:
        data = self.data()
        model = self.make_model().fit(data)
        pred = model.predict(data.raw_users(), data.raw_items())
        lo, hi = data.rating_scale
        assert pred.dtype == np.float32
        assert pred.shape == (len(data),)
        assert np.isfinite(pred).all()
        assert pred.min() >= lo
        assert pred.max() <= hi

    def test_same_seed_same_model(self) -> None:
        data = self.data()
        a = self.make_model(random_state=7).fit(data)
        b = self.make_model(random_state=7).fit(data)
        np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
        np.testing.assert_array_equal(a.item_factors_, b.item_factors_)
        np.testing.assert_array_equal(a.item_bias_, b.item_bias_)

    def test_fits_better_than_the_global_mean(self) -> None:
        data = self.data()
        model = self.make_model().fit(data)
        pred = model.predict(data.raw_users(), data.raw_items())
        err = float(np.sqrt(np.mean((pred - data.values) ** 2)))
        base = float(np.sqrt(np.mean((data.values - data.values.mean()) ** 2)))
        assert err <= self.max_rmse_ratio * base, f"train RMSE {err:.4f} vs baseline {base:.4f}"

    def test_save_load_and_pickle_round_trip(self, tmp_path: Path) -> None:
        data = self.data()
        model = self.make_model().fit(data)
        model.save(tmp_path / "m.funkrs")
        for back in (load(tmp_path / "m.funkrs"), pickle.loads(pickle.dumps(model))):
            np.testing.assert_array_equal(back.user_factors_, model.user_factors_)
            np.testing.assert_array_equal(back.item_factors_, model.item_factors_)
            np.testing.assert_array_equal(
                back.predict(data.raw_users(), data.raw_items()),
                model.predict(data.raw_users(), data.raw_items()),
            )
