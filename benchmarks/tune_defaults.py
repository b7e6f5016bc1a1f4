"""Choose funk-sgd's (or als') defaults by validation on training data across many data shapes.

For every shape of :func:`funkrs.datasets.shapes` and for MovieLens small, the training part
of the benchmark split (``train_test_split(r, 0.2, random_state=0)``, the part
``benchmarks/accuracy.py`` trains on) is split again (``random_state=1``, 20%) into a fitting
and a validation part; each candidate configuration is fitted on the first and scored on the
second. The test parts are never read. Printed per configuration: validation RMSE per shape
relative to the bias baseline's (μ + b_u + b_i), their mean and worst, and fit seconds; the
configuration with the lowest mean is chosen.

Then, for the chosen configuration, the ``popularity_weight`` of ``recommend``: validation
ndcg@10 (relevant: a rating 80% of the way up the scale, as in ``accuracy.py``) relative to a
most-rated-first list's, per shape, for a range of weights; the highest mean is chosen.

Last, ``MatrixFactorization.for_top_n``'s configuration: the same validation ndcg@10 ratio for
the default model, funk-sgd's ranking objective, PureSVD and ``implicit-als`` on ratings
(``confidence="rating"``) over a grid of rank, ``alpha`` and ``reg``; the highest mean among
those that fit in at most 3× the default's time is chosen (``--top-n-only`` runs only this).

    python benchmarks/tune_defaults.py [--quick] [--json PATH]
    python benchmarks/tune_defaults.py --top-n-only --json benchmarks/results/tune_top_n.json

``--solver als`` scores a grid of the ``als`` solver's ``reg`` and ``n_iter`` (rank 100, the
estimator's default) in the same way, and prints each configuration's validation ndcg@10
relative to the most-rated list's next to its RMSE ratio.

    python benchmarks/tune_defaults.py --solver als --json benchmarks/results/tune_als.json
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import time
from typing import Any

import numpy as np
from accuracy import relevance_threshold

import funkrs
from funkrs.model import rank_offset


def all_shapes(choice: bool) -> dict[str, funkrs.datasets.Shape]:
    """:func:`funkrs.datasets.shapes`, plus the choice shapes (for top-N tuning) if asked."""
    out = funkrs.datasets.shapes()
    if choice:
        out.update(funkrs.datasets.choice_shapes())
    return out


def datasets(
    quick: bool, only: list[str] | None = None, choice: bool = False
) -> dict[str, funkrs.Ratings]:
    out: dict[str, funkrs.Ratings] = {}
    for name, shape in all_shapes(choice).items():
        out[name] = shape.make(random_state=0)
    with contextlib.suppress(ImportError):
        out["movielens-small"] = funkrs.datasets.movielens_small()
    if quick:
        out = dict(list(out.items())[::3])
    if only:
        out = {k: v for k, v in out.items() if k in only}
    return out


def candidates(wide: bool) -> list[dict[str, Any]]:
    if wide:
        grid = itertools.product([0.01, 0.025], [0.05, 0.1, 0.2], [0.1], [False, True])
    else:
        grid = itertools.product(
            [0.025, 0.035], [0.035, 0.05, 0.08, 0.1], [0.005, 0.01, 0.02, 0.05, 0.1], [False]
        )
    return [
        {"lr": lr, "reg": reg, "init_std": init, "solver_options": {"early_stopping": es}}
        for lr, reg, init, es in grid
    ]


def als_candidates() -> list[dict[str, Any]]:
    return [
        {"solver": "als", "solver_options": {"reg": reg, "n_iter": n_iter}}
        for n_iter, reg in itertools.product([10, 15], [0.03, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3])
    ]


def label(cfg: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in cfg.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=None)
    ap.add_argument(
        "--wide", action="store_true", help="the coarse grid, with and without early stopping"
    )
    ap.add_argument("--shapes", default=None, help="comma-separated subset")
    ap.add_argument("--configs", default=None, help="JSON list of estimator keyword sets")
    ap.add_argument("--top-n-only", action="store_true", help="only the for_top_n table")
    ap.add_argument(
        "--top-n-grid",
        default="all",
        choices=("all", *IALS_TOP_N_GRIDS),
        help="with --top-n-only: every candidate, or one implicit-als grid",
    )
    ap.add_argument("--solver", default="funk-sgd", choices=("funk-sgd", "als"))
    args = ap.parse_args()
    splits = {}
    only = args.shapes and args.shapes.split(",")
    for name, r in datasets(args.quick, only, choice=args.top_n_only).items():
        train, _test = funkrs.train_test_split(r, test_size=0.2, random_state=0)
        splits[name] = funkrs.train_test_split(train, test_size=0.2, random_state=1)
    if args.top_n_only:
        top_n = tune_top_n(splits, args.top_n_grid)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"for_top_n": top_n}, fh, indent=1)
        return
    base = {}
    for name, (fit, val) in splits.items():
        m = funkrs.MatrixFactorization(solver="baseline", random_state=0).fit(fit)
        base[name] = funkrs.evaluate(m, val, metrics=["rmse"])["rmse"]
    print("funkrs", funkrs.__version__, "| shapes:", ", ".join(splits))
    results = []
    if args.configs:
        configs = json.loads(args.configs)
    elif args.solver == "als":
        configs = als_candidates()
    else:
        configs = candidates(args.wide)
    refs = _popularity_refs(splits) if args.solver == "als" else {}
    for cfg in configs:
        ratios, ndcg, secs = {}, {}, 0.0
        for name, (fit, val) in splits.items():
            t = time.perf_counter()
            try:
                m = funkrs.MatrixFactorization(random_state=0, **cfg).fit(fit)
            except funkrs.exceptions.ConvergenceError:
                ratios[name] = float("inf")
                continue
            secs += time.perf_counter() - t
            ratios[name] = funkrs.evaluate(m, val, metrics=["rmse"])["rmse"] / base[name]
            if refs:
                thr, ref = refs[name]
                ndcg[name] = _ndcg(m, val, thr) / ref
        vals = np.array(list(ratios.values()))
        row = {
            "config": label(cfg),
            "kwargs": cfg,
            "mean": float(vals.mean()),
            "worst": float(vals.max()),
            "seconds": secs,
            "ratios": ratios,
        }
        extra = ""
        if ndcg:
            row["ndcg_ratios"] = ndcg
            row["ndcg_mean"] = float(np.mean(list(ndcg.values())))
            extra = f" ndcg/most-rated {row['ndcg_mean']:.3f}"
        results.append(row)
        cells = " ".join(f"{v:6.3f}" for v in vals)
        print(
            f"{row['config']:<60} mean {row['mean']:.4f} worst {row['worst']:.4f}{extra} "
            f"{secs:6.1f}s | {cells}",
            flush=True,
        )
    best = min(results, key=lambda r: r["mean"])
    print("chosen (lowest mean validation RMSE / baseline over the shapes):", best["config"])
    if args.solver != "funk-sgd":
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"baseline_rmse": base, "results": results}, fh, indent=1)
        return
    weights = tune_popularity_weight(splits, best["kwargs"])
    choice = {}
    for name, r in datasets(args.quick, only, choice=True).items():
        if name not in splits:
            train, _test = funkrs.train_test_split(r, test_size=0.2, random_state=0)
            choice[name] = funkrs.train_test_split(train, test_size=0.2, random_state=1)
    top_n = tune_top_n({**splits, **choice})
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "baseline_rmse": base,
                    "results": results,
                    "popularity_weight": weights,
                    "for_top_n": top_n,
                },
                fh,
                indent=1,
            )


def _popularity_refs(
    splits: dict[str, tuple[funkrs.Ratings, funkrs.Ratings]],
) -> dict[str, tuple[float, float]]:
    """Per shape: the relevance threshold and the most-rated list's validation ndcg@10."""
    scales = dict(funkrs.datasets.shapes())
    refs = {}
    for name, (fit, val) in splits.items():
        shape = scales.get(name)
        thr = 4.0 if shape is None else relevance_threshold(shape.rating_scale, shape.step)
        pop = funkrs.MatrixFactorization(solver="popularity").fit(fit)
        refs[name] = (thr, _ndcg(pop, val, thr))
    return refs


