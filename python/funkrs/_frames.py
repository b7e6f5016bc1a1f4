"""Column extraction from Polars, pandas and pyarrow tables, shared by ingestion paths.

A leaf module: it imports neither :mod:`funkrs._ratings` nor :mod:`funkrs.io`, which both
use it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from funkrs.exceptions import InvalidParameterError, RatingsError

__all__ = ["check_columns", "columns_from_frame"]


def check_columns(names: list[str], cols: tuple[str, ...]) -> None:
    """Raise :class:`RatingsError` naming the first of ``cols`` missing from ``names``."""
    for col in cols:
        if col not in names:
            shown = ", ".join(repr(n) for n in names[:20])
            raise RatingsError(f"column {col!r} not found; the data has columns {shown}")


Column = pl.Series | np.ndarray


def _columns(frame: Any, cols: tuple[str, ...]) -> dict[str, Column]:
    """The named columns of any supported table, each as a Polars series (or an object array)."""
    if isinstance(frame, pl.LazyFrame):
        check_columns(frame.collect_schema().names(), cols)
        df = frame.select(list(dict.fromkeys(cols))).collect()
        return {c: df[c] for c in cols}
    if isinstance(frame, pl.DataFrame):
        check_columns(frame.columns, cols)
        return {c: frame[c] for c in cols}
    module = type(frame).__module__.split(".")[0]
    if module == "pandas" and hasattr(frame, "columns"):
        labels = _unique_labels([str(c) for c in frame.columns], list(frame.columns), cols)
        return {c: _pandas_column(frame[labels[c]], c) for c in cols}
    if module == "pyarrow" and hasattr(frame, "column_names"):
        names = [str(n) for n in frame.column_names]
        positions = _unique_labels(names, list(range(len(names))), cols)
        return {c: _arrow_column(frame.column(positions[c]), c) for c in cols}
    raise InvalidParameterError(
        "expected a Polars DataFrame/LazyFrame, a pandas DataFrame or a pyarrow Table, got "
        f"{type(frame).__name__}; use Ratings.from_arrays for plain arrays"
    )


def _unique_labels(names: list[str], labels: list[Any], cols: tuple[str, ...]) -> dict[str, Any]:
    """The label of each of ``cols`` (matched by its string form), which must be unique."""
    check_columns(names, cols)
    found: dict[str, Any] = {}
    for c in cols:
        hits = [label for name, label in zip(names, labels, strict=True) if name == c]
        if len(hits) > 1:
            raise RatingsError(f"column {c!r} appears {len(hits)} times; names must be unique")
        found[c] = hits[0]
    return found


def _pandas_column(col: Any, name: str) -> Column:
    if getattr(col, "ndim", None) != 1:
        raise RatingsError(f"column {name!r} is not a single column of the frame")
    dtype = col.dtype
    if not (isinstance(dtype, np.dtype) and dtype.kind == "f"):
        # NaN in a float column is reported as a non-finite value by the checks below.
        missing = np.asarray(col.isna(), dtype=bool)
        if missing.any():
            row = int(np.argmax(missing))
            raise RatingsError(f"column {name!r} has a missing (null) value at row {row}")
    values = np.asarray(col.to_numpy())
    try:
        series = pl.Series(name, values)
    except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
        if values.dtype.kind != "O":
            raise RatingsError(f"column {name!r} has unsupported dtype {dtype}") from None
        series = None
    if series is None or series.dtype == pl.Object:
        # Python objects that Polars has no type for (mixed, or ints beyond 64 bits): the
        # array checks of Ratings.from_arrays name the offending row.
        return values
    return series


def _arrow_column(col: Any, name: str) -> pl.Series:
    import pyarrow as pa

    if pa.types.is_decimal(col.type) and col.type.bit_width > 128:
        # Polars reads decimals of up to 128 bits.
        try:
            col = col.cast(pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise RatingsError(f"column {name!r} of type {col.type}: {exc}") from None
    try:
        s = pl.from_arrow(col)
    except (TypeError, ValueError, pl.exceptions.PolarsError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RatingsError(
            f"column {name!r} of arrow type {col.type} is unsupported: {first}"
        ) from None
    series = s if isinstance(s, pl.Series) else s.to_series()
    return series.rename(name)


def columns_from_frame(
    frame: Any, user: str, item: str, rating: str | None, *, what: str = "rating"
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate and extract the user, item and rating columns of a table as numpy arrays.

    With ``rating=None`` only the id columns are read and the values are ``None``;
    ``what`` names the values in messages (``"weight"`` for implicit feedback).

    Raises
    ------
    RatingsError
        A column is missing or repeated, the table is empty, or a column holds a null or a
        value of the wrong type.
    InvalidParameterError
        ``frame`` is not a Polars, pandas or pyarrow table (also a ``TypeError``).
    """
    names = (user, item) if rating is None else (user, item, rating)
    cols = _columns(frame, names)
    if len(cols[user]) == 0:
        raise RatingsError("no ratings: the data is empty")
    values = None if rating is None else _rating_column(cols[rating], what)
    return _id_column(cols[user]), _id_column(cols[item]), values


