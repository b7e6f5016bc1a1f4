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

    python benchmarks/tune_defaults.py [--quick] [--json PATH]

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


def datasets(quick: bool, only: list[str] | None = None) -> dict[str, funkrs.Ratings]:
    out: dict[str, funkrs.Ratings] = {}
    for name, shape in funkrs.datasets.shapes().items():
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
    ap.add_argument("--solver", default="funk-sgd", choices=("funk-sgd", "als"))
    args = ap.parse_args()
    splits = {}
    for name, r in datasets(args.quick, args.shapes and args.shapes.split(",")).items():
        train, _test = funkrs.train_test_split(r, test_size=0.2, random_state=0)
        splits[name] = funkrs.train_test_split(train, test_size=0.2, random_state=1)
    if args.top_n_only:
        tune_top_n(splits)
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
    top_n = tune_top_n(splits)
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


def top_n_candidates() -> list[dict[str, Any]]:
    ranking = [
        {
            "n_factors": k,
            "reg": 0.05,
            "init_std": 0.1,
            "popularity_weight": weight,
            "solver_options": {"objective": "ranking", "negatives": neg},
        }
        for (k, neg), weight in itertools.product(
            [(32, 2.0), (32, 4.0), (100, 2.0)], [0.0, 0.5, 1.0, 2.0]
        )
    ]
    pure_svd = [
        {"solver": "imputed-svd", "n_factors": k, "solver_options": {"fill": "zero"}}
        for k in (10, 20, 50)
    ]
    return [{}, *ranking, *pure_svd]


def tune_top_n(splits: dict[str, tuple[funkrs.Ratings, funkrs.Ratings]]) -> list[dict[str, Any]]:
    """The ranking objective's settings: validation ndcg@10 / most-rated's, fit time / default's.

    Printed for reference: the default model itself and PureSVD (``imputed-svd`` with
    ``fill="zero"``). ``for_top_n`` is the funk-sgd ranking-objective setting with the
    highest mean ratio among those whose work, ``n_factors · (1 + negatives)`` updates of a
    row per rating, is at most 3× the default's (``100 · 1``): the fit-time target, counted
    in arithmetic rather than in seconds, which on fits this small are mostly noise.
    """
    scales = dict(funkrs.datasets.shapes())
    refs, default_secs = {}, 0.0
    for name, (fit, val) in splits.items():
        shape = scales.get(name)
        thr = 4.0 if shape is None else relevance_threshold(shape.rating_scale, shape.step)
        pop = funkrs.MatrixFactorization(solver="popularity").fit(fit)
        refs[name] = (thr, _ndcg(pop, val, thr))
        t = time.perf_counter()
        funkrs.MatrixFactorization(random_state=0).fit(fit)
        default_secs += time.perf_counter() - t
    print("\nfor_top_n: validation ndcg@10 / most-rated's, fit time / the default's")
    out = []
    for cfg in top_n_candidates():
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
            "time_ratio": secs / default_secs,
            "ratios": ratios,
        }
        out.append(row)
        cells = " ".join(f"{v:6.3f}" for v in vals)
        print(
            f"{row['config']:<60} mean {row['mean']:.4f} worst {vals.min():.4f} "
            f"time {row['time_ratio']:.2f}x | {cells}",
            flush=True,
        )
    ranking = [r for r in out if r["kwargs"].get("solver_options", {}).get("objective")]
    ok = [r for r in ranking if _work(r["kwargs"]) <= 3.0] or ranking
    chosen = max(ok, key=lambda r: r["mean"])
    print("chosen for_top_n (highest mean, work <= 3x the default's):", chosen["config"])
    return out


def _work(cfg: dict[str, Any]) -> float:
    """Row updates per rating of a ranking-objective fit, relative to the default's."""
    return cfg["n_factors"] * (1.0 + cfg["solver_options"]["negatives"]) / 100.0


def _ndcg(model: funkrs.MatrixFactorization, val: funkrs.Ratings, threshold: float) -> float:
    got = funkrs.ranking.ranking_metrics(model, val, k=10, metrics=["ndcg"], threshold=threshold)
    return got["ndcg@10"]


if __name__ == "__main__":
    main()