def tune_popularity_weight(
    splits: dict[str, tuple[funkrs.Ratings, funkrs.Ratings]], cfg: dict[str, Any]
) -> list[dict[str, Any]]:
    scales = dict(funkrs.datasets.shapes())
    pop_ndcg, models = {}, {}
    for name, (fit, val) in splits.items():
        shape = scales.get(name)
        thr = 4.0 if shape is None else relevance_threshold(shape.rating_scale, shape.step)
        pop = funkrs.MatrixFactorization(solver="popularity").fit(fit)
        pop_ndcg[name] = (thr, _ndcg(pop, val, thr))
        models[name] = funkrs.MatrixFactorization(random_state=0, **cfg).fit(fit)
    print("\nrecommend's popularity_weight: validation ndcg@10 / most-rated's ndcg@10")
    out = []
    for w in (0.0, 0.25, 0.5, 1.0, 2.0, 4.0):
        ratios = {}
        for name, (_fit, val) in splits.items():
            model = models[name]
            model.popularity_weight = w
            model.item_rank_offset_ = rank_offset(_fit, w)
            thr, ref = pop_ndcg[name]
            ratios[name] = _ndcg(model, val, thr) / ref
        vals = np.array(list(ratios.values()))
        out.append({"weight": w, "mean": float(vals.mean()), "ratios": ratios})
        cells = " ".join(f"{v:6.3f}" for v in vals)
        print(f"popularity_weight={w:<5} mean {vals.mean():.4f} worst {vals.min():.4f} | {cells}")
    chosen = max(out, key=lambda r: r["mean"])
    print("chosen popularity_weight:", chosen["weight"])
    return out


