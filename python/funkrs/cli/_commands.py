"""``funkrs demo``, ``fit``, ``predict``, ``evaluate``, ``recommend`` and ``info``."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from funkrs._progress import FitProgress, use_bar
from funkrs.cli._common import (
    UserError,
    add_data_args,
    add_metric_args,
    add_model_args,
    model_from_args,
    raw_ids,
    read_table,
    write_frame,
)
from funkrs.io import read_ratings
from funkrs.metrics import evaluate
from funkrs.model import load

__all__ = ["COMMANDS", "add_parsers"]


def add_parsers(sub: Any) -> None:
    """Add the commands of this module to the ``funkrs`` subparsers."""
    demo = sub.add_parser("demo", help="fit funk-sgd on MovieLens small and show what it learned")
    demo.add_argument("--solver", default="funk-sgd", help="solver to demonstrate")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")

    fit = sub.add_parser("fit", help="fit a model on a ratings file and save it")
    fit.add_argument("data", help="ratings file (.csv or .parquet)")
    fit.add_argument("-o", "--output", required=True, help="where to write the model")
    add_data_args(fit)
    add_model_args(fit)
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
    add_data_args(ev)
    add_metric_args(ev)
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


def _cmd_fit(a: argparse.Namespace) -> int:
    ratings = read_ratings(a.data, a.user, a.item, a.rating, separator=a.separator)
    model = model_from_args(a)

    validation = None
    if a.validation:
        validation = read_ratings(a.validation, a.user, a.item, a.rating, separator=a.separator)
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
    model = load(a.model)
    df = read_table(a.data)
    for col in (a.user, a.item):
        if col not in df.columns:
            raise UserError(f"column {col!r} not found in {a.data!r}; columns: {df.columns}")
    pred = model.predict(df[a.user].to_numpy(), df[a.item].to_numpy())
    write_frame(df.with_columns(pl.Series("prediction", pred)), a.output)
    return 0


def _cmd_evaluate(a: argparse.Namespace) -> int:
    model = load(a.model)
    test = read_ratings(a.data, a.user, a.item, a.rating, separator=a.separator)
    scores = evaluate(model, test, a.metrics, threshold=a.threshold)
    if a.json:
        print(json.dumps(scores))
    else:
        print("  ".join(f"{k.upper()} {v:.4f}" for k, v in scores.items()))
    return 0


def _cmd_recommend(a: argparse.Namespace) -> int:
    model = load(a.model)
    users: Any = None
    if a.users is not None:
        users = raw_ids(a.users, model.users_.ids_array, "user")
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
        write_frame(recs, a.output)
        rows = recs.height
    if not a.quiet:
        print(f"wrote {rows:,} recommendations to {a.output}")
    return 0


def _cmd_info(a: argparse.Namespace) -> int:
    model = load(a.model)
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


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": _cmd_demo,
    "fit": _cmd_fit,
    "predict": _cmd_predict,
    "evaluate": _cmd_evaluate,
    "recommend": _cmd_recommend,
    "info": _cmd_info,
}
