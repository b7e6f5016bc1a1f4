"""funkrs ``svdpp`` and ``nmf`` next to Surprise's ``SVDpp`` and ``NMF``, in one run.

On the fixed MovieLens-small split (``funkrs.datasets.movielens_small_split``: 80% train,
the rows Surprise gets are checked to be the same), each pair at the peer's defaults and
width: Surprise ``SVDpp(cache_ratings=True)`` (its fastest setting; k = 20, 20 epochs) against
``MatrixFactorization(solver="svdpp", n_factors=20)``, and Surprise ``NMF()`` (k = 15, 50
epochs, unbiased) against ``solver="nmf", n_factors=15``; funkrs at its own defaults for the
rest. Fits alternate (Surprise, then funkrs on 1 and on 2 threads) ``--repeats`` times;
timed is the fit alone. Printed per model: every fit's seconds, the median, test RMSE
(Surprise's predictions clipped to the scale, as its ``test`` does; funkrs' as ``evaluate``
computes them) and ndcg@10 (relevant: a test rating ≥ 4, seen items excluded, one scorer for
both, ``benchmarks/accuracy.py``'s), and the median ratio Surprise / funkrs.

    python benchmarks/surprise_peers.py [--repeats 3] [--models svdpp,nmf]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import _blas
import numpy as np
from accuracy import (
    MOVIELENS,
    Scorer,
    SurpriseData,
    factor_scores,
    funkrs_scores,
    load,
    timed,
)
from ml_small import _surprise_version

import funkrs

THREADS = (1, 2)
#: name -> (funkrs n_factors, Surprise class name, Surprise keyword arguments)
MODELS: dict[str, tuple[int, str, dict[str, Any]]] = {
    "svdpp": (20, "SVDpp", {"cache_ratings": True}),
    "nmf": (15, "NMF", {}),
}


def surprise_scores(name: str, algo: Any, sd: SurpriseData) -> Any:
    """Ranking scores of a fitted Surprise model in funkrs' training inner ids."""
    ts = sd.trainset
    p = np.asarray(algo.pu, np.float64)
    q = np.asarray(algo.qi, np.float64)
    if name == "svdpp":  # p_u + |N(u)|^-½ Σ y_j, as SVDpp.estimate
        y = np.asarray(algo.yj, np.float64)
        p = p.copy()
        for u, rated in ts.ur.items():
            items = [j for j, _ in rated]
            p[u] += y[items].sum(axis=0) / np.sqrt(len(items))
    p, q = p[sd.uid], q[sd.iid]
    if name == "svdpp" or algo.biased:  # NMF is unbiased by default
        mu = float(ts.global_mean)
        return factor_scores(mu, np.asarray(algo.bu)[sd.uid], np.asarray(algo.bi)[sd.iid], p, q)
    zeros_u, zeros_i = np.zeros(len(sd.uid)), np.zeros(len(sd.iid))
    return factor_scores(0.0, zeros_u, zeros_i, p, q)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import surprise

    d = load(MOVIELENS)
    sd = SurpriseData(d)
    scorer = Scorer(d.train, d.test, d.threshold)
    print(
        f"MovieLens small, fixed split: train {len(d.train):,} / test {len(d.test):,}; "
        f"relevant: test rating >= {d.threshold:g}; Surprise {surprise.__version__}, "
        f"funkrs {funkrs.__version__}"
    )
    print(_blas.blas_report())
    print(f"1-min load average at the start: {os.getloadavg()[0]:.2f}")
    out: dict[str, Any] = {}
    for name in args.models:
        k, cls_name, kwargs = MODELS[name]
        cls = getattr(surprise, cls_name)
        print(f"\n[{name}] Surprise {cls_name}({kwargs or ''}) vs funkrs solver={name!r}, k={k}")
        secs: dict[str, list[float]] = {"surprise": [], **{f"funkrs t={t}": [] for t in THREADS}}
        quality: dict[str, dict[str, float]] = {}
        for rep in range(args.repeats):
            algo, sec = timed(
                lambda cls=cls, kwargs=kwargs: cls(random_state=args.seed, **kwargs).fit(
                    sd.trainset
                )
            )
            secs["surprise"].append(sec)
            line = f"  repeat {rep + 1}: surprise {sec:7.3f} s"
            if "surprise" not in quality:
                quality["surprise"] = {
                    "rmse": sd.rmse(algo),
                    "ndcg@10": scorer.ndcg(surprise_scores(name, algo, sd)),
                }
            for t in THREADS:
                model = funkrs.MatrixFactorization(
                    solver=name, n_factors=k, n_threads=t, random_state=args.seed
                )
                model, sec = timed(lambda model=model: model.fit(d.train))
                secs[f"funkrs t={t}"].append(sec)
                line += f" | funkrs t={t} {sec:7.4f} s"
                if "funkrs" not in quality:
                    quality["funkrs"] = {
                        "rmse": funkrs.evaluate(model, d.test, metrics=["rmse"])["rmse"],
                        "ndcg@10": scorer.ndcg(funkrs_scores(model)),
                    }
            print(line, flush=True)
        med = {key: statistics.median(v) for key, v in secs.items()}
        rows = {}
        for key, v in secs.items():
            lib = "surprise" if key == "surprise" else "funkrs"
            ratio = med["surprise"] / med[key]
            rows[key] = {"fit_seconds": v, "median": med[key], "speedup": ratio, **quality[lib]}
            print(
                f"  {key:<12} median {med[key]:8.4f} s  RMSE {quality[lib]['rmse']:.4f}  "
                f"ndcg@10 {quality[lib]['ndcg@10']:.4f}  Surprise/this {ratio:7.1f}x"
            )
        out[name] = {"k": k, "surprise": f"{cls_name}({kwargs})", "rows": rows}
    print(f"\n1-min load average at the end: {os.getloadavg()[0]:.2f}")
    return out


def main(argv: list[str] | None = None) -> None:
    _blas.use_native_blas()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument(
        "--json", type=Path, default=Path(__file__).parent / "results" / "surprise_peers.json"
    )
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not args.models or any(m not in MODELS for m in args.models):
        ap.error(f"--models: choose from {', '.join(MODELS)}")
    res = run(args)
    summary = {
        "benchmark": "surprise_peers",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "funkrs_version": funkrs.__version__,
        "surprise_version": _surprise_version(),
        "repeats": args.repeats,
        "seed": args.seed,
        "models": res,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
