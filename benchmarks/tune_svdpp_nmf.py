"""Choose the defaults of the ``svdpp`` and ``nmf`` solvers by validation on training data.

As ``benchmarks/tune_defaults.py`` does for funk-sgd: for every shape of
:func:`funkrs.datasets.shapes` and for MovieLens small, the training part of the benchmark
split (``train_test_split(r, 0.2, random_state=0)``) is split again (``random_state=1``,
20%) into a fitting and a validation part; each candidate is fitted on the first and scored
on the second (the test parts are never read). Printed per candidate: validation RMSE per
shape relative to the bias baseline's, their mean and worst, and fit seconds; the candidate
with the lowest mean among those never worse than the baseline (worst ≤ 1) is chosen.
``n_factors`` is fixed at Surprise's default of each model (20 for SVD++, 15 for NMF), the
width the benchmarks compare at.

    python benchmarks/tune_svdpp_nmf.py [--solver svdpp|nmf] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from typing import Any

import numpy as np
from tune_defaults import datasets

import funkrs

K = {"svdpp": 20, "nmf": 15}


def candidates(solver: str) -> list[dict[str, Any]]:
    if solver == "svdpp":
        grid = itertools.product([0.007, 0.015, 0.025], [0.02, 0.05], [0.1, 0.3], [0.01, 0.1])
        return [{"lr": lr, "reg": reg, "lr_y": ly, "init_std": init} for lr, reg, ly, init in grid]
    grid = itertools.product([0.02, 0.05], [0.02, 0.05], [0.1, 0.3], [20, 40])
    return [{"lr": lr, "reg": reg, "init_high": hi, "n_epochs": ep} for lr, reg, hi, ep in grid]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--solver", choices=sorted(K), action="append")
    ap.add_argument("--quick", action="store_true", help="every third data set")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    splits = {}
    for name, r in datasets(args.quick).items():
        train, _test = funkrs.train_test_split(r, test_size=0.2, random_state=0)
        splits[name] = funkrs.train_test_split(train, test_size=0.2, random_state=1)
    base = {}
    for name, (fit, val) in splits.items():
        m = funkrs.MatrixFactorization(solver="baseline", random_state=0).fit(fit)
        base[name] = funkrs.evaluate(m, val, metrics=["rmse"])["rmse"]
    print("funkrs", funkrs.__version__, "| data sets:", ", ".join(splits))
    out: dict[str, Any] = {"baseline_rmse": base}
    for solver in args.solver or sorted(K):
        results = []
        for opts in candidates(solver):
            ratios, secs = {}, 0.0
            for name, (fit, val) in splits.items():
                t = time.perf_counter()
                try:
                    m = funkrs.MatrixFactorization(
                        solver=solver, n_factors=K[solver], solver_options=opts, random_state=0
                    ).fit(fit)
                except funkrs.exceptions.ConvergenceError:
                    ratios[name] = float("inf")
                    continue
                secs += time.perf_counter() - t
                ratios[name] = funkrs.evaluate(m, val, metrics=["rmse"])["rmse"] / base[name]
            vals = np.array(list(ratios.values()))
            row = {
                "options": opts,
                "mean": float(vals.mean()),
                "worst": float(vals.max()),
                "seconds": secs,
                "ratios": ratios,
            }
            results.append(row)
            cells = " ".join(f"{v:6.3f}" for v in vals)
            print(
                f"{solver} {json.dumps(opts):<62} mean {row['mean']:.4f} "
                f"worst {row['worst']:.4f} {secs:6.1f}s | {cells}",
                flush=True,
            )
        # A default must not lose to the bias baseline anywhere: the lowest mean among the
        # candidates at most as bad as the baseline on every data set (all, if none is).
        safe = [r for r in results if r["worst"] <= 1.0] or results
        best = min(safe, key=lambda r: r["mean"])
        print(
            f"{solver}: chosen (lowest mean validation RMSE / baseline among those never "
            f"worse than the baseline): {best['options']}"
        )
        out[solver] = {"results": results, "chosen": best["options"]}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