#: ``implicit-als`` grids for ``for_top_n``: a coarse one; a finer one around its best
#: (``alpha=16, reg=100``) at rank 32, as rank 64 took more than 3× the default's time; and
#: one along the ridge ``alpha / reg ≈ 0.16`` that the finer one found.
IALS_TOP_N_GRIDS: dict[str, list[tuple[int, float, float]]] = {
    "coarse": list(itertools.product([32, 64], [4.0, 16.0], [30.0, 100.0, 300.0])),
    "fine": [
        (32, alpha, reg)
        for alpha, reg in itertools.product([8.0, 16.0, 32.0], [50.0, 100.0, 200.0])
        if (alpha, reg) != (16.0, 100.0)
    ],
    "ridge": [(32, 64.0, 400.0), (32, 128.0, 800.0), (32, 32.0, 300.0), (32, 64.0, 300.0)],
}


def top_n_candidates(grid: str = "all") -> list[dict[str, Any]]:
    """The default model, funk-sgd's ranking objective, PureSVD and ``implicit-als`` on ratings.

    ``grid`` names one of :data:`IALS_TOP_N_GRIDS` (``"coarse"`` comes with the other
    models, ``"fine"`` and ``"ridge"`` without), or ``"all"``.
    """
    ranking = [
        {
            "n_factors": 100,
            "reg": 0.05,
            "init_std": 0.1,
            "popularity_weight": weight,
            "solver_options": {"objective": "ranking", "negatives": 2.0},
        }
        for weight in (0.0, 2.0)
    ]
    pure_svd = [{"solver": "imputed-svd", "n_factors": 20, "solver_options": {"fill": "zero"}}]
    ials = [
        {
            "solver": "implicit-als",
            "n_factors": k,
            "solver_options": {"confidence": "rating", "alpha": alpha, "reg": reg},
        }
        for name, points in IALS_TOP_N_GRIDS.items()
        if grid in ("all", name)
        for k, alpha, reg in points
    ]
    if grid not in ("all", "coarse"):
        return ials
    return [{}, *ranking, *pure_svd, *ials]


def tune_top_n(
    splits: dict[str, tuple[funkrs.Ratings, funkrs.Ratings]], grid: str = "all"
) -> list[dict[str, Any]]:
    """Top-N configurations: validation ndcg@10 / most-rated's, fit time / the default's.

    ``for_top_n`` is the configuration with the highest mean ratio over the shapes among
    those whose summed fit time is at most 3× the default model's (the fit-time target;
    the default is timed before and after all candidates, and the mean taken).
    """
    scales = all_shapes(choice=True)
    refs = {}
    for name, (fit, val) in splits.items():
        shape = scales.get(name)
        thr = 4.0 if shape is None else relevance_threshold(shape.rating_scale, shape.step)
        pop = funkrs.MatrixFactorization(solver="popularity").fit(fit)
        refs[name] = (thr, _ndcg(pop, val, thr))
    default_secs = _default_seconds(splits)
    print("shapes:", ", ".join(splits))
    print("\nfor_top_n: validation ndcg@10 / most-rated's, fit time / the default's")
    out = []
    for cfg in top_n_candidates(grid):
        ratios, secs = {}, 0.0
        for name, (fit, val) in splits.items():
            t = time.perf_counter()
            model = funkrs.MatrixFactorization(random_state=0, **cfg).fit(fit)
            secs += time.perf_counter() - t
            thr, ref = refs[name]
            ratios[name] = _ndcg(model, val, thr) / ref
        vals = np.array(list(ratios.values()))
        row = {
            "config": label(cfg),
            "kwargs": cfg,
            "mean": float(vals.mean()),
            "worst": float(vals.min()),
            "seconds": secs,
            "time_ratio": secs / default_secs,
            "ratios": ratios,
        }
        out.append(row)
        cells = " ".join(f"{v:6.3f}" for v in vals)
        print(
            f"{row['config']:<60} mean {row['mean']:.4f} worst {row['worst']:.4f} "
            f"time {row['time_ratio']:.2f}x | {cells}",
            flush=True,
        )
    default_secs = (default_secs + _default_seconds(splits)) / 2
    for row in out:
        row["time_ratio"] = row["seconds"] / default_secs
    ok = [r for r in out if r["time_ratio"] <= 3.0] or out
    chosen = max(ok, key=lambda r: r["mean"])
    print("chosen for_top_n (highest mean, fit time <= 3x the default's):", chosen["config"])
    return out


def _default_seconds(splits: dict[str, tuple[funkrs.Ratings, funkrs.Ratings]]) -> float:
    """Summed fit time of the default model over the shapes."""
    start = time.perf_counter()
    for fit, _val in splits.values():
        funkrs.MatrixFactorization(random_state=0).fit(fit)
    return time.perf_counter() - start


def _ndcg(model: funkrs.MatrixFactorization, val: funkrs.Ratings, threshold: float) -> float:
    got = funkrs.ranking.ranking_metrics(model, val, k=10, metrics=["ndcg"], threshold=threshold)
    return got["ndcg@10"]


if __name__ == "__main__":
    main()
