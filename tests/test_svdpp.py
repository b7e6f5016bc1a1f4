"""svdpp: SVD++ recovers low-rank data, is deterministic, scale-free, and checks its options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import funkrs
from _grid_solvers import exact_low_rank, held_out_rmse
from funkrs.exceptions import InvalidParameterError


def test_recovers_a_noise_free_low_rank_set() -> None:
    data = exact_low_rank(300, 200, 3, 0.3, nonnegative=False)
    train, test = funkrs.train_test_split(data, test_size=0.2, random_state=0)
    opts = {"n_epochs": 200, "lr": 0.02, "reg": 0.0, "lr_y": 0.1}
    model = funkrs.MatrixFactorization(
        solver="svdpp", n_factors=3, solver_options=opts, random_state=0
    ).fit(train)
    assert held_out_rmse(model, test) < 0.05
    history = model.solver_info_["train_rmse"]
    assert len(history) == 200
    assert history[-1] < 0.05 < history[0]


def test_same_factors_for_1_2_4_threads_and_the_seed_matters() -> None:
    data = funkrs.datasets.synthetic(400, 150, 9000, random_state=1)

    def fit(threads: int, seed: int = 0) -> funkrs.MatrixFactorization:
        return funkrs.MatrixFactorization(
            solver="svdpp", n_factors=10, n_threads=threads, random_state=seed
        ).fit(data)

    one = fit(1)
    for threads in (2, 4):
        other = fit(threads)
        np.testing.assert_array_equal(other.user_factors_, one.user_factors_)
        np.testing.assert_array_equal(other.item_factors_, one.item_factors_)
        np.testing.assert_array_equal(other.user_bias_, one.user_bias_)
        np.testing.assert_array_equal(other.item_bias_, one.item_bias_)
    assert not np.array_equal(fit(1, seed=1).user_factors_, one.user_factors_)


def test_the_implicit_part_changes_the_model_and_lr_y_0_turns_it_off() -> None:
    data = funkrs.datasets.synthetic(200, 100, 5000, random_state=3)

    def fit(lr_y: float) -> np.ndarray:
        m = funkrs.MatrixFactorization(
            solver="svdpp", n_factors=6, solver_options={"lr_y": lr_y}, random_state=0
        )
        return np.asarray(m.fit(data).user_factors_)

    assert not np.array_equal(fit(0.0), fit(0.3))


def test_scale_free_an_affine_map_of_the_ratings_maps_the_predictions() -> None:
    data = funkrs.datasets.synthetic(200, 100, 5000, random_state=4)
    moved = funkrs.Ratings.from_arrays(
        data.raw_users(), data.raw_items(), 7.0 * np.asarray(data.values) - 20.0
    )
    a = funkrs.MatrixFactorization(solver="svdpp", n_factors=5, random_state=0).fit(data)
    b = funkrs.MatrixFactorization(solver="svdpp", n_factors=5, random_state=0).fit(moved)
    users, items = data.raw_users()[:200], data.raw_items()[:200]
    np.testing.assert_allclose(
        b.predict(users, items), 7.0 * a.predict(users, items) - 20.0, rtol=1e-3, atol=2e-2
    )


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("lr", 0.0),
        ("lr", float("nan")),
        ("reg", -1.0),
        ("lr_y", -0.5),
        ("init_std", float("inf")),
        ("n_epochs", 2.5),
        ("n_epochs", -1),
        ("alpha", 1.0),
    ],
)
def test_bad_options_name_the_option(option: str, value: float) -> None:
    data = funkrs.datasets.synthetic(30, 20, 200, random_state=0)
    model = funkrs.MatrixFactorization(solver="svdpp", solver_options={option: value})
    with pytest.raises(InvalidParameterError, match=option):
        model.fit(data)


def test_a_diverging_fit_is_an_error_naming_lr() -> None:
    data = funkrs.datasets.synthetic(100, 50, 2000, random_state=0)
    model = funkrs.MatrixFactorization(
        solver="svdpp", n_factors=4, solver_options={"lr": 50.0}, random_state=0
    )
    with pytest.raises(funkrs.exceptions.ConvergenceError, match="lr"):
        model.fit(data)


def test_persistence_recommend_similar_items_and_evaluate(tmp_path: Path) -> None:
    data = funkrs.datasets.synthetic(150, 80, 3000, random_state=0)
    train, test = funkrs.train_test_split(data, test_size=0.2, random_state=0)
    model = funkrs.MatrixFactorization(solver="svdpp", n_factors=6, random_state=0).fit(train)
    scores = funkrs.evaluate(model, test, metrics=["rmse", "ndcg@10"])
    assert set(scores) == {"rmse", "ndcg@10"}
    assert np.isfinite(scores["rmse"])
    model.save(tmp_path / "svdpp.funkrs")
    again = funkrs.load(tmp_path / "svdpp.funkrs")
    np.testing.assert_array_equal(again.user_factors_, model.user_factors_)
    np.testing.assert_array_equal(
        again.predict(test.raw_users(), test.raw_items()),
        model.predict(test.raw_users(), test.raw_items()),
    )
    assert again.solver_info_ == model.solver_info_
    assert again.recommend(users=train.raw_users()[:3], n=5).height == 15
    assert again.similar_items(train.raw_items()[:2], n=4).height == 8
