"""funkrs ``als`` next to Spark MLlib's ``ALS`` in ``local[2]``, on the fixed MovieLens-small split.

Every figure is printed:

- **Speed.** Both fit rank 32 for 10 iterations, Spark with ``regParam=0.05`` (and again with
  ``regParam=0.1``, its better setting here); fits alternate between Spark and funkrs,
  ``--repeats`` times. Spark's time is ``ALS.fit`` plus counting the factor frames (so the
  factors exist); the SparkSession is started once before the timings. funkrs runs on 2 threads.
  The ratio is Spark's median fit time over funkrs'.
- **Accuracy.** Test RMSE of each fit. Spark drops test pairs with a user or item missing from
  training (``coldStartStrategy="drop"``), so funkrs' RMSE is printed on those same pairs and on
  all of them (where unknown ids get the baseline). funkrs ``als`` at its defaults (rank 100) and
  ``funk-sgd`` at its defaults are the in-library references; ndcg@10 of the top-10 lists
  (relevant: test rating ≥ 4, seen items excluded) is printed next to every funkrs RMSE.

Run::

    pip install pyspark threadpoolctl      # Java 17 must be on the PATH
    python benchmarks/als.py --repeats 3 --json benchmarks/results/als.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import _blas
from _host import steal_seconds

import funkrs
from funkrs.ranking import ranking_metrics

RANK, ITERATIONS = 32, 10


def spark_session() -> Any:
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("funkrs-als-benchmark")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "4g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def frame(spark: Any, r: funkrs.Ratings) -> Any:
    import pandas as pd

    pdf = pd.DataFrame(
        {
            "user": np.asarray(r.raw_users(), dtype=np.int64),
            "item": np.asarray(r.raw_items(), dtype=np.int64),
            "rating": np.asarray(r.values, dtype=np.float64),
        }
    )
    return spark.createDataFrame(pdf).cache()


def spark_fit(train_df: Any, reg: float) -> tuple[Any, float]:
    from pyspark.ml.recommendation import ALS

    als = ALS(
        rank=RANK,
        maxIter=ITERATIONS,
        regParam=reg,
        userCol="user",
        itemCol="item",
        ratingCol="rating",
        coldStartStrategy="drop",
        seed=0,
    )
    t = time.perf_counter()
    model = als.fit(train_df)
    model.userFactors.count()
    model.itemFactors.count()
    return model, time.perf_counter() - t


def spark_rmse(model: Any, test_df: Any) -> tuple[float, int]:
    from pyspark.sql import functions as F

    pred = model.transform(test_df)
    row = pred.select(
        F.sqrt(F.avg((F.col("rating") - F.col("prediction")) ** 2)).alias("rmse"),
        F.count("*").alias("n"),
    ).first()
    return float(row["rmse"]), int(row["n"])


def funkrs_fit(train: funkrs.Ratings, **kw: Any) -> tuple[funkrs.MatrixFactorization, float]:
    model = funkrs.MatrixFactorization(random_state=0, n_threads=2, **kw)
    t = time.perf_counter()
    model.fit(train)
    return model, time.perf_counter() - t


def scores(model: funkrs.MatrixFactorization, test: funkrs.Ratings) -> dict[str, float]:
    users, items = test.raw_users(), test.raw_items()
    known = np.isin(users, model.users_.ids_array) & np.isin(items, model.items_.ids_array)
    pred = np.asarray(model.predict(users, items), dtype=np.float64)
    err = pred - np.asarray(test.values, dtype=np.float64)
    got = ranking_metrics(model, test, k=10, metrics=("ndcg",), threshold=4.0)
    return {
        "rmse_all": float(np.sqrt(np.mean(err**2))),
        "rmse_known": float(np.sqrt(np.mean(err[known] ** 2))),
        "n_known": int(known.sum()),
        "ndcg@10": float(got["ndcg@10"]),
    }


def main() -> None:
    _blas.use_native_blas()
    import warnings

    warnings.simplefilter("ignore", FutureWarning)  # pyspark's note on pandas 3
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    args = p.parse_args()
    import pyspark

    print(f"funkrs {funkrs.__version__}, pyspark {pyspark.__version__}, {os.cpu_count()} CPUs")
    print(_blas.blas_report())
    print(f"1-minute load at start: {os.getloadavg()[0]:.2f}")
    train, test = funkrs.datasets.movielens_small_split()
    t = time.perf_counter()
    spark = spark_session()
    train_df, test_df = frame(spark, train), frame(spark, test)
    train_df.count(), test_df.count()
    print(f"SparkSession start-up and data frames: {time.perf_counter() - t:.1f} s (not timed)")
    steal0 = steal_seconds()

    times: dict[str, list[float]] = {"spark 0.05": [], "spark 0.1": [], "funkrs": []}
    spark_models: dict[str, Any] = {}
    funkrs_model: funkrs.MatrixFactorization | None = None
    for rep in range(args.repeats):
        for reg in (0.05, 0.1):
            model, s = spark_fit(train_df, reg)
            times[f"spark {reg}"].append(s)
            spark_models[f"spark {reg}"] = model
        funkrs_model, s = funkrs_fit(train, solver="als", n_factors=RANK)
        times["funkrs"].append(s)
        print(
            f"  repeat {rep + 1}: Spark {times['spark 0.05'][-1]:.2f} s (regParam 0.05), "
            f"{times['spark 0.1'][-1]:.2f} s (0.1); funkrs {s:.3f} s",
            flush=True,
        )
    assert funkrs_model is not None
    med = {k: statistics.median(v) for k, v in times.items()}
    result: dict[str, Any] = {"fit_seconds": times, "median_fit_seconds": med}
    print(f"== fit, rank {RANK}, {ITERATIONS} iterations (medians over {args.repeats})")
    for key in ("spark 0.05", "spark 0.1"):
        ratio = med[key] / med["funkrs"]
        result[f"speedup vs {key}"] = ratio
        print(f"  {key}: {med[key]:.2f} s; funkrs {med['funkrs']:.3f} s: {ratio:.1f}x")
    print("  [target: >= 20x Spark ALS in local[2]]")

    print("== test RMSE (Spark drops cold-start pairs; funkrs on those pairs / on all)")
    acc: dict[str, Any] = {}
    for key, model in spark_models.items():
        rmse, n = spark_rmse(model, test_df)
        acc[key] = {"rmse_known": rmse, "n_known": n}
        print(f"  {key:24s} RMSE {rmse:.4f} on {n} pairs")
    contenders = {
        f"funkrs als rank {RANK}": funkrs_model,
        "funkrs als defaults": funkrs_fit(train, solver="als")[0],
        "funkrs funk-sgd defaults": funkrs_fit(train)[0],
    }
    for key, model in contenders.items():
        got = scores(model, test)
        acc[key] = got
        print(
            f"  {key:24s} RMSE {got['rmse_known']:.4f} on {got['n_known']} pairs, "
            f"{got['rmse_all']:.4f} on all {len(test)}; ndcg@10 {got['ndcg@10']:.3f}"
        )
    gap = acc["funkrs als defaults"]["rmse_all"] - acc["funkrs funk-sgd defaults"]["rmse_all"]
    print(f"  als defaults − funk-sgd defaults: {gap:+.4f}  [target: within 0.005]")
    result["accuracy"] = acc
    steal1 = steal_seconds()
    if steal0 is not None and steal1 is not None:
        print(f"CPU steal during the run: {steal1 - steal0:.1f} s")
    print(f"1-minute load at end: {os.getloadavg()[0]:.2f}")
    spark.stop()
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
