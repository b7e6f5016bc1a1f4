"""funkrs' defaults next to Surprise on data shapes of other rating scales and densities.

For every shape of ``funkrs.datasets.shapes()`` (drawn with ``shape.make(random_state=0)`` and
split with ``funkrs.train_test_split(r, test_size=0.2, random_state=0)``) and for MovieLens
small on its fixed split (``funkrs.datasets.movielens_small_split()``), it fits

- ``funkrs.MatrixFactorization(random_state=SEED)``: funkrs' defaults, whatever they are when
  the script runs (``--funkrs-options JSON`` adds ``solver_options``);
- Surprise ``SVD(random_state=SEED)`` on the same training rows, with
  ``Reader(rating_scale=shape's scale)``;
- the bias baseline ``μ + b_u + b_i``: funkrs' ``baseline`` solver where one is registered,
  otherwise Surprise ``BaselineOnly()`` (the line names which one ran);
- the global mean of the training ratings and, for ndcg only, the most-rated items.

and prints per model the test RMSE (predictions clipped to the scale on both sides), ndcg@10
and the fit time (fit only: no data generation, no trainset building, no scoring). A test
rating counts as relevant for ndcg when it is at least 80% of the way up the scale, rounded
down to the scale's step (4 on 0.5–5 and 1–5, 8 on 1–10, 6 on −10..10, 80 on 0–100). funkrs'
ndcg comes from ``funkrs.evaluate``; the other models' from this script's numpy scorer of the
same definition (unseen items ranked by the model's unclipped score, training items left out),
which it also runs on funkrs' factors to show that both scorers agree.

Per data set it prints the RMSE ratio funkrs/Surprise and whether funkrs' RMSE is at most
Surprise's and at most the baseline's, and for the dense continuous −10..10 shape whether
funkrs is at least 3% below Surprise. Nothing here hard-codes an expected figure.

    python benchmarks/accuracy.py --json benchmarks/results/accuracy.json
    python benchmarks/accuracy.py --quick
    python benchmarks/accuracy.py --shapes stars-sparse,jester-dense --no-surprise
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _blas
import numpy as np
from ml_small import _surprise_version

import funkrs
from funkrs.metrics import rmse

MOVIELENS = "movielens-small"
QUICK = ["stars-sparse", "five-medium", "jester-dense", "percent-dense", MOVIELENS]
K = 10
RELEVANT_AT = 0.8  # share of the way up the scale from which a rating is relevant
DENSE_TARGET = 0.97  # funkrs/Surprise RMSE on the dense −10..10 shape: at least 3% below


@dataclass
class Data:
    name: str
    train: funkrs.Ratings
    test: funkrs.Ratings
    scale: tuple[float, float]
    step: float | None
    description: str
    n_cells: int
    dense_continuous: bool = False  # the dense −10..10 shape of the 3% check

    @property
    def threshold(self) -> float:
        return relevance_threshold(self.scale, self.step)


@dataclass
class Result:
    model: str
    rmse: float | None
    ndcg: float | None
    fit_seconds: float | None
    note: str = ""


@dataclass
class DataResult:
    data: str
    summary: dict[str, Any]
    rows: list[Result] = field(default_factory=list)

    def get(self, model: str) -> Result | None:
        return next((r for r in self.rows if r.model == model), None)


def relevance_threshold(scale: tuple[float, float], step: float | None) -> float:
    lo, hi = scale
    t = lo + RELEVANT_AT * (hi - lo)
    if step is not None:
        t = lo + step * math.floor((t - lo) / step + 1e-9)
    return float(t)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    names = [*funkrs.datasets.shapes(), MOVIELENS]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--shapes",
        default=None,
        help="comma-separated subset of: " + ", ".join(names) + " (default: all)",
    )
    ap.add_argument("--quick", action="store_true", help="only " + ", ".join(QUICK))
    ap.add_argument("--seed", type=int, default=0, help="random_state of every fit")
    ap.add_argument(
        "--funkrs-options",
        type=json.loads,
        default=None,
        metavar="JSON",
        help="solver_options of the funkrs fit, e.g. '{\"n_blocks\": 4}'",
    )
    ap.add_argument("--no-surprise", action="store_true", help="skip Surprise SVD")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)
    if args.shapes is not None and args.quick:
        ap.error("--shapes and --quick exclude each other")
    chosen = QUICK if args.quick else names
    if args.shapes is not None:
        chosen = [s.strip() for s in args.shapes.split(",") if s.strip()]
        bad = [s for s in chosen if s not in names]
        if bad or not chosen:
            ap.error(f"unknown shape(s) {bad}; choose from {', '.join(names)}")
    args.names = chosen
    if args.funkrs_options is not None and not isinstance(args.funkrs_options, dict):
        ap.error("--funkrs-options must be a JSON object")
    return args


# -- data ------------------------------------------------------------------------------------
def load(name: str) -> Data:
    if name == MOVIELENS:
        train, test = funkrs.datasets.movielens_small_split()
        n_users = len(np.union1d(train.raw_users(), test.raw_users()))
        n_items = len(np.union1d(train.raw_items(), test.raw_items()))
        return Data(
            name,
            train,
            test,
            (0.5, 5.0),
            0.5,
            "MovieLens small (real ratings), its fixed split",
            n_users * n_items,
        )
    shape = funkrs.datasets.shapes()[name]
    ratings = shape.make(random_state=0)
    train, test = funkrs.train_test_split(ratings, test_size=0.2, random_state=0)
    return Data(
        name,
        train,
        test,
        shape.rating_scale,
        shape.step,
        shape.description,
        shape.n_users * shape.n_items,
        dense_continuous=(
            shape.density == "dense" and shape.step is None and shape.rating_scale == (-10, 10)
        ),
    )


def describe(d: Data) -> str:
    n = len(d.train) + len(d.test)
    lo, hi = d.scale
    step = "continuous" if d.step is None else f"step {d.step:g}"
    return (
        f"{d.description}: {n:,} ratings ({100 * n / d.n_cells:.2f}% of cells), scale "
        f"{lo:g}..{hi:g} {step}; train {len(d.train):,} / test {len(d.test):,}; "
        f"relevant: test rating >= {d.threshold:g}"
    )


# -- ranking of external models --------------------------------------------------------------
class Scorer:
    """ndcg@k of any score matrix, by the definition of ``funkrs.ranking.ranking_metrics``.

    Users: those of the training set with at least one relevant test rating; relevant items
    unknown to training count in the ideal DCG but can never be hit; a user's training items
    are left out of the list.
    """

    def __init__(self, train: funkrs.Ratings, test: funkrs.Ratings, threshold: float) -> None:
        self.train = train
        self.n_users = len(train.user_vocab)
        self.n_items = len(train.item_vocab)
        tu = train.user_vocab.numbers(test.raw_users(), missing="negative")
        ti = train.item_vocab.numbers(test.raw_items(), missing="negative")
        rel = (test.values >= threshold) & (tu >= 0)
        self.n_rel = np.bincount(tu[rel], minlength=self.n_users)
        self.users = np.flatnonzero(self.n_rel)
        known = rel & (ti >= 0)
        self.rel_keys = np.unique(tu[known].astype(np.int64) * self.n_items + ti[known])
        self.tr_u = train.users.astype(np.int64)
        self.tr_i = train.items.astype(np.int64)

    def ndcg(self, scores: Any, k: int = K, chunk: int = 2048) -> float:
        """``scores(users)`` gives the (len(users), n_items) scores in training inner ids."""
        if len(self.users) == 0:
            return math.nan
        ideal = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))
        pos = np.full(self.n_users, -1, dtype=np.int64)
        total = 0.0
        for start in range(0, len(self.users), chunk):
            users = self.users[start : start + chunk]
            s = np.array(scores(users), dtype=np.float64, copy=True)
            pos[users] = np.arange(len(users))
            sel = pos[self.tr_u] >= 0
            s[pos[self.tr_u[sel]], self.tr_i[sel]] = -np.inf
            pos[users] = -1
            kk = min(k, self.n_items)
            top = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
            top_s = np.take_along_axis(s, top, axis=1)
            order = np.argsort(-top_s, axis=1, kind="stable")
            top = np.take_along_axis(top, order, axis=1)
            valid = np.take_along_axis(top_s, order, axis=1) > -np.inf
            keys = users[:, None].astype(np.int64) * self.n_items + top
            hit = np.isin(keys, self.rel_keys) & valid
            dcg = (hit / np.log2(np.arange(2, kk + 2))[None, :]).sum(axis=1)
            m = np.minimum(self.n_rel[users], k)
            total += float((dcg / ideal[m - 1]).sum())
        return total / len(self.users)


def factor_scores(
    mu: float, bu: np.ndarray, bi: np.ndarray, p: np.ndarray | None, q: np.ndarray | None
) -> Any:
    def scores(users: np.ndarray) -> np.ndarray:
        s = mu + bu[users][:, None] + bi[None, :]
        if p is not None and q is not None and p.shape[1]:
            s = s + p[users] @ q.T
        return np.asarray(s)

    return scores


def funkrs_scores(model: funkrs.MatrixFactorization) -> Any:
    """Unclipped ranking scores of a fitted funkrs model (as ``recommend`` ranks), inner ids."""
    n_u, n_i = model.n_users_, model.n_items_
    bu = np.asarray(model.user_bias_, np.float64) if model.biased_ else np.zeros(n_u)
    bi = np.asarray(model.item_bias_, np.float64) if model.biased_ else np.zeros(n_i)
    bi = bi + np.asarray(getattr(model, "item_rank_offset_", np.zeros(n_i)), np.float64)
    mu = model.global_mean_ if model.biased_ else 0.0
    return factor_scores(
        mu,
        bu,
        bi,
        np.asarray(model.user_factors_, np.float64),
        np.asarray(model.item_factors_, np.float64),
    )


# -- Surprise --------------------------------------------------------------------------------
class SurpriseData:
    """The training rows as a Surprise trainset, the test rows as its testset."""

    def __init__(self, d: Data) -> None:
        import pandas as pd
        from surprise import Dataset, Reader

        df = pd.DataFrame(
            {
                "user": d.train.raw_users(),
                "item": d.train.raw_items(),
                "rating": d.train.values.astype(np.float64),
            }
        )
        reader = Reader(rating_scale=d.scale)
        self.trainset = Dataset.load_from_df(df, reader).build_full_trainset()
        self.testset = list(
            zip(
                d.test.raw_users().tolist(),
                d.test.raw_items().tolist(),
                d.test.values.astype(np.float64).tolist(),
                strict=True,
            )
        )
        self.truth = d.test.values.astype(np.float64)
        ts = self.trainset
        # Surprise inner id of every funkrs training inner id (one lookup per user and item).
        self.uid = np.array(
            [ts.to_inner_uid(x) for x in d.train.user_vocab.ids(np.arange(ts.n_users)).tolist()]
        )
        self.iid = np.array(
            [ts.to_inner_iid(x) for x in d.train.item_vocab.ids(np.arange(ts.n_items)).tolist()]
        )

    def rmse(self, algo: Any) -> float:
        pred = algo.test(self.testset)  # est is clipped to the Reader's scale
        est = np.fromiter((p.est for p in pred), dtype=np.float64, count=len(pred))
        return rmse(self.truth, est)

    def scores(self, algo: Any, factors: bool) -> Any:
        mu = float(self.trainset.global_mean)
        bu = np.asarray(algo.bu, np.float64)[self.uid]
        bi = np.asarray(algo.bi, np.float64)[self.iid]
        if not factors:
            return factor_scores(mu, bu, bi, None, None)
        p = np.asarray(algo.pu, np.float64)[self.uid]
        q = np.asarray(algo.qi, np.float64)[self.iid]
        return factor_scores(mu, bu, bi, p, q)


def timed(fit: Any) -> tuple[Any, float]:
    gc.collect()
    start = time.perf_counter()
    out = fit()
    return out, time.perf_counter() - start


# -- one data set ----------------------------------------------------------------------------
def run_one(d: Data, args: argparse.Namespace, use_surprise: bool) -> DataResult:
    res = DataResult(d.name, {})
    scorer = Scorer(d.train, d.test, d.threshold)
    metrics = ["rmse", f"ndcg@{K}"]

    model = funkrs.MatrixFactorization(
        random_state=args.seed, solver_options=args.funkrs_options or None
    )
    f = fit_funkrs("funkrs defaults", model, d, metrics)
    res.rows.append(f)
    if f.rmse is not None:
        check = scorer.ndcg(funkrs_scores(model))
        f.note = f"{model.n_iter_} epochs; this script's scorer: ndcg {check:.4f}"
        res.summary["ndcg_scorer_check"] = check

    sdata = None
    if use_surprise:
        from surprise import SVD

        sdata = SurpriseData(d)
        algo, sec = timed(lambda: SVD(random_state=args.seed).fit(sdata.trainset))
        res.rows.append(
            Result("surprise SVD()", sdata.rmse(algo), scorer.ndcg(sdata.scores(algo, True)), sec)
        )

    if "baseline" in funkrs.solvers.available():
        b = funkrs.MatrixFactorization(solver="baseline", random_state=args.seed)
        row = fit_funkrs("baseline", b, d, metrics)
        row.note = row.note or "funkrs 'baseline'"
        res.rows.append(row)
    elif use_surprise or _surprise_version() is not None:
        from surprise import BaselineOnly

        if sdata is None:
            sdata = SurpriseData(d)
        sd = sdata
        algo, sec = timed(lambda: BaselineOnly(verbose=False).fit(sd.trainset))
        res.rows.append(
            Result(
                "baseline",
                sd.rmse(algo),
                scorer.ndcg(sd.scores(algo, False)),
                sec,
                "surprise BaselineOnly() (no funkrs 'baseline' solver registered)",
            )
        )

    mu, sec = timed(lambda: float(np.mean(d.train.values, dtype=np.float64)))
    lo, hi = d.scale
    gm = rmse(d.test.values.astype(np.float64), np.full(len(d.test), min(max(mu, lo), hi)))
    res.rows.append(Result("global mean", gm, None, sec, "no ranking (every item ties)"))

    counts = np.bincount(d.train.items, minlength=scorer.n_items).astype(np.float64)
    pop = scorer.ndcg(lambda users: np.broadcast_to(counts, (len(users), len(counts))))
    res.rows.append(Result("most rated", None, pop, None, "ndcg only: items by training count"))

    s = res.get("surprise SVD()")
    base = res.get("baseline")
    out = res.summary
    out["funkrs_rmse"] = f.rmse
    out["funkrs_ndcg"] = f.ndcg
    out["funkrs_failed"] = f.rmse is None
    # A failed fit (e.g. diverged) loses every comparison.
    f_rmse = math.inf if f.rmse is None else f.rmse
    out["global_mean_rmse"] = gm
    out["funkrs_le_global_mean"] = f_rmse <= gm
    if s is not None and s.rmse is not None:
        out["surprise_rmse"] = s.rmse
        out["ratio_funkrs_surprise"] = None if f.rmse is None else f.rmse / s.rmse
        out["funkrs_le_surprise"] = f_rmse <= s.rmse
        if d.dense_continuous:
            out["dense_3pct_below_surprise"] = f_rmse / s.rmse <= DENSE_TARGET
    if base is not None and base.rmse is not None:
        out["baseline_rmse"] = base.rmse
        out["baseline_source"] = base.note
        out["funkrs_le_baseline"] = f_rmse <= base.rmse
    return res


def fit_funkrs(
    label: str, model: funkrs.MatrixFactorization, d: Data, metrics: list[str]
) -> Result:
    """Fit and score a funkrs model; a fit that raises (e.g. diverges) gives a row saying so."""
    try:
        model, sec = timed(lambda: model.fit(d.train))
    except funkrs.exceptions.FunkrsError as exc:
        return Result(label, None, None, None, f"FAILED: {type(exc).__name__}: {exc}")
    m = funkrs.evaluate(model, d.test, metrics=metrics, threshold=d.threshold)
    return Result(label, m["rmse"], m[f"ndcg@{K}"], sec)


# -- report ----------------------------------------------------------------------------------
def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _yes(b: bool | None) -> str:
    return "-" if b is None else ("yes" if b else "NO")


def print_rows(res: DataResult) -> None:
    header = f"  {'model':<16} {'RMSE':>9} {f'ndcg@{K}':>8} {'fit s':>8}  note"
    print(header)
    print("  " + "-" * (len(header) - 2))
    for r in res.rows:
        print(
            f"  {r.model:<16} {_fmt(r.rmse, '9.4f'):>9} {_fmt(r.ndcg, '8.4f'):>8} "
            f"{_fmt(r.fit_seconds, '8.3f'):>8}  {r.note}"
        )
    s = res.summary
    parts = []
    if "ratio_funkrs_surprise" in s:
        parts.append(f"funkrs/Surprise RMSE {_fmt(s['ratio_funkrs_surprise'], '.4f')}")
        parts.append(f"funkrs <= Surprise: {_yes(s['funkrs_le_surprise'])}")
    if "funkrs_le_baseline" in s:
        parts.append(f"funkrs <= baseline: {_yes(s['funkrs_le_baseline'])}")
    parts.append(f"funkrs <= global mean: {_yes(s['funkrs_le_global_mean'])}")
    print("  " + "; ".join(parts))
    if "dense_3pct_below_surprise" in s:
        ok = s["dense_3pct_below_surprise"]
        print(
            f"  dense −10..10: funkrs >= 3% below Surprise (ratio <= {DENSE_TARGET}): "
            f"{'PASS' if ok else 'FAIL'}"
        )


def print_summary(results: list[DataResult]) -> None:
    print("\nSummary (test RMSE; ratio = funkrs / Surprise)")
    header = (
        f"{'data':<16} {'funkrs':>9} {'Surprise':>9} {'baseline':>9} {'mean':>9} "
        f"{'ratio':>7} {'<=Surp':>6} {'<=base':>6} {'ndcg f':>7} {'ndcg S':>7} {'ndcg pop':>8}"
    )
    print(header)
    print("-" * len(header))
    for res in results:
        s = res.summary

        def ndcg(model: str, res: DataResult = res) -> float | None:
            r = res.get(model)
            return None if r is None else r.ndcg

        print(
            f"{res.data:<16} {_fmt(s.get('funkrs_rmse'), '9.4f'):>9} "
            f"{_fmt(s.get('surprise_rmse'), '9.4f'):>9} {_fmt(s.get('baseline_rmse'), '9.4f'):>9} "
            f"{_fmt(s.get('global_mean_rmse'), '9.4f'):>9} "
            f"{_fmt(s.get('ratio_funkrs_surprise'), '7.4f'):>7} "
            f"{_yes(s.get('funkrs_le_surprise')):>6} {_yes(s.get('funkrs_le_baseline')):>6} "
            f"{_fmt(ndcg('funkrs defaults'), '7.4f'):>7} {_fmt(ndcg('surprise SVD()'), '7.4f'):>7} "
            f"{_fmt(ndcg('most rated'), '8.4f'):>8}"
        )
    losses = []
    for r in results:
        if r.summary["funkrs_failed"]:
            losses.append(f"{r.data} (the fit failed)")
        elif not r.summary["funkrs_le_global_mean"]:
            losses.append(f"{r.data} (global mean)")
        elif r.summary.get("funkrs_le_baseline") is False:
            losses.append(f"{r.data} (baseline)")
    print("funkrs loses to the global mean or the baseline on: " + (", ".join(losses) or "none"))
    dense = [r for r in results if "dense_3pct_below_surprise" in r.summary]
    for r in dense:
        ok = r.summary["dense_3pct_below_surprise"]
        print(
            f"{r.data}: funkrs >= 3% below Surprise: {'PASS' if ok else 'FAIL'} "
            f"(ratio {_fmt(r.summary['ratio_funkrs_surprise'], '.4f')})"
        )
    gaps = [
        abs(r.summary["ndcg_scorer_check"] - r.summary["funkrs_ndcg"])
        for r in results
        if "ndcg_scorer_check" in r.summary
    ]
    if gaps:
        print(
            f"ndcg scorer check: largest |funkrs.evaluate − this script's scorer| on funkrs' "
            f"factors {max(gaps):.2e} (ties broken differently can make it non-zero)"
        )


def git_commit() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (with uncommitted changes)" if dirty else "")


def main(argv: list[str] | None = None) -> None:
    _blas.use_native_blas()
    args = parse_args(argv)
    use_surprise = not args.no_surprise
    if use_surprise and _surprise_version() is None:
        sys.exit("Surprise is not installed (pip install scikit-surprise), or pass --no-surprise")
    commit = git_commit()
    defaults = funkrs.MatrixFactorization(
        random_state=args.seed, solver_options=args.funkrs_options or None
    )
    print(
        f"funkrs {funkrs.__version__} ({Path(funkrs.__file__).parent}), commit {commit}; "
        f"Surprise {_surprise_version()}; {os.cpu_count()} CPUs"
    )
    print(_blas.blas_report())
    print(f"funkrs model: {defaults!r}, {defaults.get_params()}")
    print(
        "baseline: "
        + (
            "funkrs solver 'baseline'"
            if "baseline" in funkrs.solvers.available()
            else "Surprise BaselineOnly() (no funkrs 'baseline' solver registered)"
        )
    )
    results = []
    for name in args.names:
        try:
            d = load(name)
        except ImportError as exc:
            print(f"\n[{name}] skipped: {exc}")
            continue
        print(f"\n[{name}] {describe(d)}", flush=True)
        res = run_one(d, args, use_surprise)
        res.summary["description"] = describe(d)
        res.summary["threshold"] = d.threshold
        print_rows(res)
        results.append(res)
    if not results:
        sys.exit("no data set ran")
    print_summary(results)
    if args.json is not None:
        out = {
            "benchmark": "accuracy",
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
            },
            "funkrs_version": funkrs.__version__,
            "git_commit": commit,
            "surprise_version": _surprise_version(),
            "blas": _blas.blas_report(),
            "funkrs_params": defaults.get_params(),
            "seed": args.seed,
            "k": K,
            "data": [
                {
                    "data": r.data,
                    **r.summary,
                    "rows": [vars(x) for x in r.rows],
                }
                for r in results
            ],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2, default=str) + "\n")
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
