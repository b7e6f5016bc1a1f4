"""Top-N ranking on the fixed MovieLens-small split: funkrs models, reference solvers, implicit.

Every model is fitted on the training ratings of ``funkrs.datasets.movielens_small_split()``
and scored with the same code, ``funkrs.ranking.ranking_metrics(model, test, k=10)``: the
relevant items of a user are the test ratings >= 4, the training items are excluded from the
lists. funkrs' own models rank as ``recommend`` does by default (``popularity_weight="auto"``);
implicit's rank by their factors alone. Printed side by side:
precision@10, recall@10, ndcg@10, coverage@10, test RMSE (where the model predicts ratings)
and the median wall-clock fit time of ``--repeats`` fits, taken in turns over all models (the
metrics are the first fit's; the machine is shared, so seconds are indicative), plus each
model's ndcg@10 over popularity's and PASS/FAIL lines against the targets.

The contenders:

- ``popularity`` and ``baseline`` (``μ + b_u + b_i``, Surprise's ``BaselineOnly``);
- ``MatrixFactorization(random_state=0)`` (the defaults), ``MatrixFactorization.for_top_n``
  and funk-sgd with ``solver_options={"objective": "ranking"}`` when they exist;
- ``imputed-svd`` with every fill at ``k=10`` and at the ``k`` chosen on validation;
- implicit's ``AlternatingLeastSquares`` and ``BayesianPersonalizedRanking`` (CPU), fitted
  inside a solver registered by this script (``"implicit"``), so the funkrs model holds
  implicit's factors unchanged, unbiased: its scores are implicit's own ``p_u · q_i``
  (BPR's item bias is the last factor column, against a column of ones on the user side).
  The BLAS pool is limited to one thread while implicit fits, as implicit recommends, and
  implicit runs on ``num_threads=2``.

Hyperparameters that were chosen (implicit's, and the better ``k`` of each fill) come from
small grids scored by ndcg@10 on a validation split carved out of the training ratings
(``funkrs.train_test_split(train, 0.2, random_state=1)``), never on the test ratings; the
choices are recorded below and ``--tune`` re-runs the grids.

    python benchmarks/ranking.py --json benchmarks/results/ranking.json
    python benchmarks/ranking.py --tune            # or --tune implicit, --tune svd
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import _blas
import numpy as np
from _host import steal_seconds

import funkrs
from funkrs.ranking import ranking_metrics
from funkrs.solvers import EpochCallback, Factors, FitParams

K = 10
THRESHOLD = 4.0
METRICS = ("precision", "recall", "ndcg", "coverage")
FILLS = ("item", "user", "global", "zero")

# -- settings chosen on the validation split (``--tune``) ------------------------------------
#: implicit ALS on the user × item matrix whose cells hold ``data``: "binary" (1 for every
#: training rating), "rating" (the rating itself) or "liked" (1 for ratings >= 4, the other
#: ratings left out); implicit weighs a set cell by ``alpha`` times its value.
ALS_SETTINGS: dict[str, Any] = {
    "data": "rating",
    "factors": 32,
    "regularization": 30.0,
    "alpha": 1.0,
    "iterations": 50,
}  # validation ndcg@10 0.1996 (binary matrix: at best 0.187; liked: at best 0.177)
#: implicit BPR on the same kinds of matrix (BPR only uses which cells are set).
BPR_SETTINGS: dict[str, Any] = {
    "data": "liked",
    "factors": 256,
    "learning_rate": 0.003,
    "regularization": 0.01,
    "iterations": 300,
}  # validation ndcg@10 0.1411 (0.137-0.141 from 64 to 256 factors; binary: at best 0.112)
#: imputed-svd: the better ``k`` of each fill, of 10, 20, 50 and 100, as ``recommend`` ranks
#: by default (the mean fills with its popularity term, PureSVD without).
SVD_K: dict[str, int] = {"item": 50, "user": 20, "global": 50, "zero": 20}

#: The grids behind those settings: a coarse one, then finer ones around the best so far
#: (while it lay on a grid's edge). ``--tune`` runs them all and keeps the best of all.
ALS_GRIDS: list[dict[str, list[Any]]] = [
    {
        "data": ["binary", "rating", "liked"],
        "factors": [32, 64, 128],
        "regularization": [0.01, 0.1, 1.0],
        "alpha": [1.0, 10.0, 40.0],
        "iterations": [15],
    },
    {
        "data": ["binary", "rating"],
        "factors": [16, 32, 48],
        "regularization": [1.0, 3.0, 10.0, 30.0],
        "alpha": [0.3, 1.0, 3.0],
        "iterations": [15, 30],
    },
    {
        "data": ["rating"],
        "factors": [32, 48, 64],
        "regularization": [30.0, 100.0, 300.0],
        "alpha": [0.5, 1.0, 2.0],
        "iterations": [30, 50],
    },
]
BPR_GRIDS: list[dict[str, list[Any]]] = [
    {
        "data": ["binary", "liked"],
        "factors": [32, 64, 128],
        "learning_rate": [0.01, 0.05, 0.1],
        "regularization": [0.001, 0.01],
        "iterations": [100],
    },
    {
        "data": ["liked"],
        "factors": [32, 64, 128],
        "learning_rate": [0.003, 0.01, 0.02],
        "regularization": [0.01, 0.03, 0.1],
        "iterations": [100, 300],
    },
    {
        "data": ["liked"],
        "factors": [128, 256],
        "learning_rate": [0.001, 0.003],
        "regularization": [0.003, 0.01, 0.03],
        "iterations": [300, 1000],
    },
]
SVD_K_GRID = [10, 20, 50, 100]


# -- implicit behind the funkrs solver interface ---------------------------------------------
@funkrs.solvers.register("implicit")
class ImplicitSolver:
    """implicit's ALS or BPR on the training interactions, returned as unbiased factors."""

    name: ClassVar[str] = "implicit"

    def __init__(
        self, *, model: str = "als", data: str = "binary", num_threads: int = 2, **hyper: Any
    ) -> None:
        if model not in ("als", "bpr"):
            raise ValueError(f"model must be 'als' or 'bpr', got {model!r}")
        if data not in ("binary", "rating", "liked"):
            raise ValueError(f"data must be 'binary', 'rating' or 'liked', got {data!r}")
        self.model, self.data, self.num_threads, self.hyper = model, data, num_threads, hyper

    def user_items(self, ratings: funkrs.Ratings) -> Any:
        """The user × item CSR matrix implicit is fitted on (funkrs' inner ids)."""
        import scipy.sparse as sp

        values = np.asarray(ratings.values, dtype=np.float32)
        keep = np.ones(len(values), bool)
        if self.data == "liked":
            keep = values >= THRESHOLD
        weights = values if self.data == "rating" else np.ones(len(values), np.float32)
        shape = (ratings.n_users, ratings.n_items)
        cells = (ratings.users[keep], ratings.items[keep])
        return sp.csr_matrix((weights[keep], cells), shape=shape, dtype=np.float32)

    def fit(
        self,
        ratings: funkrs.Ratings,
        params: FitParams,
        *,
        seed: int,
        n_threads: int | None,
        callback: EpochCallback | None = None,
    ) -> Factors:
        from implicit.cpu.als import AlternatingLeastSquares
        from implicit.cpu.bpr import BayesianPersonalizedRanking
        from threadpoolctl import threadpool_limits

        cls = AlternatingLeastSquares if self.model == "als" else BayesianPersonalizedRanking
        with threadpool_limits(1, "blas"):
            est = cls(num_threads=self.num_threads, random_state=seed % (1 << 31), **self.hyper)
            est.fit(self.user_items(ratings), show_progress=False)
        mu = float(np.asarray(ratings.values, dtype=np.float64).mean())
        return Factors(
            np.asarray(est.user_factors, dtype=np.float32),
            np.asarray(est.item_factors, dtype=np.float32),
            np.zeros(ratings.n_users),
            np.zeros(ratings.n_items),
            mu,
            biased=False,
            ranking=True,
        )


