"""Mapping between raw ids (any integers or strings) and dense inner ids ``0..n-1``."""

from __future__ import annotations

from itertools import repeat
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from funkrs._checks import check_choice
from funkrs.exceptions import IndexOutOfRangeError, RatingsError, UnknownIdError

__all__ = ["Vocabulary", "normalize_ids", "show_id"]

I64_MIN, I64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)


def show_id(value: Any) -> str:
    """``repr`` of an id without numpy's type wrapper (``'a'``, not ``np.str_('a')``)."""
    if isinstance(value, np.generic):
        item = value.item()
        # A long double has no Python equivalent: its item is itself.
        return str(value) if isinstance(item, np.generic) else repr(item)
    return repr(value)


def normalize_ids(values: Any, what: str) -> np.ndarray:
    """Return ``values`` as a 1-D ``int64`` or unicode array, or raise naming the problem.

    Integral floats (``3.0``) become integers, bytes are decoded as UTF-8 and numpy's
    ``StringDType`` strings become fixed-width ones. Booleans, fractional floats, NaN,
    ``None``, masked entries, integers beyond ``int64``, strings ending with a NUL and
    mixtures of strings and numbers are rejected with a :class:`RatingsError` whose message
    starts with ``what``.
    """
    arr = _as_array(values, what)
    if arr.ndim != 1:
        arr = arr.reshape(-1) if arr.ndim == 0 else arr
        if arr.ndim != 1:
            raise RatingsError(f"{what} ids must be one-dimensional, got shape {arr.shape}")
    return _normalize(arr, values, what)


