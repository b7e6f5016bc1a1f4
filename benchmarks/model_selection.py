"""5-fold cross-validation on MovieLens small: funkrs next to Surprise, in the same run.

Times the whole cross-validation call on each side (fold splitting, fitting, scoring; data
loading excluded): ``funkrs.model_selection.cross_validate(MatrixFactorization(), ratings,
cv=5)`` against Surprise's ``cross_validate(SVD(), data, cv=5)``, alternately, ``--repeats``
times, and prints the median times and their ratio (the project's target: funkrs >= 20x
faster). Surprise and numpy run on the machine's native BLAS kernel
(``_blas.use_native_blas``; the header prints it), and every line ends with the run's steal
time and the 1-minute load average.

Rows:

- ``funkrs defaults``: ``MatrixFactorization()``, funkrs' own defaults, 5 folds one after the
  other, each fit on all cores (``n_jobs=None``);
- ``funkrs defaults, n_jobs=-1``: folds in parallel, each fit on ``cores // jobs`` threads;
- ``funkrs Surprise hyperparameters``: ``MatrixFactorization.surprise_defaults()``, the same
  work as Surprise's ``SVD()`` (n_epochs=20, lr=0.005, reg=0.02).

    python benchmarks/model_selection.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import _blas
from _host import steal_seconds
from ml_small import _surprise_version

import funkrs
from funkrs.model_selection import cross_validate


def funkrs_runs() -> dict[str, Callable[[funkrs.Ratings, int], dict[str, float]]]:
    def run(model: funkrs.MatrixFactorization, n_jobs: int | None) -> Any:
        def go(ratings: funkrs.Ratings, seed: int) -> dict[str, float]:
            res = cross_validate(model, ratings, cv=5, n_jobs=n_jobs, random_state=seed)
            return {"rmse": float(res["rmse"].mean()), "mae": float(res["mae"].mean())}

        return go

    return {
        "funkrs defaults": run(funkrs.MatrixFactorization(), None),
        "funkrs defaults, n_jobs=-1": run(funkrs.MatrixFactorization(), -1),
        "funkrs Surprise hyperparameters": run(
            funkrs.MatrixFactorization.surprise_defaults(), None
        ),
    }


def surprise_run(frame: Any) -> Callable[[Any, int], dict[str, float]]:
    from surprise import SVD, Dataset, Reader
    from surprise.model_selection import KFold
    from surprise.model_selection import cross_validate as s_cross_validate

    data = Dataset.load_from_df(frame, Reader(rating_scale=(0.5, 5.0)))

    def go(_: Any, seed: int) -> dict[str, float]:
        res = s_cross_validate(
            SVD(), data, measures=["RMSE", "MAE"], cv=KFold(5, random_state=seed), n_jobs=1
        )
        return {"rmse": float(res["test_rmse"].mean()), "mae": float(res["test_mae"].mean())}

    return go


def main() -> None:
    _blas.use_native_blas()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per side")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()

    ratings = funkrs.datasets.movielens_small()
    frame = ratings.to_frame().to_pandas()
    runs: dict[str, Callable[[Any, int], dict[str, float]]] = dict(funkrs_runs())
    try:
        runs["Surprise SVD()"] = surprise_run(frame)
    except ImportError:
        print("Surprise is not installed (pip install scikit-surprise): funkrs only")

    print(f"{ratings!r}; {os.cpu_count()} cores; {platform.python_version()}")
    print(f"funkrs {getattr(funkrs, '__version__', 'unknown')}, Surprise {_surprise_version()}")
    print(_blas.blas_report())
    times: dict[str, list[float]] = {name: [] for name in runs}
    scores: dict[str, dict[str, float]] = {}
    funkrs.MatrixFactorization(n_epochs=1).fit(ratings)  # warm up (thread pool, caches)
    for rep in range(args.repeats):
        steal0 = steal_seconds()
        line = []
        for name, go in runs.items():
            start = time.perf_counter()
            scores[name] = go(ratings, rep)
            times[name].append(time.perf_counter() - start)
            line.append(f"{name} {times[name][-1]:.3f} s")
        steal1 = steal_seconds()
        if steal0 is not None and steal1 is not None:
            line.append(f"steal {steal1 - steal0:.2f} s")
        line.append(f"load {os.getloadavg()[0]:.2f}")
        print(f"  repeat {rep + 1}: " + " | ".join(line), flush=True)

    ref = statistics.median(times["Surprise SVD()"]) if "Surprise SVD()" in times else None
    print(f"\n5-fold cross-validation, median of {args.repeats} runs")
    print(f"{'':34} {'seconds':>8} {'RMSE':>7} {'MAE':>7} {'Surprise/funkrs':>16}")
    for name, ts in times.items():
        med = statistics.median(ts)
        ratio = f"{ref / med:15.1f}x" if ref is not None else ""
        s = scores[name]
        print(f"{name:34} {med:8.3f} {s['rmse']:7.4f} {s['mae']:7.4f} {ratio:>16}")
    if args.json:
        out = {
            name: {"seconds": times[name], "median": statistics.median(times[name]), **scores[name]}
            for name in times
        }
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
