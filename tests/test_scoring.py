"""Offline scoring: Parquet output, neighbours, fold-in, id lookup."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import funkrs
from funkrs.exceptions import InvalidParameterError, RatingsError, UnknownIdError


@pytest.fixture(scope="module")
def trained() -> tuple[funkrs.MatrixFactorization, funkrs.Ratings]:
    data = funkrs.datasets.synthetic(300, 120, 9000, rank=4, noise=0.2, random_state=2)
    model = funkrs.MatrixFactorization(n_factors=8, n_epochs=60, random_state=0).fit(data)
    return model, data


def test_recommend_to_parquet_reads_back_to_the_same_frame(trained, tmp_path: Path) -> None:
    model, _ = trained
    out = tmp_path / "recs.parquet"
    rows = model.recommend_to_parquet(out, n=5, batch_size=37)
    back = pl.read_parquet(out)
    expected = model.recommend(n=5)
    assert rows == expected.height
    assert back.equals(expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recs.parquet"]
    some = model.users_.ids_array[:3]
    model.recommend_to_parquet(out, n=2, users=some)
    assert pl.read_parquet(out).equals(model.recommend(users=some, n=2))
    empty = tmp_path / "empty.parquet"
    assert model.recommend_to_parquet(empty, users=[]) == 0
    assert pl.read_parquet(empty).columns == ["user", "item", "score", "rank"]


def test_a_failed_parquet_run_leaves_nothing(trained, tmp_path: Path, monkeypatch) -> None:
    model, _ = trained
    calls = {"n": 0}
    real = pl.DataFrame.write_parquet

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", flaky)
    with pytest.raises(OSError, match="disk full"):
        model.recommend_to_parquet(tmp_path / "recs.parquet", batch_size=10)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UnknownIdError):
        model.recommend_to_parquet(tmp_path / "x.parquet", users=[10**12])
    assert list(tmp_path.iterdir()) == []


def test_edge_cases_of_recommend(trained) -> None:
    model, data = trained
    user = data.raw_users()[0]
    seen = set(data.raw_items()[data.raw_users() == user].tolist())
    every = model.recommend(users=[user], n=10_000)
    assert every.height == data.n_items - len(seen)
    assert not seen & set(every["item"].to_list())
    only_seen = model.recommend(users=[user], items=sorted(seen), n=5)
    assert only_seen.height == 0
    assert model.recommend(users=[user], n=0).height == 0
    with pytest.raises(InvalidParameterError, match=r"n must be a non-negative integer, got -1"):
        model.recommend(n=-1)


def test_n_beyond_the_items_returns_every_candidate(trained) -> None:
    model, data = trained
    users = data.raw_users()[:3]
    every = model.recommend(users=users, n=data.n_items)
    # A list never holds more than the items there are, however large n is.
    for n in (data.n_items + 1, 10**12, 2**63, 2**70, np.uint64(2**64 - 1)):
        assert model.recommend(users=users, n=n).equals(every)
    few = model.recommend(users=users, items=data.raw_items()[:4], n=10**15, exclude_seen=False)
    assert few.height == 3 * len(set(data.raw_items()[:4].tolist()))
    item = data.raw_items()[0]
    sims = model.similar_items([item], n=10**15)
    assert sims.height == data.n_items - 1
    assert sims.equals(model.similar_items([item], n=data.n_items - 1))
    assert model.similar_users([users[0]], n=2**70).height == data.n_users - 1


def test_scoring_options_are_checked(trained, tmp_path: Path) -> None:
    model, data = trained
    user, item = data.raw_users()[0], data.raw_items()[0]
    ok = model.recommend(users=[user], n=np.int64(3))
    assert ok.height == 3
    cases = [
        (lambda: model.recommend(users=[user], n=True), r"n must be .* got True \(bool\)"),
        (lambda: model.recommend(users=[user], n=2.0), r"n must be .* got 2\.0 \(float\)"),
        (lambda: model.recommend(users=[user], exclude_seen="no"), "exclude_seen must be True"),
        (lambda: model.similar_items([item], n="3"), "n must be a non-negative integer"),
        (lambda: model.similar_items([item], metric="Cosine"), "metric must be one of"),
        (lambda: model.similar_users([user], metric=None), "metric must be one of"),
        (
            lambda: model.recommend_to_parquet(tmp_path / "r.parquet", batch_size=0),
            r"batch_size must be a positive integer, got 0 \(int\)",
        ),
        (
            lambda: model.recommend_to_parquet(tmp_path / "r.parquet", batch_size=1.5),
            "batch_size must be a positive integer",
        ),
        (
            lambda: model.recommend_to_parquet(tmp_path / "r.parquet", progress="yes"),
            "progress must be True or False",
        ),
    ]
    for call, match in cases:
        with pytest.raises(InvalidParameterError, match=match):
            call()
    assert list(tmp_path.iterdir()) == []
    rows = model.recommend_to_parquet(tmp_path / "r.parquet", n=2, batch_size=np.int32(50))
    assert rows == 2 * data.n_users


def test_fold_in_arguments_are_checked(trained) -> None:
    model, data = trained
    model = _copy(model)
    before = model._state
    frame = data.to_frame()
    for method in ("fold_in", "fold_in_factors"):
        call = getattr(model, method)
        with pytest.raises(InvalidParameterError, match=rf"{method}: ratings must be funkrs"):
            call(frame)
        with pytest.raises(TypeError, match=r"got polars\.DataFrame"):
            call(frame)
    new = funkrs.Ratings.from_arrays([10**9] * 2, model.items_.ids_array[:2], [4.0, 3.0])
    for reg, shown in [(0, "0 (int)"), (-1.0, "-1.0 (float)"), (float("nan"), "nan (float)")]:
        for method in ("fold_in", "fold_in_factors"):
            message = f"reg must be a finite number > 0, got {shown}"
            with pytest.raises(InvalidParameterError, match=re.escape(message)):
                getattr(model, method)(new, reg=reg)
    model.reg = "strong"
    with pytest.raises(InvalidParameterError, match="reg must be a finite number > 0"):
        model.fold_in(new)
    assert model._state is before
    ids, p, _ = model.fold_in_factors(new, reg=np.float32(0.1))
    assert ids.tolist() == [10**9]
    assert np.isfinite(p).all()


def test_similar_users(trained) -> None:
    model, data = trained
    user = data.raw_users()[0]
    sims = model.similar_users([user], n=5)
    assert sims.columns == ["user", "similar", "score", "rank"]
    assert user not in sims["similar"].to_list()
    p = model.user_factors_ / np.linalg.norm(model.user_factors_, axis=1, keepdims=True)
    u = model.users_.numbers([user])[0]
    cos = p @ p[u]
    cos[u] = -np.inf
    expected = model.users_.ids(np.argsort(-cos, kind="stable")[:5])
    assert sims["similar"].to_list() == expected.tolist()


def test_fold_in_of_training_users_lands_close_to_the_trained_factors(trained) -> None:
    model, data = trained
    u0 = data.raw_users()[0]
    ids, _, _ = model.fold_in_factors(data.take(np.flatnonzero(data.raw_users() == u0)))
    assert ids.tolist() == [u0]
    # Every training user folded in again: same objective, different optimiser, so close to
    # the trained factors (not equal), judged over all users rather than one.
    ids, p, b = model.fold_in_factors(data)
    inner = model.users_.numbers(ids)
    trained_p, trained_b = model.user_factors_[inner], model.user_bias_[inner]
    rel = np.linalg.norm(p - trained_p, axis=1) / np.linalg.norm(trained_p, axis=1)
    assert np.median(rel) < 0.5, np.median(rel)
    assert np.abs(b - trained_b).max() < 0.25
    # The folded-in vector is nearest to the user's own trained vector for most users.
    dist = ((p[:, None, :] - model.user_factors_[None, :, :]) ** 2).sum(-1)
    assert (dist.argmin(axis=1) == inner).mean() > 0.7
    fold = p @ model.item_factors_.T + b[:, None]
    train = trained_p @ model.item_factors_.T + trained_b[:, None]
    corr = [np.corrcoef(x, y)[0, 1] for x, y in zip(fold, train, strict=True)]
    assert np.median(corr) > 0.95


def test_fold_in_adds_new_users_who_can_get_recommendations(trained) -> None:
    model, data = trained
    model = _copy(model)
    items = model.items_.ids_array[:6]
    new = funkrs.Ratings.from_arrays(
        [10**9] * 3 + [10**9 + 1] * 3, items, [5.0, 4.5, 1.0, 2.0, 2.5, 5.0]
    )
    n_before = model.n_users_
    model.fold_in(new)
    assert model.n_users_ == n_before + 2
    recs = model.recommend(users=[10**9], n=5)
    assert recs.height == 5
    assert not set(items[:3].tolist()) & set(recs["item"].to_list())
    assert np.isfinite(model.predict([10**9], [items[0]])).all()
    # Existing training users keep their factors and seen items.
    old_user = data.raw_users()[0]
    assert model.recommend(users=[old_user], n=3).height == 3
    with pytest.raises(ValueError, match="already in the model"):
        model.fold_in(new)


def test_fold_in_of_users_without_known_items_is_an_error(trained) -> None:
    model, _ = trained
    model = _copy(model)
    before = model._state
    known = model.items_.ids_array[:2]
    new = funkrs.Ratings.from_arrays(
        [10**9, 10**9, 10**9 + 1, 10**9 + 2], [known[0], known[1], -5, -6], [4.0, 3.0, 2.0, 5.0]
    )
    with pytest.raises(UnknownIdError, match=r"none of the items of user 1000000001 are known"):
        model.fold_in(new)
    with pytest.raises(UnknownIdError, match=r"\(2 such user"):
        model.fold_in_factors(new)
    assert model._state is before  # nothing was added
    # Some unknown items next to known ones are ignored.
    mixed = funkrs.Ratings.from_arrays([10**9] * 3, [known[0], -5, known[1]], [4.0, 2.0, 3.0])
    model.fold_in(mixed)
    assert 10**9 in model.users_


def test_fold_in_with_ids_of_the_wrong_kind_is_an_error(trained) -> None:
    model, _ = trained
    model = _copy(model)
    before = model._state
    items = model.items_.ids_array[:2]
    string_users = funkrs.Ratings.from_arrays(["new"] * 2, items, [4.0, 3.0])
    with pytest.raises(RatingsError, match="user ids of this model are integers, got strings"):
        model.fold_in(string_users)
    string_items = funkrs.Ratings.from_arrays([10**9] * 2, ["a", "b"], [4.0, 3.0])
    with pytest.raises(RatingsError, match="item ids of this model are integers, got strings"):
        model.fold_in(string_items)
    with pytest.raises(RatingsError, match="item ids of this model are integers"):
        model.fold_in_factors(string_items)
    assert model._state is before
    assert model.users_.ids_array.dtype == np.int64


def _copy(model: funkrs.MatrixFactorization) -> funkrs.MatrixFactorization:
    import pickle

    return pickle.loads(pickle.dumps(model))


def test_sparse_int_ids_use_the_hash_index_consistently() -> None:
    rng = np.random.default_rng(0)
    users = rng.choice(np.arange(-(2**60), 2**60, 2**40), 200, replace=False)
    items = np.arange(50) * 1_000_003
    u = np.repeat(users, 5)
    i = np.tile(items[:5], 200)
    data = funkrs.Ratings.from_arrays(u, i, rng.integers(1, 6, len(u)).astype(float))
    model = funkrs.MatrixFactorization(n_factors=4, n_epochs=3, random_state=0).fit(data)
    pred = model.predict(u, i)
    expected = model.predict(u, i, unknown="error")
    np.testing.assert_array_equal(pred, expected)
    assert model.users_.numbers([users[3], 12345], missing="negative")[1] == -1


@pytest.mark.parametrize("sparse_ids", [False, True])
@pytest.mark.parametrize("policy", ["baseline", "nan"])
def test_predict_of_raw_int_ids_matches_scoring_inner_ids(sparse_ids: bool, policy: str) -> None:
    rng = np.random.default_rng(5)
    data = funkrs.datasets.synthetic(200, 80, 3000, random_state=1)
    if sparse_ids:  # ids far apart: the hash index instead of the direct table
        data = funkrs.Ratings.from_arrays(
            data.raw_users() * 1_000_003 - 7, data.raw_items() * 99_991, data.values
        )
    model = funkrs.MatrixFactorization(n_factors=6, n_epochs=5, random_state=0).fit(data)
    known_u, known_i = model.users_.ids_array, model.items_.ids_array
    n = 50_000  # more than one parallel chunk
    users = np.where(rng.random(n) < 0.9, rng.choice(known_u, n), -123_456_789)
    items = np.where(rng.random(n) < 0.9, rng.choice(known_i, n), 10**15)
    got = model.predict(users, items, unknown=policy)
    # The reference: inner ids first, then the inner-id kernel.
    u = model.users_.numbers(users, missing="negative")
    i = model.items_.numbers(items, missing="negative")
    ref = funkrs._funkrs.predict(
        model.user_factors_,
        model.item_factors_,
        model.user_bias_,
        model.item_bias_,
        model.global_mean_,
        model.biased_,
        u,
        i,
        clip=model.rating_scale_,
        unknown_nan=policy == "nan",
    )
    np.testing.assert_array_equal(got, ref)
    assert np.isnan(got).any() == (policy == "nan")
    # Float ids holding whole numbers take the same path and give the same answer.
    np.testing.assert_array_equal(
        model.predict(users[:100].astype(np.float64), items[:100], unknown=policy), got[:100]
    )


def test_item_fold_in_of_training_items_lands_close_to_the_trained_factors(trained) -> None:
    model, data = trained
    ids, q, b = model.fold_in_factors(data, kind="items")
    assert ids.tolist() == data.item_vocab.ids_array.tolist()
    inner = model.items_.numbers(ids)
    trained_q, trained_b = model.item_factors_[inner], model.item_bias_[inner]
    rel = np.linalg.norm(q - trained_q, axis=1) / np.linalg.norm(trained_q, axis=1)
    assert np.median(rel) < 0.5, np.median(rel)
    assert np.abs(b - trained_b).max() < 0.25
    dist = ((q[:, None, :] - model.item_factors_[None, :, :]) ** 2).sum(-1)
    assert (dist.argmin(axis=1) == inner).mean() > 0.7
    # The mirror image of a user fold-in: fold-in of the transposed problem.
    one = data.take(np.flatnonzero(data.raw_items() == ids[0]))
    _, q1, b1 = model.fold_in_factors(one, kind="items")
    np.testing.assert_array_equal(q1[0], q[0])
    assert b1[0] == b[0]


def test_item_fold_in_solves_the_ridge_problem_against_the_user_factors(trained) -> None:
    model, _ = trained
    users = model.users_.ids_array[:7]
    new = funkrs.Ratings.from_arrays(users, [10**9] * 7, [5.0, 4.5, 1.0, 2.0, 2.5, 5.0, 3.0])
    _, q, b = model.fold_in_factors(new, reg=0.1, kind="items")
    p = model.user_factors_[model.users_.numbers(users)].astype(np.float64)
    bu = model.user_bias_[model.users_.numbers(users)].astype(np.float64)
    x = np.hstack([p, np.ones((7, 1))])
    y = new.values.astype(np.float64)[np.argsort(new.raw_users(), kind="stable")]
    y = y - model.global_mean_ - bu
    w = np.linalg.solve(x.T @ x + 0.1 * 7 * np.eye(x.shape[1]), x.T @ y)
    np.testing.assert_allclose(q[0], w[:-1], rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(b[0], w[-1], rtol=1e-3, atol=1e-4)


def test_fold_in_adds_new_items_that_get_recommended_and_predicted(trained) -> None:
    model, data = trained
    model = _copy(model)
    before = model._state
    users = model.users_.ids_array[:6]
    new = funkrs.Ratings.from_arrays(
        np.concatenate([users, users[:2]]),
        [10**9] * 3 + [10**9 + 1] * 5,
        [5.0, 4.5, 5.0, 1.0, 1.5, 1.0, 1.0, 1.5],
    )
    model.fold_in(new, kind="items")
    # Appended after the old items, which keep their numbers, factors and biases.
    assert model.items_.ids_array[: before.n_items].tolist() == before.items.ids_array.tolist()
    assert model.items_.ids_array[before.n_items :].tolist() == [10**9, 10**9 + 1]
    np.testing.assert_array_equal(model.item_factors_[: before.n_items], before.item_factors)
    np.testing.assert_array_equal(model.user_factors_, before.user_factors)
    ids, q, b = _copy_fold(before, new)
    assert ids.tolist() == [10**9, 10**9 + 1]
    np.testing.assert_array_equal(model.item_factors_[before.n_items :], q)
    np.testing.assert_array_equal(model.item_bias_[before.n_items :], b)
    # The new ratings count as seen: each user's row gains its new items, still sorted.
    for j, user in enumerate(users):
        u = int(model.users_.numbers([user])[0])
        row = model._seen_indices[model._seen_indptr[u] : model._seen_indptr[u + 1]]
        old_row = before.seen_indices[before.seen_indptr[u] : before.seen_indptr[u + 1]]
        added = [0, 1] if j < 2 else [0] if j < 3 else [1]
        assert row.tolist() == old_row.tolist() + [before.n_items + a for a in added]
    recs = model.recommend(users=[users[0]], n=model.n_items_)
    assert 10**9 not in recs["item"].to_list()  # seen
    other = data.raw_users()[-1]
    scores = model.predict([other, other], [10**9, 10**9 + 1])
    assert scores[0] > scores[1]  # liked vs disliked item
    # Popularity term from the raters' counts on the model's slope (3 and 5 raters).
    off = model.item_rank_offset_
    assert off[-1] > off[-2] > 0
    with pytest.raises(RatingsError, match=r"item\(s\) of fold_in are already in the model"):
        model.fold_in(new, kind="items")


def _copy_fold(st, new):
    m = funkrs.MatrixFactorization(n_factors=st.n_factors, random_state=0)
    m._state = st
    return m.fold_in_factors(new, kind="items")


def test_item_fold_in_errors_leave_the_model_unchanged(trained) -> None:
    model, _ = trained
    model = _copy(model)
    before = model._state
    users = model.users_.ids_array[:2]
    new = funkrs.Ratings.from_arrays(
        [users[0], users[1], 10**9, 10**9 + 1], [-1, -1, -2, -3], [4.0, 3.0, 2.0, 5.0]
    )
    with pytest.raises(UnknownIdError, match=r"none of the users of item -3 are known"):
        model.fold_in(new, kind="items")
    with pytest.raises(UnknownIdError, match=r"\(2 such item"):
        model.fold_in_factors(new, kind="items")
    with pytest.raises(InvalidParameterError, match=r"kind must be .users. or .items., got .item."):
        model.fold_in(new, kind="item")
    string_users = funkrs.Ratings.from_arrays(["a", "b"], [-1, -1], [4.0, 3.0])
    with pytest.raises(RatingsError, match="user ids of this model are integers, got strings"):
        model.fold_in(string_users, kind="items")
    with pytest.raises(InvalidParameterError, match="reg must be a finite number > 0"):
        model.fold_in(new, reg=0.0, kind="items")
    assert model._state is before
    # Unknown users next to known ones are ignored.
    mixed = funkrs.Ratings.from_arrays([users[0], 10**9, users[1]], [-1] * 3, [4.0, 2.0, 3.0])
    model.fold_in(mixed, kind="items")
    assert -1 in model.items_
    assert model.n_users_ == before.n_users


def test_item_fold_in_round_trips_through_a_file(trained, tmp_path: Path) -> None:
    model, _ = trained
    model = _copy(model)
    new = funkrs.Ratings.from_arrays(model.users_.ids_array[:4], [-7] * 4, [4.0, 3.0, 5.0, 4.0])
    model.fold_in(new, kind="items")
    model.save(tmp_path / "m.funkrs")
    back = funkrs.load(tmp_path / "m.funkrs")
    np.testing.assert_array_equal(back.item_factors_, model.item_factors_)
    assert back.items_.ids_array.tolist() == model.items_.ids_array.tolist()
    assert back.recommend(n=3).equals(model.recommend(n=3))
