from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import funkrs
from funkrs.exceptions import RatingsError

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
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        funkrs.read_ratings(tmp_path / "nope.csv")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"this is not parquet")
    with pytest.raises(RatingsError, match=r"cannot read parquet file"):
        funkrs.read_ratings(bad)
    odd = tmp_path / "r.xyz"
    odd.write_text("user,item,rating\n1,2,3\n")
    with pytest.raises(RatingsError, match="format="):
        funkrs.read_ratings(odd)
    assert len(funkrs.read_ratings(odd, format="csv")) == 1


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
    with pytest.raises(ValueError, match="test_size"):
        funkrs.train_test_split(r, test_size=1.5)