def implicit_model(model: str, settings: dict[str, Any]) -> funkrs.MatrixFactorization:
    # popularity_weight=0: recommend ranks by implicit's own p_u · q_i, with no popularity
    # term added (the factors already are ranking factors).
    return funkrs.MatrixFactorization(
        solver="implicit",
        random_state=0,
        solver_options={"model": model, **settings},
        popularity_weight=0.0,
    )


def svd_model(fill: str, k: int) -> funkrs.MatrixFactorization:
    return funkrs.MatrixFactorization(
        solver="imputed-svd", n_factors=k, random_state=0, solver_options={"fill": fill}
    )


# -- contenders ------------------------------------------------------------------------------
@dataclass
class Contender:
    name: str
    make: Callable[[], funkrs.MatrixFactorization] | None  # None: not available
    note: str = ""
    predicts_ratings: bool = True


@dataclass
class Row:
    name: str
    note: str
    metrics: dict[str, float] = field(default_factory=dict)
    rmse: float | None = None
    fit_seconds: float | None = None  # median of all_seconds
    all_seconds: list[float] = field(default_factory=list)
    available: bool = True


def contenders() -> list[Contender]:
    mf = funkrs.MatrixFactorization
    out = [
        Contender("popularity", lambda: mf(solver="popularity"), "most rated first"),
        Contender("baseline", lambda: mf(solver="baseline"), "μ + b_u + b_i, ALS"),
        Contender("default", lambda: mf(random_state=0), "MatrixFactorization(random_state=0)"),
    ]
    for_top_n = getattr(mf, "for_top_n", None)
    out.append(
        Contender(
            "for_top_n",
            (lambda: for_top_n(random_state=0)) if for_top_n is not None else None,
            "MatrixFactorization.for_top_n(random_state=0)",
        )
    )
    out.append(
        Contender(
            "sgd-ranking",
            lambda: mf(random_state=0, solver_options={"objective": "ranking"}),
            'funk-sgd solver_options={"objective": "ranking"}',
        )
    )
    for fill in FILLS:
        for k in sorted({10, SVD_K[fill]}):
            tag = "" if k == 10 else " (k chosen on validation)"
            out.append(
                Contender(
                    f"svd-{fill}-k{k}",
                    lambda fill=fill, k=k: svd_model(fill, k),
                    f"imputed-svd fill={fill!r}, k={k}{tag}",
                )
            )
    out.append(
        Contender(
            "implicit-als",
            lambda: implicit_model("als", ALS_SETTINGS),
            "implicit ALS " + _settings(ALS_SETTINGS),
            predicts_ratings=False,
        )
    )
    out.append(
        Contender(
            "implicit-bpr",
            lambda: implicit_model("bpr", BPR_SETTINGS),
            "implicit BPR " + _settings(BPR_SETTINGS),
            predicts_ratings=False,
        )
    )
    return out


