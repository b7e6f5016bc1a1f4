"""The ``funkrs`` command line.

Commands: ``demo``, ``fit``, ``predict``, ``evaluate``, ``cross-validate``, ``recommend``,
``similar``, ``info``, ``plot``.

Exit codes: 0 success, 1 failure (bad data, missing file, ...), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import funkrs
from funkrs._progress import FitProgress, use_bar
from funkrs.exceptions import FunkrsError

__all__ = ["main"]


class _UserError(Exception):
    """A mistake of the user's that is reported without a traceback."""


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user", default="user", help="user id column (default: user)")
    p.add_argument("--item", default="item", help="item id column (default: item)")
    p.add_argument("--rating", default="rating", help="rating column (default: rating)")
    p.add_argument("--separator", default=",", help="CSV separator (default: ,)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="funkrs", description="Matrix factorization for recommender systems."
    )
    parser.add_argument("--version", action="version", version=f"funkrs {funkrs.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="fit funk-sgd on MovieLens small and show what it learned")
    demo.add_argument("--solver", default="funk-sgd", help="solver to demonstrate")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")

    fit = sub.add_parser("fit", help="fit a model on a ratings file and save it")
    fit.add_argument("data", help="ratings file (.csv or .parquet)")
    fit.add_argument("-o", "--output", required=True, help="where to write the model")
    _add_data_args(fit)
    _add_model_args(fit)
    fit.add_argument(
        "--validation",
        default=None,
        metavar="FILE",
        help="held-out ratings scored after every epoch (same columns as DATA)",
    )
    fit.add_argument("--quiet", action="store_true", help="print nothing but errors")

    pred = sub.add_parser("predict", help="predict the (user, item) pairs of a file")
    pred.add_argument("model", help="model file written by 'funkrs fit'")
    pred.add_argument("data", help="file with user and item columns (.csv or .parquet)")
    pred.add_argument("-o", "--output", required=True, help="output .csv or .parquet")
    pred.add_argument("--user", default="user", help="user id column (default: user)")
    pred.add_argument("--item", default="item", help="item id column (default: item)")

    ev = sub.add_parser("evaluate", help="RMSE, MAE and ranking metrics on a ratings file")
    ev.add_argument("model", help="model file written by 'funkrs fit'")
    ev.add_argument("data", help="held-out ratings (.csv or .parquet)")
    _add_data_args(ev)
    _add_metric_args(ev)
    ev.add_argument("--json", action="store_true", help="print the metrics as JSON")

    rec = sub.add_parser("recommend", help="top-N items for users, written to a file")
    rec.add_argument("model", help="model file written by 'funkrs fit'")
    rec.add_argument("-o", "--output", required=True, help="output .parquet or .csv")
    rec.add_argument("-n", type=int, default=10, help="items per user (default: 10)")
    rec.add_argument("--users", nargs="*", default=None, help="user ids (default: all users)")
    rec.add_argument("--include-seen", action="store_true", help="keep items rated in training")
    rec.add_argument(
        "--batch-size", type=int, default=100_000, help="users scored per batch (default: 100000)"
    )
    rec.add_argument("--quiet", action="store_true", help="print nothing but errors")

    info = sub.add_parser("info", help="describe a saved model")
    info.add_argument("model", help="model file")
    info.add_argument("--json", action="store_true", help="print as JSON")

    from funkrs import _cli_more

    _cli_more.add_parsers(sub)
    return parser


def _add_metric_args(p: argparse.ArgumentParser) -> None:
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


def _add_model_args(p: argparse.ArgumentParser) -> None:
    # The estimator's own defaults, so that the command line never drifts from the library.
    d = funkrs.MatrixFactorization().get_params()
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


def _model_from_args(a: argparse.Namespace) -> funkrs.MatrixFactorization:
    return funkrs.MatrixFactorization(
        solver=a.solver,
        n_factors=a.n_factors,
        n_epochs=a.n_epochs,
        lr=a.lr,
        reg=a.reg,
        biased=not a.unbiased,
        random_state=a.seed,
        n_threads=a.threads,
        solver_options=_parse_options(a.option) or None,
    )


def _write_frame(df: pl.DataFrame, path: str) -> None:
    out = Path(path)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        if out.suffix.lower() in (".parquet", ".pq"):
            df.write_parquet(tmp)
        elif out.suffix.lower() in (".csv", ".tsv"):
            df.write_csv(tmp, separator="\t" if out.suffix.lower() == ".tsv" else ",")
        else:
            raise _UserError(f"output must end in .parquet or .csv, got {path!r}")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


def _parse_options(items: Sequence[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _UserError(f"--option expects KEY=VALUE, got {item!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def _cmd_fit(a: argparse.Namespace) -> int:
    ratings = funkrs.read_ratings(a.data, a.user, a.item, a.rating, separator=a.separator)
    model = _model_from_args(a)

    validation = None
    if a.validation:
        validation = funkrs.read_ratings(
            a.validation, a.user, a.item, a.rating, separator=a.separator
        )
    start = time.perf_counter()
    total = a.n_epochs * (a.n_factors + 1 if "feature-wise" in str(a.option) else 1)
    progress = FitProgress(total, quiet=a.quiet)
    try:
        model.fit(ratings, validation=validation, callback=progress)
    finally:
        progress.close()
    model.save(a.output)
    if not a.quiet:
        print(f"fitted {ratings!r} in {time.perf_counter() - start:.2f}s -> {a.output}")
    return 0


def _cmd_predict(a: argparse.Namespace) -> int:
    model = funkrs.load(a.model)
    src = Path(a.data)
    if not src.is_file():
        raise FileNotFoundError(f"file not found: {a.data!r}")
    df = pl.read_parquet(src) if src.suffix.lower() in (".parquet", ".pq") else pl.read_csv(src)
    for col in (a.user, a.item):
        if col not in df.columns:
            raise _UserError(f"column {col!r} not found in {a.data!r}; columns: {df.columns}")
    pred = model.predict(df[a.user].to_numpy(), df[a.item].to_numpy())
    _write_frame(df.with_columns(pl.Series("prediction", pred)), a.output)
    return 0


def _cmd_evaluate(a: argparse.Namespace) -> int:
    model = funkrs.load(a.model)
    test = funkrs.read_ratings(a.data, a.user, a.item, a.rating, separator=a.separator)
    scores = funkrs.evaluate(model, test, a.metrics, threshold=a.threshold)
    if a.json:
        print(json.dumps(scores))
    else:
        print("  ".join(f"{k.upper()} {v:.4f}" for k, v in scores.items()))
    return 0


def _raw_ids(values: list[str], known: np.ndarray, what: str) -> np.ndarray:
    """Command-line ids typed like the model's ids (an error naming the problem)."""
    if known.dtype.kind == "U":
        return np.asarray(values)
    try:
        return np.asarray([int(v) for v in values], dtype=np.int64)
    except ValueError:
        raise _UserError(f"{what} ids of this model are integers, got {values}") from None


def _cmd_recommend(a: argparse.Namespace) -> int:
    model = funkrs.load(a.model)
    users: Any = None
    if a.users is not None:
        users = _raw_ids(a.users, model.users_.ids_array, "user")
    exclude = not a.include_seen
    if Path(a.output).suffix.lower() in (".parquet", ".pq"):
        rows = model.recommend_to_parquet(
            a.output,
            n=a.n,
            users=users,
            exclude_seen=exclude,
            batch_size=a.batch_size,
            progress=not a.quiet and use_bar(),
        )
    else:
        recs = model.recommend(users=users, n=a.n, exclude_seen=exclude)
        _write_frame(recs, a.output)
        rows = recs.height
    if not a.quiet:
        print(f"wrote {rows:,} recommendations to {a.output}")
    return 0


def _cmd_info(a: argparse.Namespace) -> int:
    model = funkrs.load(a.model)
    info = {
        "solver": model.solver_,
        "n_users": model.n_users_,
        "n_items": model.n_items_,
        "n_factors": int(model.user_factors_.shape[1]),
        "biased": model.biased_,
        "global_mean": model.global_mean_,
        "rating_scale": list(model.rating_scale_),
        "epochs": model.n_iter_,
        "params": {k: v for k, v in model.get_params().items() if k != "solver_options"},
    }
    if a.json:
        print(json.dumps(info))
    else:
        for k, v in info.items():
            print(f"{k:>13}: {v}")
    return 0


def _cmd_demo(a: argparse.Namespace) -> int:
    from funkrs._demo import run_demo

    return run_demo(solver=a.solver, seed=a.seed)


_COMMANDS = {
    "demo": _cmd_demo,
    "fit": _cmd_fit,
    "predict": _cmd_predict,
    "evaluate": _cmd_evaluate,
    "recommend": _cmd_recommend,
    "info": _cmd_info,
}


def _command(name: str) -> Any:
    if name in _COMMANDS:
        return _COMMANDS[name]
    from funkrs import _cli_more

    return _cli_more.COMMANDS[name]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return int(_command(args.command)(args))
    except KeyboardInterrupt:
        print("funkrs: interrupted", file=sys.stderr)
        return 130
    except (
        _UserError,
        FunkrsError,
        ValueError,
        TypeError,
        LookupError,
        OSError,
        ImportError,
    ) as exc:
        print(f"funkrs: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
