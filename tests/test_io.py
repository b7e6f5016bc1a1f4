from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import funkrs
from funkrs.exceptions import (
    FunkrsError,
    InvalidParameterError,
    RatingsError,
    RatingsFileNotFoundError,
)

FRAME = {"uid": ["a", "b", "a", "c"], "iid": [1, 1, 2, 3], "stars": [4.0, 3.5, 5.0, 1.0]}


@pytest.mark.parametrize(
    "make",
    [pl.DataFrame, lambda d: pl.DataFrame(d).lazy(), pd.DataFrame, pa.table],
    ids=["polars", "lazy", "pandas", "arrow"],
)
def test_from_frame_accepts_every_table_type(make) -> None:
    r = funkrs.Ratings.from_frame(make(FRAME), user="uid", item="iid", rating="stars")
    assert len(r) == 4
    assert r.raw_users().tolist() == FRAME["uid"]
    assert r.raw_items().tolist() == FRAME["iid"]
    assert r.values.dtype == np.float32
    assert r.rating_scale == (1.0, 5.0)


def test_read_csv_and_parquet_agree(tmp_path: Path) -> None:
    df = pl.DataFrame(FRAME)
    df.write_csv(tmp_path / "r.csv")
    df.write_parquet(tmp_path / "r.parquet")
    a = funkrs.read_ratings(tmp_path / "r.csv", "uid", "iid", "stars")
    b = funkrs.read_ratings(tmp_path / "r.parquet", "uid", "iid", "stars")
    assert a.raw_users().tolist() == b.raw_users().tolist()
    np.testing.assert_array_equal(a.values, b.values)


def test_missing_column_is_named(tmp_path: Path) -> None:
    pl.DataFrame(FRAME).write_csv(tmp_path / "r.csv")
    with pytest.raises(RatingsError, match=r"column 'rating' not found.*'stars'"):
        funkrs.read_ratings(tmp_path / "r.csv", "uid", "iid", "rating")
    with pytest.raises(RatingsError, match="column 'user' not found"):
        funkrs.Ratings.from_frame(pl.DataFrame(FRAME))


def test_missing_file_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(RatingsFileNotFoundError, match=r"not found: .*nope\.csv'$") as info:
        funkrs.read_ratings(tmp_path / "nope.csv")
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, FunkrsError)
    with pytest.raises(RatingsError, match="it is not a file"):
        funkrs.read_ratings(tmp_path)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"this is not parquet")
    with pytest.raises(RatingsError, match=r"cannot read parquet file"):
        funkrs.read_ratings(bad)
    odd = tmp_path / "r.xyz"
    odd.write_text("user,item,rating\n1,2,3\n")
    with pytest.raises(RatingsError, match="format="):
        funkrs.read_ratings(odd)
    assert len(funkrs.read_ratings(odd, format="csv")) == 1


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_file_removed_after_the_check_is_reported_as_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    path = tmp_path / f"gone.{fmt}"
    monkeypatch.setattr(Path, "is_file", lambda self: True)
    with pytest.raises(RatingsFileNotFoundError, match=rf"not found: .*gone\.{fmt}'$"):
        funkrs.read_ratings(path)


@pytest.mark.parametrize(
    ("stars", "match"),
    [
        ([4.0, None, 5.0, 1.0], "null.*row 1"),
        ([4.0, 3.0, float("nan"), 1.0], "row 2 is nan"),
        ([4.0, 3.0, 5.0, float("inf")], "row 3 is inf"),
        (["4", "3", "x", "1"], "numeric; row 2 holds 'x'"),
    ],
)
def test_bad_ratings_name_the_row(stars, match) -> None:
    df = pl.DataFrame({**FRAME, "stars": stars}, strict=False)
    with pytest.raises(RatingsError, match=match) as info:
        funkrs.Ratings.from_frame(df, "uid", "iid", "stars")
    assert "stars" in str(info.value)


def test_csv_with_a_late_non_numeric_rating(tmp_path: Path) -> None:
    n = 5000
    lines = ["user,item,rating"] + [f"{j},{j},4.0" for j in range(n)] + ["9999,1,oops"]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(RatingsError, match=f"row {n} holds 'oops'"):
        funkrs.read_ratings(tmp_path / "r.csv")


