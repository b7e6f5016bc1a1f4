"""Scale-out scoring: funkrs.spark / funkrs.ray against Spark ALS and the in-process model.

One run, local mode, side by side and alternating:

- Spark ``local[2]``: ``funkrs.spark.recommend(model, users, 10)`` (seen items excluded)
  against ``ALSModel.recommendForAllUsers(10)`` (seen items not excluded), both written to
  the ``noop`` sink, on ``--users`` × ``--items`` at rank ``--rank``. Also SparkSession
  start-up, the Parquet write of funkrs' output, and ``local[1]`` → ``local[2]`` scaling.
- Ray ``num_cpus=2``: ``funkrs.ray.recommend`` (2 actors × 1 CPU) against the in-process
  ``model.recommend`` on 2 threads.
- Both engines' results are checked equal to ``model.recommend`` / ``model.predict``.
- Peak RSS (``VmHWM``) of the engines' Python worker processes.

    python benchmarks/scaleout.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

import funkrs


def worker_peak_mb(markers: tuple[str, ...]) -> float:
    """Largest peak RSS (VmHWM) among live processes whose command line has a marker."""
    peak = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            if not any(m in cmd for m in markers):
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            continue
    return peak


def spark_session(master: str) -> Any:
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(master)
        .appName("funkrs-scaleout")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "6g")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "20000")
        .getOrCreate()
    )


def timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=17_770)
    ap.add_argument("--ratings", type=int, default=2_000_000)
    ap.add_argument("--rank", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-scaling", action="store_true", help="skip the local[1] SparkSession")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "scaleout.json"))
    args = ap.parse_args()
    import funkrs.spark as fs

    print(f"host: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus")
    data = funkrs.datasets.synthetic(args.users, args.items, args.ratings, random_state=0)
    model = funkrs.MatrixFactorization(
        n_factors=args.rank, n_epochs=2, random_state=0, n_threads=2
    ).fit(data)
    users = np.asarray(model._fitted().users.ids_array)
    print(f"data: {data}; model rank {args.rank}")
    res: dict[str, Any] = {"args": vars(args)}

    t0 = time.perf_counter()
    spark = spark_session("local[2]")
    res["spark_startup_s"] = time.perf_counter() - t0
    print(f"SparkSession local[2] start-up: {res['spark_startup_s']:.1f} s")
    frame = data.to_frame().rename({"rating": "rating"}).to_pandas()
    ratings_df = spark.createDataFrame(frame).cache()
    ratings_df.count()
    from pyspark.ml.recommendation import ALS

    t0 = time.perf_counter()
    als = ALS(rank=args.rank, maxIter=1, regParam=0.05, userCol="user", itemCol="item", seed=0).fit(
        ratings_df
    )
    print(
        f"Spark ALS fit (1 iteration, not timed against anything): {time.perf_counter() - t0:.1f} s"
    )
    users_df = spark.createDataFrame(pa.table({"user": users}).to_pandas()).repartition(2).cache()
    users_df.count()

    def run_als() -> None:
        als.recommendForAllUsers(10).write.format("noop").mode("overwrite").save()

    def run_funkrs() -> None:
        fs.recommend(model, users_df, 10).write.format("noop").mode("overwrite").save()

    t_als, t_fk = [], []
    for r in range(args.repeats):
        t_fk.append(timed(run_funkrs))
        t_als.append(timed(run_als))
        print(
            f"repeat {r}: funkrs.spark {t_fk[-1]:.2f} s ({args.users / t_fk[-1]:,.0f} users/s), "
            f"ALS recommendForAllUsers {t_als[-1]:.2f} s ({args.users / t_als[-1]:,.0f} users/s), "
            f"ratio {t_als[-1] / t_fk[-1]:.2f}x"
        )
    ratios = [a / f for a, f in zip(t_als, t_fk, strict=True)]
    res["spark"] = {
        "funkrs_s": t_fk,
        "als_s": t_als,
        "median_ratio": statistics.median(ratios),
        "funkrs_users_per_s": args.users / statistics.median(t_fk),
        "als_users_per_s": args.users / statistics.median(t_als),
    }
    print(f"Spark local[2] median: funkrs.spark {statistics.median(ratios):.2f}x ALS")
    tmp = Path(tempfile.mkdtemp(prefix="funkrs-scaleout-"))
    try:
        res["spark"]["parquet_write_s"] = timed(
            lambda: (
                fs.recommend(model, users_df, 10).write.mode("overwrite").parquet(str(tmp / "recs"))
            )
        )
        print(f"funkrs.spark recommend + Parquet write: {res['spark']['parquet_write_s']:.2f} s")
        back = pl.read_parquet(tmp / "recs" / "*.parquet").sort("user", "rank")
        same = back.equals(model.recommend(users, 10).sort("user", "rank"))
        pairs = data.to_frame().head(200_000)
        pdf = spark.createDataFrame(pairs.select("user", "item").to_pandas())
        got = pl.from_arrow(fs.predict(model, pdf).toArrow())
        same_p = np.array_equal(
            got["prediction"].to_numpy(),
            model.predict(got["user"].to_numpy(), got["item"].to_numpy()),
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res["spark"]["identical_recommend"] = bool(same)
    res["spark"]["identical_predict"] = bool(same_p)
    res["spark"]["worker_peak_rss_mb"] = worker_peak_mb(("pyspark.daemon", "pyspark/daemon"))
    print(
        f"Spark results identical to model.recommend: {same}, to model.predict: {same_p}; "
        f"Python worker peak RSS {res['spark']['worker_peak_rss_mb']:.0f} MB"
    )
    spark.stop()

    if not args.no_scaling:
        spark1 = spark_session("local[1]")
        u1 = spark1.createDataFrame(pa.table({"user": users}).to_pandas()).repartition(2).cache()
        u1.count()
        t1 = [
            timed(lambda: fs.recommend(model, u1, 10).write.format("noop").mode("overwrite").save())
            for _ in range(args.repeats)
        ]
        spark1.stop()
        res["spark"]["local1_s"] = t1
        res["spark"]["scaling_1_to_2"] = statistics.median(t1) / statistics.median(t_fk)
        print(
            f"funkrs.spark local[1] {statistics.median(t1):.2f} s → local[2] "
            f"{statistics.median(t_fk):.2f} s: {res['spark']['scaling_1_to_2']:.2f}x"
        )

    if not args.no_ray:
        import ray

        import funkrs.ray as fr

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        parts = [pa.table({"user": p}) for p in np.array_split(users, 8)]

        def run_ray() -> pl.DataFrame:
            ds = fr.recommend(
                model, ray.data.from_arrow(parts), 10, num_cpus=1, concurrency=2, batch_size=20_000
            )
            return pl.from_arrow(pa.concat_tables(ray.get(ds.to_arrow_refs())))

        t_ray, t_in = [], []
        for r in range(args.repeats):
            t0 = time.perf_counter()
            got = run_ray()
            t_ray.append(time.perf_counter() - t0)
            t_in.append(timed(lambda: model.recommend(users, 10)))
            print(
                f"repeat {r}: funkrs.ray {t_ray[-1]:.2f} s "
                f"({args.users / t_ray[-1]:,.0f} users/s), in-process {t_in[-1]:.2f} s "
                f"({args.users / t_in[-1]:,.0f} users/s), "
                f"ray/in-process {t_ray[-1] / t_in[-1]:.2f}x"
            )
        same_r = got.sort("user", "rank").equals(model.recommend(users, 10).sort("user", "rank"))
        res["ray"] = {
            "ray_s": t_ray,
            "in_process_s": t_in,
            "median_slowdown": statistics.median([a / b for a, b in zip(t_ray, t_in, strict=True)]),
            "identical_recommend": bool(same_r),
            "worker_peak_rss_mb": worker_peak_mb(("ray::MapWorker", "ray::_Scorer")),
        }
        print(
            f"Ray median: {res['ray']['median_slowdown']:.2f}x the in-process time; identical: "
            f"{same_r}; actor peak RSS {res['ray']['worker_peak_rss_mb']:.0f} MB"
        )
        ray.shutdown()

    Path(args.out).write_text(json.dumps(res, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
