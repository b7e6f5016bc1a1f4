"""Helpers shared by the ``funkrs`` commands: argument groups, id parsing, file output."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from funkrs.model import MatrixFactorization

__all__ = [
    "UserError",
    "add_data_args",
    "add_metric_args",
    "add_model_args",
    "model_from_args",
    "parse_options",
    "raw_ids",
    "read_table",
    "write_frame",
]


class UserError(Exception):
    """A mistake of the user's that is reported without a traceback."""


def add_data_args(p: argparse.ArgumentParser) -> None:
    """``--user``, ``--item``, ``--rating`` and ``--separator``."""
    p.add_argument("--user", default="user", help="user id column (default: user)")
    p.add_argument("--item", default="item", help="item id column (default: item)")
    p.add_argument("--rating", default="rating", help="rating column (default: rating)")
    p.add_argument("--separator", default=",", help="CSV separator (default: ,)")


def add_metric_args(p: argparse.ArgumentParser) -> None:
    """``--metrics`` and ``--threshold``."""
    p.add_argument(
        "--metrics",
        nargs="+",
        default=["rmse", "mae"],
        metavar="METRIC",
        help="rmse, mae, precision@K, recall@K, ndcg@K, map@K, coverage@K (default: rmse mae)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=4.0,
        help="smallest rating counted as relevant by ranking metrics (default: 4.0)",
    )


def add_model_args(p: argparse.ArgumentParser) -> None:
    """The estimator's parameters, defaulting to the estimator's own defaults."""
    # The estimator's own defaults, so that the command line never drifts from the library.
    d = MatrixFactorization().get_params()
    p.add_argument("--solver", default=d["solver"], help=f"solver name (default: {d['solver']})")
    p.add_argument(
        "--n-factors",
        type=int,
        default=d["n_factors"],
        help=f"latent factors (default: {d['n_factors']})",
    )
    p.add_argument(
        "--n-epochs", type=int, default=d["n_epochs"], help=f"epochs (default: {d['n_epochs']})"
    )
    p.add_argument("--lr", type=float, default=d["lr"], help=f"learning rate (default: {d['lr']})")
    p.add_argument(
        "--reg", type=float, default=d["reg"], help=f"regularisation (default: {d['reg']})"
    )
    p.add_argument("--unbiased", action="store_true", help="fit p_u·q_i without biases")
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="solver option (repeatable), value parsed as JSON when possible",
    )


def model_from_args(a: argparse.Namespace) -> MatrixFactorization:
    """The unfitted estimator described by the :func:`add_model_args` flags."""
    return MatrixFactorization(
        solver=a.solver,
        n_factors=a.n_factors,
        n_epochs=a.n_epochs,
        lr=a.lr,
        reg=a.reg,
        biased=not a.unbiased,
        random_state=a.seed,
        n_threads=a.threads,
        solver_options=parse_options(a.option) or None,
    )


def parse_options(items: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings as a dict, each value parsed as JSON when it is JSON."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--option expects KEY=VALUE, got {item!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def read_table(path: str) -> pl.DataFrame:
    """A whole ``.parquet``/``.pq`` or CSV file as a Polars frame."""
    src = Path(path)
    if not src.is_file():
        raise FileNotFoundError(f"file not found: {path!r}")
    return pl.read_parquet(src) if src.suffix.lower() in (".parquet", ".pq") else pl.read_csv(src)


def write_frame(df: pl.DataFrame, path: str) -> None:
    """Write ``df`` to a ``.parquet``/``.pq``, ``.csv`` or ``.tsv`` file, all or nothing."""
    out = Path(path)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        if out.suffix.lower() in (".parquet", ".pq"):
            df.write_parquet(tmp)
        elif out.suffix.lower() in (".csv", ".tsv"):
            df.write_csv(tmp, separator="\t" if out.suffix.lower() == ".tsv" else ",")
        else:
            raise UserError(f"output must end in .parquet or .csv, got {path!r}")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


def raw_ids(values: list[str], known: np.ndarray, what: str) -> np.ndarray:
    """Command-line ids typed like the model's ids (an error naming the problem)."""
    if known.dtype.kind == "U":
        return np.asarray(values)
    try:
        return np.asarray([int(v) for v in values], dtype=np.int64)
    except ValueError:
        raise UserError(f"{what} ids of this model are integers, got {values}") from None
