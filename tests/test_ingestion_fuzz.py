"""Fuzzing ingestion: ``Ratings.from_arrays``, ``Ratings.from_frame`` and ``read_ratings``.

Inputs are numpy arrays of every dtype (signed and unsigned integers of all widths with
their extreme values, floats with NaN, infinities and values too large for float32, bool,
complex, datetime64, timedelta64, unicode and byte strings, object arrays of mixed Python
values and ``None``, Python lists of any of these values, nested and ragged lists, numpy's
``StringDType``, masked arrays, 2-D arrays), mismatched lengths, empty data and duplicate
pairs; Polars frames with columns of any Polars dtype (nulls, categoricals, nested types,
chunked), also lazy; pandas frames with numpy, nullable, categorical, datetime (with time
zone), string and object columns, non-string and repeated column labels; pyarrow tables;
CSV text and Parquet files. Each example must either give a valid :class:`funkrs.Ratings`
(dense ``uint32`` inner ids, sorted distinct vocabularies, finite ``float32`` ratings inside
the rating scale, the raw ids and ratings of the input) or raise a
:class:`funkrs.exceptions.FunkrsError`. Any other exception, or a warning (the test suite
turns warnings into errors), fails the example.

The number of examples follows the Hypothesis profile of ``tests/conftest.py``
(``FUNKRS_HYPOTHESIS_PROFILE=ci`` in CI). For a long run (2,000 examples per test)::

    FUNKRS_HYPOTHESIS_PROFILE=nightly python -m pytest tests/test_ingestion_fuzz.py

Inputs that once broke the id normalisation of :mod:`funkrs._vocab` (an exception other
than a FunkrsError, or distinct ids merged) are pinned, one case each with the ids or the
error message expected, by ``test_id_normalisation_examples``.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import event, given, reject
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis.extra import numpy as hnp
from polars.testing.parametric import series

import funkrs
from funkrs.exceptions import FunkrsError, RatingsError

I64 = np.iinfo(np.int64)
POLICIES = ["error", "last", "mean"]


# -- the property -----------------------------------------------------------------------------
def ingest(build: Callable[[], funkrs.Ratings]) -> funkrs.Ratings | None:
    """``build()`` checked to be valid Ratings, or None if it raised a FunkrsError."""
    try:
        ratings = build()
    except FunkrsError as exc:
        message = str(exc)
        if currently_in_test_context():
            event(f"raised {type(exc).__name__}")
    else:
        check_valid(ratings)
        if currently_in_test_context():
            event("valid Ratings")
        return ratings
    assert message, "errors must name the problem"
    return None


def check_valid(r: funkrs.Ratings) -> None:
    assert isinstance(r, funkrs.Ratings)
    n = len(r)
    assert n > 0
    for inner, vocab in ((r.users, r.user_vocab), (r.items, r.item_vocab)):
        assert inner.dtype == np.uint32
        assert inner.shape == (n,)
        ids = vocab.ids_array
        assert ids.dtype.kind in "iU"
        assert len(ids) == len(vocab)
        assert (ids[1:] > ids[:-1]).all(), "vocabulary ids must be sorted and distinct"
        np.testing.assert_array_equal(np.unique(inner), np.arange(len(vocab)))
    assert r.values.dtype == np.float32
    assert r.values.shape == (n,)
    assert np.isfinite(r.values).all()
    lo, hi = r.rating_scale
    assert math.isfinite(lo)
    assert math.isfinite(hi)
    assert lo <= float(r.values.min())
    assert float(r.values.max()) <= hi
    keys = r.users.astype(np.uint64) * np.uint64(r.n_items) + r.items
    assert len(np.unique(keys)) == n, "(user, item) pairs must be distinct"


def python_id(value: Any) -> int | str:
    """The raw id funkrs should keep for one accepted input value."""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8")
    if isinstance(value, (str, np.str_)):
        return str(value)
    assert not isinstance(value, (bool, np.bool_))
    as_int = int(value)
    assert as_int == value
    return as_int


def check_contents(
    r: funkrs.Ratings, users: list[Any], items: list[Any], values: list[Any], policy: str
) -> None:
    """The ratings hold exactly the input's pairs and ratings (combined as ``policy`` says)."""
    expected: dict[tuple[int | str, int | str], list[float]] = {}
    for u, i, v in zip(users, items, values, strict=True):
        expected.setdefault((python_id(u), python_id(i)), []).append(float(v))
    got = dict(
        zip(
            zip(r.raw_users().tolist(), r.raw_items().tolist(), strict=True),
            r.values.tolist(),
            strict=True,
        )
    )
    assert set(got) == set(expected)
    for pair, vals in expected.items():
        if policy == "mean":
            # funkrs sums in float64 in its own order: allow float32 rounding either way
            want = float(np.float32(math.fsum(vals) / len(vals)))
            assert math.isclose(got[pair], want, rel_tol=2**-22, abs_tol=1e-37), pair
        else:
            assert got[pair] == float(np.float32(vals[-1])), pair
    if policy == "error":
        assert r.raw_users().tolist() == [python_id(u) for u in users]
        assert r.raw_items().tolist() == [python_id(i) for i in items]