def _as_array(values: Any, what: str) -> np.ndarray:
    """``np.asarray(values)``, refusing masked entries and what numpy cannot make an array of."""
    if np.ma.isMaskedArray(values):
        masked = np.ma.getmaskarray(values).reshape(-1)
        if masked.any():
            row = int(np.argmax(masked))
            raise RatingsError(f"{what} id at row {row} is missing (masked)")
    try:
        return np.asarray(values)
    except (TypeError, ValueError, OverflowError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RatingsError(
            f"{what} ids are not a one-dimensional array of integers or strings: {first}"
        ) from None


def _normalize(arr: np.ndarray, values: Any, what: str) -> np.ndarray:
    """:func:`normalize_ids` of the flat array ``arr`` that numpy made of ``values``."""
    kind = arr.dtype.kind
    if kind in "US" and not isinstance(values, np.ndarray):
        # numpy turned Python objects into fixed-width strings: that drops trailing NULs
        # (merging distinct ids) and turns numbers mixed in with strings into text. Check
        # the objects themselves.
        return _normalize_objects(_flat_objects(values), what)
    if kind in "iuf" and isinstance(values, (list, tuple)):
        _reject_bools(values, what)
    if kind in "iu":
        if kind == "u" and arr.size and int(arr.max()) > I64_MAX:
            row = int(np.argmax(arr > I64_MAX))
            raise RatingsError(f"{what} id at row {row} ({int(arr[row])}) does not fit in int64")
        return arr.astype(np.int64, copy=False)
    if kind == "U":
        return arr
    if kind == "S":
        return _decode_bytes(arr, what)
    if kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            row = int(np.argmax(bad))
            raise RatingsError(
                f"{what} id at row {row} is {show_id(arr[row])}; float ids must be whole numbers"
            )
        # -2**63 is int64's lowest value, 2**63 one past its highest (a float64 scalar, not
        # a Python float, which numpy would cast to float16 arrays' type and overflow).
        limit = np.float64(2.0**63)
        out = (arr >= limit) | (arr < -limit)
        if out.any():
            row = int(np.argmax(out))
            # A list holding an int beyond int64 next to negative ints becomes floats: show
            # the value given, not numpy's rounded float.
            given = arr[row] if isinstance(values, np.ndarray) else _flat_objects(values)[row]
            raise RatingsError(f"{what} id at row {row} ({show_id(given)}) does not fit in int64")
        if isinstance(values, (list, tuple)):
            _reject_rounded(values, arr, what)
        return arr.astype(np.int64)
    if kind == "b":
        raise RatingsError(f"{what} ids must be integers or strings, got booleans")
    if kind in "OT":  # "T": numpy's variable-width StringDType, which keeps trailing NULs
        return _normalize_objects(arr.astype(object, copy=False), what)
    raise RatingsError(f"{what} ids must be integers or strings, got dtype {arr.dtype}")


def _flat_objects(values: Any) -> np.ndarray:
    """The Python objects of ``values``, flat, as numpy's conversion saw them."""
    return np.asarray(values, dtype=object).reshape(-1)


def _reject_bools(values: list[Any] | tuple[Any, ...], what: str) -> None:
    """Refuse ``True`` in a list of numbers: numpy makes ``1`` of it, merging two ids."""
    flags = map(isinstance, values, repeat((bool, np.bool_)))  # no Python loop
    is_bool = np.fromiter(flags, dtype=bool, count=len(values))
    if is_bool.any():
        row = int(np.argmax(is_bool))
        raise RatingsError(
            f"{what} id at row {row} is {show_id(values[row])}; ids must be integers or strings, "
            "not booleans"
        )


def _reject_rounded(values: list[Any] | tuple[Any, ...], arr: np.ndarray, what: str) -> None:
    """Refuse ints that numpy rounded, making floats of a list mixing ints and floats."""
    given = _flat_objects(values)
    exact = np.asarray(given == arr.astype(object), dtype=bool)
    if not exact.all():
        row = int(np.argmax(~exact))
        raise RatingsError(
            f"{what} id at row {row} ({show_id(given[row])}) is not exactly a float64, into "
            "which numpy turns a list mixing integers and floats; pass integers only"
        )


def _normalize_objects(arr: np.ndarray, what: str) -> np.ndarray:
    """A flat object array of Python ids as ``int64``, unicode, or an error naming a row."""
    is_none = np.frompyfunc(lambda v: v is None or (isinstance(v, float) and v != v), 1, 1)
    missing = is_none(arr).astype(bool)
    if missing.any():
        row = int(np.argmax(missing))
        raise RatingsError(f"{what} id at row {row} is missing (null)")
    is_str = np.frompyfunc(lambda v: isinstance(v, str), 1, 1)(arr).astype(bool)
    if is_str.all():
        _reject_trailing_nul(arr, "\x00", what)
        return arr.astype(str)
    if np.frompyfunc(lambda v: isinstance(v, bytes), 1, 1)(arr).astype(bool).all():
        _reject_trailing_nul(arr, b"\x00", what)
        return _decode_bytes(arr.astype(bytes), what)
    is_int = np.frompyfunc(
        lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)), 1, 1
    )(arr).astype(bool)
    if is_int.all():
        try:
            return arr.astype(np.int64)
        except OverflowError:
            big = np.frompyfunc(lambda v: not I64_MIN <= int(v) <= I64_MAX, 1, 1)(arr)
            row = int(np.argmax(big.astype(bool)))
            raise RatingsError(
                f"{what} id at row {row} ({show_id(arr[row])}) does not fit in int64"
            ) from None
    row = (
        int(np.argmax(~is_str & ~is_int)) if not (is_str | is_int).all() else int(np.argmax(is_str))
    )
    raise RatingsError(
        f"{what} ids must be all integers or all strings; row {row} holds {show_id(arr[row])} "
        f"({type(arr[row]).__name__})"
    )


def _reject_trailing_nul(arr: np.ndarray, nul: str | bytes, what: str) -> None:
    """Numpy's fixed-width strings drop trailing NULs, which would merge distinct ids."""
    bad = np.frompyfunc(lambda v: v.endswith(nul), 1, 1)(arr).astype(bool)
    if bad.any():
        row = int(np.argmax(bad))
        raise RatingsError(
            f"{what} id at row {row} ({arr[row]!r}) ends with a NUL character, which funkrs "
            "cannot store faithfully; strip it first"
        )


def _decode_bytes(arr: np.ndarray, what: str) -> np.ndarray:
    """A flat ``S`` array decoded as UTF-8, or an error naming the first undecodable id."""
    if arr.dtype.itemsize == 0 or not (np.ascontiguousarray(arr).view(np.uint8) >= 0x80).any():
        return arr.astype(str)  # ASCII
    try:
        return np.asarray(np.char.decode(arr, "utf-8"))
    except UnicodeDecodeError:
        bad = np.frompyfunc(_not_utf8, 1, 1)(arr).astype(bool)
        row = int(np.argmax(bad))
        raise RatingsError(
            f"{what} id at row {row} ({show_id(arr[row])}) is not UTF-8; bytes ids are "
            "decoded as UTF-8 (decode them first)"
        ) from None


