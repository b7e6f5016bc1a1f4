"""How long a short parallel call waits for its second worker, with and without worker placement.

A funkrs call that uses several threads wakes the workers of a cached pool. When the calling
thread has been busy (fitting Surprise, a one-thread fit, Python code), Linux may queue the
woken workers on that thread's CPU and leave them there until its next load balance, a few
milliseconds later; a short call then runs on one CPU. With ``FUNKRS_SPREAD_WORKERS=1``
(opt-in; off by default) funkrs pins each sleeping worker to its own CPU before a parallel
section and lets the worker undo that first thing (``Pool::install`` and ``Pool::spread`` in
``rust/funkrs-core/src/par.rs``).

This script times, in fresh processes with the setting on and off (alternated, ``--rounds``
each), two calls on the MovieLens-small training split after the main thread has spun for
``--busy-ms``: a fit with ``n_epochs=0`` (the grid, the initial factors and the output, i.e.
the setup of every fit) and a whole fit with Surprise's hyperparameters (k=100, 20 epochs).
It prints medians and the off/on ratio. Placement never changes results, only where the
threads run; the models of both settings are compared bit for bit.

    python benchmarks/pool_wake.py --rounds 3 --repeats 15
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np


def child(args: argparse.Namespace) -> None:
    """One process, one setting: print a JSON line of timings."""
    import funkrs

    train, _ = funkrs.datasets.movielens_small_split()
    hyper = {"n_factors": 100, "lr": 0.005, "reg": 0.02, "init_std": 0.1, "random_state": 0}

    def busy() -> None:
        end = time.perf_counter() + args.busy_ms / 1e3
        while time.perf_counter() < end:
            pass

    def timed(n_epochs: int) -> tuple[float, funkrs.MatrixFactorization]:
        model = funkrs.MatrixFactorization(n_epochs=n_epochs, n_threads=args.threads, **hyper)
        busy()
        start = time.perf_counter()
        model.fit(train)
        return time.perf_counter() - start, model

    timed(0)  # builds the pool
    setup, whole = [], []
    model = None
    for _ in range(args.repeats):
        setup.append(timed(0)[0])
        sec, model = timed(20)
        whole.append(sec)
    assert model is not None
    digest = float(np.float64(model.item_factors_.astype(np.float64).sum()))
    print(json.dumps({"setup": setup, "whole": whole, "digest": digest}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="processes per setting (alternated)")
    ap.add_argument("--repeats", type=int, default=15, help="timed calls per process")
    ap.add_argument("--busy-ms", type=float, default=60.0, help="main-thread spin before a call")
    ap.add_argument("--threads", type=int, default=2, help="n_threads of the timed fits")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rounds < 1 or args.repeats < 1 or args.threads < 2:
        ap.error("--rounds and --repeats must be >= 1 and --threads >= 2")
    if args.child:
        child(args)
        return
    cmd = [sys.executable, __file__, "--child", "--repeats", str(args.repeats)]
    cmd += ["--busy-ms", str(args.busy_ms), "--threads", str(args.threads)]
    runs: dict[str, dict[str, list[float]]] = {s: {"setup": [], "whole": []} for s in ("on", "off")}
    digests: dict[str, set[float]] = {"on": set(), "off": set()}
    print(
        f"MovieLens-small train split, n_threads={args.threads}, main thread busy "
        f"{args.busy_ms:.0f} ms before each call; cpu count {os.cpu_count()}"
    )
    for r in range(args.rounds):
        for setting in ("on", "off"):
            env = dict(os.environ, FUNKRS_SPREAD_WORKERS="1" if setting == "on" else "0")
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            data = json.loads(out.stdout.strip().splitlines()[-1])
            for key in ("setup", "whole"):
                runs[setting][key] += data[key]
            digests[setting].add(data["digest"])
            med = {k: 1e3 * statistics.median(data[k]) for k in ("setup", "whole")}
            print(
                f"  round {r + 1} spread {setting:3}: setup {med['setup']:6.2f} ms, "
                f"whole fit {med['whole']:6.2f} ms",
                flush=True,
            )
    same = len(digests["on"] | digests["off"]) == 1
    print(f"\nmedian over {args.rounds} x {args.repeats} calls per setting")
    print(f"{'call':28} {'spread on':>10} {'spread off':>11} {'off / on':>9}")
    for key, label in (("setup", "fit, n_epochs=0 (setup)"), ("whole", "fit, 20 epochs")):
        on = statistics.median(runs["on"][key])
        off = statistics.median(runs["off"][key])
        print(f"{label:28} {1e3 * on:8.2f} ms {1e3 * off:8.2f} ms {off / on:8.2f}x")
    print(f"same models with and without placement: {'yes' if same else 'NO'}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
