"""funk-sgd's ranking objective: sampled unobserved pairs as low targets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funkrs


@pytest.fixture(scope="module")
def split() -> tuple[funkrs.Ratings, funkrs.Ratings]:
    data = funkrs.datasets.synthetic(600, 400, 30000, popularity=1.0, random_state=2)
    return funkrs.train_test_split(data, test_size=0.2, random_state=0)


def _ndcg(model: funkrs.MatrixFactorization, test: funkrs.Ratings) -> float:
    return funkrs.ranking.ranking_metrics(model, test, k=10, metrics=["ndcg"])["ndcg@10"]


def test_ranking_objective_ranks_better_than_the_rating_objective(split) -> None:
    train, test = split
    params = {"n_factors": 16, "random_state": 0}
    # Both rank by their own scores alone (no popularity term at recommend time).
    rating = funkrs.MatrixFactorization(**params, popularity_weight=0).fit(train)
    ranking = funkrs.MatrixFactorization(**params, solver_options={"objective": "ranking"})
    ranking.fit(train)
    assert _ndcg(ranking, test) > _ndcg(rating, test) + 0.05


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"objective": "pairwise"}, "objective"),
        ({"objective": "ranking", "negatives": -1}, "negatives"),
        ({"objective": "ranking", "negative_target": float("nan")}, "negative_target"),
        ({"objective": "ranking", "schedule": "feature-wise"}, "negatives"),
    ],
)
def test_bad_ranking_options_name_the_option(split, options, match) -> None:
    with pytest.raises(ValueError, match=match):
        funkrs.MatrixFactorization(n_factors=4, solver_options=options).fit(split[0])


@given(
    seed=st.integers(0, 2**16),
    n=st.integers(1, 30),
    options=st.sampled_from([None, {"objective": "ranking", "negatives": 2.0}]),
    weight=st.sampled_from(["auto", 0.0, 0.7]),
)
def test_recommend_lists_are_unseen_ranked_and_sorted(seed, n, options, weight) -> None:
    data = funkrs.datasets.synthetic(40, 25, 300, random_state=seed)
    model = funkrs.MatrixFactorization(
        n_factors=3,
        n_epochs=3,
        random_state=seed,
        solver_options=options,
        popularity_weight=weight,
    ).fit(data)
    recs = model.recommend(n=n)
    seen = set(zip(data.raw_users().tolist(), data.raw_items().tolist(), strict=True))
    assert not any((u, i) in seen for u, i in recs.select("user", "item").iter_rows())
    for _, group in recs.group_by("user", maintain_order=True):
        assert group["rank"].to_list() == list(range(1, group.height + 1))
        assert (np.diff(group["score"].to_numpy()) <= 0).all()


def test_an_unbiased_model_without_factor_columns_still_recommends() -> None:
    from funkrs.solvers import Factors, register

    @register("zero-width-unbiased", overwrite=True)
    class ZeroWidth:
        name = "zero-width-unbiased"
        protocol_version = 2
        rank_limited = True

        def fit(self, r, params):
            return Factors(
                np.zeros((r.n_users, 0), np.float32),
                np.zeros((r.n_items, 0), np.float32),
                np.zeros(r.n_users),
                np.zeros(r.n_items),
                3.0,
                biased=False,
                ranking=True,
            )

    data = funkrs.datasets.synthetic(30, 20, 200, random_state=0)
    model = funkrs.MatrixFactorization(solver="zero-width-unbiased").fit(data)
    assert model.recommend(users=data.raw_users()[:1], n=3).height == 3