def test_null_ids_and_empty_data() -> None:
    with pytest.raises(RatingsError, match=r"'uid'.*row 2"):
        funkrs.Ratings.from_frame(
            pl.DataFrame({**FRAME, "uid": ["a", "b", None, "c"]}), "uid", "iid", "stars"
        )
    with pytest.raises(RatingsError, match="empty"):
        funkrs.Ratings.from_frame(pl.DataFrame(FRAME).head(0), "uid", "iid", "stars")
    with pytest.raises(RatingsError, match="empty"):
        funkrs.Ratings.from_arrays([], [], [])


def test_arrays_of_different_lengths_and_mixed_ids() -> None:
    with pytest.raises(RatingsError, match="same length"):
        funkrs.Ratings.from_arrays([1, 2], [1], [3.0, 4.0])
    with pytest.raises(RatingsError, match="all integers or all strings"):
        funkrs.Ratings.from_arrays(np.array([1, "a"], dtype=object), [1, 2], [3.0, 4.0])
    with pytest.raises(RatingsError, match="numeric"):
        funkrs.Ratings.from_arrays([1, 2], [1, 2], np.array([True, False]))


def test_duplicates_error_last_and_mean() -> None:
    users, items, vals = ["a", "b", "a", "a"], [1, 1, 1, 2], [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(RatingsError, match=r"user 'a' and item 1 at rows 0 and 2"):
        funkrs.Ratings.from_arrays(users, items, vals)
    last = funkrs.Ratings.from_arrays(users, items, vals, duplicates="last")
    assert list(zip(last.raw_users(), last.raw_items(), last.values, strict=True)) == [
        ("b", 1, 2.0),
        ("a", 1, 3.0),
        ("a", 2, 4.0),
    ]
    mean = funkrs.Ratings.from_arrays(users, items, vals, duplicates="mean")
    assert list(zip(mean.raw_users(), mean.raw_items(), mean.values, strict=True)) == [
        ("a", 1, 2.0),
        ("b", 1, 2.0),
        ("a", 2, 4.0),
    ]


def test_rating_scale_given_or_checked() -> None:
    r = funkrs.Ratings.from_arrays([1, 2], [1, 2], [2.0, 3.0], rating_scale=(1, 5))
    assert r.rating_scale == (1.0, 5.0)
    with pytest.raises(RatingsError, match="outside rating_scale"):
        funkrs.Ratings.from_arrays([1, 2], [1, 2], [2.0, 7.0], rating_scale=(1, 5))


def test_train_test_split_matches_the_documented_permutation() -> None:
    r = funkrs.testing.low_rank_ratings(30, 20)
    train, test = funkrs.train_test_split(r, test_size=0.2, random_state=0)
    perm = np.random.default_rng(0).permutation(len(r))
    n_train = len(r) - int(np.ceil(0.2 * len(r)))
    assert len(train) == n_train
    assert len(test) == len(r) - n_train
    expected = set(zip(r.raw_users()[perm[:n_train]], r.raw_items()[perm[:n_train]], strict=True))
    assert set(zip(train.raw_users(), train.raw_items(), strict=True)) == expected
    with pytest.raises(InvalidParameterError, match="test_size"):
        funkrs.train_test_split(r, test_size=1.5)


def test_pandas_labels_nulls_and_mixed_objects() -> None:
    stars = [4.0, 3.0]
    frame = pd.DataFrame({0: ["a", "b"], "iid": [1, 2], "stars": stars})
    assert funkrs.Ratings.from_frame(frame, "0", "iid", "stars").raw_users().tolist() == ["a", "b"]
    twice = pd.DataFrame([["a", "b", 1, 4.0]], columns=["uid", "uid", "iid", "stars"])
    with pytest.raises(RatingsError, match="'uid' appears 2 times"):
        funkrs.Ratings.from_frame(twice, "uid", "iid", "stars")
    for users in (
        pd.Series(["a", None], dtype="str"),
        pd.Series(["a", None], dtype="category"),
        pd.Series([1, None], dtype="Int64"),
    ):
        frame = pd.DataFrame({"uid": users, "iid": [1, 2], "stars": stars})
        with pytest.raises(RatingsError, match=r"'uid' has a missing.*row 1"):
            funkrs.Ratings.from_frame(frame, "uid", "iid", "stars")
    mixed = pd.DataFrame({"uid": pd.Series(["a", 1], dtype=object), "iid": [1, 2], "stars": stars})
    with pytest.raises(RatingsError, match=r"'uid'.*all integers or all strings"):
        funkrs.Ratings.from_frame(mixed, "uid", "iid", "stars")


def test_arrow_repeated_names_and_wide_decimals() -> None:
    twice = pa.table([[1], [1], [4.0]], names=["uid", "uid", "stars"])
    with pytest.raises(RatingsError, match="'uid' appears 2 times"):
        funkrs.Ratings.from_frame(twice, "uid", "uid", "stars")
    stars = pa.array([Decimal("4.5"), Decimal("3")], pa.decimal256(50, 2))
    table = pa.table({"uid": [1, 2], "iid": [1, 2], "stars": stars})
    r = funkrs.Ratings.from_frame(table, "uid", "iid", "stars")
    assert r.values.tolist() == [4.5, 3.0]
    union = pa.UnionArray.from_sparse(pa.array([0, 0], pa.int8()), [pa.array([1, 2])])
    with pytest.raises(RatingsError, match="'uid' of arrow type"):
        funkrs.Ratings.from_frame(
            pa.table({"uid": union, "iid": [1, 2], "stars": [1.0, 2.0]}), "uid", "iid", "stars"
        )


@pytest.mark.parametrize(
    "users",
    [
        pl.Series([2**64 - 1, 1], dtype=pl.UInt64),
        pl.Series([2**100, 1], dtype=pl.Int128),
        pl.Series([1e30, 1.0]),
    ],
    ids=["uint64", "int128", "float"],
)
def test_polars_ids_beyond_int64_are_named(users: pl.Series) -> None:
    frame = pl.DataFrame({"uid": users, "iid": [1, 2], "stars": [4.0, 3.0]})
    with pytest.raises(RatingsError, match=r"'uid': id at row 0 .* does not fit in int64"):
        funkrs.Ratings.from_frame(frame, "uid", "iid", "stars")


def test_one_column_for_two_roles_in_a_lazy_frame() -> None:
    lazy = pl.DataFrame({"id": [1, 2], "stars": [4.0, 3.0]}).lazy()
    r = funkrs.Ratings.from_frame(lazy, "id", "id", "stars")
    assert r.raw_users().tolist() == r.raw_items().tolist() == [1, 2]


@pytest.mark.parametrize(
    ("values", "kwargs", "error", "match"),
    [
        ([[1.0], [2.0, 3.0]], {}, RatingsError, "not a one-dimensional array"),
        (np.array([10**400, 1], dtype=object), {}, RatingsError, "float32 range; row 0"),
        (np.ma.masked_array([4.0, 3.0], mask=[0, 1]), {}, RatingsError, r"row 1 .* \(masked\)"),
        ([4.0, 3.0], {"rating_scale": (10**400, 1)}, InvalidParameterError, "rating_scale"),
        ([4.0, 3.0], {"duplicates": "first"}, InvalidParameterError, "duplicates must be"),
    ],
)
def test_bad_values_and_options_name_the_problem(values, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        funkrs.Ratings.from_arrays([1, 2], [1, 2], values, **kwargs)


def test_rating_scale_is_that_of_the_stored_float32_values() -> None:
    r = funkrs.Ratings.from_arrays([1, 2], [1, 2], [1e-300, 1.0 + 1e-12])
    assert r.values.tolist() == [0.0, 1.0]
    assert r.rating_scale == (0.0, 1.0)


def test_csv_separator_format_and_headerless_names(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("a;1;4\nb;2;3\n")
    r = funkrs.read_ratings(
        path, "column_1", "column_2", "column_3", separator=";", has_header=False
    )
    assert r.raw_users().tolist() == ["a", "b"]
    with pytest.raises(InvalidParameterError, match="separator must be a single one-byte"):
        funkrs.read_ratings(path, separator="::")
    with pytest.raises(
        InvalidParameterError, match="format must be one of None, 'csv' or 'parquet'"
    ):
        funkrs.read_ratings(path, format="xls")  # type: ignore[arg-type]
