"""Dense SVD against LAPACK, and imputed-svd at Netflix shape and on MovieLens small.

Three parts, in one run:

1. ``funkrs.linalg.svd`` (Gram route, and ``method="direct"``) against two numpy references
   on Gaussian float64 matrices 10000×1000, 50000×300 and 3000×3000, every contender
   computing all ``min(m, n)`` singular triplets:

   - ``numpy.linalg.svd(full_matrices=False)`` (LAPACK ``gesdd``);
   - numpy's own Gram route, the same algorithm as funkrs' default: ``G = AᵀA`` (``AAᵀ``
     for a wide matrix), ``w, V = numpy.linalg.eigh(G)`` (LAPACK ``syevd``), the values in
     descending order, ``σ = √w`` and ``U = A V / σ``.

   The contenders alternate (the order rotates every repeat); reported per shape are the
   median of ``--repeats`` timings, the ratios gesdd/contender and eigh/contender, and the
   accuracy of each result: the largest singular-value error against gesdd relative to σ₁
   and relative to each σᵢ, the reconstruction error ``‖A − U S Vᵀ‖_F / ‖A‖_F`` and the
   orthogonality residuals ``max|UᵀU − I|`` and ``max|VᵀV − I|``.
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
   for items unseen in training, clipped to the rating scale), which gives 0.9695.

numpy's BLAS runs with its native kernels (see ``_blas.py``; the header names it). Times are
those of the installed extension, so quote figures from a release build
(``maturin develop --release``). Results go to ``benchmarks/results/svd.json`` (``--json``).

    python benchmarks/svd.py                       # everything (a few minutes)
    python benchmarks/svd.py --skip-netflix        # dense and MovieLens parts only
    python benchmarks/svd.py --skip-netflix --skip-movielens --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import _blas
import numpy as np
from _host import steal_seconds

import funkrs

SHAPES = [(10_000, 1_000), (50_000, 300), (3_000, 3_000)]
NETFLIX = (480_189, 17_770, 100_000_000)
RESULTS = Path(__file__).resolve().parent / "results" / "svd.json"


def _time(f: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = f()
    return time.perf_counter() - t, out


Svd = tuple[np.ndarray, np.ndarray, np.ndarray]


def numpy_eigh_svd(a: np.ndarray) -> Svd:
    """All ``min(m, n)`` singular triplets of ``a`` from numpy's ``eigh`` of the smaller Gram
    matrix: the reference for funkrs' Gram route, in numpy's own calls."""
    tall = a.shape[0] >= a.shape[1]
    g = a.T @ a if tall else a @ a.T
    w, v = np.linalg.eigh(g)
    w, v = w[::-1], v[:, ::-1]  # descending
    s = np.sqrt(np.maximum(w, 0.0))
    other = (a @ v if tall else a.T @ v) / np.where(s > 0, s, 1.0)
    return (other, s, v.T) if tall else (v, s, other.T)


def _off_identity(q: np.ndarray) -> float:
    """``max|QᵀQ − I|`` for a matrix ``Q`` with orthonormal columns."""
    gram = q.T @ q
    gram[np.diag_indices_from(gram)] -= 1.0
    return float(np.abs(gram).max())


def _accuracy(a: np.ndarray, usv: Svd) -> dict[str, float]:
    u, s, vt = usv
    return {
        "reconstruction": float(np.linalg.norm(a - (u * s) @ vt) / np.linalg.norm(a)),
        "orth_u": _off_identity(u),
        "orth_v": _off_identity(vt.T),
    }


def dense_part(repeats: int, n_threads: int | None) -> list[dict[str, Any]]:
    print(
        f"== dense SVD, float64 Gaussian, all min(m, n) triplets, median of {repeats} "
        f"(funkrs threads: {n_threads or 'all'})"
    )
    header = (
        f"{'shape':>11} {'contender':>16} {'seconds':>8} {'gesdd/this':>10} {'eigh/this':>9} "
        f"{'max|Δσ|/σ₁':>10} {'max|Δσᵢ|/σᵢ':>12} {'‖A−USVᵀ‖/‖A‖':>13} {'|UᵀU−I|':>8} "
        f"{'|VᵀV−I|':>8}"
    )
    print(header)
    rows: list[dict[str, Any]] = []
    rng = np.random.default_rng(0)
    for m, n in SHAPES:
        a = rng.normal(size=(m, n))
        contenders: dict[str, Callable[[], Svd]] = {
            "numpy gesdd": partial(np.linalg.svd, a, full_matrices=False),
            "numpy eigh(Gram)": partial(numpy_eigh_svd, a),
            "funkrs gram": partial(funkrs.linalg.svd, a, n_threads=n_threads),
            "funkrs direct": partial(funkrs.linalg.svd, a, method="direct", n_threads=n_threads),
        }
        names = list(contenders)
        times: dict[str, list[float]] = {name: [] for name in names}
        values: dict[str, np.ndarray] = {}
        accuracy: dict[str, dict[str, float]] = {}
        steal0 = steal_seconds()
        for r in range(repeats):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                dt, out = _time(contenders[name])
                times[name].append(dt)
                if r == 0:  # outside the timed call; the outputs are dropped after it
                    values[name] = out[1]
                    accuracy[name] = _accuracy(a, out)
                del out
        steal1 = steal_seconds()
        steal = None if steal0 is None or steal1 is None else steal1 - steal0
        load = os.getloadavg()[0]
        ref_s = values["numpy gesdd"]
        median = {name: statistics.median(times[name]) for name in names}
        for name in names:
            s = values[name]
            err = np.abs(s - ref_s)
            row = {
                "shape": [m, n],
                "contender": name,
                "triplets": len(s),
                "seconds": times[name],
                "seconds_median": median[name],
                "gesdd_over_this": median["numpy gesdd"] / median[name],
                "eigh_over_this": median["numpy eigh(Gram)"] / median[name],
                "sv_error_rel_sigma1": float(err.max() / ref_s[0]),
                "sv_error_rel": float((err / ref_s).max()),
                **accuracy[name],
                "steal_seconds": steal,
                "load_average_1min": load,
            }
            rows.append(row)
            print(
                f"{f'{m}×{n}':>11} {name:>16} {row['seconds_median']:8.3f} "
                f"{row['gesdd_over_this']:10.2f} {row['eigh_over_this']:9.2f} "
                f"{row['sv_error_rel_sigma1']:10.1e} {row['sv_error_rel']:12.1e} "
                f"{row['reconstruction']:13.1e} {row['orth_u']:8.1e} {row['orth_v']:8.1e}"
            )
        stolen = "" if steal is None else f"steal time {steal:.1f} s, "
        print(f"{'':>11} ({stolen}load average {load:.1f} at the end of this shape)")
        del a
    return rows


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


def netflix_part(
    n_ratings: int, k: int, n_threads: int | None, options: str
) -> dict[str, Any] | None:
    print(f"\n== imputed-svd (item mean, implicit path, k={k}, options {options}) at Netflix shape")
    cmd = [sys.executable, __file__, "--netflix-child", "--netflix-ratings", str(n_ratings)]
    cmd += ["--options", options]
    cmd += ["--k", str(k)] + (["--threads", str(n_threads)] if n_threads else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"child failed ({proc.returncode}):\n{proc.stderr}")
        return None
    r: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
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
    return r


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


def movielens_part(n_threads: int | None) -> dict[str, Any]:
    print("\n== MovieLens small, fixed split, imputed-svd (item mean, k=10)")
    train, test = funkrs.datasets.movielens_small_split()
    out: dict[str, Any] = {}
    for path in ("dense", "implicit"):
        model = funkrs.MatrixFactorization(
            solver="imputed-svd",
            n_factors=10,
            random_state=0,
            n_threads=n_threads,
            solver_options={"path": path},
        )
        t, _ = _time(partial(model.fit, train))
        rmse = funkrs.evaluate(model, test)["rmse"]
        print(f"funkrs imputed-svd ({path:>8} path): RMSE {rmse:.4f}  (fit {t:.2f} s)")
        out[path] = {"rmse": rmse, "fit_seconds": t}
    t, rmse = _time(lambda: _numpy_imputed_rmse(train, test, 10))
    print(f"dense numpy computation:             RMSE {rmse:.4f}  ({t:.2f} s)")
    out["numpy"] = {"rmse": rmse, "seconds": t}
    return out


def main() -> None:
    _blas.use_native_blas()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5, help="timings per contender and shape")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--k", type=int, default=50)
    p.add_argument("--netflix-ratings", type=int, default=NETFLIX[2])
    p.add_argument("--skip-dense", action="store_true")
    p.add_argument("--skip-netflix", action="store_true")
    p.add_argument("--skip-movielens", action="store_true")
    p.add_argument(
        "--options", default="{}", help="imputed-svd solver_options for the Netflix part (JSON)"
    )
    p.add_argument(
        "--json", type=Path, default=RESULTS, help=f"write the results here (default {RESULTS})"
    )
    p.add_argument("--netflix-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.netflix_child:
        netflix_child(args.netflix_ratings, args.k, args.threads, json.loads(args.options))
        return
    print(f"funkrs {funkrs.__version__}, numpy {np.__version__}, {os.cpu_count()} CPUs")
    print(_blas.blas_report())
    print(f"load average (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    summary: dict[str, Any] = {
        "benchmark": "svd",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "funkrs_version": funkrs.__version__,
        "numpy_version": np.__version__,
        "blas": _blas.blas_report(),
        "load_average_at_start": list(os.getloadavg()),
        "repeats": args.repeats,
        "threads": args.threads,
        "dense": None if args.skip_dense else dense_part(args.repeats, args.threads),
        "netflix": None,
        "movielens": None,
    }
    if not args.skip_netflix:
        summary["netflix"] = netflix_part(args.netflix_ratings, args.k, args.threads, args.options)
    if not args.skip_movielens:
        summary["movielens"] = movielens_part(args.threads)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
