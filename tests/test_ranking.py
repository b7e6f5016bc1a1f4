from __future__ import annotations

import math

import numpy as np
import pytest

import funkrs
from funkrs.ranking import ranking_metrics
from funkrs.solvers import Factors

L3 = 1 / math.log2(3)


@pytest.fixture
def fixed_model() -> funkrs.MatrixFactorization:
    """Every user ranks items 10 > 11 > 12 > 13 > 14 > 15 (unbiased, one factor)."""
    train = funkrs.Ratings.from_arrays(
        [1, 1, 2, 2, 2, 2], [10, 14, 15, 11, 12, 13], [3.0] * 6, rating_scale=(1, 5)
    )
    model = funkrs.MatrixFactorization(n_factors=1, n_epochs=1).fit(train)
    q = np.array([[6.0], [5.0], [4.0], [3.0], [2.0], [1.0]])  # items 10..15 in vocab order
    factors = Factors(np.ones((2, 1)), q, np.zeros(2), np.zeros(6), 3.0, biased=False)
    model._set_fitted(train, factors.validate(2, 6))
    return model


@pytest.fixture
def test_set() -> funkrs.Ratings:
    # user 1 gets 11, 12, 13; user 2 (few candidates left) gets 10, 14; user 3 is unknown.
    return funkrs.Ratings.from_arrays(
        [1, 1, 1, 2, 2, 2, 3],
        [12, 15, 13, 10, 14, 99, 10],
        [5.0, 4.5, 2.0, 4.0, 4.0, 5.0, 5.0],
    )


def test_lists(fixed_model: funkrs.MatrixFactorization) -> None:
    recs = fixed_model.recommend(users=[1, 2], n=3)
    assert recs["item"].to_list() == [11, 12, 13, 10, 14]


def test_hand_computed(fixed_model: funkrs.MatrixFactorization, test_set: funkrs.Ratings) -> None:
    got = ranking_metrics(fixed_model, test_set, k=3)
    # user 1: relevant {12, 15}, hit at rank 2; user 2: relevant {10, 14, 99}, hits at 1, 2.
    assert got["precision@3"] == pytest.approx((1 / 3 + 2 / 3) / 2)
    assert got["recall@3"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    ndcg1 = L3 / (1 + L3)
    ndcg2 = (1 + L3) / (1 + L3 + 0.5)
    assert got["ndcg@3"] == pytest.approx((ndcg1 + ndcg2) / 2)
    assert got["map@3"] == pytest.approx((0.5 / 2 + (1 + 1) / 3) / 2)
    assert got["coverage@3"] == pytest.approx(5 / 6)


def test_threshold(fixed_model: funkrs.MatrixFactorization, test_set: funkrs.Ratings) -> None:
    got = ranking_metrics(fixed_model, test_set, k=3, threshold=5.0)
    # user 1: relevant {12} (hit at rank 2); user 2: relevant {99}, never recommendable.
    assert got["precision@3"] == pytest.approx(1 / 6)
    assert got["recall@3"] == pytest.approx(0.5)
    assert got["ndcg@3"] == pytest.approx(L3 / 2)
    assert got["map@3"] == pytest.approx(0.25)


def test_no_relevant_users(fixed_model: funkrs.MatrixFactorization) -> None:
    test = funkrs.Ratings.from_arrays([1, 2], [12, 10], [1.0, 2.0])
    got = ranking_metrics(fixed_model, test, k=2, metrics=["precision"])
    assert math.isnan(got["precision@2"])


def test_evaluate_names(fixed_model: funkrs.MatrixFactorization, test_set: funkrs.Ratings) -> None:
    got = funkrs.evaluate(fixed_model, test_set, ["ndcg@3", "rmse", "precision@1"])
    assert list(got) == ["ndcg@3", "rmse", "precision@1"]
    assert got["precision@1"] == pytest.approx(0.5)  # user 1 gets 11 (miss), user 2 gets 10
    assert set(funkrs.evaluate(fixed_model, test_set)) == {"rmse", "mae"}
    strict = funkrs.evaluate(fixed_model, test_set, ["recall@3"], threshold=5.0)
    assert strict["recall@3"] == pytest.approx(0.5)


@pytest.mark.parametrize("bad", ["ndcg", "ndcg@0", "ndcg@x", "auc@5", "rmse@3"])
def test_bad_names(fixed_model: funkrs.MatrixFactorization, test_set, bad: str) -> None:
    with pytest.raises(ValueError, match="unknown metric"):
        funkrs.evaluate(fixed_model, test_set, [bad])


def _reference(model, test, k, threshold):
    """Per-user Python loop (test only)."""
    seen_users = set(model.users_.ids_array.tolist())
    rel: dict = {}
    for u, i, r in zip(
        test.raw_users().tolist(), test.raw_items().tolist(), test.values, strict=True
    ):
        if r >= threshold and u in seen_users:
            rel.setdefault(u, set()).add(i)
    prec, rec, ndcg, ap, items = [], [], [], [], set()
    for u, relevant in rel.items():
        recs = model.recommend(users=[u], n=k)["item"].to_list()
        items.update(recs)
        hits = [1.0 if i in relevant else 0.0 for i in recs]
        prec.append(sum(hits) / k)
        rec.append(sum(hits) / len(relevant))
        m = min(k, len(relevant))
        dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
        ndcg.append(dcg / sum(1 / math.log2(r + 2) for r in range(m)))
        ap.append(sum(h * sum(hits[: r + 1]) / (r + 1) for r, h in enumerate(hits)) / m)
    return {
        f"precision@{k}": np.mean(prec),
        f"recall@{k}": np.mean(rec),
        f"ndcg@{k}": np.mean(ndcg),
        f"map@{k}": np.mean(ap),
        f"coverage@{k}": len(items) / model.n_items_,
    }


@pytest.mark.parametrize("k", [1, 5, 20])
def test_matches_loop_reference(k: int) -> None:
    data = funkrs.datasets.synthetic(80, 60, 2500, random_state=3)
    train, test = funkrs.train_test_split(data, random_state=0)
    model = funkrs.MatrixFactorization(n_factors=4, n_epochs=5, random_state=0).fit(train)
    got = ranking_metrics(model, test, k=k, threshold=3.5)
    want = _reference(model, test, k, 3.5)
    assert got == pytest.approx(want)
