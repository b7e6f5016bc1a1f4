"""funkrs ``implicit-als`` next to the ``implicit`` package's ALS, in one run.

Two parts, every figure printed:

1. **Speed** at the shape of implicit's own Last.fm 360K benchmark: 358,000 users × 160,000
   items, 9.4M interactions (generated: Zipf item popularity, lognormal user activity and play
   counts), k = 64, 15 iterations. implicit runs on ``num_threads=2`` with its BLAS limited
   to one thread (as implicit recommends); funkrs on 2 threads. Fits alternate between the
   two; the ratio is implicit's median seconds per iteration over funkrs'.
2. **Quality** on the fixed MovieLens-small split (``funkrs.datasets.movielens_small_split``),
   the ratings as confidence weights, both with the settings ``benchmarks/ranking.py`` tuned
   for implicit on a validation split (k = 32, λ = 30, α = 1, 50 iterations): recall@10 and
   ndcg@10 of the top-10 lists (relevant: test rating ≥ 4, seen items excluded), scored by
   the same ``funkrs.ranking.ranking_metrics`` for both.

Run::

    pip install implicit threadpoolctl
    python benchmarks/implicit_als.py              # --repeats 3 by default
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import _blas

import funkrs
from funkrs.ranking import ranking_metrics

SHAPE = (358_000, 160_000, 9_400_000)


def generate(n_users: int, n_items: int, nnz: int, seed: int = 0) -> funkrs.Ratings:
    """Implicit interactions: Zipf item popularity, lognormal user activity and counts."""
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(0.0, 1.0, n_users)
    users = rng.choice(n_users, size=int(nnz * 1.02), p=activity / activity.sum())
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9
    items = rng.choice(n_items, size=len(users), p=popularity / popularity.sum())
    pairs = np.unique(users.astype(np.int64) * n_items + items)[:nnz]
    counts = np.ceil(rng.lognormal(1.0, 1.2, len(pairs)))
    return funkrs.Ratings.from_arrays(pairs // n_items, pairs % n_items, counts)


def implicit_fit(r: funkrs.Ratings, factors: int, iterations: int, reg: float, alpha: float) -> Any:
    """implicit's ALS on the user × item CSR matrix of ``r`` (funkrs' inner ids)."""
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    m = sp.csr_matrix(
        (np.asarray(r.values, np.float32), (r.users, r.items)), shape=(r.n_users, r.n_items)
    )
    with threadpool_limits(1, "blas"):
        est = AlternatingLeastSquares(
            factors=factors,
            iterations=iterations,
            regularization=reg,
            alpha=alpha,
            num_threads=2,
            random_state=0,
            calculate_training_loss=False,
        )
        est.fit(m, show_progress=False)
    return est


def funkrs_model(factors: int, iterations: int, reg: float, alpha: float) -> Any:
    return funkrs.MatrixFactorization(
        solver="implicit-als",
        n_factors=factors,
        n_threads=2,
        random_state=0,
        solver_options={"n_iter": iterations, "reg": reg, "alpha": alpha},
    )


def speed(repeats: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    data = generate(*SHAPE)
    print(
        f"generated {data.n_users:,} users × {data.n_items:,} items, {len(data):,} "
        f"interactions in {time.perf_counter() - t0:.1f} s"
    )
    iters = 15
    times: dict[str, list[float]] = {"implicit": [], "funkrs": []}
    for rep in range(repeats):
        t = time.perf_counter()
        implicit_fit(data, 64, iters, 0.01, 1.0)
        times["implicit"].append((time.perf_counter() - t) / iters)
        t = time.perf_counter()
        funkrs_model(64, iters, 0.01, 1.0).fit(data)
        times["funkrs"].append((time.perf_counter() - t) / iters)
        print(
            f"  repeat {rep + 1}: implicit {times['implicit'][-1]:.3f} s/iteration, funkrs "
            f"{times['funkrs'][-1]:.3f} s/iteration (load {os.getloadavg()[0]:.1f})"
        )
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["implicit"] / med["funkrs"]
    print(
        f"median s/iteration: implicit {med['implicit']:.3f}, funkrs {med['funkrs']:.3f}: "
        f"funkrs {ratio:.2f}x as fast  [target >= 1.5x]"
    )
    return {"seconds_per_iteration": times, "median": med, "ratio": ratio}


def quality() -> dict[str, Any]:
    from ranking import implicit_model  # the tuned implicit contender of ranking.py

    train, test = funkrs.datasets.movielens_small_split()
    settings = {"data": "rating", "factors": 32, "regularization": 30.0, "alpha": 1.0}
    out: dict[str, Any] = {}
    for name, model in (
        ("implicit", implicit_model("als", {**settings, "iterations": 50})),
        ("funkrs", funkrs_model(32, 50, 30.0, 1.0)),
    ):
        t = time.perf_counter()
        model.fit(train)
        fit_s = time.perf_counter() - t
        got = ranking_metrics(model, test, k=10, metrics=("recall", "ndcg"), threshold=4.0)
        out[name] = {**got, "fit_seconds": fit_s}
        print(
            f"  {name:8s} recall@10 {got['recall@10']:.4f}  ndcg@10 {got['ndcg@10']:.4f}  "
            f"fit {fit_s:.2f} s"
        )
    diff = out["funkrs"]["recall@10"] - out["implicit"]["recall@10"]
    print(f"recall@10 funkrs − implicit: {diff:+.4f}  [target: within 0.01 or better]")
    out["recall_difference"] = diff
    return out


def main() -> None:
    _blas.use_native_blas()
    import warnings

    warnings.simplefilter("ignore", DeprecationWarning)  # ranking.py's solver is version 1
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    args = p.parse_args()
    import implicit

    print(f"funkrs {funkrs.__version__}, implicit {implicit.__version__}, {os.cpu_count()} CPUs")
    print(_blas.blas_report())
    print("== quality: MovieLens small, fixed split")
    result: dict[str, Any] = {"quality": quality()}
    if not args.skip_speed:
        print("== speed: Last.fm 360K shape, k = 64, 15 iterations")
        result["speed"] = speed(args.repeats)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