def _not_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _ucs4_rows(arr: np.ndarray) -> np.ndarray:
    """A ``<U`` array as its ``(n, width)`` matrix of UCS-4 code points (zero padded)."""
    arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))
    width = max(arr.dtype.itemsize // 4, 1)
    if arr.dtype.itemsize == 0:
        return np.zeros((len(arr), 1), np.uint32)
    return arr.view(np.uint32).reshape(len(arr), width)


class Vocabulary:
    """Sorted unique raw ids; the position of an id is its inner id.

    Parameters
    ----------
    ids : array-like
        Distinct raw ids (integers or strings). They are sorted if they are not already.

    Examples
    --------
    >>> vocab = Vocabulary(["b", "a", "c"])
    >>> vocab.numbers(["c", "a"]).tolist()
    [2, 0]
    >>> vocab.ids([1]).tolist()
    ['b']
    """

    __slots__ = ("_ids", "_index")

    def __init__(self, ids: npt.ArrayLike) -> None:
        arr = normalize_ids(ids, "vocabulary")
        uniq = np.unique(arr)
        if len(uniq) != len(arr):
            raise RatingsError("vocabulary ids must be distinct")
        uniq.flags.writeable = False
        self._ids = uniq
        self._index: Any = None

    @classmethod
    def from_values(cls, values: np.ndarray) -> tuple[Vocabulary, np.ndarray]:
        """Build the vocabulary of ``values`` (already normalised) and their inner ids."""
        uniq, codes = np.unique(values, return_inverse=True)
        vocab = cls.__new__(cls)
        uniq.flags.writeable = False
        vocab._ids = uniq
        vocab._index = None
        return vocab, codes.reshape(-1).astype(np.uint32)

    @classmethod
    def from_sorted(cls, ids: np.ndarray) -> Vocabulary:
        """A vocabulary over ``ids`` as given (sorted and distinct; not checked here).

        Used where the ids come from a vocabulary already, or are checked afterwards (see
        :meth:`funkrs._state.FittedState.validate`).
        """
        vocab = cls.__new__(cls)
        vocab.__setstate__({"ids": ids})
        return vocab

    def extended(self, ids: np.ndarray) -> Vocabulary:
        """A vocabulary of these ids followed by ``ids`` (new, distinct; not checked here).

        The old ids keep their inner numbers; the new ones follow in the order given.
        """
        if len(ids) == 0:
            return self
        return Vocabulary.from_sorted(np.concatenate([self._ids, ids]))

    @property
    def ids_array(self) -> np.ndarray:
        """The raw ids in inner-id order (read-only): sorted, unless ids were appended."""
        return self._ids

    @property
    def is_string(self) -> bool:
        """Whether the raw ids are strings."""
        return self._ids.dtype.kind == "U"

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, raw: object) -> bool:
        try:
            return bool(self.numbers(np.asarray([raw]), missing="negative")[0] >= 0)
        except RatingsError:  # an id of the other kind is simply not in the vocabulary
            return False

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return self._ids.dtype.kind == other._ids.dtype.kind and np.array_equal(
            self._ids, other._ids
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        kind = "str" if self.is_string else "int"
        return f"Vocabulary({len(self)} {kind} ids)"

    def __getstate__(self) -> dict[str, Any]:
        return {"ids": self._ids}

    def __setstate__(self, state: dict[str, Any]) -> None:
        ids = np.asarray(state["ids"])
        ids.flags.writeable = False
        self._ids = ids
        self._index = None

    def numbers(
        self,
        raw: npt.ArrayLike,
        missing: Literal["error", "negative"] = "error",
        what: str = "query",
    ) -> np.ndarray:
        """Inner ids (``int64``) of raw ids, vectorised.

        Parameters
        ----------
        raw : array-like
            Raw ids to look up, of this vocabulary's kind: integers (whole-number floats
            count, as in ingestion) or strings.
        missing : {"error", "negative"}
            What to do with ids not in the vocabulary: raise :class:`UnknownIdError` naming
            the first one, or return ``-1`` for them.
        what : str
            What the ids are (``"user"``, ``"item"``), for error messages.

        Returns
        -------
        numpy.ndarray
            ``int64`` inner ids, the shape of ``raw``.

        Raises
        ------
        RatingsError
            ``raw`` holds ids of the other kind (strings for integer ids or the reverse),
            fractional floats, booleans, nulls or a mixture.
        UnknownIdError
            With ``missing="error"``, naming the first id not in the vocabulary.
        InvalidParameterError
            ``missing`` is neither ``"error"`` nor ``"negative"``.
        """
        check_choice("missing", missing, ("error", "negative"))
        arr = _as_array(raw, what)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        out = np.full(arr.shape, -1, dtype=np.int64)
        if arr.size == 0:
            return out
        query = self._query(arr.reshape(-1), raw, what)
        if len(self._ids) == 0:
            found = np.zeros(arr.shape, dtype=bool)
        elif not self.is_string:
            flat = self._int_index().lookup(np.ascontiguousarray(query, dtype=np.int64))
            out = flat.reshape(arr.shape)
            found = out >= 0
        elif query.dtype.itemsize > 0:
            out = self._str_index().lookup(_ucs4_rows(query)).reshape(arr.shape)
            found = out >= 0
        else:
            sorter = np.argsort(self._ids, kind="stable")
            pos = np.searchsorted(self._ids, query, sorter=sorter)
            pos_c = sorter[np.minimum(pos, len(self._ids) - 1)]
            hit = self._ids[pos_c] == query
            out.reshape(-1)[hit] = pos_c[hit]
            found = hit.reshape(arr.shape)
        if missing == "error" and not found.all():
            first = int(np.argmax(~found.reshape(-1)))
            raise UnknownIdError(
                f"{what} id {show_id(arr.reshape(-1)[first])} (position {first}) is not in the "
                "vocabulary"
            )
        return out

    def _query(self, arr: np.ndarray, raw: Any, what: str) -> np.ndarray:
        """Flat ``arr`` (made of ``raw``) normalised; :class:`RatingsError` if of the other kind."""
        query = _normalize(arr, raw, what)
        if (query.dtype.kind == "U") != self.is_string:
            want = "strings" if self.is_string else "integers"
            got = "strings" if query.dtype.kind == "U" else "integers"
            if arr.dtype.kind == "f":
                got = "floats"
            raise RatingsError(
                f"{what} ids of this model are {want}, got {got} (e.g. {show_id(arr[0])}); "
                f"convert the ids to {want} first"
            )
        return query

    def int_query(self, raw: npt.ArrayLike) -> np.ndarray | None:
        """``raw`` as contiguous ``int64`` if it and this vocabulary hold integer ids, else None.

        Such a query goes straight to the Rust index (e.g. fused into ``predict``).
        """
        if self.is_string or len(self._ids) == 0:
            return None
        try:
            query = normalize_ids(raw, "query")
        except RatingsError:
            return None
        if query.dtype.kind == "U":
            return None
        return np.ascontiguousarray(query, dtype=np.int64)

    def _int_index(self) -> Any:
        """The Rust index of integer ids, built on first use (not pickled)."""
        if self._index is None:
            from funkrs._funkrs import IdIndex

            self._index = IdIndex(np.ascontiguousarray(self._ids, dtype=np.int64))
        return self._index

    def _str_index(self) -> Any:
        """The Rust hash index of string ids, built on first use (not pickled)."""
        if self._index is None:
            from funkrs._funkrs import StrIndex

            self._index = StrIndex(_ucs4_rows(self._ids))
        return self._index

    def ids(self, inner: npt.ArrayLike) -> np.ndarray:
        """Raw ids of inner ids (vectorised).

        Raises
        ------
        IndexOutOfRangeError
            An inner id is negative or not below ``len(self)``; the message names the first
            one and its position. It is an ``IndexError``.
        """
        idx = np.asarray(inner, dtype=np.int64)
        bad = (idx < 0) | (idx >= len(self._ids))
        if bad.any():
            position = int(np.argmax(bad.reshape(-1)))
            raise IndexOutOfRangeError(
                f"inner id {int(idx.reshape(-1)[position])} at position {position} is out of "
                f"range: inner ids of this vocabulary of {len(self._ids)} ids are in "
                f"[0, {len(self._ids)})"
            )
        return self._ids[idx]
