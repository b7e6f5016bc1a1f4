"""for_top_n and implicit-als on ratings: scale-free confidences, better lists than popularity."""

from __future__ import annotations

import numpy as np
import pytest

import funkrs
from funkrs.exceptions import InvalidParameterError
from funkrs.ranking import ranking_metrics


def _ndcg(model: funkrs.MatrixFactorization, test: funkrs.Ratings, threshold: float) -> float:
    got = ranking_metrics(model, test, k=10, metrics=["ndcg"], threshold=threshold)
    return got["ndcg@10"]


def _ials(**options: object) -> funkrs.MatrixFactorization:
    return funkrs.MatrixFactorization(
        solver="implicit-als", n_factors=8, solver_options=options, random_state=0
    )


@pytest.fixture(scope="module")
def stars() -> funkrs.Ratings:
    # Integer stars 1..5, so that any affine image of them is exact in float32.
    data = funkrs.datasets.synthetic(300, 200, 8000, random_state=3)
    return funkrs.Ratings.from_arrays(
        data.raw_users(), data.raw_items(), np.ceil(data.values), rating_scale=(1.0, 5.0)
    )


def test_rating_confidence_does_not_depend_on_the_unit(stars: funkrs.Ratings) -> None:
    # -4..4 in steps of 2: the same ratings in another unit, negative ones included.
    shifted = funkrs.Ratings.from_arrays(
        stars.raw_users(), stars.raw_items(), 2.0 * stars.values - 6.0, rating_scale=(-4.0, 4.0)
    )
    one = _ials(confidence="rating").fit(stars)
    other = _ials(confidence="rating").fit(shifted)
    np.testing.assert_array_equal(one.item_factors_, other.item_factors_)
    np.testing.assert_array_equal(one.user_factors_, other.user_factors_)


def test_rating_confidence_is_weight_confidence_of_the_position_on_the_scale(
    stars: funkrs.Ratings,
) -> None:
    # confidence="rating" is confidence="weight" on (r - lo) / (hi - lo).
    position = funkrs.Ratings.from_arrays(
        stars.raw_users(), stars.raw_items(), (stars.values - 1.0) / 4.0
    )
    got = _ials(confidence="rating", alpha=3.0).fit(stars)
    want = _ials(confidence="weight", alpha=3.0).fit(position)
    np.testing.assert_array_equal(got.item_factors_, want.item_factors_)


def test_a_single_valued_scale_makes_every_interaction_count_one() -> None:
    clicks = funkrs.Ratings.from_arrays(np.arange(120) % 40, (np.arange(120) * 7) % 30)
    assert clicks.rating_scale == (1.0, 1.0)
    got = _ials(confidence="rating").fit(clicks)
    want = _ials(confidence="weight").fit(clicks)
    np.testing.assert_array_equal(got.item_factors_, want.item_factors_)


def test_negative_ratings_need_the_rating_confidence() -> None:
    data = funkrs.Ratings.from_arrays(
        np.array([1, 2, 2, 3]), np.array([1, 1, 2, 2]), np.array([-3.0, 2.0, 5.0, -1.0])
    )
    with pytest.raises(InvalidParameterError, match="values >= 0"):
        _ials().fit(data)
    model = _ials(confidence="rating").fit(data)
    assert np.isfinite(model.item_factors_).all()


def test_a_bad_confidence_names_the_option(stars: funkrs.Ratings) -> None:
    with pytest.raises(InvalidParameterError, match="confidence"):
        _ials(confidence="count").fit(stars)


def test_for_top_n_merges_overrides() -> None:
    model = funkrs.MatrixFactorization.for_top_n(
        random_state=1, n_factors=16, solver_options={"n_iter": 3}
    )
    defaults = funkrs.MatrixFactorization.FOR_TOP_N
    assert model.solver == defaults["solver"]
    assert (model.n_factors, model.random_state) == (16, 1)
    assert model.solver_options == {**defaults["solver_options"], "n_iter": 3}
    # Another solver keeps only the rank: implicit-als' options would not apply to it.
    other = funkrs.MatrixFactorization.for_top_n(solver="imputed-svd")
    assert other.solver == "imputed-svd"
    assert other.n_factors == defaults["n_factors"]
    assert other.solver_options is None


@pytest.mark.parametrize(("scale", "step"), [((1.0, 5.0), 1.0), ((-10.0, 10.0), None)])
def test_for_top_n_lists_beat_popularity_and_the_default_on_any_scale(
    scale: tuple[float, float], step: float | None
) -> None:
    # Popularity and taste both decide what people rate (as in choice_shapes); the -10..10
    # scale checks that no step assumes positive ratings.
    data = funkrs.datasets.synthetic(
        3000,
        1500,
        150_000,
        popularity=0.9,
        selection=2.0,
        pool=16,
        rating_scale=scale,
        step=step,
        random_state=4,
    )
    train, test = funkrs.train_test_split(data, test_size=0.2, random_state=0)
    lo, hi = scale
    threshold = lo + 0.75 * (hi - lo)
    top = funkrs.MatrixFactorization.for_top_n(random_state=0).fit(train)
    pop = funkrs.MatrixFactorization(solver="popularity").fit(train)
    default = funkrs.MatrixFactorization(n_factors=32, random_state=0).fit(train)
    got = _ndcg(top, test, threshold)
    assert got > 1.1 * _ndcg(pop, test, threshold)
    assert got > _ndcg(default, test, threshold)