# -- numpy inputs -----------------------------------------------------------------------------
INT_DTYPES = [
    np.dtype(t) for t in ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
]
FLOAT_DTYPES = [np.dtype(t) for t in ("float16", "float32", "float64")]


@st.composite
def int_arrays(draw: st.DrawFn, n: int) -> np.ndarray:
    dtype = draw(st.sampled_from(INT_DTYPES))
    info = np.iinfo(dtype)
    small = st.integers(max(int(info.min), -3), min(int(info.max), 5))
    extreme = st.sampled_from([int(info.min), int(info.max), int(info.max) - 1])
    return draw(hnp.arrays(dtype, n, elements=small | extreme))


@st.composite
def float_arrays(draw: st.DrawFn, n: int, *, ids: bool, clean: bool) -> np.ndarray:
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    width = dtype.itemsize * 8
    whole = st.integers(-3, 5).map(float)
    if clean:
        elements = whole if ids else whole | st.floats(-1e4, 1e4, width=width)
    else:
        elements = whole | st.floats(width=width)
        if ids and width >= 32:
            # int64's lowest value, one past its highest, and far beyond
            elements |= st.sampled_from([-(2.0**63), 2.0**63, 1e30, -1e30])
    return draw(hnp.arrays(dtype, n, elements=elements))


STRING_DTYPES: list[Any] = [str]
if hasattr(np.dtypes, "StringDType"):  # numpy >= 2: variable width, keeps trailing NULs
    STRING_DTYPES.append(np.dtypes.StringDType())


def text_arrays(n: int) -> st.SearchStrategy[np.ndarray]:
    words = st.sampled_from(["a", "b", "ann", "", "é", "\x00x", "日本"]) | st.text(max_size=4)
    return st.tuples(st.lists(words, min_size=n, max_size=n), st.sampled_from(STRING_DTYPES)).map(
        lambda wd: np.array(wd[0], dtype=wd[1])
    )


def byte_arrays(n: int) -> st.SearchStrategy[np.ndarray]:
    # UTF-8 text, or any bytes (mostly not UTF-8)
    utf8 = st.text(max_size=2).map(lambda t: t.encode())
    words = st.sampled_from([b"a", b"b", b"\xc3\xa9", b"\xff"]) | utf8 | st.binary(max_size=3)
    return st.lists(words, min_size=n, max_size=n).map(lambda w: np.array(w, dtype=bytes))


@st.composite
def masked_arrays(draw: st.DrawFn, n: int) -> np.ndarray:
    data = draw(int_arrays(n) | text_arrays(n).filter(lambda a: a.dtype.kind == "U"))
    return np.ma.masked_array(data, mask=draw(hnp.arrays(np.bool_, n)))


def other_arrays(n: int) -> st.SearchStrategy[np.ndarray]:
    return st.one_of(
        hnp.arrays(np.bool_, n),
        hnp.arrays(hnp.complex_number_dtypes(), n),
        hnp.arrays(hnp.datetime64_dtypes(), n),
        hnp.arrays(hnp.timedelta64_dtypes(), n),
        hnp.arrays(np.int64, (n, 2), elements=st.integers(0, 3)),
        hnp.arrays(np.float64, (), elements=st.just(1.0)),
    )


