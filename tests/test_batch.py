"""The engine-neutral Arrow kernels of funkrs.batch against the in-process model."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import funkrs
from funkrs import batch as fb
from funkrs.exceptions import InvalidParameterError, NotFittedError, UnknownIdError

pa = pytest.importorskip("pyarrow")


@pytest.fixture(scope="module")
def data() -> funkrs.Ratings:
    return funkrs.datasets.synthetic(400, 120, 6000, random_state=3)


@pytest.fixture(scope="module")
def model(data: funkrs.Ratings) -> funkrs.MatrixFactorization:
    return funkrs.MatrixFactorization(n_factors=6, n_epochs=5, random_state=0).fit(data)


def _readonly(values: np.ndarray) -> np.ndarray:
    out = np.array(values)
    out.flags.writeable = False
    return out


@pytest.mark.parametrize("threads", [1, 2])
def test_recommend_batch_is_recommend(model: funkrs.MatrixFactorization, threads: int) -> None:
    users = _readonly(np.asarray(model._fitted().users.ids_array)[::3])
    got = pl.from_arrow(
        fb.recommend_batch(model, pa.record_batch({"user": users}), 7, n_threads=threads)
    )
    assert got.equals(model.recommend(users, 7))
    seen = pl.from_arrow(
        fb.recommend_batch(model, pa.table({"user": users}), 7, exclude_seen=False, n_threads=1)
    )
    assert seen.equals(model.recommend(users, 7, exclude_seen=False))


def test_recommend_batch_string_ids(fitted: funkrs.MatrixFactorization) -> None:
    users = fitted._fitted().users.ids_array[:10]
    out = fb.recommend_batch(fitted, pa.record_batch({"user": pa.array(users.tolist())}), 3)
    assert pl.from_arrow(out).equals(fitted.recommend(users, 3))


def test_exclusion_frame_adds_to_seen(model: funkrs.MatrixFactorization) -> None:
    users = np.asarray(model._fitted().users.ids_array[:5])
    ref = model.recommend(users, 4)
    drop = ref.filter(pl.col("rank") <= 2).select("user", "item").to_arrow()
    out = pl.from_arrow(fb.recommend_batch(model, pa.table({"user": users}), 2, exclude=drop))
    again = ref.filter(pl.col("rank") > 2).with_columns(pl.col("rank") - 2)
    assert out.equals(again)


def test_unknown_users_follow_the_policy(model: funkrs.MatrixFactorization) -> None:
    known = int(model._fitted().users.ids_array[0])
    batch = pa.record_batch({"user": [known, 10**12, known]})
    base = pl.from_arrow(fb.recommend_batch(model, batch, 3))
    assert base.height == 9
    assert base.filter(pl.col("user") == known).equals(model.recommend([known, known], 3))
    st = model._fitted()
    bias = st.item_bias + st.item_rank_offset
    assert base.filter(pl.col("user") == 10**12)["item"].to_list() == [
        int(st.items.ids_array[j]) for j in np.argsort(-bias, kind="stable")[:3]
    ]
    model.set_params(unknown="nan")
    try:
        nan = pl.from_arrow(fb.recommend_batch(model, batch, 3))
        assert nan.equals(model.recommend([known, known], 3))
        model.set_params(unknown="error")
        with pytest.raises(UnknownIdError, match="user 1000000000000"):
            fb.recommend_batch(model, batch, 3)
    finally:
        model.set_params(unknown="baseline")


def test_predict_batch_is_predict(data: funkrs.Ratings, model: funkrs.MatrixFactorization) -> None:
    u, i = _readonly(data.raw_users()[:500]), _readonly(data.raw_items()[:500])
    out = fb.predict_batch(model, pa.record_batch({"user": u, "item": i, "x": u}), n_threads=2)
    assert out.schema.names == ["user", "item", "x", "prediction"]
    np.testing.assert_array_equal(out.column(3).to_numpy(), model.predict(u, i))


def test_similar_items_batch_is_similar_items(model: funkrs.MatrixFactorization) -> None:
    items = np.asarray(model._fitted().items.ids_array[:9])
    out = fb.similar_items_batch(model, pa.record_batch({"item": items}), 4, metric="dot")
    assert pl.from_arrow(out).equals(model.similar_items(items, 4, metric="dot"))


def test_model_bytes_round_trip(model: funkrs.MatrixFactorization) -> None:
    again = fb.model_from_bytes(fb.model_to_bytes(model))
    users = np.asarray(model._fitted().users.ids_array[:20])
    assert again.recommend(users, 5).equals(model.recommend(users, 5))
    assert fb.cached_model(key="k-test", data=lambda: fb.model_to_bytes(model)) is fb.cached_model(
        key="k-test", data=None
    )


def test_bad_input_is_named(model: funkrs.MatrixFactorization) -> None:
    with pytest.raises(InvalidParameterError, match=r"column 'uid'.*columns are \['user'\]"):
        fb.recommend_batch(model, pa.record_batch({"user": [1]}), user="uid")
    with pytest.raises(InvalidParameterError, match=r"holds string.*integers.*bigint"):
        fb.recommend_batch(model, pa.record_batch({"user": ["a"]}))
    with pytest.raises(InvalidParameterError, match="holds double"):
        fb.predict_batch(model, pa.record_batch({"user": [1], "item": [1.0]}))
    with pytest.raises(InvalidParameterError, match="1 null user"):
        fb.recommend_batch(model, pa.record_batch({"user": pa.array([1, None])}))
    with pytest.raises(InvalidParameterError, match="n_threads"):
        fb.recommend_batch(model, pa.record_batch({"user": [1]}), n_threads=0)
    with pytest.raises(NotFittedError, match="not fitted"):
        fb.recommend_batch(funkrs.MatrixFactorization(), pa.record_batch({"user": [1]}))


def test_empty_and_all_unknown_batches(model: funkrs.MatrixFactorization) -> None:
    empty = fb.recommend_batch(model, pa.record_batch({"user": pa.array([], pa.int64())}), 5)
    assert empty.num_rows == 0
    assert empty.schema.names == ["user", "item", "score", "rank"]
    model.set_params(unknown="nan")
    try:
        none = fb.recommend_batch(model, pa.record_batch({"user": [10**12, 10**13]}), 5)
    finally:
        model.set_params(unknown="baseline")
    assert none.num_rows == 0
    both = fb.recommend_batch(model, pa.record_batch({"user": [10**12, 10**13]}), 5)
    assert both.column(0).to_pylist() == [10**12] * 5 + [10**13] * 5
