"""The :class:`Ratings` container: inner-id arrays, rating values and vocabularies."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import numpy.typing as npt

from funkrs._checks import check_choice, show_value
from funkrs._frames import columns_from_frame
from funkrs._vocab import Vocabulary, normalize_ids, show_id
from funkrs.exceptions import (
    IndexOutOfRangeError,
    InvalidParameterError,
    RatingsError,
)

if TYPE_CHECKING:
    import polars as pl
    import scipy.sparse as sp

__all__ = ["DuplicatePolicy", "Ratings", "train_test_split"]

DuplicatePolicy = Literal["error", "last", "mean", "sum"]
_POLICIES = ("error", "last", "mean", "sum")


class Ratings:
    """Ratings or implicit-feedback interactions with dense inner ids.

    Build one with :meth:`from_frame`, :meth:`from_arrays`, :meth:`from_scipy` or
    :func:`funkrs.read_ratings` rather than the constructor, which trusts its arguments.
    Implicit feedback (clicks, plays, purchases) is read without a rating column: every row
    is an interaction of value 1, or of the value of a ``weight`` (count, confidence)
    column; repeated (user, item) pairs are then summed by default.

    Attributes
    ----------
    users, items : numpy.ndarray
        ``uint32`` inner ids, one per rating.
    values : numpy.ndarray
        ``float32`` ratings (or interaction weights).
    user_vocab, item_vocab : Vocabulary
        Raw ↔ inner id maps.
    rating_scale : tuple of float
        ``(lowest, highest)`` possible rating, used to clip predictions.
    """

    __slots__ = ("item_vocab", "items", "rating_scale", "user_vocab", "users", "values")

    def __init__(
        self,
        users: np.ndarray,
        items: np.ndarray,
        values: np.ndarray,
        user_vocab: Vocabulary,
        item_vocab: Vocabulary,
        rating_scale: tuple[float, float],
    ) -> None:
        self.users = users
        self.items = items
        self.values = values
        self.user_vocab = user_vocab
        self.item_vocab = item_vocab
        self.rating_scale = rating_scale

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        users: npt.ArrayLike,
        items: npt.ArrayLike,
        values: npt.ArrayLike | None = None,
        *,
        weights: npt.ArrayLike | None = None,
        rating_scale: tuple[float, float] | None = None,
        duplicates: DuplicatePolicy | None = None,
    ) -> Ratings:
        """Build ratings from equally long arrays of raw user ids, raw item ids and values.

        Parameters
        ----------
        users, items : array-like
            Raw ids: integers or strings (any mix across the two arrays).
        values : array-like, optional
            Numeric ratings; NaN, infinities and nulls are rejected. Omit it (and
            ``weights``) for implicit feedback: every pair is an interaction of value 1.
        weights : array-like, optional
            Implicit feedback with a confidence per pair (counts, play totals): numbers
            that must be finite and ≥ 0. Not together with ``values``.
        rating_scale : (float, float), optional
            Lowest and highest possible rating; inferred from the data when omitted.
        duplicates : {"error", "last", "mean", "sum"}, optional
            What to do with repeated (user, item) pairs: raise, keep the last value,
            average them, or add them up. The default is ``"error"`` for ratings (a repeated
            rating is usually a data bug) and ``"sum"`` for implicit feedback (an event log
            repeats a pair once per event, and the summed count is its confidence, as when
            a ``scipy.sparse`` COO matrix is converted to CSR).

        Returns
        -------
        Ratings

        Raises
        ------
        RatingsError
            Lengths differ, data is empty, a value is null/non-finite/non-numeric, ids are of
            mixed types, a pair is duplicated with ``duplicates="error"``, or the ratings
            fall outside ``rating_scale``.
        InvalidParameterError
            ``rating_scale`` is not a finite ``(low, high)`` pair with ``low < high``,
            ``duplicates`` is not one of the four policies, or both ``values`` and
            ``weights`` are given.

        Examples
        --------
        >>> r = Ratings.from_arrays(["ann", "bob", "ann"], [10, 10, 20], [4.0, 3.5, 5.0])
        >>> len(r), r.n_users, r.n_items
        (3, 2, 2)
        >>> clicks = Ratings.from_arrays(["ann", "ann", "bob"], [10, 10, 20])
        >>> clicks.values.tolist()  # the repeated (ann, 10) pair summed
        [2.0, 1.0]
        """
        check_choice("duplicates", duplicates, _POLICIES, allow_none=True)
        if values is not None and weights is not None:
            raise InvalidParameterError(
                "pass either values (ratings) or weights (implicit feedback), not both"
            )
        implicit = values is None
        if duplicates is None:
            duplicates = "sum" if implicit else "error"
        u_raw = normalize_ids(users, "user")
        i_raw = normalize_ids(items, "item")
        if values is not None:
            vals = _rating_values(values, "rating")
        elif weights is not None:
            vals = _weight_values(weights)
        else:
            vals = np.ones(len(u_raw), dtype=np.float64)
        if not (len(u_raw) == len(i_raw) == len(vals)):
            raise RatingsError(
                f"users, items and values must have the same length, got "
                f"{len(u_raw)}, {len(i_raw)} and {len(vals)}"
            )
        if len(vals) == 0:
            raise RatingsError("no ratings: the data is empty")
        user_vocab, u = Vocabulary.from_values(u_raw)
        item_vocab, i = Vocabulary.from_values(i_raw)
        u, i, vals = _resolve_duplicates(u, i, vals, len(item_vocab), duplicates, u_raw, i_raw)
        # The scale is that of the stored float32 values, which rounding may move.
        vals32 = vals.astype(np.float32)
        scale = _check_scale(rating_scale, vals32)
        return cls(u, i, vals32, user_vocab, item_vocab, scale)

    @classmethod
    def from_frame(
        cls,
        frame: Any,
        user: str = "user",
        item: str = "item",
        rating: str | None = "rating",
        *,
        weight: str | None = None,
        rating_scale: tuple[float, float] | None = None,
        duplicates: DuplicatePolicy | None = None,
    ) -> Ratings:
        """Build ratings from a Polars, pandas or pyarrow table.

        Parameters
        ----------
        frame : polars.DataFrame, polars.LazyFrame, pandas.DataFrame or pyarrow.Table
            The ratings, one row each.
        user, item, rating : str
            Column names. ``rating=None`` reads implicit feedback: each row is an
            interaction of value 1 (or the value of the ``weight`` column).
        weight : str, optional
            With ``rating=None``: the column of interaction weights (counts, confidences),
            finite and ≥ 0.
        rating_scale, duplicates
            As in :meth:`from_arrays` (repeated pairs are summed by default for implicit
            feedback and rejected for ratings).

        Returns
        -------
        Ratings

        Raises
        ------
        RatingsError
            A column is missing or named twice, or its values are invalid (as in
            :meth:`from_arrays`); the message names the column.
        InvalidParameterError
            ``frame`` is not one of the supported table types (also a ``TypeError``), or
            ``rating_scale``/``duplicates`` is invalid, or both ``rating`` and ``weight``
            are given.

        Examples
        --------
        >>> import polars as pl
        >>> plays = pl.DataFrame({"user": [1, 1, 2], "item": ["a", "a", "b"], "n": [3, 2, 7]})
        >>> Ratings.from_frame(plays, rating=None, weight="n").values.tolist()
        [5.0, 7.0]
        """
        if rating is not None and weight is not None:
            raise InvalidParameterError(
                f"pass either rating={rating!r} (ratings) or weight={weight!r} (implicit "
                "feedback), not both; use rating=None with weight"
            )
        value_col = rating if rating is not None else weight
        what = "rating" if rating is not None else "weight"
        u, i, r = columns_from_frame(frame, user, item, value_col, what=what)
        try:
            if rating is not None:
                return cls.from_arrays(u, i, r, rating_scale=rating_scale, duplicates=duplicates)
            return cls.from_arrays(
                u,
                i,
                weights=r if weight is not None else None,
                rating_scale=rating_scale,
                duplicates=duplicates,
            )
        except RatingsError as exc:
            raise RatingsError(_with_columns(str(exc), user, item, value_col)) from None

    @classmethod
    def from_scipy(
        cls,
        matrix: Any,
        user_ids: npt.ArrayLike | None = None,
        item_ids: npt.ArrayLike | None = None,
        *,
        rating_scale: tuple[float, float] | None = None,
    ) -> Ratings:
        """Build implicit-feedback data from a ``scipy.sparse`` user × item matrix.

        This is the input of the ``implicit`` package's models. Any scipy sparse matrix or
        array (COO, CSR, CSC, ...) is accepted. Entries repeated in a COO matrix are summed
        (scipy's own rule). Stored zeros are dropped: in a user × item matrix a zero means
        "no interaction", and funkrs' ``implicit-als`` would otherwise count it as an
        interaction of confidence 1. Users and items without a (non-zero) entry are left
        out of the vocabularies, as every :class:`Ratings` holds only ids it has data for.

        Parameters
        ----------
        matrix : scipy.sparse matrix or array
            ``n_users × n_items``, numeric values finite and ≥ 0.
        user_ids, item_ids : array-like, optional
            Raw id of each row / column (distinct integers or strings); the row and column
            numbers when omitted.
        rating_scale : (float, float), optional
            As in :meth:`from_arrays`.

        Returns
        -------
        Ratings

        Raises
        ------
        RatingsError
            ``matrix`` has no non-zero entry, an entry is negative, non-finite or not
            numeric (the message names its row and column), or ``user_ids``/``item_ids``
            do not match the shape or are not distinct.
        InvalidParameterError
            ``matrix`` is not a scipy sparse matrix (also a ``TypeError``).
        """
        sparse = _scipy_sparse()
        if not sparse.issparse(matrix):
            raise InvalidParameterError(
                f"matrix must be a scipy.sparse matrix or array, got {type(matrix).__name__}"
            )
        if matrix.ndim != 2:
            raise RatingsError(f"matrix must be two-dimensional, got shape {matrix.shape}")
        n_rows, n_cols = (int(n) for n in matrix.shape)
        coo = sparse.coo_matrix(matrix, copy=False)
        coo.sum_duplicates()
        data = np.asarray(coo.data)
        if data.dtype.kind == "b":
            data = data.astype(np.float64)
        if data.dtype.kind not in "iuf":
            raise RatingsError(f"matrix values must be numeric, got dtype {data.dtype}")
        rows, cols = np.asarray(coo.row), np.asarray(coo.col)
        bad = ~np.isfinite(data) | (data < 0)
        if bad.any():
            k = int(np.argmax(bad))
            raise RatingsError(
                f"matrix entry at row {int(rows[k])}, column {int(cols[k])} is {data[k]}; "
                "implicit-feedback values must be finite and >= 0"
            )
        nz = data != 0
        if not nz.all():
            rows, cols, data = rows[nz], cols[nz], data[nz]
        if len(data) == 0:
            raise RatingsError(f"no ratings: the {n_rows} x {n_cols} matrix has no non-zero entry")
        u_raw = _axis_ids(user_ids, n_rows, "user_ids", "rows")
        i_raw = _axis_ids(item_ids, n_cols, "item_ids", "columns")
        u_keep, u = np.unique(rows, return_inverse=True)
        i_keep, i = np.unique(cols, return_inverse=True)
        user_vocab = _vocab_of(u_raw, u_keep)
        item_vocab = _vocab_of(i_raw, i_keep)
        # Raw ids sorted: the inner ids are the ranks of the kept rows' ids.
        u_rank = np.argsort(np.argsort(u_raw[u_keep], kind="stable"), kind="stable")
        i_rank = np.argsort(np.argsort(i_raw[i_keep], kind="stable"), kind="stable")
        vals = _weight_values(data).astype(np.float32)
        scale = _check_scale(rating_scale, vals)
        return cls(
            u_rank[u.reshape(-1)].astype(np.uint32),
            i_rank[i.reshape(-1)].astype(np.uint32),
            vals,
            user_vocab,
            item_vocab,
            scale,
        )

    def to_scipy(self) -> sp.csr_matrix:
        """The data as a ``scipy.sparse.csr_matrix`` of shape ``(n_users, n_items)``.

        Row ``u`` and column ``i`` are inner ids (``user_vocab.ids([u])`` gives the raw
        id), values are ``float32``, column indices sorted within each row, one entry per
        (user, item) pair (duplicates were resolved at ingestion). A ``csr_matrix`` rather
        than a ``csr_array``, because that is what the ``implicit`` package's ``fit`` takes.
        The arrays are built once, in ``(user, item)`` order, and handed to scipy without a
        further copy.

        Raises
        ------
        ImportError
            scipy is not installed (``pip install "funkrs[scipy]"``).
        """
        sparse = _scipy_sparse()
        n_u, n_i = self.n_users, self.n_items
        key = self.users.astype(np.int64) * n_i + self.items.astype(np.int64)
        order = np.argsort(key, kind="stable")
        idx_dtype = np.int32 if max(n_i, len(self)) < 2**31 else np.int64
        indices = self.items[order].astype(idx_dtype)
        data = self.values[order]
        indptr = np.zeros(n_u + 1, dtype=idx_dtype)
        np.cumsum(np.bincount(self.users, minlength=n_u), out=indptr[1:])
        return cast(
            "sp.csr_matrix",
            sparse.csr_matrix((data, indices, indptr), shape=(n_u, n_i), copy=False),
        )

    # -- views ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.values)

    @property
    def n_users(self) -> int:
        """Number of distinct users."""
        return len(self.user_vocab)

    @property
    def n_items(self) -> int:
        """Number of distinct items."""
        return len(self.item_vocab)

    @property
    def density(self) -> float:
        """Fraction of the user × item matrix that is observed."""
        return len(self) / max(1, self.n_users * self.n_items)

    def __repr__(self) -> str:
        lo, hi = self.rating_scale
        return (
            f"Ratings({len(self):,} ratings, {self.n_users:,} users, {self.n_items:,} items, "
            f"scale {lo:g}–{hi:g})"
        )

    def raw_users(self) -> np.ndarray:
        """Raw user id of every rating."""
        return self.user_vocab.ids(self.users)

    def raw_items(self) -> np.ndarray:
        """Raw item id of every rating."""
        return self.item_vocab.ids(self.items)

    def to_frame(self) -> pl.DataFrame:
        """The ratings as a Polars frame with columns ``user``, ``item``, ``rating``."""
        import polars as pl

        return pl.DataFrame(
            {"user": self.raw_users(), "item": self.raw_items(), "rating": self.values}
        )

    def take(self, indices: npt.ArrayLike) -> Ratings:
        """Subset of the ratings at ``indices``, with vocabularies shrunk to the ids used."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64, copy=False)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexOutOfRangeError(f"indices must be in [-{len(self)}, {len(self)})")
        u_keep, u = np.unique(self.users[idx], return_inverse=True)
        i_keep, i = np.unique(self.items[idx], return_inverse=True)
        return Ratings(
            u.reshape(-1).astype(np.uint32),
            i.reshape(-1).astype(np.uint32),
            self.values[idx],
            _sub_vocab(self.user_vocab, u_keep),
            _sub_vocab(self.item_vocab, i_keep),
            self.rating_scale,
        )


def _sub_vocab(vocab: Vocabulary, keep: np.ndarray) -> Vocabulary:
    sub = Vocabulary.__new__(Vocabulary)
    sub.__setstate__({"ids": vocab.ids_array[keep]})
    return sub


def _with_columns(msg: str, user: str, item: str, rating: str | None) -> str:
    for word, col in (("user", user), ("item", item), ("rating", rating), ("weight", rating)):
        if col is not None and msg.startswith(f"{word} "):
            return f"column {col!r}: {msg}"
    return msg


def _weight_values(values: npt.ArrayLike) -> np.ndarray:
    """Implicit-feedback weights as ``float64``: finite and ≥ 0, or an error naming the row."""
    arr = _rating_values(values, "weight")
    neg = arr < 0
    if neg.any():
        row = int(np.argmax(neg))
        raise RatingsError(
            f"weight at row {row} is {arr[row]:g}; implicit-feedback weights must be >= 0"
        )
    return arr


def _scipy_sparse() -> Any:
    try:
        import scipy.sparse
    except ImportError as exc:
        raise ImportError(
            'scipy is needed for sparse matrices; install it with pip install "funkrs[scipy]"'
        ) from exc
    return scipy.sparse


def _axis_ids(ids: npt.ArrayLike | None, n: int, what: str, axis: str) -> np.ndarray:
    if ids is None:
        return np.arange(n, dtype=np.int64)
    arr = normalize_ids(ids, what.removesuffix("_ids"))
    if len(arr) != n:
        raise RatingsError(f"{what} has {len(arr)} ids but the matrix has {n} {axis}")
    if len(np.unique(arr)) != n:
        raise RatingsError(f"{what} must be distinct")
    return arr


def _vocab_of(raw: np.ndarray, keep: np.ndarray) -> Vocabulary:
    return Vocabulary.from_sorted(np.sort(raw[keep]))


def _rating_values(values: npt.ArrayLike, what: str) -> np.ndarray:
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError, OverflowError) as exc:
        raise RatingsError(f"{what} values are not a one-dimensional array: {exc}") from None
    if arr.ndim != 1:
        raise RatingsError(f"{what} values must be one-dimensional, got shape {arr.shape}")
    masked = np.ma.getmaskarray(values) if np.ma.isMaskedArray(values) else None
    if masked is not None and masked.any():
        row = int(np.argmax(masked))
        raise RatingsError(f"{what} at row {row} is missing (masked)")
    if arr.dtype.kind == "O":
        arr = _object_values(arr, what)
    if arr.dtype.kind not in "iuf":
        raise RatingsError(f"{what} values must be numeric, got dtype {arr.dtype}")
    # Checked in the input's own precision: a long double beyond float64 is not infinite.
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.argmax(bad))
        raise RatingsError(f"{what} at row {row} is {arr[row]}; ratings must be finite")
    big = np.abs(arr) > np.finfo(np.float32).max
    if big.any():
        row = int(np.argmax(big))
        raise RatingsError(f"{what} at row {row} ({arr[row]}) does not fit in float32")
    return arr.astype(np.float64, copy=False)