def python_values() -> st.SearchStrategy[Any]:
    """Single Python values as they appear in object arrays and lists."""
    ints = st.integers(-3, 5) | st.sampled_from([int(I64.min), int(I64.max), 2**63, 2**64])
    ints |= st.integers(-(2**80), 2**80) | st.just(10**400)
    return st.one_of(
        ints,
        st.floats(),
        st.text(max_size=3),
        st.none(),
        st.booleans(),
        st.builds(Decimal, st.integers(-5, 5)),
        st.just(b"ab"),
        st.just(np.int32(4)),
        st.just(np.uint64(2**64 - 1)),
        st.just(np.float64(2.5)),
        st.just(np.True_),
        st.just(pd.NA),
        st.just(pd.Timestamp("2020-01-01")),
        st.lists(st.integers(0, 3), max_size=2),
    )


def _object_array(values: list[Any]) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def _list_or_array(draw: st.DrawFn, values: list[Any]) -> Any:
    return values if draw(st.booleans()) else _object_array(values)


def homogeneous_ids(n: int) -> st.SearchStrategy[list[Any]]:
    return st.one_of(
        st.lists(
            st.integers(-3, 5) | st.sampled_from([int(I64.min), int(I64.max)]),
            min_size=n,
            max_size=n,
        ),
        st.lists(st.sampled_from(["a", "b", "c", "é", ""]), min_size=n, max_size=n),
        st.lists(st.sampled_from([np.int32(1), np.uint64(2), np.int8(-1)]), min_size=n, max_size=n),
    )


@st.composite
def id_arrays(draw: st.DrawFn, n: int, *, clean: bool) -> Any:
    clean_ids = st.one_of(
        int_arrays(n),
        float_arrays(n, ids=True, clean=True),
        text_arrays(n),
        byte_arrays(n),
        homogeneous_ids(n),
    )
    if clean:
        ids = draw(clean_ids)
        return _list_or_array(draw, ids) if isinstance(ids, list) else ids
    messy = st.one_of(
        float_arrays(n, ids=True, clean=False),
        other_arrays(n),
        masked_arrays(n),
        # a list (numpy picks the dtype, or fails on ragged lists) or an object array
        st.lists(python_values(), min_size=n, max_size=n).flatmap(
            lambda v: st.sampled_from([v, _object_array(v)])
        ),
    )
    ids = draw(clean_ids | messy)
    return _list_or_array(draw, ids) if isinstance(ids, list) else ids


@st.composite
def value_arrays(draw: st.DrawFn, n: int, *, clean: bool) -> Any:
    clean_values = st.one_of(
        float_arrays(n, ids=False, clean=True),
        int_arrays(n).filter(lambda a: a.dtype.itemsize < 8),
        st.lists(st.floats(-10, 10) | st.integers(-10, 10), min_size=n, max_size=n),
    )
    if clean:
        values = draw(clean_values)
        return _list_or_array(draw, values) if isinstance(values, list) else values
    return draw(
        st.one_of(
            clean_values,
            int_arrays(n),
            float_arrays(n, ids=False, clean=False),
            hnp.arrays(np.longdouble, n, elements=st.floats(-10, 10)),
            text_arrays(n),
            other_arrays(n),
            st.lists(python_values(), min_size=n, max_size=n).flatmap(
                lambda v: st.sampled_from([v, _object_array(v)])
            ),
            st.just([[1.0, 2.0], [3.0]]),  # ragged
        )
    )


@st.composite
def array_inputs(draw: st.DrawFn) -> tuple[Any, Any, Any]:
    """Three arrays of accepted dtypes and values (half the time), or anything else."""
    clean = draw(st.booleans())
    if clean:
        n = draw(st.integers(1, 8))
        return (
            draw(id_arrays(n, clean=True)),
            draw(id_arrays(n, clean=True)),
            draw(value_arrays(n, clean=True)),
        )
    n = draw(st.integers(0, 8))

    def size() -> int:
        return draw(st.sampled_from([n] * 8 + [max(n - 1, 0), n + 1]))

    return (
        draw(id_arrays(size(), clean=False)),
        draw(id_arrays(size(), clean=False)),
        draw(value_arrays(size(), clean=False)),
    )


def as_list(arr: Any) -> list[Any]:
    return list(np.atleast_1d(arr)) if isinstance(arr, np.ndarray) else list(arr)


scales = st.one_of(
    st.none(),
    st.none(),
    st.just((-(10.0**6), 10.0**6)),
    st.tuples(st.floats(-10, 10), st.floats(-10, 10)),
    st.sampled_from([(1.0, 5.0), (math.nan, 5.0), (5.0, 1.0), (10**400, 1.0), (1,), "ab", 3]),
)


