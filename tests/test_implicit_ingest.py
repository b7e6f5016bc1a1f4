"""Implicit-feedback ingestion: rating-less frames and arrays, weights, scipy.sparse in and out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funkrs
from funkrs.exceptions import FunkrsError, InvalidParameterError, RatingsError

sp = pytest.importorskip("scipy.sparse")


def _triples(r: funkrs.Ratings) -> list[tuple[object, object, float]]:
    return sorted(
        zip(r.raw_users().tolist(), r.raw_items().tolist(), r.values.tolist(), strict=True)
    )


# -- happy paths --------------------------------------------------------------------------------
def test_rows_are_interactions_and_repeats_are_summed_by_default() -> None:
    df = pl.DataFrame({"u": ["a", "a", "b", "a"], "i": [1, 1, 2, 2]})
    r = funkrs.Ratings.from_frame(df, "u", "i", None)
    assert _triples(r) == [("a", 1, 2.0), ("a", 2, 1.0), ("b", 2, 1.0)]
    assert r.values.dtype == np.float32


def test_weight_column_gives_the_values() -> None:
    df = pl.DataFrame({"user": [3, 3, 4], "item": [7, 7, 8], "plays": [2.5, 1.0, 0.0]})
    r = funkrs.Ratings.from_frame(df, rating=None, weight="plays")
    assert _triples(r) == [(3, 7, 3.5), (4, 8, 0.0)]


@pytest.mark.parametrize(("policy", "value"), [("sum", 5.0), ("mean", 2.5), ("last", 4.0)])
def test_duplicate_policies_for_implicit_data(policy: str, value: float) -> None:
    w = [1.0, 4.0, 2.0]
    r = funkrs.Ratings.from_arrays([1, 1, 2], [5, 5, 5], weights=w, duplicates=policy)  # type: ignore[arg-type]
    assert _triples(r) == [(1, 5, value), (2, 5, 2.0)]


def test_duplicates_error_can_be_asked_for_and_explicit_default_is_unchanged() -> None:
    with pytest.raises(RatingsError, match="rows 0 and 1"):
        funkrs.Ratings.from_arrays([1, 1], [5, 5], duplicates="error")
    with pytest.raises(RatingsError, match="duplicate rating"):
        funkrs.Ratings.from_arrays([1, 1], [5, 5], [3.0, 4.0])
    summed = funkrs.Ratings.from_arrays([1, 1], [5, 5], [3.0, 4.0], duplicates="sum")
    assert summed.values.tolist() == [7.0]


def test_pandas_and_arrow_frames() -> None:
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    data = {"user": [1, 2, 2], "item": ["x", "y", "y"], "n": [1, 2, 3]}
    for frame in (pd.DataFrame(data), pa.table(data)):
        r = funkrs.Ratings.from_frame(frame, rating=None, weight="n")
        assert _triples(r) == [(1, "x", 1.0), (2, "y", 5.0)]


def test_read_ratings_without_a_rating_column(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("user,item,count,other\n1,a,2,x\n1,a,3,y\n2,b,1,z\n")
    r = funkrs.read_ratings(path, rating=None)
    assert _triples(r) == [(1, "a", 2.0), (2, "b", 1.0)]
    w = funkrs.read_ratings(path, rating=None, weight="count")
    assert _triples(w) == [(1, "a", 5.0), (2, "b", 1.0)]
    pq = tmp_path / "log.parquet"
    pl.read_csv(path).write_parquet(pq)
    assert _triples(funkrs.read_ratings(pq, rating=None, weight="count")) == _triples(w)


@pytest.mark.parametrize("fmt", ["coo", "csr", "csc", "lil", "dok"])
@pytest.mark.parametrize("kind", ["matrix", "array"])
def test_from_scipy_formats(fmt: str, kind: str) -> None:
    dense = np.array([[0, 2, 0, 1], [0, 0, 0, 0], [3, 0, 0, 0.5]], dtype=np.float64)
    m = (sp.csr_matrix if kind == "matrix" else sp.csr_array)(dense).asformat(fmt)
    r = funkrs.Ratings.from_scipy(m)
    # Row 1 and column 2 are empty: not in the vocabularies.
    assert r.user_vocab.ids_array.tolist() == [0, 2]
    assert r.item_vocab.ids_array.tolist() == [0, 1, 3]
    assert _triples(r) == [(0, 1, 2.0), (0, 3, 1.0), (2, 0, 3.0), (2, 3, 0.5)]


def test_from_scipy_sums_repeated_coo_entries_and_drops_stored_zeros() -> None:
    m = sp.coo_matrix(([1.0, 2.0, 0.0, 4.0], ([0, 0, 1, 1], [1, 1, 0, 1])), shape=(2, 2))
    r = funkrs.Ratings.from_scipy(m, user_ids=["a", "b"], item_ids=[10, 20])
    assert _triples(r) == [("a", 20, 3.0), ("b", 20, 4.0)]


def test_from_scipy_with_ids_orders_inner_ids_by_raw_id() -> None:
    m = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]]))
    r = funkrs.Ratings.from_scipy(m, user_ids=["c", "a", "b"], item_ids=[9, 1])
    assert _triples(r) == [("a", 1, 2.0), ("b", 9, 3.0), ("c", 9, 1.0)]
    out = r.to_scipy().toarray()
    # Inner ids: users a, b, c; items 1, 9.
    assert out.tolist() == [[2.0, 0.0], [0.0, 3.0], [0.0, 1.0]]


def test_to_scipy_is_csr_in_inner_id_order() -> None:
    r = funkrs.Ratings.from_arrays(["b", "a", "a"], [2, 2, 1], weights=[1.0, 2.0, 3.0])
    m = r.to_scipy()
    assert isinstance(m, sp.csr_matrix)
    assert m.shape == (r.n_users, r.n_items)
    assert m.dtype == np.float32
    assert m.has_sorted_indices
    assert m.toarray().tolist() == [[3.0, 2.0], [0.0, 1.0]]


def test_fit_implicit_als_from_scipy() -> None:
    m = sp.random(60, 30, density=0.2, format="csr", random_state=1) * 5
    r = funkrs.Ratings.from_scipy(m)
    model = funkrs.MatrixFactorization(solver="implicit-als", n_factors=4, random_state=0)
    model.fit(r)
    assert model.recommend(users=[int(r.user_vocab.ids_array[0])], n=3).height == 3


def test_from_scipy_round_trip_of_a_real_matrix() -> None:
    m = sp.random(300, 120, density=0.05, format="csr", random_state=0, dtype=np.float32)
    r = funkrs.Ratings.from_scipy(m)
    back = r.to_scipy()
    rows, cols = r.user_vocab.ids_array, r.item_vocab.ids_array
    assert (back != m[rows][:, cols]).nnz == 0


@given(
    st.lists(
        st.tuples(
            st.integers(0, 12),
            st.sampled_from(["p", "q", "r", "s", "t"]),
            st.floats(0.0, 1e6, allow_nan=False, width=32),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_round_trip_property(rows: list[tuple[int, str, float]]) -> None:
    users, items, weights = zip(*rows, strict=True)
    r = funkrs.Ratings.from_arrays(list(users), list(items), weights=list(weights))
    m = r.to_scipy()
    assert m.nnz == len(r)
    # Summed duplicates, the values that the matrix holds.
    expected: dict[tuple[int, str], float] = {}
    for u, i, w in rows:
        expected[(u, i)] = expected.get((u, i), 0.0) + w
    assert {(u, i) for u, i, _ in _triples(r)} == set(expected)
    positive = [k for k, v in expected.items() if np.float32(v) > 0]
    if not positive:
        with pytest.raises(RatingsError, match="no non-zero entry"):
            funkrs.Ratings.from_scipy(m, r.user_vocab.ids_array, r.item_vocab.ids_array)
        return
    back = funkrs.Ratings.from_scipy(m, r.user_vocab.ids_array, r.item_vocab.ids_array)
    # Stored zeros are dropped; everything else comes back bit for bit.
    assert _triples(back) == [t for t in _triples(r) if t[2] > 0]
    if all(t[2] > 0 for t in _triples(r)):
        assert (back.to_scipy() != m).nnz == 0
        assert back.user_vocab == r.user_vocab
        assert back.item_vocab == r.item_vocab


# -- unhappy paths ------------------------------------------------------------------------------
def test_negative_and_non_finite_weights_name_column_and_row() -> None:
    df = pl.DataFrame({"u": [1, 2, 3], "i": [1, 2, 3], "w": [1.0, 2.0, -0.5]})
    with pytest.raises(RatingsError, match=r"column 'w': weight at row 2 is -0.5; .*>= 0"):
        funkrs.Ratings.from_frame(df, "u", "i", None, weight="w")
    df = pl.DataFrame({"u": [1, 2], "i": [1, 2], "w": [1.0, float("inf")]})
    with pytest.raises(RatingsError, match=r"column 'w'.*row 1 is inf"):
        funkrs.Ratings.from_frame(df, "u", "i", None, weight="w")
    with pytest.raises(RatingsError, match=r"weight at row 0 is nan"):
        funkrs.Ratings.from_arrays([1], [1], weights=[float("nan")])


def test_missing_weight_column_and_rating_with_weight() -> None:
    df = pl.DataFrame({"user": [1], "item": [1], "n": [1]})
    with pytest.raises(RatingsError, match="column 'plays' not found"):
        funkrs.Ratings.from_frame(df, rating=None, weight="plays")
    with pytest.raises(InvalidParameterError, match="not both"):
        funkrs.Ratings.from_frame(df, rating="n", weight="n")
    with pytest.raises(InvalidParameterError, match="not both"):
        funkrs.Ratings.from_arrays([1], [1], [1.0], weights=[1.0])
    with pytest.raises(InvalidParameterError, match="duplicates"):
        funkrs.Ratings.from_arrays([1], [1], duplicates="add")  # type: ignore[arg-type]


def test_from_scipy_bad_input() -> None:
    with pytest.raises(InvalidParameterError, match=r"scipy\.sparse"):
        funkrs.Ratings.from_scipy(np.ones((2, 2)))
    bad = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, -2.0]]))
    with pytest.raises(RatingsError, match=r"row 1, column 1 is -2\.0"):
        funkrs.Ratings.from_scipy(bad)
    nan = sp.csr_matrix(np.array([[1.0, np.nan]]))
    with pytest.raises(RatingsError, match=r"row 0, column 1 is nan"):
        funkrs.Ratings.from_scipy(nan)
    ok = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]))
    with pytest.raises(RatingsError, match="user_ids has 2 ids but the matrix has 3 rows"):
        funkrs.Ratings.from_scipy(ok, user_ids=[1, 2])
    with pytest.raises(RatingsError, match="item_ids has 3 ids but the matrix has 2 columns"):
        funkrs.Ratings.from_scipy(ok, item_ids=[1, 2, 3])
    with pytest.raises(RatingsError, match="distinct"):
        funkrs.Ratings.from_scipy(ok, user_ids=[1, 1, 2])
    with pytest.raises(RatingsError, match="no non-zero entry"):
        funkrs.Ratings.from_scipy(sp.csr_matrix((3, 4)))


def test_errors_are_funkrs_errors() -> None:
    for call in (
        lambda: funkrs.Ratings.from_arrays([1], [1], weights=[-1]),
        lambda: funkrs.Ratings.from_scipy("nope"),
    ):
        with pytest.raises(FunkrsError):
            call()