def _object_values(arr: np.ndarray, what: str) -> np.ndarray:
    """An object array of Python numbers as ``float64``, or an error naming the bad row."""
    missing = np.frompyfunc(lambda v: v is None, 1, 1)(arr).astype(bool)
    if missing.any():
        row = int(np.argmax(missing))
        raise RatingsError(f"{what} at row {row} is missing (null)")
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError, OverflowError):
        numeric = np.frompyfunc(_is_number, 1, 1)(arr).astype(bool)
        row = int(np.argmax(~numeric)) if not numeric.all() else 0
        shown = show_id(arr[row])
        shown = shown if len(shown) <= 60 else f"{shown[:57]}..."
        raise RatingsError(
            f"{what} values must be numbers within the float32 range; row {row} holds {shown}"
        ) from None


def _is_number(v: object) -> bool:
    """Whether ``v`` is a number that ``float`` accepts (strings and bytes are not numbers)."""
    if isinstance(v, (str, bytes)):
        return False
    try:
        float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return False
    return True


def _check_scale(scale: tuple[float, float] | None, vals: np.ndarray) -> tuple[float, float]:
    lo_data, hi_data = float(vals.min()), float(vals.max())
    if scale is None:
        return (lo_data, hi_data)
    try:
        lo, hi = (float(scale[0]), float(scale[1]))
    except (TypeError, ValueError, IndexError, KeyError, OverflowError):
        raise InvalidParameterError(
            f"rating_scale must be a (low, high) pair, got {scale!r}"
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise InvalidParameterError(f"rating_scale must be finite with low < high, got {scale!r}")
    if lo_data < lo or hi_data > hi:
        raise RatingsError(
            f"ratings span [{lo_data:g}, {hi_data:g}], outside rating_scale ({lo:g}, {hi:g})"
        )
    return (lo, hi)


def _resolve_duplicates(
    u: np.ndarray,
    i: np.ndarray,
    vals: np.ndarray,
    n_items: int,
    policy: str,
    u_raw: np.ndarray,
    i_raw: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    key = u.astype(np.uint64) * np.uint64(n_items) + i.astype(np.uint64)
    order = np.argsort(key, kind="stable")
    sk = key[order]
    is_dup = sk[1:] == sk[:-1]
    if not is_dup.any():
        return u, i, vals
    if policy == "error":
        second_rows = order[1:][is_dup]
        j = int(np.argmin(second_rows))
        row = int(second_rows[j])
        first = int(order[np.flatnonzero(is_dup)[j]])
        raise RatingsError(
            f"duplicate rating for user {show_id(u_raw[row])} and item "
            f"{show_id(i_raw[row])} at rows "
            f"{first} and {row}; pass duplicates='last', 'mean' or 'sum' to combine them"
        )
    starts = np.flatnonzero(np.concatenate(([True], ~is_dup)))
    ends = np.append(starts[1:], len(sk))
    if policy == "last":
        rows = order[ends - 1]
        new_vals = vals[rows]
    else:
        sums = np.add.reduceat(vals[order], starts)
        new_vals = sums if policy == "sum" else sums / (ends - starts)
        rows = order[starts]
    keep = np.argsort(rows, kind="stable")
    rows = rows[keep]
    return u[rows], i[rows], new_vals[keep]


def train_test_split(
    ratings: Ratings,
    test_size: float | int = 0.2,
    *,
    random_state: int | np.random.Generator | None = None,
    shuffle: bool = True,
) -> tuple[Ratings, Ratings]:
    """Split ratings at random into a training and a test set.

    The rows are permuted with ``numpy.random.default_rng(random_state).permutation``; the
    first ``n - n_test`` rows of the permutation form the training set. With
    ``random_state=0`` and ``test_size=0.2`` this is the fixed MovieLens-small split that
    funkrs' reference figures use.

    Parameters
    ----------
    ratings : Ratings
        The data to split.
    test_size : float or int
        Fraction in (0, 1) or a count of test ratings.
    random_state : int, numpy.random.Generator or None
        Seed of the permutation.
    shuffle : bool
        If False, the last ratings (in their current order) form the test set.

    Returns
    -------
    (Ratings, Ratings)
        Training and test sets, each with its own vocabularies.

    Raises
    ------
    InvalidParameterError
        ``test_size`` is not a fraction in (0, 1) or a count, or leaves a set empty.
    """
    n = len(ratings)
    n_test = _n_test(test_size, n)
    order = np.random.default_rng(random_state).permutation(n) if shuffle else np.arange(n)
    return ratings.take(np.sort(order[: n - n_test])), ratings.take(np.sort(order[n - n_test :]))


def _n_test(test_size: float | int, n: int) -> int:
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float, np.number)):
        raise InvalidParameterError(
            f"test_size must be a float in (0, 1) or an int, got {show_value(test_size)}"
        )
    if isinstance(test_size, (float, np.floating)):
        if not 0.0 < test_size < 1.0:
            raise InvalidParameterError(
                f"test_size as a fraction must be in (0, 1), got {show_value(test_size)}"
            )
        n_test = math.ceil(float(test_size) * n)
    else:
        n_test = int(test_size)
    if not 0 < n_test < n:
        raise InvalidParameterError(
            f"test_size={test_size!r} leaves an empty train or test set (n={n})"
        )
    return n_test