@given(array_inputs(), st.sampled_from([*POLICIES, *POLICIES, "first"]), scales)
def test_from_arrays_gives_valid_ratings_or_a_funkrs_error(
    data: tuple[Any, Any, Any], policy: Any, scale: Any
) -> None:
    users, items, values = data
    r = ingest(
        lambda: funkrs.Ratings.from_arrays(
            users, items, values, duplicates=policy, rating_scale=scale
        )
    )
    if r is not None:
        assert policy in POLICIES
        check_contents(r, as_list(users), as_list(items), as_list(values), policy)


@given(
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(1, 5)), min_size=1),
    st.sampled_from(POLICIES),
)
def test_duplicate_pairs_are_combined_or_reported(
    rows: list[tuple[int, int, int]], policy: str
) -> None:
    users, items, values = (list(c) for c in zip(*rows, strict=True))
    r = ingest(lambda: funkrs.Ratings.from_arrays(users, items, values, duplicates=policy))
    has_duplicates = len({(u, i) for u, i, _ in rows}) < len(rows)
    assert (r is None) == (has_duplicates and policy == "error")
    if r is not None:
        check_contents(r, users, items, values, policy)


# -- Polars and pyarrow inputs ----------------------------------------------------------------
@st.composite
def polars_column(draw: st.DrawFn, name: str, n: int, *, rating: bool, clean: bool) -> pl.Series:
    """A column that ingestion should accept (``clean``), or of any Polars dtype and values."""
    if not clean and draw(st.booleans()):
        return draw(series(name=name, min_size=n, max_size=n, allow_null=draw(st.booleans())))
    if rating:
        dtype = draw(st.sampled_from([pl.Float32, pl.Float64, pl.Int16, pl.UInt64, pl.String]))
        elements: st.SearchStrategy[Any] = st.integers(1, 5)
        if dtype in (pl.Float32, pl.Float64):
            elements = elements | st.floats(-10, 10, width=32)
        if dtype == pl.String:
            elements = st.sampled_from(["1", " 2.5 ", "4e0"])
        if not clean:
            elements = elements | st.floats() | st.sampled_from(["x", "nan", "1e400", ""])
    else:
        dtype = draw(
            st.sampled_from([pl.Int8, pl.Int64, pl.UInt64, pl.Float64, pl.String, pl.Categorical])
        )
        elements = st.integers(0, 3)
        if dtype == pl.UInt64 and not clean:
            elements = elements | st.just(2**64 - 1)
        if dtype == pl.Int64:
            elements = elements | st.sampled_from([int(I64.min), int(I64.max)])
        if dtype == pl.Float64 and not clean:
            elements = elements | st.sampled_from([0.5, math.nan, 1e30, -(2.0**63), 2.0**63])
        if dtype in (pl.String, pl.Categorical):
            elements = st.sampled_from(["a", "b", "", "é"])
            if not clean:
                elements = elements | st.just("x\x00")
    if not clean and draw(st.booleans()):
        elements = elements | st.none()
    values = draw(st.lists(elements, min_size=n, max_size=n))
    if dtype in (pl.String, pl.Categorical):
        values = [v if v is None else str(v) for v in values]
        return pl.Series(name, values, dtype=pl.String).cast(dtype)
    return pl.Series(name, values, dtype=dtype, strict=False)


@st.composite
def polars_frames(draw: st.DrawFn) -> tuple[pl.DataFrame, tuple[str, str, str]]:
    clean = draw(st.booleans())
    n = draw(st.integers(1 if clean else 0, 6))
    names = draw(st.sampled_from([("user", "item", "rating"), ("u", "u", "r"), ("a", "b", "c")]))
    columns: dict[str, pl.Series] = {}
    for role, name in zip(("user", "item", "rating"), names, strict=True):
        if name not in columns:
            columns[name] = draw(polars_column(name, n, rating=role == "rating", clean=clean))
    if not clean and draw(st.integers(0, 4)) == 0:
        del columns[draw(st.sampled_from(sorted(columns)))]
    if draw(st.booleans()):
        columns["extra"] = draw(series(name="extra", min_size=n, max_size=n))
    return pl.DataFrame(list(columns.values())), names


