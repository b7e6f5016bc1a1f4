"""funkrs.spark on a real local[2] SparkSession, compared with the in-process model exactly."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import funkrs
from conftest import engine_missing
from funkrs.exceptions import InvalidParameterError, NotFittedError

pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    if shutil.which("java") is None:
        engine_missing("Java is not installed (Spark needs it)")
    if importlib.util.find_spec("pyspark") is None:
        engine_missing("pyspark is not installed (pip install 'funkrs[spark]')")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("funkrs-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def data() -> funkrs.Ratings:
    return funkrs.datasets.synthetic(300, 80, 5000, random_state=5)


@pytest.fixture(scope="module")
def model(data: funkrs.Ratings) -> funkrs.MatrixFactorization:
    return funkrs.MatrixFactorization(n_factors=6, n_epochs=5, random_state=0).fit(data)


def _frame(spark: Any, **cols: Any) -> Any:
    import pyarrow as pa

    return spark.createDataFrame(pa.table(cols).to_pandas()).repartition(2)


def _collect(df: Any) -> pl.DataFrame:
    return pl.from_arrow(df.toArrow())


def test_recommend_matches_in_process(spark: Any, model: funkrs.MatrixFactorization) -> None:
    import funkrs.spark as fs

    users = np.asarray(model._fitted().users.ids_array)
    out = fs.recommend(model, _frame(spark, user=users), n=5)
    assert [f.name for f in out.schema.fields] == ["user", "item", "score", "rank"]
    got = _collect(out).sort("user", "rank")
    assert got.equals(model.recommend(users, 5).sort("user", "rank"))
    unseen = _collect(fs.recommend(model, _frame(spark, user=users[:30]), 3, exclude_seen=False))
    assert unseen.sort("user", "rank").equals(
        model.recommend(users[:30], 3, exclude_seen=False).sort("user", "rank")
    )


def test_predict_and_similar_items_match(
    spark: Any, data: funkrs.Ratings, model: funkrs.MatrixFactorization
) -> None:
    import funkrs.spark as fs

    u, i = data.raw_users()[:400], np.r_[data.raw_items()[:399], 10**9]  # one unknown item
    got = _collect(fs.predict(model, _frame(spark, uid=u, iid=i), user="uid", item="iid"))
    np.testing.assert_array_equal(
        got["prediction"].to_numpy(), model.predict(got["uid"].to_numpy(), got["iid"].to_numpy())
    )
    items = np.asarray(model._fitted().items.ids_array[:20])
    sim = _collect(fs.similar_items(model, _frame(spark, item=items), 4, metric="euclidean"))
    ref = model.similar_items(items, 4, metric="euclidean")
    assert sim.sort("item", "rank").equals(ref.sort("item", "rank"))


def test_model_path_and_parquet(
    spark: Any, model: funkrs.MatrixFactorization, tmp_path: Path
) -> None:
    import funkrs.spark as fs

    path = tmp_path / "m.funkrs"
    model.save(path)
    users = np.asarray(model._fitted().users.ids_array[:50])
    out = fs.recommend(model, _frame(spark, user=users), 3, model_path=str(path))
    out.write.mode("overwrite").parquet(str(tmp_path / "recs"))
    back = pl.read_parquet(tmp_path / "recs" / "*.parquet").sort("user", "rank")
    assert back.equals(model.recommend(users, 3).sort("user", "rank"))


def test_to_ratings(spark: Any, data: funkrs.Ratings) -> None:
    import funkrs.spark as fs

    df = spark.createDataFrame(data.to_frame().to_pandas())
    got = fs.to_ratings(df, user="user", item="item", rating="rating")
    assert got.to_frame().sort("user", "item").equals(data.to_frame().sort("user", "item"))
    with pytest.raises(InvalidParameterError, match="column 'stars'"):
        fs.to_ratings(df, rating="stars")


def test_bad_input_before_any_job(spark: Any, model: funkrs.MatrixFactorization) -> None:
    import funkrs.spark as fs

    users = _frame(spark, uid=np.arange(3))
    with pytest.raises(InvalidParameterError, match=r"column 'user'.*columns are \['uid'\]"):
        fs.recommend(model, users)
    strings = _frame(spark, user=np.array(["a", "b"]))
    with pytest.raises(InvalidParameterError, match=r"holds string.*integers.*bigint"):
        fs.recommend(model, strings)
    with pytest.raises(NotFittedError):
        fs.recommend(funkrs.MatrixFactorization(), users)
    with pytest.raises(InvalidParameterError, match="n must be"):
        fs.recommend(model, users, user="uid", n=-1)
    with pytest.raises(InvalidParameterError, match="metric"):
        fs.similar_items(model, _frame(spark, item=np.arange(3)), metric="l1")


def test_executor_error_carries_the_funkrs_message(
    spark: Any, model: funkrs.MatrixFactorization
) -> None:
    import funkrs.spark as fs

    strict = funkrs.MatrixFactorization(**{**model.get_params(), "unknown": "error"})
    strict._adopt(model._fitted())
    df = fs.recommend(strict, _frame(spark, user=np.array([10**12])))
    with pytest.raises(Exception, match=r"UnknownIdError: user 1000000000000 .*not seen"):
        df.collect()


def test_spark_connect_needs_model_path(model: funkrs.MatrixFactorization, tmp_path: Path) -> None:
    """Spark Connect (builder.remote("local[2]")) in a fresh interpreter, with a model file."""
    if shutil.which("java") is None:
        engine_missing("Java is not installed (Spark needs it)")
    missing = [m for m in ("pyspark", "grpc", "grpc_status", "zstandard") if not _has(m)]
    if missing:
        engine_missing(f"Spark Connect needs pyspark[connect]; missing {missing}")
    path = tmp_path / "m.funkrs"
    model.save(path)
    users = np.asarray(model._fitted().users.ids_array[:40])
    np.save(tmp_path / "users.npy", users)
    script = textwrap.dedent(
        f"""
        import numpy as np, polars as pl, pyarrow as pa
        import funkrs, funkrs.spark as fs
        from pyspark.sql import SparkSession
        spark = SparkSession.builder.remote("local[2]").getOrCreate()
        model = funkrs.load({str(path)!r})
        users = np.load({str(tmp_path / "users.npy")!r})
        df = spark.createDataFrame(pa.table({{"user": users}}).to_pandas())
        try:
            fs.recommend(model, df)
        except funkrs.exceptions.InvalidParameterError as exc:
            assert "model_path" in str(exc), exc
        else:
            raise AssertionError("broadcast under Spark Connect was not refused")
        got = pl.from_arrow(fs.recommend(model, df, 4, model_path={str(path)!r}).toArrow())
        assert got.sort("user", "rank").equals(model.recommend(users, 4).sort("user", "rank"))
        print("connect ok")
        spark.stop()
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=280
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "connect ok" in run.stdout


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None
