"""Scale-out scoring: funkrs.spark / funkrs.ray against Spark ALS and the in-process model.

One run, local mode, side by side and alternating within every repeat:

- Spark ``local[2]``: ``funkrs.spark.recommend(model, users, 10)`` (seen items excluded)
  against ``ALSModel.recommendForAllUsers(10)`` (seen items not excluded), both written to
  the ``noop`` sink, on ``--users`` × ``--items`` at rank ``--rank``. Printed separately:
  SparkSession start-up, compute (the ``noop`` write) and the Parquet write (the same job
  written to Parquet, and its excess over the ``noop`` run).
- Scaling ``local[1]`` → ``local[2]``: in every repeat a child process starts its own
  ``local[1]`` SparkSession (its own JVM) and times the same ``noop`` job.
- Ray ``num_cpus=2``: ``funkrs.ray.recommend`` (2 actors × 1 CPU) against the in-process
  ``model.recommend`` on 2 threads.
- Both engines' results are checked equal to ``model.recommend`` / ``model.predict``.
- Peak RSS (``VmHWM``) of the engines' Python worker processes.
- Every timed job runs once untimed first (JVM JIT, Python workers, Ray actors warm).

    python benchmarks/scaleout.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _host
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


def spark_session(master: str, memory: str = "6g") -> Any:
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(master)
        .appName("funkrs-scaleout")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", memory)
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "20000")
        .getOrCreate()
    )


def timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def local1_child(model_path: str) -> None:
    """``--local1-child``: one ``local[1]`` run of funkrs.spark.recommend; prints JSON."""
    import funkrs.spark as fs

    model = funkrs.MatrixFactorization.load(model_path)
    users = np.asarray(model._fitted().users.ids_array)
    t0 = time.perf_counter()
    spark = spark_session("local[1]", "3g")
    startup = time.perf_counter() - t0
    users_df = spark.createDataFrame(pa.table({"user": users}).to_pandas()).repartition(2).cache()
    users_df.count()

    def run() -> None:
        fs.recommend(model, users_df, 10).write.format("noop").mode("overwrite").save()

    run()
    t = timed(run)
    spark.stop()
    print(json.dumps({"startup_s": startup, "compute_s": t}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=17_770)
    ap.add_argument("--ratings", type=int, default=2_000_000)
    ap.add_argument("--rank", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-scaling", action="store_true", help="skip the local[1] runs")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--local1-child", metavar="MODEL", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "scaleout.json"))
    args = ap.parse_args()
    if args.local1_child:
        local1_child(args.local1_child)
        return
    import funkrs.spark as fs

    med = statistics.median
    print(f"host: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus")
    print(f"load average at start: {load()}")
    steal0 = _host.steal_seconds()
    data = funkrs.datasets.synthetic(args.users, args.items, args.ratings, random_state=0)
    model = funkrs.MatrixFactorization(
        n_factors=args.rank, n_epochs=2, random_state=0, n_threads=2
    ).fit(data)
    users = np.asarray(model._fitted().users.ids_array)
    n_users = len(users)
    print(f"data: {data}; model rank {args.rank}")
    res: dict[str, Any] = {"args": vars(args), "load_start": load()}
    tmp = Path(tempfile.mkdtemp(prefix="funkrs-scaleout-"))
    try:
        model_path = str(tmp / "model.funkrs")
        model.save(model_path)
        run_spark(args, res, fs, model, data, users, tmp, model_path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not args.no_ray:
        run_ray(args, res, model, data, users)
    steal1 = _host.steal_seconds()
    res["load_end"] = load()
    res["steal_s"] = None if steal0 is None or steal1 is None else steal1 - steal0
    print(f"load average at end: {res['load_end']}; steal {res['steal_s']} s")
    print("summary:")
    sp = res["spark"]
    print(
        f"  Spark local[2], {n_users:,} users: funkrs.spark {med(sp['funkrs_s']):.2f} s "
        f"({sp['funkrs_users_per_s']:,.0f} users/s) vs ALS recommendForAllUsers "
        f"{med(sp['als_s']):.2f} s ({sp['als_users_per_s']:,.0f} users/s): median ratio "
        f"{sp['median_ratio']:.2f}x (target >= 5x)"
    )
    print(
        f"  SparkSession start-up {res['spark_startup_s']:.1f} s; compute (noop) "
        f"{med(sp['funkrs_s']):.2f} s; Parquet {med(sp['parquet_s']):.2f} s "
        f"(write alone {med(sp['parquet_write_only_s']):.2f} s)"
    )
    print(
        f"  identical: recommend {sp['identical_recommend']}, predict {sp['identical_predict']}; "
        f"Spark Python worker peak RSS {sp['worker_peak_rss_mb']:.0f} MB"
    )
    if "scaling_1_to_2" in sp:
        print(
            f"  local[1] {med(sp['local1_s']):.2f} s -> local[2] {med(sp['funkrs_s']):.2f} s: "
            f"{sp['scaling_1_to_2']:.2f}x"
        )
    if "ray" in res:
        ry = res["ray"]
        print(
            f"  Ray num_cpus=2: {med(ry['ray_s']):.2f} s ({ry['ray_users_per_s']:,.0f} users/s) vs "
            f"in-process {med(ry['in_process_s']):.2f} s ({ry['in_process_users_per_s']:,.0f} "
            f"users/s): median {ry['median_slowdown']:.2f}x the in-process time (target <= 1.5x)"
        )
        print(
            f"  identical: recommend {ry['identical_recommend']}, predict "
            f"{ry['identical_predict']}; Ray actor peak RSS {ry['worker_peak_rss_mb']:.0f} MB"
        )
    Path(args.out).write_text(json.dumps(res, indent=2))
    print(f"wrote {args.out}")


def run_spark(
    args: Any,
    res: dict[str, Any],
    fs: Any,
    model: Any,
    data: Any,
    users: np.ndarray,
    tmp: Path,
    model_path: str,
) -> None:
    med = statistics.median
    n_users = len(users)
    t0 = time.perf_counter()
    spark = spark_session("local[2]")
    res["spark_startup_s"] = time.perf_counter() - t0
    print(f"SparkSession local[2] start-up (cold JVM): {res['spark_startup_s']:.1f} s")
    frame = data.to_frame().to_pandas()
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

    def run_parquet() -> None:
        fs.recommend(model, users_df, 10).write.mode("overwrite").parquet(str(tmp / "recs"))

    def run_local1() -> dict[str, float]:
        out = subprocess.run(
            [sys.executable, __file__, "--local1-child", model_path],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return dict(json.loads(out.strip().splitlines()[-1]))

    run_funkrs(), run_als(), run_parquet()  # warm-up, untimed
    t_als, t_fk, t_pq, t_l1, s_l1 = [], [], [], [], []
    for r in range(args.repeats):
        t_fk.append(timed(run_funkrs))
        t_als.append(timed(run_als))
        t_pq.append(timed(run_parquet))
        line = (
            f"repeat {r}: funkrs.spark {t_fk[-1]:.2f} s ({n_users / t_fk[-1]:,.0f} users/s), "
            f"ALS recommendForAllUsers {t_als[-1]:.2f} s ({n_users / t_als[-1]:,.0f} users/s), "
            f"ratio {t_als[-1] / t_fk[-1]:.2f}x; funkrs.spark to Parquet {t_pq[-1]:.2f} s"
        )
        if not args.no_scaling:
            child = run_local1()
            t_l1.append(child["compute_s"])
            s_l1.append(child["startup_s"])
            line += f"; local[1] {t_l1[-1]:.2f} s (its start-up {s_l1[-1]:.1f} s)"
        print(line + f"; load {load()}")
    ratios = [a / f for a, f in zip(t_als, t_fk, strict=True)]
    res["spark"] = {
        "funkrs_s": t_fk,
        "als_s": t_als,
        "parquet_s": t_pq,
        "parquet_write_only_s": [p - f for p, f in zip(t_pq, t_fk, strict=True)],
        "median_ratio": med(ratios),
        "funkrs_users_per_s": n_users / med(t_fk),
        "als_users_per_s": n_users / med(t_als),
    }
    if t_l1:
        res["spark"]["local1_s"] = t_l1
        res["spark"]["local1_startup_s"] = s_l1
        res["spark"]["scaling_1_to_2"] = med(t_l1) / med(t_fk)
    print(f"Spark local[2] median: funkrs.spark {med(ratios):.2f}x ALS")
    back = pl.read_parquet(tmp / "recs" / "*.parquet").sort("user", "rank")
    same = back.equals(model.recommend(users, 10).sort("user", "rank"))
    pairs = data.to_frame().head(200_000)
    pdf = spark.createDataFrame(pairs.select("user", "item").to_pandas())
    got = pl.from_arrow(fs.predict(model, pdf).toArrow())
    same_p = np.array_equal(
        got["prediction"].to_numpy(),
        model.predict(got["user"].to_numpy(), got["item"].to_numpy()),
    )
    res["spark"]["identical_recommend"] = bool(same)
    res["spark"]["identical_predict"] = bool(same_p)
    res["spark"]["worker_peak_rss_mb"] = worker_peak_mb(("pyspark.daemon", "pyspark/daemon"))
    print(
        f"Spark results identical to model.recommend: {same}, to model.predict: {same_p}; "
        f"Python worker peak RSS {res['spark']['worker_peak_rss_mb']:.0f} MB"
    )
    spark.stop()


def run_ray(args: Any, res: dict[str, Any], model: Any, data: Any, users: np.ndarray) -> None:
    import ray

    import funkrs.ray as fr

    med = statistics.median
    n_users = len(users)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    parts = [pa.table({"user": p}) for p in np.array_split(users, 8)]

    def run() -> pl.DataFrame:
        ds = fr.recommend(
            model, ray.data.from_arrow(parts), 10, num_cpus=1, concurrency=2, batch_size=20_000
        )
        return pl.from_arrow(pa.concat_tables(ray.get(ds.to_arrow_refs())))

    def run_in() -> None:
        model.recommend(users, 10)

    run(), run_in()  # warm-up, untimed
    t_ray, t_in = [], []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        got = run()
        t_ray.append(time.perf_counter() - t0)
        t_in.append(timed(run_in))
        print(
            f"repeat {r}: funkrs.ray {t_ray[-1]:.2f} s ({n_users / t_ray[-1]:,.0f} users/s), "
            f"in-process {t_in[-1]:.2f} s ({n_users / t_in[-1]:,.0f} users/s), "
            f"ray/in-process {t_ray[-1] / t_in[-1]:.2f}x; load {load()}"
        )
    same_r = got.sort("user", "rank").equals(model.recommend(users, 10).sort("user", "rank"))
    pairs = data.to_frame().head(200_000).select("user", "item")
    pds = fr.predict(model, ray.data.from_arrow(pairs.to_arrow()), num_cpus=1, concurrency=2)
    got_p = pl.from_arrow(pa.concat_tables(ray.get(pds.to_arrow_refs())))
    same_p = np.array_equal(
        got_p["prediction"].to_numpy(),
        model.predict(got_p["user"].to_numpy(), got_p["item"].to_numpy()),
    )
    res["ray"] = {
        "ray_s": t_ray,
        "in_process_s": t_in,
        "ray_users_per_s": n_users / med(t_ray),
        "in_process_users_per_s": n_users / med(t_in),
        "median_slowdown": med([a / b for a, b in zip(t_ray, t_in, strict=True)]),
        "identical_recommend": bool(same_r),
        "identical_predict": bool(same_p),
        "worker_peak_rss_mb": worker_peak_mb(("ray::MapWorker", "ray::_Scorer")),
    }
    print(
        f"Ray median: {res['ray']['median_slowdown']:.2f}x the in-process time; identical: "
        f"recommend {same_r}, predict {same_p}; actor peak RSS "
        f"{res['ray']['worker_peak_rss_mb']:.0f} MB"
    )
    ray.shutdown()


if __name__ == "__main__":
    main()