@given(
    polars_frames(),
    st.sampled_from(["eager", "lazy", "arrow", "not-a-table"]),
    st.sampled_from(POLICIES),
)
def test_from_frame_polars_and_arrow(
    data: tuple[pl.DataFrame, tuple[str, str, str]], kind: str, policy: str
) -> None:
    df, (user, item, rating) = data
    frame: Any = df
    if kind == "lazy":
        frame = df.lazy()
    elif kind == "not-a-table":
        frame = df.to_dicts()
    elif kind == "arrow":
        try:
            frame = df.to_arrow()
        except (pl.exceptions.PolarsError, pa.ArrowException):
            reject()
    r = ingest(lambda: funkrs.Ratings.from_frame(frame, user, item, rating, duplicates=policy))
    if r is not None:
        assert kind != "not-a-table"
        check_contents(r, df[user].to_list(), df[item].to_list(), float_list(df[rating]), policy)


def float_list(s: pl.Series) -> list[float]:
    if s.dtype == pl.String:
        s = s.str.strip_chars()
    return s.cast(pl.Float64).to_list()


# -- pandas inputs ----------------------------------------------------------------------------
def _pandas_column(kind: str, values: list[Any]) -> Any:
    if kind == "numpy":
        return pd.Series(values)
    if kind == "object":
        return pd.Series(values, dtype=object)
    if kind == "category":
        return pd.Series(pd.Categorical(values))
    if kind == "datetime":
        return pd.Series(pd.to_datetime(pd.Series(range(len(values))), unit="D", utc=True))
    if kind in ("Int64", "UInt64", "Float64", "boolean", "str", "string[pyarrow]"):
        return pd.Series(values).astype(kind)
    raise AssertionError(kind)


PANDAS_KINDS = ["numpy", "object", "category", "datetime", "Int64", "UInt64", "Float64", "boolean"]
PANDAS_KINDS += ["str", "string[pyarrow]"]


CLEAN_PANDAS_KINDS = ["numpy", "object", "category", "Int64", "str"]


@st.composite
def pandas_frames(draw: st.DrawFn) -> tuple[pd.DataFrame, tuple[Any, Any, Any]]:
    clean = draw(st.booleans())
    n = draw(st.integers(1 if clean else 0, 6))

    def values_of(role: str) -> st.SearchStrategy[list[Any]]:
        ids = st.integers(0, 3) if role != "rating" else st.integers(1, 5)
        clean_values = st.one_of(
            st.lists(ids, min_size=n, max_size=n),
            st.lists(st.sampled_from([1.0, 2.5, 5.0]), min_size=n, max_size=n),
        )
        if role != "rating":
            clean_values |= st.lists(st.sampled_from(["a", "b", "é"]), min_size=n, max_size=n)
        if clean:
            return clean_values
        return st.one_of(
            clean_values,
            st.lists(st.integers(0, 3) | st.none(), min_size=n, max_size=n),
            st.lists(st.sampled_from(["a", None]), min_size=n, max_size=n),
            st.lists(st.floats(), min_size=n, max_size=n),
            st.lists(python_values(), min_size=n, max_size=n),
            st.lists(st.sampled_from([2**64 - 1, 1]), min_size=n, max_size=n),
        )

    label_sets: list[list[Any]] = [["user", "item", "rating"], [0, "item", "rating"]]
    labels = draw(st.sampled_from(label_sets if clean else [*label_sets, ["u", "u", "r"]]))
    columns = []
    for role in ("user", "item", "rating"):
        kinds = CLEAN_PANDAS_KINDS if clean else PANDAS_KINDS
        if clean and role == "rating":
            kinds = ["numpy", "object", "Float64"]
        kind = draw(st.sampled_from(kinds))
        values = draw(values_of(role))
        try:
            with warnings.catch_warnings():
                # pandas warns while building some of these columns, not funkrs
                warnings.simplefilter("ignore")
                columns.append(_pandas_column(kind, values))
        except (TypeError, ValueError, OverflowError, pa.ArrowException):
            reject()
    frame = pd.concat(columns, axis=1, ignore_index=True)
    frame.columns = labels
    names = tuple(str(label) for label in labels)
    if names == ("u", "u", "r"):
        names = ("u", draw(st.sampled_from(["u", "missing"])), "r")
    return frame, names  # type: ignore[return-value]


@given(pandas_frames(), st.sampled_from(POLICIES))
def test_from_frame_pandas(data: tuple[pd.DataFrame, tuple[str, str, str]], policy: str) -> None:
    frame, (user, item, rating) = data
    r = ingest(lambda: funkrs.Ratings.from_frame(frame, user, item, rating, duplicates=policy))
    if r is not None:
        by_name = {str(c): frame[c] for c in frame.columns}
        check_contents(
            r,
            by_name[user].tolist(),
            by_name[item].tolist(),
            [float(v) for v in by_name[rating].tolist()],
            policy,
        )


