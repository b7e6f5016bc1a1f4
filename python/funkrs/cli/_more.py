"""``funkrs cross-validate``, ``similar`` and ``plot``."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from funkrs._progress import use_bar
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
from funkrs.model import load

__all__ = ["COMMANDS", "add_parsers"]

_RATINGS_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")


def add_parsers(sub: Any) -> None:
    """Add the commands of this module to the ``funkrs`` subparsers."""
    cv = sub.add_parser(
        "cross-validate",
        help="k-fold cross-validation of a model configuration on a ratings file",
        description="Fit the configuration on k-1 folds and score it on the held-out fold, "
        "k times. Takes the same model flags as 'fit'.",
    )
    cv.add_argument("data", help="ratings file (.csv or .parquet)")
    add_data_args(cv)
    add_model_args(cv)
    cv.add_argument("--folds", type=int, default=5, help="number of folds (default: 5)")
    cv.add_argument(
        "--jobs", type=int, default=None, help="folds fitted at once (default: 1; -1: one per core)"
    )
    add_metric_args(cv)
    cv.add_argument("--json", action="store_true", help="print folds, mean and std as JSON")
    cv.add_argument("--quiet", action="store_true", help="print only the mean scores")

    sim = sub.add_parser("similar", help="nearest items (or users) in latent space")
    sim.add_argument("model", help="model file written by 'funkrs fit'")
    sim.add_argument("ids", nargs="+", metavar="ID", help="item ids (user ids with --users)")
    sim.add_argument("-n", type=int, default=10, help="neighbours per id (default: 10)")
    sim.add_argument(
        "--metric",
        choices=["cosine", "dot", "euclidean"],
        default="cosine",
        help="similarity of factor vectors (default: cosine)",
    )
    sim.add_argument("--users", action="store_true", help="the ids are users, not items")
    sim.add_argument("-o", "--output", default=None, help="write .parquet or .csv instead")
    sim.add_argument("--json", action="store_true", help="print the rows as JSON")

    _add_plot_parsers(sub)


def _add_plot_parsers(sub: Any) -> None:
    plot = sub.add_parser(
        "plot", help="draw a figure to a PNG (needs matplotlib: pip install 'funkrs[plot]')"
    )
    kinds = plot.add_subparsers(dest="plot_kind", required=True, metavar="FIGURE")

    def figure(name: str, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = kinds.add_parser(name, help=help, description=help)
        p.add_argument("-o", "--output", required=True, help="image file (.png, .svg or .pdf)")
        p.add_argument("--dpi", type=int, default=120, help="resolution (default: 120)")
        return p

    lc = figure("learning-curve", "train and validation RMSE per epoch of a saved model")
    lc.add_argument("model", help="model file ('funkrs fit --validation FILE' adds the curve)")

    sv = figure("spectrum", "singular values and cumulative energy (how many factors to keep)")
    sv.add_argument("source", help="model file, or ratings file (.csv/.parquet, mean-imputed)")
    add_data_args(sv)
    sv.add_argument("--energy", type=float, default=0.9, help="energy to mark (default: 0.9)")

    lm = figure("latent", "items or users in latent space, with labels")
    lm.add_argument("model", help="model file")
    lm.add_argument("--kind", choices=["items", "users"], default="items", help="(default: items)")
    lm.add_argument("--dims", type=int, choices=[2, 3], default=2, help="2-D or 3-D (default: 2)")
    lm.add_argument("-n", type=int, default=30, help="most-rated items/users shown (default: 30)")
    lm.add_argument("--ids", nargs="+", default=None, help="ids to show instead")
    lm.add_argument("--labels", default=None, metavar="FILE", help="file of id → label")
    lm.add_argument("--label-id", default="item", help="id column of --labels (default: item)")
    lm.add_argument("--label-name", default="title", help="label column (default: title)")

    gs = figure("grid-search", "cross-validated score against one parameter")
    gs.add_argument("data", help="ratings file (.csv or .parquet)")
    add_data_args(gs)
    add_model_args(gs)
    gs.add_argument("--param", default="n_factors", help="parameter on the x axis")
    gs.add_argument("--values", nargs="+", required=True, help="values of --param to try")
    gs.add_argument("--folds", type=int, default=3, help="number of folds (default: 3)")
    gs.add_argument("--jobs", type=int, default=None, help="fits at once (default: 1)")
    gs.add_argument("--metric", default="rmse", help="score to plot (default: rmse)")
    gs.add_argument("--threshold", type=float, default=4.0, help="relevance threshold")
    gs.add_argument("--quiet", action="store_true", help="print nothing but errors")


# -- commands ---------------------------------------------------------------------------------
def _cmd_cross_validate(a: argparse.Namespace) -> int:
    from funkrs.model_selection import cross_validate

    ratings = read_ratings(a.data, a.user, a.item, a.rating, separator=a.separator)
    model = model_from_args(a)
    res = cross_validate(
        model,
        ratings,
        cv=a.folds,
        n_jobs=a.jobs,
        metrics=a.metrics,
        random_state=a.seed,
        threshold=a.threshold,
        progress=not a.quiet and not a.json and use_bar(),
    )
    cols = [*a.metrics, "fit_time", "test_time"]
    mean = {c: float(res[c].mean()) for c in cols}
    std = {c: float(res[c].std(ddof=0)) for c in cols}
    if a.json:
        print(json.dumps({"folds": res.to_dicts(), "mean": mean, "std": std}, default=_nan_null))
        return 0
    if not a.quiet:
        print(f"{a.folds}-fold cross-validation of {model!r} on {ratings!r}")
        header = "fold  " + "  ".join(f"{c:>10}" for c in cols)
        print(header)
        for row in res.iter_rows(named=True):
            print(f"{row['fold'] + 1:4d}  " + "  ".join(f"{row[c]:10.4f}" for c in cols))
        print("-" * len(header))
        print("mean  " + "  ".join(f"{mean[c]:10.4f}" for c in cols))
        print(" std  " + "  ".join(f"{std[c]:10.4f}" for c in cols))
    else:
        print("  ".join(f"{c.upper()} {mean[c]:.4f} ± {std[c]:.4f}" for c in a.metrics))
    return 0


def _nan_null(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def _cmd_similar(a: argparse.Namespace) -> int:
    model = load(a.model)
    vocab = model.users_ if a.users else model.items_
    ids = raw_ids(a.ids, vocab.ids_array, "user" if a.users else "item")
    if a.users:
        frame = model.similar_users(ids, n=a.n, metric=a.metric)
    else:
        frame = model.similar_items(ids, n=a.n, metric=a.metric)
    if a.output:
        write_frame(frame, a.output)
    elif a.json:
        print(json.dumps(frame.to_dicts()))
    else:
        with pl.Config(tbl_rows=max(frame.height, 10), tbl_hide_dataframe_shape=True):
            print(frame)
    return 0


def _cmd_plot(a: argparse.Namespace) -> int:
    from funkrs import plot

    suffix = Path(a.output).suffix.lower()
    if suffix not in (".png", ".svg", ".pdf"):
        raise UserError(f"plot output must end in .png, .svg or .pdf, got {a.output!r}")
    draw: dict[str, Callable[[argparse.Namespace], Any]] = {
        "learning-curve": lambda a: plot.learning_curve(load(a.model)),
        "spectrum": lambda a: plot.singular_values(_spectrum_source(a), energy=a.energy),
        "latent": _latent,
        "grid-search": _grid_search,
    }
    fig = draw[a.plot_kind](a)
    fig.savefig(a.output, dpi=a.dpi)
    return 0


def _spectrum_source(a: argparse.Namespace) -> Any:
    if Path(a.source).suffix.lower() in _RATINGS_SUFFIXES:
        return read_ratings(a.source, a.user, a.item, a.rating, separator=a.separator)
    return load(a.source)


def _latent(a: argparse.Namespace) -> Any:
    from funkrs import plot

    model = load(a.model)
    vocab = model.users_ if a.kind == "users" else model.items_
    labels = None
    if a.labels:
        df = read_table(a.labels)
        for col in (a.label_id, a.label_name):
            if col not in df.columns:
                raise UserError(f"column {col!r} not found in {a.labels!r}; columns: {df.columns}")
        labels = dict(zip(df[a.label_id].to_list(), df[a.label_name].to_list(), strict=True))
    ids = None if a.ids is None else raw_ids(a.ids, vocab.ids_array, a.kind[:-1])
    return plot.latent_map(model, kind=a.kind, labels=labels, dims=a.dims, n=a.n, ids=ids)


def _grid_search(a: argparse.Namespace) -> Any:
    from funkrs import plot
    from funkrs.model_selection import GridSearch

    ratings = read_ratings(a.data, a.user, a.item, a.rating, separator=a.separator)
    values = [_parse_value(v) for v in a.values]
    search = GridSearch(
        model_from_args(a),
        {a.param: values},
        cv=a.folds,
        n_jobs=a.jobs,
        metric=a.metric,
        refit=False,
        random_state=a.seed,
        threshold=a.threshold,
        progress=not a.quiet and use_bar(),
    ).fit(ratings)
    if not a.quiet:
        shown = search.cv_results_.select(f"param_{a.param}", f"mean_{a.metric}", "rank")
        for row in shown.iter_rows():
            print(f"{a.param}={row[0]}  {a.metric} {row[1]:.4f}  rank {row[2]}")
    return plot.grid_search_curve(search, a.param)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "cross-validate": _cmd_cross_validate,
    "similar": _cmd_similar,
    "plot": _cmd_plot,
}