def _first_null(s: pl.Series) -> None:
    if s.null_count():
        row = int(s.is_null().arg_max() or 0)
        raise RatingsError(f"column {s.name!r} has a missing (null) value at row {row}")


def _as_int64(s: pl.Series) -> np.ndarray:
    """Whole-number ids as ``int64``, or an error naming the first id out of its range."""
    ints = s.cast(pl.Int64, strict=False)
    overflow = ints.is_null()
    if overflow.any():
        row = int(overflow.arg_max() or 0)
        raise RatingsError(f"column {s.name!r}: id at row {row} ({s[row]!r}) does not fit in int64")
    return np.asarray(ints.to_numpy())


def _id_column(s: Column) -> np.ndarray:
    if isinstance(s, np.ndarray):
        return s  # Python objects: checked by the id normalisation of Ratings.from_arrays
    _first_null(s)
    dt = s.dtype
    if dt.is_integer():
        return _as_int64(s)
    if dt == pl.String or isinstance(dt, (pl.Categorical, pl.Enum)):
        text = s.cast(pl.String)
        nul = text.str.ends_with("\x00")
        if nul.any():
            row = int(nul.arg_max() or 0)
            raise RatingsError(
                f"column {s.name!r}: id at row {row} ({text[row]!r}) ends with a NUL "
                "character, which funkrs cannot store faithfully; strip it first"
            )
        return np.asarray(text.to_numpy().astype(str))
    if dt.is_float():
        bad = ~(s.is_finite() & (s == s.round(0)))
        if bad.any():
            row = int(bad.arg_max() or 0)
            raise RatingsError(
                f"column {s.name!r}: id at row {row} is {s[row]!r}; float ids must be whole numbers"
            )
        return _as_int64(s)
    raise RatingsError(f"column {s.name!r}: ids must be integers or strings, got {dt}")


def _rating_column(col: Column, what: str) -> np.ndarray:
    if isinstance(col, np.ndarray):
        return col  # Python objects: checked by the rating checks of Ratings.from_arrays
    s = col
    _first_null(s)
    dt = s.dtype
    if dt == pl.String:
        num = s.str.strip_chars().cast(pl.Float64, strict=False)
        bad = num.is_null()
        if bad.any():
            row = int(bad.arg_max() or 0)
            raise RatingsError(f"column {s.name!r} must be numeric; row {row} holds {s[row]!r}")
        s = num
    elif not dt.is_numeric() or dt == pl.Boolean:
        raise RatingsError(f"column {s.name!r} must be numeric, got {dt}")
    vals = np.asarray(s.cast(pl.Float64).to_numpy())
    bad = ~np.isfinite(vals)
    if bad.any():
        row = int(np.argmax(bad))
        raise RatingsError(
            f"column {s.name!r}: {what} at row {row} is {vals[row]}; {what}s must be finite"
        )
    return vals
