"""nmf: non-negative factors on any scale, recovery, determinism and its options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funkrs
from _grid_solvers import exact_low_rank, held_out_rmse
from funkrs.exceptions import InvalidParameterError


def test_recovers_a_noise_free_non_negative_low_rank_set() -> None:
    data = exact_low_rank(300, 200, 3, 0.3, nonnegative=True)
    train, test = funkrs.train_test_split(data, test_size=0.2, random_state=0)
    opts = {"n_epochs": 200, "lr": 0.02, "reg": 0.0}
    model = funkrs.MatrixFactorization(
        solver="nmf", n_factors=3, solver_options=opts, random_state=0
    ).fit(train)
    assert held_out_rmse(model, test) < 0.05
    assert model.user_factors_.min() >= 0
    assert model.item_factors_.min() >= 0


@st.composite
def rating_sets(draw: st.DrawFn) -> funkrs.Ratings:
    n_users = draw(st.integers(2, 25))
    n_items = draw(st.integers(2, 25))
    cells = draw(
        st.sets(
            st.tuples(st.integers(0, n_users - 1), st.integers(0, n_items - 1)),
            min_size=1,
            max_size=n_users * n_items,
        )
    )
    lo = draw(st.floats(-100, 100))
    width = draw(st.floats(0.0, 200))
    values = draw(st.lists(st.floats(0, 1), min_size=len(cells), max_size=len(cells)))
    users, items = (np.array(c) for c in zip(*sorted(cells), strict=True))
    return funkrs.Ratings.from_arrays(users, items, lo + width * np.array(values))


@settings(deadline=None)
@given(rating_sets(), st.integers(1, 6), st.integers(0, 2**32))
def test_factors_are_never_negative(data: funkrs.Ratings, k: int, seed: int) -> None:
    model = funkrs.MatrixFactorization(
        solver="nmf", n_factors=k, solver_options={"n_epochs": 5}, random_state=seed
    ).fit(data)
    assert model.user_factors_.min() >= 0.0
    assert model.item_factors_.min() >= 0.0
    assert np.isfinite(model.predict(data.raw_users(), data.raw_items())).all()


def test_negative_ratings_are_fitted_with_non_negative_factors() -> None:
    data = exact_low_rank(200, 100, 2, 0.3, nonnegative=True, seed=1)
    jester = funkrs.Ratings.from_arrays(
        data.raw_users(), data.raw_items(), 4.0 * np.asarray(data.values) - 18.0
    )
    assert jester.values.min() < 0
    model = funkrs.MatrixFactorization(solver="nmf", n_factors=4, random_state=0).fit(jester)
    base = funkrs.MatrixFactorization(solver="baseline").fit(jester)
    fitted = funkrs.evaluate(model, jester, metrics=["rmse"])["rmse"]
    assert fitted < 0.9 * funkrs.evaluate(base, jester, metrics=["rmse"])["rmse"]
    assert model.user_factors_.min() >= 0
    assert model.item_factors_.min() >= 0


def test_same_factors_for_1_2_4_threads_and_the_seed_matters() -> None:
    data = funkrs.datasets.synthetic(400, 150, 9000, random_state=1)

    def fit(threads: int, seed: int = 0) -> funkrs.MatrixFactorization:
        return funkrs.MatrixFactorization(
            solver="nmf", n_factors=10, n_threads=threads, random_state=seed
        ).fit(data)

    one = fit(1)
    for threads in (2, 4):
        other = fit(threads)
        np.testing.assert_array_equal(other.user_factors_, one.user_factors_)
        np.testing.assert_array_equal(other.item_factors_, one.item_factors_)
        np.testing.assert_array_equal(other.item_bias_, one.item_bias_)
    assert not np.array_equal(fit(1, seed=1).item_factors_, one.item_factors_)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("lr", -1.0),
        ("reg", float("nan")),
        ("init_high", 0.0),
        ("n_epochs", "ten"),
        ("lr_y", 0.1),
    ],
)
def test_bad_options_name_the_option(option: str, value: object) -> None:
    data = funkrs.datasets.synthetic(30, 20, 200, random_state=0)
    model = funkrs.MatrixFactorization(solver="nmf", solver_options={option: value})
    with pytest.raises(InvalidParameterError, match=option):
        model.fit(data)


def test_persistence_recommend_similar_items_and_evaluate(tmp_path: Path) -> None:
    data = funkrs.datasets.synthetic(150, 80, 3000, random_state=0)
    train, test = funkrs.train_test_split(data, test_size=0.2, random_state=0)
    model = funkrs.MatrixFactorization(solver="nmf", n_factors=6, random_state=0).fit(train)
    scores = funkrs.evaluate(model, test, metrics=["rmse", "ndcg@10"])
    assert set(scores) == {"rmse", "ndcg@10"}
    model.save(tmp_path / "nmf.funkrs")
    again = funkrs.load(tmp_path / "nmf.funkrs")
    np.testing.assert_array_equal(again.item_factors_, model.item_factors_)
    assert again.solver_info_ == model.solver_info_
    assert again.recommend(users=train.raw_users()[:3], n=5).height == 15
    assert again.similar_items(train.raw_items()[:2], n=4).height == 8
