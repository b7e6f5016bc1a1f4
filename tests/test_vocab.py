from __future__ import annotations

import pickle

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funkrs
from funkrs import Vocabulary
from funkrs.exceptions import RatingsError, UnknownIdError


@given(st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=50))
def test_int_ids_round_trip(values: list[int]) -> None:
    vocab, codes = Vocabulary.from_values(np.asarray(values, dtype=np.int64))
    assert vocab.ids(codes).tolist() == values
    assert vocab.numbers(values).tolist() == codes.tolist()
    assert len(vocab) == len(set(values))


@given(
    st.lists(
        st.text(min_size=0, max_size=8).filter(lambda s: not s.endswith("\x00")),
        min_size=1,
        max_size=50,
    )
)
def test_str_ids_round_trip(values: list[str]) -> None:
    vocab, codes = Vocabulary.from_values(np.asarray(values, dtype=str))
    assert vocab.ids(codes).tolist() == values
    assert vocab.is_string


def test_unknown_id_policies() -> None:
    vocab = Vocabulary([10, 20, 30])
    assert vocab.numbers([30, 99, 10], missing="negative").tolist() == [2, -1, 0]
    with pytest.raises(UnknownIdError, match="99"):
        vocab.numbers([30, 99])
    assert 20 in vocab
    assert 25 not in vocab
    assert "20" not in vocab  # a string never matches an int id


def test_pickle_keeps_ids_and_equality() -> None:
    vocab = Vocabulary(["b", "a"])
    back = pickle.loads(pickle.dumps(vocab))
    assert back == vocab
    assert back.ids_array.tolist() == ["a", "b"]


def test_trailing_nul_ids_are_rejected_not_merged() -> None:
    # numpy's fixed-width strings would turn "a\x00" into "a" and merge two users.
    with pytest.raises(RatingsError, match="NUL"):
        funkrs.Ratings.from_arrays(["a", "a\x00"], [1, 1], [3.0, 4.0])
    with pytest.raises(RatingsError, match="NUL"):
        funkrs.Ratings.from_frame(
            pl.DataFrame({"user": ["a", "a\x00"], "item": [1, 1], "rating": [3.0, 4.0]})
        )


def test_rejects_duplicates_and_bad_ids() -> None:
    with pytest.raises(RatingsError, match="distinct"):
        Vocabulary([1, 1])
    with pytest.raises(RatingsError, match="whole numbers"):
        Vocabulary([1.5])
    with pytest.raises(IndexError):
        Vocabulary([1, 2]).ids([2])


def test_string_lookup_ignores_width_and_byte_order() -> None:
    vocab = Vocabulary(["", "a", "héllo", "ab\U0001f600"])
    queries = np.array(["ab\U0001f600", "zz", "", "héllo", "a", "a-much-longer-query"])
    assert vocab.numbers(queries, missing="negative").tolist() == [2, -1, 0, 3, 1, -1]
    swapped = queries.astype(queries.dtype.newbyteorder(">"))
    assert vocab.numbers(swapped, missing="negative").tolist() == [2, -1, 0, 3, 1, -1]