# -- files ------------------------------------------------------------------------------------
junk_line = st.text(alphabet='ab,;\t"0123456789.-eE naNif\x00é', max_size=12)


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[str, str, bool]:
    """CSV text that reads (``clean``) or anything else: header or not, rows or junk lines."""
    clean = draw(st.booleans())
    sep = draw(st.sampled_from([",", ";", "\t"]))
    has_header = draw(st.booleans())
    ids = ["1", "2", "a", "b", "10"]
    stars = ["1", "2.5", "5", " 3 "]
    if clean:
        field_sep, separator = sep, sep
        row = st.tuples(st.sampled_from(ids), st.sampled_from(ids), st.sampled_from(stars))
        rows = draw(st.lists(row.map(sep.join), min_size=1, max_size=8))
    else:
        field_sep = draw(st.sampled_from([sep, ",", ";", "\t"]))
        separator = draw(st.sampled_from([sep, "::", "", "é"]))
        bad_ids = st.sampled_from([*ids, "", "1.0", "1.5", "9223372036854775808", '"x"'])
        bad_stars = st.sampled_from([*stars, "", "x", "nan", "inf", "1e400"])
        row = st.tuples(bad_ids, bad_ids, bad_stars).map(field_sep.join)
        rows = draw(st.lists(row | junk_line, max_size=8))
    header = field_sep.join(["user", "item", "rating"]) if has_header else None
    text = "\n".join([header, *rows] if header is not None else rows)
    if draw(st.booleans()):
        text += "\n"
    return text, separator, has_header


@given(csv_files(), st.sampled_from(["last", "mean", "error"]))
def test_read_ratings_csv_text(csv: tuple[str, str, bool], policy: str) -> None:
    text, separator, has_header = csv
    names = ("user", "item", "rating") if has_header else ("column_1", "column_2", "column_3")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ratings.csv"
        path.write_text(text, encoding="utf-8")
        r = ingest(
            lambda: funkrs.read_ratings(
                path, *names, separator=separator, has_header=has_header, duplicates=policy
            )
        )
    if r is not None:
        assert len(r) <= text.count("\n") + 1


@given(polars_frames(), st.sampled_from(["csv", "parquet"]))
def test_read_ratings_files_written_from_frames(
    data: tuple[pl.DataFrame, tuple[str, str, str]], fmt: str
) -> None:
    df, (user, item, rating) = data
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"ratings.{fmt}"
        try:
            df.write_parquet(path) if fmt == "parquet" else df.write_csv(path)
        except (pl.exceptions.PolarsError, TypeError, ValueError):
            reject()  # a dtype that the format cannot hold
        ingest(lambda: funkrs.read_ratings(path, user, item, rating))


# -- id normalisation: pinned examples -------------------------------------------------------
def _frame_with_user_column(values: Any) -> pd.DataFrame:
    return pd.DataFrame({"uid": pd.Series(values, dtype=object), "iid": [1, 2], "r": [4.0, 5.0]})


