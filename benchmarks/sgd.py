"""funk-sgd throughput and peak memory at MovieLens-25M shape (or Netflix shape).

Generates ``funkrs.datasets.synthetic(162_541, 59_047, 25_000_000, random_state=0)`` (about
20M distinct ratings; ``--scale`` shrinks users, items and draws alike), then fits funk-sgd at
``k=32`` with every thread count of ``--threads``, alternating them in one run. Per-epoch time
is the median of the per-epoch ``seconds`` in ``model.history_`` (the SGD sweep alone: no data
generation, no setup), and rating updates per second = distinct ratings / that median.

LIBMF is not run here (C++, not installed): the script prints LIBMF's figures for a
MovieLens-20M-size set on a 2-core machine as a *quoted reference* (k=32, no biases, per
epoch, parsing excluded): about 15M updates/s on one thread (1.34 s per epoch of the 20M set)
and about 30M/s on two (0.63-0.72 s). LIBMF has no biases, so ``--model both`` (the default)
times funkrs' biased default and the unbiased model LIBMF trains.

Peak memory: the data are generated once in a child process and saved as .npy files; every
fit then runs in a fresh child process that loads them, resets the peak-RSS counter
(``/proc/self/clear_refs``), fits, and reads ``VmHWM`` from ``/proc/self/status``, so the
figure is the peak of the whole process (interpreter, imports, the input ratings) while that
fit runs, and nothing from the generation or from earlier fits. It is compared with the
project's memory target ``1.5 × (ratings + factors bytes) + 300 MB`` (ratings: u32 user, u32
item, f32 value = 12 bytes each; factors: f32 user and item vectors, plus f32 biases for the
biased model).

Noise: on a shared VM the other tenants slow some epochs down. The script prints the steal
time of every fit (CPU time the hypervisor gave to other guests, from /proc/stat) and, next to
the pooled medians, each repeat's speed-up from the 1-thread and n-thread fits run back to
back. These are informational; the targets use the pooled medians.

    python benchmarks/sgd.py                 # full size, about 23M ratings
    python benchmarks/sgd.py --scale 0.05    # smoke run, well under a minute
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _host import steal_seconds

SHAPES = {
    "ml25m": (162_541, 59_047, 25_000_000),
    "netflix": (480_189, 17_770, 100_000_000),
}
# LIBMF's figures at this shape on 2 cores, quoted (LIBMF is not run here).
LIBMF_UPDATES_PER_S = {1: 15e6, 2: 30e6}
LIBMF_NOTE = (
    "LIBMF (quoted figures, not run here): k=32, no biases, 20M ratings, "
    "1.34 s/epoch on 1 thread (~15M updates/s), 0.63-0.72 s on 2 (~30M/s)"
)
MB = 1024 * 1024


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the full size")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="ml25m")
    ap.add_argument("--epochs", type=int, default=10, help="epochs per fit (median over them)")
    ap.add_argument("--k", type=int, default=32, help="latent factors")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument(
        "--model",
        choices=["both", "biased", "unbiased"],
        default="both",
        help="biased (funkrs' default model) and/or unbiased (LIBMF's model)",
    )
    ap.add_argument("--repeats", type=int, default=1, help="fits per model and thread count")
    ap.add_argument("--seed", type=int, default=0, help="data and model seed")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument(
        "--data-dir",
        default=None,
        help="keep the generated ratings here and reuse them on the next run (same shape, "
        "scale and seed); by default a temporary directory",
    )
    # internal: the child processes
    ap.add_argument("--_generate", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_fit", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_biased", dest="fit_biased", default="1", help=argparse.SUPPRESS)
    ap.add_argument("--_threads", dest="fit_threads", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if not 0 < args.scale <= 1.0:
        ap.error("--scale must be in (0, 1]")
    if args.epochs < 1 or args.k < 1 or args.repeats < 1:
        ap.error("--epochs, --k and --repeats must be >= 1")
    args.thread_list = [int(t) for t in args.threads.split(",") if t.strip()]
    if not args.thread_list or min(args.thread_list) < 1:
        ap.error("--threads needs positive integers")
    return args


def shape(args: argparse.Namespace) -> tuple[int, int, int]:
    return tuple(max(1, round(v * args.scale)) for v in SHAPES[args.shape])  # type: ignore[return-value]


def models(args: argparse.Namespace) -> list[bool]:
    return {"both": [True, False], "biased": [True], "unbiased": [False]}[args.model]


# -- the child process -----------------------------------------------------------------------
def proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def peak_rss_bytes() -> int:
    kb = proc_status_kb("VmHWM")
    if kb is None:  # not Linux: ru_maxrss (KiB on Linux, bytes on macOS) cannot be reset
        import resource

        ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return ru if sys.platform == "darwin" else ru * 1024
    return kb * 1024


def generate(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Child 1: draw the synthetic ratings and save them as .npy files in ``out``."""
    import numpy as np

    import funkrs

    n_users, n_items, n_draws = shape(args)
    log(f"generating synthetic({n_users:,}, {n_items:,}, {n_draws:,}, random_state={args.seed})")
    start = time.perf_counter()
    data = funkrs.datasets.synthetic(n_users, n_items, n_draws, random_state=args.seed)
    gen_seconds = time.perf_counter() - start
    log(f"  {len(data):,} distinct ratings in {gen_seconds:.1f} s")
    # Raw ids are the sorted ids that occur, as the inner ids are: from_arrays on the inner
    # ids rebuilds the same Ratings (same order, same inner ids).
    np.save(out / "users.npy", np.asarray(data.users, np.uint32))
    np.save(out / "items.npy", np.asarray(data.items, np.uint32))
    np.save(out / "values.npy", np.asarray(data.values, np.float32))
    meta = {
        "key": data_key(args),
        "n_users": data.n_users,
        "n_items": data.n_items,
        "n_draws": n_draws,
        "n_ratings": len(data),
        "generate_seconds": gen_seconds,
        "generate_peak_rss_bytes": peak_rss_bytes(),
    }
    (out / "meta.json").write_text(json.dumps(meta))
    return meta


