"""Column extraction from Polars, pandas and pyarrow tables, shared by ingestion paths.

A leaf module: it imports neither :mod:`funkrs._ratings` nor :mod:`funkrs.io`, which both
use it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from funkrs.exceptions import RatingsError

__all__ = ["check_columns", "columns_from_frame"]


def check_columns(names: list[str], cols: tuple[str, ...]) -> None:
    """Raise :class:`RatingsError` naming the first of ``cols`` missing from ``names``."""
    for col in cols:
        if col not in names:
            shown = ", ".join(repr(n) for n in names[:20])
            raise RatingsError(f"column {col!r} not found; the data has columns {shown}")


def _to_polars(frame: Any, cols: tuple[str, str, str]) -> pl.DataFrame:
    if isinstance(frame, pl.LazyFrame):
        check_columns(frame.collect_schema().names(), cols)
        return frame.select(cols).collect()
    if isinstance(frame, pl.DataFrame):
        return frame
    module = type(frame).__module__.split(".")[0]
    if module == "pandas":
        check_columns([str(c) for c in frame.columns], cols)
        return pl.DataFrame({c: pl.Series(c, frame[c].to_numpy()) for c in cols})
    if module == "pyarrow":
        return pl.DataFrame(pl.from_arrow(frame))
    raise TypeError(
        "expected a Polars DataFrame/LazyFrame, a pandas DataFrame or a pyarrow Table, got "
        f"{type(frame).__name__}; use Ratings.from_arrays for plain arrays"
    )


def columns_from_frame(
    frame: Any, user: str, item: str, rating: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate and extract the user, item and rating columns of a table as numpy arrays."""
    cols = (user, item, rating)
    df = _to_polars(frame, cols)
    check_columns(df.columns, cols)
    if df.height == 0:
        raise RatingsError("no ratings: the data is empty")
    return _id_column(df[user]), _id_column(df[item]), _rating_column(df[rating])


def _first_null(s: pl.Series) -> None:
    if s.null_count():
        row = int(s.is_null().arg_max() or 0)
        raise RatingsError(f"column {s.name!r} has a missing (null) value at row {row}")


def _id_column(s: pl.Series) -> np.ndarray:
    _first_null(s)
    dt = s.dtype
    if dt.is_integer():
        return np.asarray(s.cast(pl.Int64).to_numpy())
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
        return np.asarray(s.cast(pl.Int64).to_numpy())
    raise RatingsError(f"column {s.name!r}: ids must be integers or strings, got {dt}")


def _rating_column(s: pl.Series) -> np.ndarray:
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
            f"column {s.name!r}: rating at row {row} is {vals[row]}; ratings must be finite"
        )
    return vals
