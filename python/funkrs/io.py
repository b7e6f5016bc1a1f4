"""Rating ingestion with Polars: CSV and Parquet files, Polars, pandas and pyarrow tables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from funkrs._ratings import DuplicatePolicy, Ratings
from funkrs.exceptions import RatingsError

__all__ = ["columns_from_frame", "read_ratings"]

FileFormat = Literal["csv", "parquet"]


def read_ratings(
    path: str | os.PathLike[str],
    user: str = "user",
    item: str = "item",
    rating: str = "rating",
    *,
    format: FileFormat | None = None,
    separator: str = ",",
    has_header: bool = True,
    rating_scale: tuple[float, float] | None = None,
    duplicates: DuplicatePolicy = "error",
) -> Ratings:
    r"""Read ratings from a CSV or Parquet file.

    Only the three named columns are read (Polars pushes the projection into the scan).

    Parameters
    ----------
    path : str or path-like
        The file. Its suffix (``.csv``, ``.tsv``, ``.parquet``, ``.pq``) picks the format
        unless ``format`` is given.
    user, item, rating : str
        Column names.
    format : {"csv", "parquet"}, optional
        Force a format.
    separator : str
        CSV field separator (``"\\t"`` is used for ``.tsv`` files by default).
    has_header : bool
        Whether the CSV file has a header row (without one, columns are named
        ``column_1``, ``column_2``, ...).
    rating_scale, duplicates
        As in :meth:`Ratings.from_arrays`.

    Returns
    -------
    Ratings

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    RatingsError
        The file cannot be parsed, a column is missing, or a value is invalid.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"ratings file not found: {str(p)!r}")
    fmt = format or _guess_format(p)
    if fmt == "csv" and p.suffix.lower() == ".tsv" and separator == ",":
        separator = "\t"
    frame = _read_frame(p, fmt, (user, item, rating), separator, has_header)
    return Ratings.from_frame(
        frame, user, item, rating, rating_scale=rating_scale, duplicates=duplicates
    )


def _guess_format(p: Path) -> FileFormat:
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".tsv", ".txt", ".dat"):
        return "csv"
    raise RatingsError(
        f"cannot tell the format of {str(p)!r} from its suffix; pass format='csv' or "
        "format='parquet'"
    )


def _read_frame(
    p: Path, fmt: str, cols: tuple[str, str, str], separator: str, has_header: bool
) -> pl.DataFrame:
    try:
        if fmt == "parquet":
            lf = pl.scan_parquet(p)
        elif fmt == "csv":
            lf = pl.scan_csv(p, separator=separator, has_header=has_header)
        else:
            raise ValueError(f"format must be 'csv' or 'parquet', got {fmt!r}")
        names = lf.collect_schema().names()
        _check_columns(names, cols)
        try:
            return lf.select(cols).collect()
        except pl.exceptions.ComputeError:
            if fmt != "csv":
                raise
            # Type inference looked at the first rows only; read as text so that the bad
            # value can be reported with its row.
            lf = pl.scan_csv(p, separator=separator, has_header=has_header, infer_schema=False)
            return lf.select(cols).collect()
    except (pl.exceptions.PolarsError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RatingsError(f"cannot read {fmt} file {str(p)!r}: {first}") from exc


def _check_columns(names: list[str], cols: tuple[str, ...]) -> None:
    for col in cols:
        if col not in names:
            shown = ", ".join(repr(n) for n in names[:20])
            raise RatingsError(f"column {col!r} not found; the data has columns {shown}")


def _to_polars(frame: Any, cols: tuple[str, str, str]) -> pl.DataFrame:
    if isinstance(frame, pl.LazyFrame):
        _check_columns(frame.collect_schema().names(), cols)
        return frame.select(cols).collect()
    if isinstance(frame, pl.DataFrame):
        return frame
    module = type(frame).__module__.split(".")[0]
    if module == "pandas":
        _check_columns([str(c) for c in frame.columns], cols)
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
    _check_columns(df.columns, cols)
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
