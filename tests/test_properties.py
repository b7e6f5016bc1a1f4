"""Hypothesis properties of ingestion, prediction, ranking and persistence."""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funkrs


@st.composite
def rating_sets(draw: st.DrawFn) -> funkrs.Ratings:
    n_users = draw(st.integers(1, 12))
    n_items = draw(st.integers(1, 12))
    cells = draw(
        st.sets(
            st.tuples(st.integers(0, n_users - 1), st.integers(0, n_items - 1)),
            min_size=1,
            max_size=n_users * n_items,
        )
    )
    users, items = (np.array(x) for x in zip(*sorted(cells), strict=True))
    values = draw(
        hnp.arrays(np.float64, len(users), elements=st.sampled_from([1.0, 2.5, 4.0, 5.0]))
    )
    as_str = draw(st.booleans())
    u = np.array([f"user-{x}" for x in users]) if as_str else users * 7 - 3
    return funkrs.Ratings.from_arrays(u, items + 100, values)


@given(rating_sets())
def test_ratings_keep_every_raw_pair(r: funkrs.Ratings) -> None:
    back = r.to_frame()
    assert back.height == len(r)
    assert len(set(zip(r.raw_users(), r.raw_items(), strict=True))) == len(r)
    assert r.users.max() < r.n_users
    assert r.items.max() < r.n_items


@given(rating_sets(), st.integers(0, 2**32))
def test_fit_predict_invariants(r: funkrs.Ratings, seed: int) -> None:
    model = funkrs.MatrixFactorization(n_factors=3, n_epochs=3, random_state=seed, n_threads=1)
    model.fit(r)
    pred = model.predict(r.raw_users(), r.raw_items())
    assert pred.dtype == np.float32
    assert pred.shape == (len(r),)
    lo, hi = r.rating_scale
    assert np.all((pred >= lo) & (pred <= hi))
    again = funkrs.MatrixFactorization(n_factors=3, n_epochs=3, random_state=seed, n_threads=2)
    np.testing.assert_array_equal(again.fit(r).user_factors_, model.user_factors_)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict(r.raw_users(), r.raw_items()), pred)
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "m.funkrs")
        loaded = funkrs.load(Path(tmp) / "m.funkrs")
    np.testing.assert_array_equal(loaded.predict(r.raw_users(), r.raw_items()), pred)


@given(rating_sets(), st.integers(0, 15), st.booleans())
def test_recommend_equals_a_brute_force_sort(r: funkrs.Ratings, n: int, exclude: bool) -> None:
    # Without the popularity term, the ranking score is the prediction itself.
    model = funkrs.MatrixFactorization(
        n_factors=2, n_epochs=2, random_state=0, popularity_weight=0
    ).fit(r)
    recs = model.recommend(n=n, exclude_seen=exclude)
    all_items = model.items_.ids_array
    for u_inner, user in enumerate(model.users_.ids_array):
        scores = model.predict(np.repeat(user, len(all_items)), all_items, clip=False)
        order = sorted(range(len(all_items)), key=lambda j: (-scores[j], j))
        if exclude:
            seen = set(r.items[r.users == u_inner].tolist())
            order = [j for j in order if j not in seen]
        expected = all_items[order[:n]].tolist()
        got = recs.filter(recs["user"] == user)
        assert got["rank"].to_list() == list(range(1, len(expected) + 1))
        if got["item"].to_list() != expected:
            # recommend and predict add μ, the biases and the dot product in different orders,
            # so scores a float32 rounding apart may swap places; anything more is an error.
            by_item = dict(zip(all_items.tolist(), scores.tolist(), strict=True))
            got_scores = [by_item[i] for i in got["item"].to_list()]
            want_scores = [by_item[i] for i in expected]
            np.testing.assert_allclose(got_scores, want_scores, rtol=2e-6, atol=4e-6)
            assert len(set(got["item"].to_list())) == len(expected)