def _settings(s: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in s.items())


# -- running ---------------------------------------------------------------------------------
def timed(fit: Callable[[], Any]) -> tuple[Any, float]:
    gc.collect()
    start = time.perf_counter()
    out = fit()
    return out, time.perf_counter() - start


def score(model: funkrs.MatrixFactorization, test: funkrs.Ratings) -> dict[str, float]:
    got = ranking_metrics(model, test, k=K, metrics=METRICS, threshold=THRESHOLD)
    return {m: got[f"{m}@{K}"] for m in METRICS}


def predicts_ratings(model: funkrs.MatrixFactorization) -> bool:
    """Whether RMSE means anything for this model (``implicit-als`` predicts preferences)."""
    return bool(getattr(funkrs.solvers.get(str(model.solver)), "predicts_ratings", True))


def run(train: funkrs.Ratings, test: funkrs.Ratings, repeats: int) -> list[Row]:
    """Every contender's metrics (first fit) and median fit time over alternated repeats.

    The repeats go round the contenders in turn (every model once, then every model again),
    so that a load change on the shared machine affects all of them alike.
    """
    rows: list[Row] = []
    makers: list[Callable[[], funkrs.MatrixFactorization] | None] = []
    for c in contenders():
        make = c.make
        if make is not None:
            try:
                model, first = timed(lambda make=make: make().fit(train))
            except TypeError as exc:  # e.g. a solver option this funkrs does not have
                c.note, make = f"{c.note}: {exc}", None
        if make is None:
            rows.append(Row(c.name, c.note, available=False))
            makers.append(None)
            print(f"  {c.name:<16} not available", flush=True)
            continue
        ok = c.predicts_ratings and predicts_ratings(model)
        rmse = funkrs.evaluate(model, test)["rmse"] if ok else None
        rows.append(Row(c.name, c.note, score(model, test), rmse, first, [first]))
        makers.append(make)
        print(f"  {c.name:<16} {first:.2f} s", flush=True)
    for _ in range(repeats - 1):
        for row, make in zip(rows, makers, strict=True):
            if make is not None:
                row.all_seconds.append(timed(lambda make=make: make().fit(train))[1])
    for row in rows:
        if row.all_seconds:
            row.fit_seconds = statistics.median(row.all_seconds)
    return rows