def fit_once(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    """Child 2 (one per fit): load the ratings, reset the peak-RSS counter, fit, report."""
    import numpy as np

    import funkrs

    users = np.load(data_dir / "users.npy")
    items = np.load(data_dir / "items.npy")
    values = np.load(data_dir / "values.npy")
    data = funkrs.Ratings.from_arrays(users, items, values, rating_scale=(0.5, 5.0))
    del users, items, values
    gc.collect()
    biased = args.fit_biased == "1"
    resettable = reset_peak_rss()
    rss_before = (proc_status_kb("VmRSS") or 0) * 1024
    model = funkrs.MatrixFactorization(
        n_factors=args.k,
        n_epochs=args.epochs,
        biased=biased,
        random_state=args.seed,
        n_threads=args.fit_threads,
    )
    steal0 = steal_seconds()
    cpu0, start = time.process_time(), time.perf_counter()
    model.fit(data)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    steal1 = steal_seconds()
    steal = steal1 - steal0 if steal0 is not None and steal1 is not None else None
    peak = peak_rss_bytes()
    return {
        "biased": biased,
        "threads": args.fit_threads,
        "epoch_seconds": [float(x) for x in model.history_["seconds"].to_list()],
        "fit_wall_seconds": wall,
        "fit_cpu_seconds": cpu,
        "fit_steal_seconds": steal,
        "train_rmse_last": float(model.history_["train_rmse"][-1]),
        "rss_before_bytes": rss_before,
        "peak_rss_bytes": peak,
        "peak_is_per_fit": resettable,
        "load_average": os.getloadavg(),
    }


def data_key(args: argparse.Namespace) -> str:
    return f"{args.shape}-{args.scale:g}-{args.seed}"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- the parent ------------------------------------------------------------------------------
def child(argv: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), *argv]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"the benchmark child process failed (exit code {proc.returncode}): {cmd}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    """Generate (or reuse) the data, then one fresh child process per fit."""
    with tempfile.TemporaryDirectory(prefix="funkrs-bench-") as tmp:
        data_dir = Path(args.data_dir) if args.data_dir else Path(tmp)
        data_dir.mkdir(parents=True, exist_ok=True)
        meta_path = data_dir / "meta.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else None
        if meta is None or meta.get("key") != data_key(args):
            meta = child([*argv, "--_generate", str(data_dir)])
        else:
            log(f"reusing {meta['n_ratings']:,} ratings from {data_dir}")
        fits = []
        for repeat in range(args.repeats):
            for biased in models(args):
                for t in args.thread_list:
                    flags = ["--_fit", str(data_dir), "--_biased", "1" if biased else "0"]
                    f = {**child([*argv, *flags, "--_threads", str(t)]), "repeat": repeat}
                    med = statistics.median(f["epoch_seconds"])
                    log(
                        f"  {'biased  ' if biased else 'unbiased'} t={t}: median epoch "
                        f"{med:.3f} s ({meta['n_ratings'] / med / 1e6:.1f}M updates/s), fit "
                        f"{f['fit_wall_seconds']:.2f} s (cpu/wall "
                        f"{f['fit_cpu_seconds'] / f['fit_wall_seconds']:.2f}), peak RSS "
                        f"{f['peak_rss_bytes'] / MB:.0f} MB, load {f['load_average'][0]:.2f}"
                    )
                    fits.append(f)
    return {**meta, "fits": fits}


def memory_target(n_ratings: int, n_users: int, n_items: int, k: int, biased: bool) -> int:
    ratings = 12 * n_ratings
    factors = 4 * (n_users + n_items) * (k + (1 if biased else 0))
    return int(1.5 * (ratings + factors) + 300 * MB)


def print_noise(args: argparse.Namespace, res: dict[str, Any]) -> None:
    """How much the machine's other tenants disturbed the fits (informational).

    Each thread count's speed-up is also computed per repeat, from fits run back to back,
    which a slow drift of the machine's speed affects less than the pooled medians above.
    """
    steals = [f.get("fit_steal_seconds") for f in res["fits"]]
    if all(st is not None for st in steals):
        by_t = {
            t: [f["fit_steal_seconds"] for f in res["fits"] if f["threads"] == t]
            for t in args.thread_list
        }
        print(
            "steal (CPU time the hypervisor gave to other guests during a fit, /proc/stat): "
            + "; ".join(f"{t} thr {min(v):.2f}-{max(v):.2f} s" for t, v in by_t.items())
        )
    if 1 not in args.thread_list:
        return
    for biased in models(args):
        for t in args.thread_list:
            if t == 1:
                continue
            ratios = []
            for r in range(args.repeats):
                pair = {
                    f["threads"]: statistics.median(f["epoch_seconds"])
                    for f in res["fits"]
                    if f.get("repeat") == r and f["biased"] == biased and f["threads"] in (1, t)
                }
                if len(pair) == 2:
                    ratios.append(pair[1] / pair[t])
            if ratios:
                print(
                    f"{'biased' if biased else 'unbiased'} {t} vs 1 thread per repeat "
                    f"(median epochs of back-to-back fits): "
                    + ", ".join(f"{x:.2f}x" for x in ratios)
                    + f"; median {statistics.median(ratios):.2f}x"
                )


def report(args: argparse.Namespace, res: dict[str, Any]) -> dict[str, Any]:
    nnz = res["n_ratings"]
    print(
        f"\nfunk-sgd, {args.shape} shape x{args.scale:g}: {res['n_users']:,} users x "
        f"{res['n_items']:,} items, {nnz:,} distinct ratings ({res['n_draws']:,} draws; "
        f"generated in {res['generate_seconds']:.1f} s, not timed); k={args.k}, "
        f"{args.epochs} epochs x {args.repeats} fit(s) per row"
    )
    print(
        "epoch s = median of the per-epoch seconds in history_; updates/s = ratings / epoch s; "
        "at min = updates/s of the fastest epoch (least disturbed by other load); "
        "fit s = whole fit() (setup included); cpu/wall = process CPU time / wall time of "
        "the fit (~threads actually busy)"
    )
    loads = [f["load_average"][0] for f in res["fits"]]
    print(
        f"1-min load average at the end of each fit: {min(loads):.2f}-{max(loads):.2f} "
        f"(2 cores; above ~{max(args.thread_list)} means other work shared the cores)"
    )
    header = (
        f"{'model':<9} {'thr':>3} {'epoch s':>8} {'min':>7} {'max':>7} {'updates/s':>10} "
        f"{'at min':>7} "
        f"{'x 1 thr':>7} {'x LIBMF':>7} {'fit s':>7} {'cpu/wall':>8} {'peak RSS':>9} "
        f"{'target':>8}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for biased in models(args):
        ups1 = None
        for t in args.thread_list:
            fits = [f for f in res["fits"] if f["biased"] == biased and f["threads"] == t]
            secs = [s for f in fits for s in f["epoch_seconds"]]
            med = statistics.median(secs)
            ups = nnz / med
            if t == 1:
                ups1 = ups
            scaling = ups / ups1 if ups1 is not None and t != 1 else None
            libmf = LIBMF_UPDATES_PER_S.get(t)
            vs_libmf = ups / libmf if libmf else None
            peak = max(f["peak_rss_bytes"] for f in fits)
            target = memory_target(nnz, res["n_users"], res["n_items"], args.k, biased)
            wall = statistics.median(f["fit_wall_seconds"] for f in fits)
            util = statistics.median(f["fit_cpu_seconds"] / f["fit_wall_seconds"] for f in fits)
            name = "biased" if biased else "unbiased"
            print(
                f"{name:<9} {t:>3} {med:8.3f} {min(secs):7.3f} {max(secs):7.3f} "
                f"{ups / 1e6:9.1f}M {nnz / min(secs) / 1e6:6.1f}M "
                f"{f'{scaling:6.2f}x' if scaling is not None else '':>7} "
                f"{f'{vs_libmf:6.2f}x' if vs_libmf is not None else '':>7} "
                f"{wall:7.2f} {util:8.2f} {peak / MB:7.0f}MB {target / MB:6.0f}MB"
            )
            rows.append(
                {
                    "biased": biased,
                    "threads": t,
                    "epoch_seconds_median": med,
                    "epoch_seconds": secs,
                    "updates_per_second": ups,
                    "updates_per_second_fastest_epoch": nnz / min(secs),
                    "scaling_vs_1_thread": scaling,
                    "libmf_reference_updates_per_second": libmf,
                    "ratio_vs_libmf_reference": vs_libmf,
                    "fit_wall_seconds_median": wall,
                    "fit_cpu_over_wall": util,
                    "fit_steal_seconds": [f.get("fit_steal_seconds") for f in fits],
                    "peak_rss_bytes": peak,
                    "rss_before_fit_bytes": max(f["rss_before_bytes"] for f in fits),
                    "memory_target_bytes": target,
                    "peak_rss_is_per_fit": all(f["peak_is_per_fit"] for f in fits),
                    "train_rmse_last": fits[0]["train_rmse_last"],
                }
            )
    print_noise(args, res)
    print(f"\n{LIBMF_NOTE}")
    print(
        "x LIBMF = funkrs updates/s / LIBMF's quoted updates/s at the same thread count "
        "(same k; LIBMF's model has no biases, like the 'unbiased' rows)"
    )
    if not all(r["peak_rss_is_per_fit"] for r in rows):
        print(
            "note: /proc/self/clear_refs was not writable, so peak RSS includes the data "
            "generation (an upper bound on the fit's peak)"
        )
    print(
        f"peak RSS = VmHWM of the child process during each fit (interpreter, imports and the "
        f"input ratings included; {rows[0]['rss_before_fit_bytes'] / MB:.0f} MB resident "
        f"before the fit); target = 1.5 x (12 B/rating + f32 factors) + 300 MB; "
        f"data generation peaked at {res['generate_peak_rss_bytes'] / MB:.0f} MB (not counted)"
    )
    full = args.scale == 1.0 and args.k == 32 and args.shape == "ml25m"
    scope = "" if full else " (only meaningful at full ML-25M size, k=32)"
    print(f"\nTargets (the project's){scope}")
    for r in rows:
        name = "biased" if r["biased"] else "unbiased"
        if r["threads"] == 2:
            ups = r["updates_per_second"]
            print(
                f"  {name:<8} 2 threads: {ups / 1e6:.1f}M updates/s >= 45M (1.5x LIBMF) "
                f"{'PASS' if ups >= 45e6 else 'FAIL'}; aim 60M (2x) "
                f"{'PASS' if ups >= 60e6 else 'FAIL'}"
            )
            if r["scaling_vs_1_thread"] is not None:
                s = r["scaling_vs_1_thread"]
                print(
                    f"  {name:<8} 2 vs 1 thread: {s:.2f}x >= 1.7x {'PASS' if s >= 1.7 else 'FAIL'}"
                )
        if r["threads"] == 1 and r["ratio_vs_libmf_reference"] is not None:
            v = r["ratio_vs_libmf_reference"]
            print(f"  {name:<8} 1 thread: {v:.2f}x LIBMF >= 1.5x {'PASS' if v >= 1.5 else 'FAIL'}")
        ok = r["peak_rss_bytes"] <= r["memory_target_bytes"]
        print(
            f"  {name:<8} {r['threads']} thread(s): peak RSS {r['peak_rss_bytes'] / MB:.0f} MB "
            f"<= {r['memory_target_bytes'] / MB:.0f} MB {'PASS' if ok else 'FAIL'}"
        )
    return {
        "benchmark": "sgd",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "funkrs_version": _funkrs_version(),
        "shape": args.shape,
        "scale": args.scale,
        "k": args.k,
        "epochs": args.epochs,
        "repeats": args.repeats,
        "n_users": res["n_users"],
        "n_items": res["n_items"],
        "n_draws": res["n_draws"],
        "n_ratings": nnz,
        "generate_seconds": res["generate_seconds"],
        "load_averages": [f["load_average"] for f in res["fits"]],
        "libmf_reference": LIBMF_NOTE,
        "rows": rows,
    }


def _funkrs_version() -> str:
    import funkrs

    return getattr(funkrs, "__version__", "unknown")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args._generate:
        print(json.dumps(generate(args, Path(args._generate))))
        return
    if args._fit:
        print(json.dumps(fit_once(args, Path(args._fit))))
        return
    res = run(args, argv)
    summary = report(args, res)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
