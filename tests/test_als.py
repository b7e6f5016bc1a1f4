"""als: the ridge solve it performs, recovery, scale-freeness, determinism and bad options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import funkrs
from funkrs.exceptions import InvalidParameterError


def _ridge_items(r: funkrs.Ratings, m: funkrs.MatrixFactorization) -> np.ndarray:
    """Closed-form weighted-λ ridge solution for every item's ``(q_i, b_i)``, fixed users."""
    p = np.asarray(m.user_factors_, dtype=np.float64)
    bu = np.asarray(m.user_bias_, dtype=np.float64)
    mu, reg = float(m.global_mean_), 0.4
    users, items = np.asarray(r.users), np.asarray(r.items)
    values = np.asarray(r.values, dtype=np.float64)
    out = np.zeros((r.n_items, p.shape[1] + 1))
    for i in range(r.n_items):
        sel = items == i
        x = np.hstack([p[users[sel]], np.ones((sel.sum(), 1))])
        y = values[sel] - mu - bu[users[sel]]
        a = x.T @ x + reg * sel.sum() * np.eye(x.shape[1])
        out[i] = np.linalg.solve(a, x.T @ y)
    return out


@pytest.mark.parametrize("n_factors", [3, 40])  # more ratings than unknowns, and fewer
def test_the_last_half_step_is_the_closed_form_ridge_solution(n_factors: int) -> None:
    data = funkrs.datasets.synthetic(80, 50, 1500, random_state=3)
    model = funkrs.MatrixFactorization(
        solver="als",
        n_factors=n_factors,
        solver_options={"n_iter": 3, "reg": 0.4, "standardize": False},
        random_state=0,
    ).fit(data)
    want = _ridge_items(data, model)
    np.testing.assert_allclose(model.item_factors_, want[:, :-1], rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(model.item_bias_, want[:, -1], rtol=1e-3, atol=1e-4)
    assert model.global_mean_ == pytest.approx(float(np.mean(data.values)), rel=1e-5)


def _low_rank(seed: int = 0) -> tuple[funkrs.Ratings, funkrs.Ratings]:
    rng = np.random.default_rng(seed)
    n_users, n_items, k = 300, 200, 3
    p, q = rng.normal(size=(n_users, k)), rng.normal(size=(n_items, k))
    u, i = np.nonzero(rng.random((n_users, n_items)) < 0.3)
    r = funkrs.Ratings.from_arrays(u, i, 3.0 + np.einsum("jk,jk->j", p[u], q[i]))
    return funkrs.train_test_split(r, test_size=0.2, random_state=seed)


def test_recovers_a_noise_free_low_rank_matrix() -> None:
    train, test = _low_rank()
    model = funkrs.MatrixFactorization(
        solver="als",
        n_factors=3,
        solver_options={"n_iter": 30, "reg": 1e-4},
        random_state=0,
        clip=False,
    ).fit(train)
    assert funkrs.evaluate(model, test, metrics=("rmse",))["rmse"] < 0.05


def test_scale_free_an_affine_map_of_the_ratings_maps_the_predictions() -> None:
    data = funkrs.datasets.synthetic(200, 100, 4000, random_state=4)
    moved = funkrs.Ratings.from_arrays(
        data.raw_users(), data.raw_items(), 10.0 * np.asarray(data.values) - 7.0
    )

    def predictions(r: funkrs.Ratings) -> np.ndarray:
        m = funkrs.MatrixFactorization(solver="als", n_factors=8, random_state=0, clip=False)
        return np.asarray(m.fit(r).predict(r.raw_users()[:500], r.raw_items()[:500]))

    np.testing.assert_allclose(
        predictions(moved), 10.0 * predictions(data) - 7.0, rtol=1e-3, atol=1e-3
    )


def test_same_bits_for_any_thread_count_and_seed_matters() -> None:
    data = funkrs.datasets.synthetic(300, 120, 6000, random_state=1)

    def fit(threads: int, seed: int = 0) -> np.ndarray:
        m = funkrs.MatrixFactorization(
            solver="als", n_factors=16, n_threads=threads, random_state=seed
        )
        return np.asarray(m.fit(data).item_factors_)

    one = fit(1)
    for threads in (2, 4):
        np.testing.assert_array_equal(fit(threads), one)
    assert not np.array_equal(fit(1, seed=1), one)


def test_unbiased_has_no_biases_and_history_and_info_are_kept(tmp_path: Path) -> None:
    data = funkrs.datasets.synthetic(100, 60, 2000, random_state=5)
    model = funkrs.MatrixFactorization(
        solver="als", n_factors=4, biased=False, solver_options={"n_iter": 4}, random_state=0
    ).fit(data)
    assert not model.biased_
    assert not np.any(model.user_bias_)
    assert not np.any(model.item_bias_)
    assert model.history_.height == 4
    rmse = model.history_["train_rmse"].to_list()
    assert rmse == sorted(rmse, reverse=True)  # ALS never increases its training loss much
    assert len(model.solver_info_["seconds_per_iteration"]) == 4
    path = tmp_path / "als.funkrs"
    model.save(path)
    back = funkrs.persistence.load(path)
    np.testing.assert_array_equal(back.item_factors_, model.item_factors_)
    assert back.solver_info_ == model.solver_info_
    assert len(model.recommend(data.raw_users()[:3], n=5)) == 15


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"reg": 0.0}, "reg"),
        ({"reg": -1.0}, "reg"),
        ({"reg": float("nan")}, "reg"),
        ({"n_iter": -1}, "n_iter"),
        ({"n_iter": 2.5}, "n_iter"),
        ({"init_std": 0.0}, "init_std"),
        ({"standardize": "yes"}, "standardize"),
        ({"alpha": 1.0}, "alpha"),
    ],
)
def test_bad_options_name_the_option(options: dict[str, Any], named: str) -> None:
    data = funkrs.datasets.synthetic(30, 20, 200, random_state=0)
    with pytest.raises(InvalidParameterError, match=named):
        funkrs.MatrixFactorization(solver="als", solver_options=options).fit(data)


def test_estimator_arguments_it_does_not_take_are_refused() -> None:
    data = funkrs.datasets.synthetic(30, 20, 200, random_state=0)
    with pytest.raises(InvalidParameterError, match="lr"):
        funkrs.MatrixFactorization(solver="als", lr=0.1).fit(data)
