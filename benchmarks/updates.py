"""``partial_fit`` against a full refit, side by side in one run.

Accuracy: MovieLens small ordered by timestamp; fit on the first 90%, ``partial_fit`` the next
5%, test on the last 5%; against a refit on the first 95% and the 90% model alone. Drift: ten
successive ``partial_fit`` calls of 0.5% each, against a refit on the same ratings. Time: at a
generated shape (``--users``, ``--items``, ``--ratings``; with ``--shape ml25m`` the data of
``benchmarks/sgd.py``, ``synthetic(162_541, 59_047, 25_000_000)``, about 20M distinct
ratings), k=32, ``partial_fit`` of 1% and 0.1% more ratings against a full fit on the other
99%, alternating within each repeat; the figures are medians over the repeats.

    python benchmarks/updates.py --repeats 3 [--shape ml25m]

Writes ``benchmarks/results/updates.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path

import numpy as np

import funkrs
from funkrs.datasets import _movielens_frame


def ratings(u: np.ndarray, i: np.ndarray, r: np.ndarray) -> funkrs.Ratings:
    return funkrs.Ratings.from_arrays(u, i, r)


def accuracy(seed: int, replay: float, n_epochs: int | None) -> dict[str, float]:
    df = _movielens_frame().sort_values("timestamp", kind="stable")
    u, i = df["userId"].to_numpy(), df["movieId"].to_numpy()
    r = df["rating"].to_numpy(np.float32)
    n = len(r)
    a, b = int(0.9 * n), int(0.95 * n)
    test = ratings(u[b:], i[b:], r[b:])
    mk = lambda: funkrs.MatrixFactorization(random_state=seed)  # noqa: E731
    m90 = mk().fit(ratings(u[:a], i[:a], r[:a]))
    upd = copy.deepcopy(m90).partial_fit(ratings(u[a:b], i[a:b], r[a:b]), n_epochs, replay=replay)
    refit = mk().fit(ratings(u[:b], i[:b], r[:b]))
    out = {
        "rmse_90": funkrs.evaluate(m90, test)["rmse"],
        "rmse_partial_fit": funkrs.evaluate(upd, test)["rmse"],
        "rmse_refit_95": funkrs.evaluate(refit, test)["rmse"],
    }
    # Drift: ten increments of 0.5% each after the 90% fit.
    step = int(0.005 * n)
    drift = copy.deepcopy(m90)
    for j in range(10):
        lo = a + j * step
        drift.partial_fit(
            ratings(u[lo : lo + step], i[lo : lo + step], r[lo : lo + step]),
            n_epochs,
            replay=replay,
        )
    out["rmse_ten_updates"] = funkrs.evaluate(drift, test)["rmse"]
    return out


def timing(args: argparse.Namespace) -> dict[str, list[float]]:
    n_u, n_i, n_r = args.users, args.items, args.ratings
    if args.shape == "ml25m":
        n_u, n_i, n_r = 162_541, 59_047, 25_000_000
    data = funkrs.datasets.synthetic(n_u, n_i, n_r, random_state=0)
    uu, ii, rr = data.raw_users(), data.raw_items(), data.values
    perm = np.random.default_rng(1).permutation(len(rr))
    times: dict[str, list[float]] = {"fit": [], "partial_fit_1%": [], "partial_fit_0.1%": []}
    for rep in range(args.repeats):
        base_n = len(rr) - len(rr) // 100
        base = ratings(uu[perm[:base_n]], ii[perm[:base_n]], rr[perm[:base_n]])
        mk = funkrs.MatrixFactorization(n_factors=32, random_state=rep, n_threads=args.threads)
        t = time.perf_counter()
        model = mk.fit(base)
        times["fit"].append(time.perf_counter() - t)
        for name, share in (("partial_fit_1%", 100), ("partial_fit_0.1%", 1000)):
            inc = perm[base_n : base_n + len(rr) // share]
            m = copy.deepcopy(model)
            t = time.perf_counter()
            m.partial_fit(ratings(uu[inc], ii[inc], rr[inc]))
            times[name].append(time.perf_counter() - t)
        print(rep, {k: round(v[-1], 3) for k, v in times.items()}, flush=True)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--shape", choices=["custom", "ml25m"], default="custom")
    ap.add_argument("--users", type=int, default=50_000)
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--ratings", type=int, default=2_000_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--replay", type=float, default=0.0)
    ap.add_argument("--update-epochs", type=int, default=None)
    ap.add_argument("--skip-time", action="store_true")
    args = ap.parse_args()
    acc = [accuracy(s, args.replay, args.update_epochs) for s in range(args.repeats)]
    for a in acc:
        print({k: round(v, 4) for k, v in a.items()})
    med = {k: statistics.median(a[k] for a in acc) for k in acc[0]}
    print("median:", {k: round(v, 4) for k, v in med.items()})
    print(
        "partial_fit - refit:",
        round(med["rmse_partial_fit"] - med["rmse_refit_95"], 4),
        "ten updates - refit:",
        round(med["rmse_ten_updates"] - med["rmse_refit_95"], 4),
    )
    result: dict[str, object] = {"accuracy": acc, "accuracy_median": med, "args": vars(args)}
    if not args.skip_time:
        times = timing(args)
        fit = statistics.median(times["fit"])
        ratios = {k: statistics.median(v) / fit for k, v in times.items() if k != "fit"}
        print("median share of a full fit's time:", {k: round(v, 4) for k, v in ratios.items()})
        result["times"] = times
        result["time_ratio_median"] = ratios
    out = Path(__file__).parent / "results" / "updates.json"
    out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
