"""funk-sgd's ranking objective: sampled unobserved pairs as low targets."""

from __future__ import annotations

import pytest

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
    rating = funkrs.MatrixFactorization(**params).fit(train)
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