# -- tuning on validation --------------------------------------------------------------------
def _grid(grids: list[dict[str, list[Any]]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for grid in grids:
        keys = list(grid)
        for vals in itertools.product(*grid.values()):
            point = dict(zip(keys, vals, strict=True))
            if point not in out:
                out.append(point)
    return out


def tune(train: funkrs.Ratings, what: str) -> dict[str, Any]:
    fit_part, val = funkrs.train_test_split(train, 0.2, random_state=1)
    print(f"validation: {len(fit_part)} ratings to fit, {len(val)} to score (from train only)")
    chosen: dict[str, Any] = {}
    models = (("als", ALS_GRIDS), ("bpr", BPR_GRIDS)) if what in ("all", "implicit") else ()
    for model, grids in models:
        results = []
        for s in _grid(grids):
            ndcg = score(implicit_model(model, s).fit(fit_part), val)["ndcg"]
            results.append((ndcg, s))
            print(f"  {model} {_settings(s)}: ndcg@{K} {ndcg:.4f}", flush=True)
        best = max(results, key=lambda r: r[0])
        print(f"best {model}: {_settings(best[1])} (ndcg@{K} {best[0]:.4f})")
        chosen[model] = best[1]
    chosen["svd_k"] = {}
    for fill in FILLS if what in ("all", "svd") else ():
        results_k = []
        for k in SVD_K_GRID:
            ndcg = score(svd_model(fill, k).fit(fit_part), val)["ndcg"]
            results_k.append((ndcg, k))
            print(f"  imputed-svd fill={fill} k={k}: ndcg@{K} {ndcg:.4f}", flush=True)
        best_k = max(results_k, key=lambda r: r[0])
        print(f"best k for fill={fill}: {best_k[1]} (ndcg@{K} {best_k[0]:.4f})")
        chosen["svd_k"][fill] = best_k[1]
    print("\nchosen (record these in ALS_SETTINGS, BPR_SETTINGS and SVD_K):")
    print(json.dumps(chosen, indent=2))
    return chosen


# -- report ----------------------------------------------------------------------------------
def report(rows: list[Row]) -> dict[str, Any]:
    by = {r.name: r for r in rows}
    pop = by["popularity"].metrics["ndcg"]
    header = (
        f"{'model':<16} {'prec@10':>7} {'rec@10':>7} {'ndcg@10':>7} {'cov@10':>7} "
        f"{'/pop':>5} {'RMSE':>7} {'fit s':>7}  note"
    )
    print(
        f"\nthreshold {THRESHOLD:g}, seen items excluded; /pop = ndcg@10 / popularity's; "
        "fit s = median fit time"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        if not r.available:
            print(f"{r.name:<16} {'not available':>50}  {r.note}")
            continue
        m = r.metrics
        rmse = f"{r.rmse:7.4f}" if r.rmse is not None else f"{'-':>7}"
        print(
            f"{r.name:<16} {m['precision']:7.4f} {m['recall']:7.4f} {m['ndcg']:7.4f} "
            f"{m['coverage']:7.4f} {m['ndcg'] / pop:5.2f} {rmse} {r.fit_seconds:7.2f}  {r.note}"
        )

    def ndcg(name: str) -> float | None:
        r = by.get(name)
        return r.metrics["ndcg"] if r is not None and r.available else None

    def line(what: str, ok: bool | None, detail: str) -> dict[str, Any]:
        verdict = "n/a" if ok is None else ("PASS" if ok else "FAIL")
        print(f"  {what:<40} {detail:<44} {verdict}")
        return {"target": what, "detail": detail, "pass": ok}

    default, top = by["default"], by["for_top_n"]
    implicit = [v for v in (ndcg("implicit-als"), ndcg("implicit-bpr")) if v is not None]
    best_implicit = max(implicit) if implicit else None
    top_ndcg, default_ndcg = ndcg("for_top_n"), ndcg("default")

    def at_least(got: float | None, want: float | None) -> tuple[bool | None, str]:
        if got is None or want is None:
            return None, "not available"
        return got >= want, f"{got:.4f} vs {want:.4f}"

    print("\nTargets:")
    checks = [
        line("default ndcg@10 >= popularity", *at_least(default_ndcg, pop)),
        line("for_top_n ndcg@10 >= 1.5 x popularity", *at_least(top_ndcg, 1.5 * pop)),
        line("for_top_n ndcg@10 >= best implicit", *at_least(top_ndcg, best_implicit)),
        line(
            "default RMSE <= 0.870",
            None if default.rmse is None else default.rmse <= 0.870,
            "not available" if default.rmse is None else f"{default.rmse:.4f}",
        ),
        line("for_top_n fit time <= 3 x default's", *_time_check(top, default)),
    ]
    return {
        "rows": [
            {
                "model": r.name,
                "note": r.note,
                "available": r.available,
                **{f"{m}@{K}": v for m, v in r.metrics.items()},
                "ndcg_over_popularity": r.metrics["ndcg"] / pop if r.available else None,
                "rmse": r.rmse,
                "fit_seconds": r.fit_seconds,
                "fit_seconds_all": r.all_seconds or None,
            }
            for r in rows
        ],
        "targets": checks,
    }


def _time_check(top: Row, default: Row) -> tuple[bool | None, str]:
    if top.fit_seconds is None or default.fit_seconds is None:
        return None, "not available"
    limit = 3 * default.fit_seconds
    return top.fit_seconds <= limit, f"{top.fit_seconds:.2f} s vs {limit:.2f} s"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--tune",
        nargs="?",
        const="all",
        choices=["all", "implicit", "svd"],
        default=None,
        help="re-run the validation grids (all, or implicit's or imputed-svd's) instead",
    )
    ap.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="fits per model, the median time is reported (metrics: the first fit); default 3",
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")
    return args


def main(argv: list[str] | None = None) -> None:
    _blas.use_native_blas()
    args = parse_args(argv)
    try:
        import implicit
        import threadpoolctl  # noqa: F401
    except ImportError:
        sys.exit("implicit is not installed (pip install implicit threadpoolctl)")
    train, test = funkrs.datasets.movielens_small_split()
    print(
        f"MovieLens small: train {len(train)} / test {len(test)} ratings; funkrs "
        f"{getattr(funkrs, '__version__', 'unknown')}, implicit {implicit.__version__}"
    )
    print(_blas.blas_report())
    print(f"1-min load average at the start: {os.getloadavg()[0]:.2f}")
    if args.tune is not None:
        chosen = tune(train, args.tune)
        summary: dict[str, Any] = {"benchmark": "ranking-tune", "chosen": chosen}
    else:
        steal0 = steal_seconds()
        rows = run(train, test, args.repeats)
        steal1 = steal_seconds()
        summary = {"benchmark": "ranking", **report(rows)}
        if steal0 is not None and steal1 is not None:
            print(
                f"\nsteal during the run: {steal1 - steal0:.2f} s (CPU time other guests took); "
                f"1-min load average at the end: {os.getloadavg()[0]:.2f}"
            )
            summary["steal_seconds"] = steal1 - steal0
        summary["settings"] = {"als": ALS_SETTINGS, "bpr": BPR_SETTINGS, "svd_k": SVD_K}
    summary.update(
        {
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
            },
            "funkrs_version": getattr(funkrs, "__version__", "unknown"),
            "implicit_version": implicit.__version__,
            "blas": _blas.blas_report(),
        }
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
