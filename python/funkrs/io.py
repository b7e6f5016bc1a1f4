"""Rating ingestion with Polars: CSV and Parquet files, Polars, pandas and pyarrow tables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import polars as pl

from funkrs._checks import check_bool, check_choice, show_value
from funkrs._frames import check_columns, columns_from_frame
from funkrs._ratings import DuplicatePolicy, Ratings
from funkrs.exceptions import InvalidParameterError, RatingsError, RatingsFileNotFoundError

__all__ = ["columns_from_frame", "read_ratings"]

FileFormat = Literal["csv", "parquet"]


def read_ratings(
    path: str | os.PathLike[str],
    user: str = "user",
    item: str = "item",
    rating: str | None = "rating",
    *,
    weight: str | None = None,
    format: FileFormat | None = None,
    separator: str = ",",
    has_header: bool = True,
    rating_scale: tuple[float, float] | None = None,
    duplicates: DuplicatePolicy | None = None,
) -> Ratings:
    r"""Read ratings from a CSV or Parquet file.

    Only the named columns are read (Polars pushes the projection into the scan).

    Parameters
    ----------
    path : str or path-like
        The file. Its suffix (``.csv``, ``.tsv``, ``.parquet``, ``.pq``) picks the format
        unless ``format`` is given.
    user, item, rating : str
        Column names; ``rating=None`` reads implicit feedback (each row an interaction),
        as in :meth:`Ratings.from_frame`.
    weight : str, optional
        With ``rating=None``: the column of interaction weights (counts), finite and ≥ 0.
    format : {"csv", "parquet"}, optional
        Force a format.
    separator : str
        CSV field separator, one single-byte character (``"\\t"`` is used for ``.tsv``
        files by default).
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
    RatingsFileNotFoundError
        The file does not exist (also a ``FileNotFoundError``).
    RatingsError
        The file is not a regular file or cannot be parsed, a column is missing, or a value
        is invalid.
    InvalidParameterError
        ``format``, ``separator`` or ``has_header`` is invalid (or, as in
        :meth:`Ratings.from_arrays`, ``rating_scale`` or ``duplicates``).
    """
    p = Path(path)
    if not p.is_file():
        if p.exists():
            raise RatingsError(f"cannot read {str(p)!r}: it is not a file")
        raise RatingsFileNotFoundError(f"ratings file not found: {str(p)!r}")
    check_choice("format", format, ("csv", "parquet"), allow_none=True)
    check_bool("has_header", has_header)
    if not isinstance(separator, str) or len(separator.encode()) != 1:
        raise InvalidParameterError(
            f"separator must be a single one-byte character, got {show_value(separator)}"
        )
    fmt = format or _guess_format(p)
    if fmt == "csv" and p.suffix.lower() == ".tsv" and separator == ",":
        separator = "\t"
    if rating is not None and weight is not None:
        raise InvalidParameterError(
            f"pass either rating={rating!r} (ratings) or weight={weight!r} (implicit "
            "feedback), not both; use rating=None with weight"
        )
    value_col = rating if rating is not None else weight
    cols = (user, item) if value_col is None else (user, item, value_col)
    frame = _read_frame(p, fmt, cols, separator, has_header)
    return Ratings.from_frame(
        frame,
        user,
        item,
        rating,
        weight=weight,
        rating_scale=rating_scale,
        duplicates=duplicates,
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
    p: Path, fmt: str, cols: tuple[str, ...], separator: str, has_header: bool
) -> pl.DataFrame:
    try:
        if fmt == "parquet":
            lf = pl.scan_parquet(p)
        else:
            lf = _scan_csv(p, separator, has_header, infer_schema=True)
        names = lf.collect_schema().names()
        check_columns(names, cols)
        try:
            return lf.select(list(dict.fromkeys(cols))).collect()
        except pl.exceptions.ComputeError:
            if fmt != "csv":
                raise
            # Type inference looked at the first rows only; read as text so that the bad
            # value can be reported with its row.
            lf = _scan_csv(p, separator, has_header, infer_schema=False)
            return lf.select(list(dict.fromkeys(cols))).collect()
    except (pl.exceptions.PolarsError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):  # removed since the check in read_ratings
            raise RatingsFileNotFoundError(f"ratings file not found: {str(p)!r}") from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RatingsError(f"cannot read {fmt} file {str(p)!r}: {first}") from exc


def _scan_csv(p: Path, separator: str, has_header: bool, *, infer_schema: bool) -> pl.LazyFrame:
    lf = pl.scan_csv(p, separator=separator, has_header=has_header, infer_schema=infer_schema)
    if has_header:
        return lf
    # Polars numbers header-less columns from 0 or from 1 depending on its version.
    names = lf.collect_schema().names()
    return lf.select(pl.col(n).alias(f"column_{k}") for k, n in enumerate(names, start=1))
