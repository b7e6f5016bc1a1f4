"""The native top-n kernel next to faiss ``IndexFlatIP.search``, at Netflix shape, in one run.

    pip install faiss-cpu threadpoolctl
    python benchmarks/topn_kernel.py --repeats 3

Both sides search the same 480,189 random query vectors against 17,770 random item
vectors (k = 32 factors, float32, ``--scale`` shrinks users and items), on ``--threads``
threads (faiss: ``omp_set_num_threads``), alternated (which goes first alternates too):

- funkrs: the kernel ``recommend`` calls (``funkrs._funkrs.top_n``), top-10 per query with
  an item bias and about 209 seen items per query excluded (Netflix's mean), as
  ``recommend(exclude_seen=True)`` asks it;
- faiss: ``IndexFlatIP.search(queries, 11)``, exact brute-force inner product through its
  BLAS (``_blas.use_native_blas``; the header prints which), no bias, no exclusion.

The median of the repeats' ratios (faiss time / funkrs time) is reported, with GFLOP/s
(``2 · users · items · k`` per search). Results: funkrs without bias and exclusions, top-11,
is compared with faiss' lists slot by slot (scores differ in the last bits, as faiss' BLAS
sums in another order, so a near-tie may swap), and the excluded run is checked to hold
no seen item.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import _blas
import numpy as np
from _host import steal_seconds

from funkrs import _funkrs


def seen_csr(n_users: int, n_items: int, per_user: int, rng: np.random.Generator) -> tuple:
    """``per_user`` distinct items per user (an arithmetic progression mod ``n_items`` from a
    random start with a random step coprime to ``n_items``), sorted within each row."""
    steps = rng.integers(1, n_items, n_users)
    g = np.gcd(steps, n_items)
    steps = np.where(g == 1, steps, 1)
    starts = rng.integers(0, n_items, n_users)
    cols = (starts[:, None] + steps[:, None] * np.arange(per_user)[None, :]) % n_items
    cols.sort(axis=1)
    indptr = np.arange(n_users + 1, dtype=np.uint64) * per_user
    return indptr, cols.astype(np.uint32).ravel(), np.arange(n_users, dtype=np.uint32)


def host_note(steal0: float | None) -> str:
    steal1 = steal_seconds()
    steal = f", steal {steal1 - steal0:.2f} s" if steal0 is not None and steal1 is not None else ""
    return f"load {os.getloadavg()[0]:.2f}{steal}"


def main() -> None:
    _blas.use_native_blas()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seen", type=int, default=209, help="seen items per query")
    ap.add_argument(
        "--json", type=Path, default=Path(__file__).parent / "results" / "topn_kernel.json"
    )
    a = ap.parse_args()
    import faiss

    faiss.omp_set_num_threads(a.threads)
    print(f"faiss {faiss.__version__}, numpy {np.__version__}, {os.cpu_count()} cpus")
    print(_blas.blas_report())
    n_users, n_items = int(480_189 * a.scale), int(17_770 * a.scale)
    rng = np.random.default_rng(0)
    users = (rng.standard_normal((n_users, a.k), dtype=np.float32) * 0.3).astype(np.float32)
    items = (rng.standard_normal((n_items, a.k), dtype=np.float32) * 0.3).astype(np.float32)
    bias = (rng.standard_normal(n_items, dtype=np.float32) * 0.2).astype(np.float32)
    offsets = np.zeros(n_users, np.float32)
    exclude = seen_csr(n_users, n_items, min(a.seen, n_items - 11), rng)
    index = faiss.IndexFlatIP(a.k)
    index.add(items)
    flop = 2.0 * n_users * n_items * a.k
    print(
        f"{n_users:,} queries x {n_items:,} items, k={a.k}, {a.threads} threads, "
        f"{len(exclude[1]) / n_users:.0f} seen items per query"
    )

    def run_funkrs() -> tuple[np.ndarray, np.ndarray]:
        return _funkrs.top_n(users, offsets, items, bias, 10, exclude=exclude, n_threads=a.threads)

    def run_faiss() -> tuple[np.ndarray, np.ndarray]:
        return index.search(users, 11)

    run_funkrs(), run_faiss()  # warm-up, untimed
    t_f: list[float] = []
    t_x: list[float] = []
    for rep in range(a.repeats):
        steal0 = steal_seconds()
        for side in ("funkrs", "faiss") if rep % 2 == 0 else ("faiss", "funkrs"):
            t0 = time.perf_counter()
            if side == "funkrs":
                ids_ex, _ = run_funkrs()
                t_f.append(time.perf_counter() - t0)
            else:
                run_faiss()
                t_x.append(time.perf_counter() - t0)
        print(
            f"  repeat {rep + 1}: funkrs {t_f[-1]:.2f}s ({flop / t_f[-1] / 1e9:.0f} GFLOP/s) | "
            f"faiss {t_x[-1]:.2f}s ({flop / t_x[-1] / 1e9:.0f} GFLOP/s) | "
            f"{t_x[-1] / t_f[-1]:.2f}x | {host_note(steal0)}",
            flush=True,
        )
    ratio = statistics.median([x / f for x, f in zip(t_x, t_f, strict=True)])
    med_f, med_x = statistics.median(t_f), statistics.median(t_x)
    print(
        f"median: funkrs {med_f:.2f}s ({n_users / med_f:,.0f} queries/s, "
        f"{flop / med_f / 1e9:.0f} GFLOP/s), faiss {med_x:.2f}s "
        f"({flop / med_x / 1e9:.0f} GFLOP/s); faiss/funkrs (median of the repeats' ratios) "
        f"{ratio:.2f}x   [target >= 2x]"
    )

    # -- results -------------------------------------------------------------------------
    indptr, cols, _ = exclude
    per = int(indptr[1]) if n_users else 0
    seen = cols.reshape(n_users, per)
    hits = sum(
        int(np.isin(ids_ex[u], seen[u]).sum()) for u in range(0, n_users, max(1, n_users // 2000))
    )
    got_ids, got_scores = _funkrs.top_n(
        users, offsets, items, np.zeros(0, np.float32), 11, n_threads=a.threads
    )
    ref_scores, ref_ids = index.search(users, 11)
    same_slots = float(np.mean(got_ids == ref_ids))
    same_sets = float(np.mean(np.sort(got_ids, axis=1) == np.sort(ref_ids, axis=1)))
    max_diff = float(np.max(np.abs(got_scores - ref_scores)))
    print(
        f"funkrs top-11 (no bias, no exclusion) vs faiss: {same_slots:.4%} of slots identical, "
        f"{same_sets:.4%} of sorted lists' slots identical, max |score diff| {max_diff:.2e}; "
        f"seen items in funkrs' excluded lists (every {max(1, n_users // 2000)}th query): {hits}"
    )
    summary = {
        "benchmark": "topn_kernel",
        "faiss_version": faiss.__version__,
        "blas": _blas.blas_report(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "n_users": n_users,
        "n_items": n_items,
        "k": a.k,
        "threads": a.threads,
        "funkrs_seconds": t_f,
        "faiss_seconds": t_x,
        "ratio_faiss_over_funkrs": ratio,
        "funkrs_gflops": flop / med_f / 1e9,
        "faiss_gflops": flop / med_x / 1e9,
        "slots_identical": same_slots,
        "sorted_slots_identical": same_sets,
        "max_score_diff": max_diff,
        "seen_items_returned": hits,
    }
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {a.json}")


if __name__ == "__main__":
    main()
