"""Dense SVD against LAPACK, and imputed-svd at Netflix shape and on MovieLens small.

Three parts, in one run:

1. ``funkrs.linalg.svd`` (Gram route, and ``method="direct"``) against
   ``numpy.linalg.svd(full_matrices=False)`` (LAPACK ``gesdd``) on Gaussian float64 matrices
   10000×1000, 50000×300 and 3000×3000, alternating the contenders; the median of
   ``--repeats`` timings, their ratio, the singular-value error against LAPACK relative to σ₁
   and the reconstruction error ``‖A − U S Vᵀ‖_F / ‖A‖_F`` of each.
2. ``imputed-svd`` (item mean, k=50, implicit path, the solver's default options unless
   ``--options`` says otherwise) on
   ``funkrs.datasets.synthetic(480_189, 17_770, 100_000_000, random_state=0)``: the data are
   generated in a child process, which then resets its peak-RSS counter
   (``/proc/self/clear_refs``), fits, and reads ``VmHWM`` from ``/proc/self/status``; the
   figure is the peak of the whole process (interpreter, the input ratings, the fit) while the
   fit runs. Reported: the block Lanczos steps, and the residual
   ``max_i (‖X v_i − σ_i u_i‖² + ‖Xᵀ u_i − σ_i v_i‖²)^½ / σ_1`` of the returned triplets against
   the default ``tol``. ``--netflix-ratings`` shrinks the draws.
3. RMSE of ``imputed-svd`` (item mean, k=10) on the fixed MovieLens-small split, next to the
   dense numpy computation (fill, ``numpy.linalg.svd``, rank-10 reconstruction, global mean
   for items unseen in training, clipped to the rating scale) and DESIGN.md's 0.9695.

    python benchmarks/svd.py                       # everything (a few minutes)
    python benchmarks/svd.py --skip-netflix        # dense and MovieLens parts only
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import funkrs

SHAPES = [(10_000, 1_000), (50_000, 300), (3_000, 3_000)]
NETFLIX = (480_189, 17_770, 100_000_000)


def _time(f: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = f()
    return time.perf_counter() - t, out


def _reconstruction(a: np.ndarray, u: np.ndarray, s: np.ndarray, vt: np.ndarray) -> float:
    return float(np.linalg.norm(a - (u * s) @ vt) / np.linalg.norm(a))


def dense_part(repeats: int, n_threads: int | None) -> None:
    print(f"== dense SVD, float64 Gaussian, median of {repeats} (threads: {n_threads or 'all'})")
    header = f"{'shape':>12} {'contender':>16} {'seconds':>9} {'numpy/this':>10}"
    print(header + f" {'max|ΔS|/σ1':>11} {'‖A−USVᵀ‖/‖A‖':>14}")
    rng = np.random.default_rng(0)
    for m, n in SHAPES:
        a = rng.normal(size=(m, n))
        contenders: dict[str, Callable[[], Any]] = {
            "numpy (gesdd)": lambda a=a: np.linalg.svd(a, full_matrices=False),
            "funkrs gram": lambda a=a: funkrs.linalg.svd(a, n_threads=n_threads),
            "funkrs direct": lambda a=a: funkrs.linalg.svd(a, method="direct", n_threads=n_threads),
        }
        times: dict[str, list[float]] = {name: [] for name in contenders}
        results: dict[str, Any] = {}
        for _ in range(repeats):
            for name, f in contenders.items():
                dt, results[name] = _time(f)
                times[name].append(dt)
        ref_s = results["numpy (gesdd)"][1]
        t_ref = statistics.median(times["numpy (gesdd)"])
        for name in contenders:
            u, s, vt = results[name]
            t = statistics.median(times[name])
            ds = float(np.abs(s - ref_s).max() / ref_s[0])
            print(
                f"{f'{m}×{n}':>12} {name:>16} {t:9.3f} {t_ref / t:10.2f} "
                f"{ds:11.1e} {_reconstruction(a, u, s, vt):14.1e}"
            )
        del a, results


def _vmhwm_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def netflix_child(n_ratings: int, k: int, n_threads: int | None, options: dict[str, Any]) -> None:
    """Runs in a child process; prints one JSON line."""
    m, n, _ = NETFLIX
    t_gen, data = _time(lambda: funkrs.datasets.synthetic(m, n, n_ratings, random_state=0))
    gen_peak = _vmhwm_mb()
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset VmHWM to the current RSS
    solver = funkrs.solvers.get("imputed-svd")(path="implicit", **options)
    params = funkrs.solvers.FitParams(n_factors=k)
    t_fit, _ = _time(lambda: solver.fit(data, params, seed=0, n_threads=n_threads))
    out = {
        **solver.info_,
        "tol": solver.tol,
        "options": options,
        "n_users": data.n_users,
        "n_items": data.n_items,
        "n_ratings": len(data),
        "generate_s": t_gen,
        "generate_peak_mb": gen_peak,
        "fit_s": t_fit,
        "fit_peak_mb": _vmhwm_mb(),
    }
    print(json.dumps(out))


def netflix_part(n_ratings: int, k: int, n_threads: int | None, options: str) -> None:
    print(f"\n== imputed-svd (item mean, implicit path, k={k}, options {options}) at Netflix shape")
    cmd = [sys.executable, __file__, "--netflix-child", "--netflix-ratings", str(n_ratings)]
    cmd += ["--options", options]
    cmd += ["--k", str(k)] + (["--threads", str(n_threads)] if n_threads else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"child failed ({proc.returncode}):\n{proc.stderr}")
        return
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    print(
        f"synthetic({NETFLIX[0]:,}, {NETFLIX[1]:,}, {n_ratings:,}): {r['n_users']:,} users × "
        f"{r['n_items']:,} items, {r['n_ratings']:,} distinct ratings "
        f"(generated in {r['generate_s']:.1f} s, generation peak {r['generate_peak_mb']:.0f} MB)"
    )
    print(
        f"fit: {r['fit_s']:.1f} s (target ≤ 120 s), peak RSS during the fit "
        f"{r['fit_peak_mb']:.0f} MB (target ≤ 6144 MB; the dense matrix would take "
        f"{r['n_users'] * r['n_items'] * 8 / 2**30:.0f} GB)"
    )
    print(
        f"block Lanczos steps: {r['n_iter']}, residual max‖[X v_i − σ_i u_i; Xᵀ u_i − σ_i v_i]‖"
        f"/σ_1 = {r['residual']:.1e} (tol {r['tol']:.0e}), converged: {r['converged']}"
    )
    if proc.stderr.strip():
        print(f"child stderr:\n{proc.stderr.strip()}")


def _numpy_imputed_rmse(train: funkrs.Ratings, test: funkrs.Ratings, k: int) -> float:
    x = np.full((train.n_users, train.n_items), np.nan)
    x[train.users, train.items] = train.values
    x = np.where(np.isnan(x), np.nanmean(x, axis=0), x)
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    xk = (u[:, :k] * s[:k]) @ vt[:k]
    users = train.user_vocab.numbers(test.raw_users(), missing="negative")
    items = train.item_vocab.numbers(test.raw_items(), missing="negative")
    known = (users >= 0) & (items >= 0)
    pred = np.full(len(test), float(train.values.astype(np.float64).mean()))
    pred[known] = xk[users[known], items[known]]
    pred = np.clip(pred, *train.rating_scale)
    return float(np.sqrt(np.mean((pred - test.values) ** 2)))


def movielens_part(n_threads: int | None) -> None:
    print("\n== MovieLens small, fixed split, imputed-svd (item mean, k=10)")
    train, test = funkrs.datasets.movielens_small_split()
    for path in ("dense", "implicit"):
        model = funkrs.MatrixFactorization(
            solver="imputed-svd",
            n_factors=10,
            random_state=0,
            n_threads=n_threads,
            solver_options={"path": path},
        )
        t, _ = _time(lambda model=model: model.fit(train))
        rmse = funkrs.evaluate(model, test)["rmse"]
        print(f"funkrs imputed-svd ({path:>8} path): RMSE {rmse:.4f}  (fit {t:.2f} s)")
    t, rmse = _time(lambda: _numpy_imputed_rmse(train, test, 10))
    print(f"dense numpy computation:             RMSE {rmse:.4f}  ({t:.2f} s)")
    print("DESIGN.md reference (dense numpy):   RMSE 0.9695")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--k", type=int, default=50)
    p.add_argument("--netflix-ratings", type=int, default=NETFLIX[2])
    p.add_argument("--skip-dense", action="store_true")
    p.add_argument("--skip-netflix", action="store_true")
    p.add_argument("--skip-movielens", action="store_true")
    p.add_argument(
        "--options", default="{}", help="imputed-svd solver_options for the Netflix part (JSON)"
    )
    p.add_argument("--netflix-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.netflix_child:
        netflix_child(args.netflix_ratings, args.k, args.threads, json.loads(args.options))
        return
    print(f"funkrs {funkrs.__version__}, numpy {np.__version__}, {os.cpu_count()} CPUs")
    if not args.skip_dense:
        dense_part(args.repeats, args.threads)
    if not args.skip_netflix:
        netflix_part(args.netflix_ratings, args.k, args.threads, args.options)
    if not args.skip_movielens:
        movielens_part(args.threads)


if __name__ == "__main__":
    main()