ID_EXAMPLES = [
    # (id, the user ids given, the raw ids expected or the regex of the RatingsError)
    ("list-of-str-and-int", ["a", 1], r"^user ids must be all integers or all strings; row 0"),
    ("list-of-int-and-str", [1, "a"], r"^user ids must be all .* row 1 holds 'a' \(str\)"),
    ("list-of-str-and-bytes", ["a", b"b"], r"^user ids must be all .* row 1 holds b'b'"),
    (
        "object-int-beyond-int64",
        np.array([2**63, 1], dtype=object),
        r"^user id at row 0 \(9223372036854775808\) does not fit in int64",
    ),
    (
        "object-int-below-int64",
        np.array([1, -(2**63) - 1], dtype=object),
        r"^user id at row 1 \(-9223372036854775809\) does not fit in int64",
    ),
    (
        "object-uint64-beyond-int64",
        np.array([np.uint64(2**64 - 1), 1], dtype=object),
        r"^user id at row 0 \(18446744073709551615\) does not fit in int64",
    ),
    ("float-ids-beyond-int64", np.array([1e30, 2e30]), r"^user id at row 0 \(1e\+30\) does not"),
    ("float32-id-2**63", np.array([1, 2**63], np.float32), r"^user id at row 1 .* does not fit"),
    ("float-id-int64-min", np.array([-(2.0**63), 0.0]), [-(2**63), 0]),
    (
        "list-of-ints-beyond-int64-as-floats",
        [-1, 2**63],
        r"^user id at row 1 \(9223372036854775808\) does not fit in int64",
    ),
    ("non-ascii-bytes", np.array([b"\xff", b"a"]), r"^user id at row 0 \(b'\\xff'\) is not UTF-8"),
    ("utf8-bytes", np.array(["é".encode(), b"a"]), ["é", "a"]),
    ("list-of-bytes", [b"b", b"a"], ["b", "a"]),
    ("list-of-bytes-with-trailing-nul", [b"a\x00", b"a"], r"^user id at row 0 .* ends with a NUL"),
    ("list-of-str-with-trailing-nul", ["a", "a\x00"], r"^user id at row 1 .* ends with a NUL"),
    ("ragged-id-lists", [[1, 2], [3]], r"^user ids are not a one-dimensional array"),
    ("ragged-id-list-and-int", [1, [2, 3]], r"^user ids are not a one-dimensional array"),
    ("list-of-int-and-bool", [1, True], r"^user id at row 1 is True; .* not booleans"),
    ("list-of-float-and-bool", (np.True_, 2.0), r"^user id at row 0 is True; .* not booleans"),
    (
        "list-of-int-rounded-as-float",
        [2**60 + 1, 1.0],
        r"^user id at row 0 \(1152921504606846977\) is not exactly a float64",
    ),
    ("list-of-big-int-and-float", [2**60, 1.0], [2**60, 1]),
    ("masked-ids", np.ma.masked_array([1, 2], mask=[False, True]), r"^user id at row 1 .*masked"),
    ("masked-ids-none-masked", np.ma.masked_array(["a", "b"], mask=False), ["a", "b"]),
]
if hasattr(np.dtypes, "StringDType"):
    string_dtype = np.dtypes.StringDType
    ID_EXAMPLES += [
        ("numpy-StringDType", np.array(["b", "a"], dtype=string_dtype()), ["b", "a"]),
        (
            "numpy-StringDType-trailing-nul",
            np.array(["a", "a\x00"], dtype=string_dtype()),
            r"^user id at row 1 \('a\\x00'\) ends with a NUL",
        ),
        (
            "numpy-StringDType-missing",
            np.array(["a", None], dtype=string_dtype(na_object=None)),
            r"^user id at row 1 is missing \(null\)",
        ),
    ]


@pytest.mark.parametrize(
    ("users", "expected"), [e[1:] for e in ID_EXAMPLES], ids=[e[0] for e in ID_EXAMPLES]
)
def test_id_normalisation_examples(users: Any, expected: list[Any] | str) -> None:
    build = lambda: funkrs.Ratings.from_arrays(users, [1, 2], [4.0, 5.0])  # noqa: E731
    if isinstance(expected, str):
        with pytest.raises(RatingsError, match=expected):
            build()
    else:
        r = ingest(build)
        assert r is not None
        assert r.raw_users().tolist() == expected


@pytest.mark.parametrize(
    ("users", "match"),
    [
        (["a", 1], r"^column 'uid': user ids must be all integers or all strings"),
        ([2**63, 1], r"^column 'uid': .*row 0 .*does not fit in int64"),
        ([[1, 2], [3]], r"^column 'uid': "),
    ],
)
def test_bad_object_ids_in_a_frame_name_the_column(users: list[Any], match: str) -> None:
    with pytest.raises(RatingsError, match=match):
        funkrs.Ratings.from_frame(_frame_with_user_column(users), "uid", "iid", "r")


@pytest.mark.parametrize("kind", ["masked", "StringDType"])
def test_vocabulary_queries_refuse_what_ingestion_refuses(kind: str) -> None:
    vocab = funkrs.Ratings.from_arrays(["a", "b"], [1, 2], [4.0, 5.0]).user_vocab
    if kind == "masked":
        with pytest.raises(RatingsError, match=r"^user id at row 1 is missing \(masked\)"):
            vocab.numbers(np.ma.masked_array(["a", "b"], mask=[False, True]), what="user")
    else:
        if not hasattr(np.dtypes, "StringDType"):
            pytest.skip("numpy < 2 has no StringDType")
        query = np.array(["b", "a"], dtype=np.dtypes.StringDType())
        assert vocab.numbers(query).tolist() == [1, 0]
