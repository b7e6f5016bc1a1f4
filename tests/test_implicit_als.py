"""implicit-als: the objective it solves, determinism, ranking quality and bad options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import funkrs
from funkrs.exceptions import InvalidParameterError
from funkrs.ranking import ranking_metrics


def _dense_item_solve(r: funkrs.Ratings, x: np.ndarray, reg: float, alpha: float) -> np.ndarray:
    """Exact minimiser of the implicit-ALS objective over the item factors, for fixed ``x``."""
    k = x.shape[1]
    x64 = x.astype(np.float64)
    gram = x64.T @ x64
    out = np.zeros((r.n_items, k))
    users, items = np.asarray(r.users), np.asarray(r.items)
    values = np.asarray(r.values, dtype=np.float64)
    for i in range(r.n_items):
        rows = users[items == i]
        w = alpha * values[items == i]
        xs = x64[rows]
        a = gram + (xs.T * w) @ xs + reg * np.eye(k)
        b = ((1.0 + w)[:, None] * xs).sum(axis=0)
        out[i] = np.linalg.solve(a, b)
    return out


def test_the_last_half_step_solves_the_objective_exactly() -> None:
    # With as many CG steps as factors, a half-step is an exact solve (to rounding): the
    # item factors are the dense least-squares solution for the returned user factors.
    data = funkrs.datasets.synthetic(60, 40, 700, random_state=2)
    k, reg, alpha = 5, 0.5, 2.0
    opts = {"n_iter": 4, "reg": reg, "alpha": alpha, "cg_steps": 3 * k}
    model = funkrs.MatrixFactorization(
        solver="implicit-als", n_factors=k, solver_options=opts, random_state=0
    ).fit(data)
    want = _dense_item_solve(data, model.user_factors_, reg, alpha)
    np.testing.assert_allclose(model.item_factors_, want, rtol=1e-3, atol=1e-4)


def test_same_factors_for_any_thread_count_and_seed_matters() -> None:
    data = funkrs.datasets.synthetic(300, 120, 6000, random_state=1)

    def fit(threads: int, seed: int = 0) -> np.ndarray:
        m = funkrs.MatrixFactorization(
            solver="implicit-als", n_factors=16, n_threads=threads, random_state=seed
        )
        return np.asarray(m.fit(data).item_factors_)

    one = fit(1)
    for threads in (2, 4):
        np.testing.assert_array_equal(fit(threads), one)
    assert not np.array_equal(fit(1, seed=1), one)


def test_its_lists_beat_popularity_on_structured_data() -> None:
    # Four groups of users, each interacting with items of its own group only: popularity
    # cannot tell the groups apart, a latent-factor model of who interacts with what can.
    rng = np.random.default_rng(0)
    users, items = [], []
    for u in range(400):
        group = u % 4
        chosen = rng.choice(50, size=12, replace=False) + 50 * group
        users += [u] * 12
        items += chosen.tolist()
    values = rng.integers(1, 6, size=len(users)).astype(np.float64)
    data = funkrs.Ratings.from_arrays(np.array(users), np.array(items), values)
    train, test = funkrs.train_test_split(data, test_size=0.25, random_state=0)
    ials = funkrs.MatrixFactorization(
        solver="implicit-als", n_factors=8, solver_options={"n_iter": 10}, random_state=0
    ).fit(train)
    pop = funkrs.MatrixFactorization(solver="popularity", random_state=0).fit(train)
    got = ranking_metrics(ials, test, k=10, metrics=("ndcg",), threshold=1.0)["ndcg@10"]
    ref = ranking_metrics(pop, test, k=10, metrics=("ndcg",), threshold=1.0)["ndcg@10"]
    assert got > 2 * ref, (got, ref)
    assert len(ials.solver_info_["seconds_per_iteration"]) == 10


@pytest.mark.parametrize(
    ("option", "value"),
    [("alpha", 0.0), ("alpha", float("nan")), ("reg", -1.0), ("cg_steps", 0), ("n_iter", 2.5)],
)
def test_bad_options_name_the_option(option: str, value: float) -> None:
    data = funkrs.datasets.synthetic(30, 20, 200, random_state=0)
    model = funkrs.MatrixFactorization(solver="implicit-als", solver_options={option: value})
    with pytest.raises(InvalidParameterError, match=option):
        model.fit(data)


def test_negative_values_are_refused() -> None:
    r = funkrs.Ratings.from_arrays(
        np.array([1, 2, 2]), np.array([1, 1, 2]), np.array([1.0, -2.0, 3.0])
    )
    with pytest.raises(InvalidParameterError, match="values >= 0"):
        funkrs.MatrixFactorization(solver="implicit-als", n_factors=2).fit(r)


def test_rmse_is_refused_and_the_model_round_trips(tmp_path: Path) -> None:
    data = funkrs.datasets.synthetic(100, 50, 2000, random_state=0)
    model = funkrs.MatrixFactorization(solver="implicit-als", n_factors=4).fit(data)
    with pytest.raises(InvalidParameterError, match="ranking metrics"):
        funkrs.evaluate(model, data)
    assert set(funkrs.evaluate(model, data, metrics=["ndcg@10"])) == {"ndcg@10"}
    model.save(tmp_path / "ials.funkrs")
    again = funkrs.load(tmp_path / "ials.funkrs")
    np.testing.assert_array_equal(again.item_factors_, model.item_factors_)
    assert again.solver_info_ == model.solver_info_
    recs = again.recommend(users=data.raw_users()[:2], n=5)
    assert recs.height == 10
