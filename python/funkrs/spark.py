"""Score fitted funkrs models on Apache Spark (extra ``funkrs[spark]``, PySpark >= 3.5).

Every function is a ``DataFrame.mapInArrow`` over the input's partitions: each Python worker
runs the Rust kernels of :mod:`funkrs.batch` on the Arrow batches Spark hands it, with as
many threads as the task holds (``TaskContext.cpus()``, ``spark.task.cpus``), so a
``local[2]`` SparkSession runs two tasks of one thread each and never oversubscribes.

The model reaches the executors once: as a broadcast of the model file's bytes (no
pickle), or, with ``model_path=``, as a model file every executor can read (a shared or
distributed file system path). Under Spark Connect, where broadcast is not available,
``model_path`` is required. Either way each Python worker loads the model once and keeps it
for later tasks (Spark reuses Python workers by default).

Output and partitioning
-----------------------
- :func:`recommend`: ``user`` (the input column's type), ``item`` (``bigint`` or
  ``string``, the model's id kind), ``score`` (``float``), ``rank`` (``int``, 1 = best).
  Each input partition gives one output partition holding its users' rows, in input order
  then rank, the rows of :meth:`funkrs.MatrixFactorization.recommend` for those users.
- :func:`predict`: the input's columns plus ``prediction`` (``float``), row for row.
- :func:`similar_items`: ``item``, ``similar``, ``score``, ``rank``.

The results are ordinary lazy DataFrames; write them with Spark's writers, for example
``funkrs.spark.recommend(model, users).write.mode("overwrite").parquet("s3://bucket/top10")``
or ``.write.format("delta").saveAsTable("recs")`` (with Delta Lake installed). Repartition
the users first (``users.repartition(200)``) to spread a large job.

Errors raised on an executor (an unknown user under ``unknown="error"``, say) reach the
driver as ``pyspark.errors.PythonException`` whose message carries the funkrs error and its
message; column, type and fitted-model checks run on the driver before any job starts.
"""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Any

from funkrs._ratings import DuplicatePolicy, Ratings
from funkrs.batch import (
    cached_model,
    check_model,
    check_recommend_args,
    check_similar_args,
    id_kind,
    model_to_bytes,
    predict_batch,
    recommend_batch,
    similar_items_batch,
)
from funkrs.exceptions import InvalidParameterError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from funkrs._vocab import Vocabulary
    from funkrs.model import MatrixFactorization

__all__ = ["predict", "recommend", "similar_items", "to_ratings"]


def _types() -> Any:
    try:
        from pyspark.sql import types
    except ImportError:
        raise ImportError(
            "funkrs.spark needs PySpark >= 3.5: pip install 'funkrs[spark]'"
        ) from None
    return types


def _is_connect(df: Any) -> bool:
    return type(df).__module__.startswith("pyspark.sql.connect")


def _check_frame(df: Any, what: str) -> None:
    _types()
    if not (hasattr(df, "mapInArrow") and hasattr(df, "schema")):
        raise InvalidParameterError(
            f"{what} must be a pyspark.sql.DataFrame, got {type(df).__name__}"
        )


def _field(df: Any, name: str, vocab: Vocabulary, what: str) -> Any:
    """The Spark type of column ``name``, checked against the model's id kind."""
    t = _types()
    names = list(df.columns)
    if not isinstance(name, str) or name not in names:
        raise InvalidParameterError(
            f"column {name!r} (the {what} ids) is not in the DataFrame; its columns are {names}"
        )
    dtype = df.schema[name].dataType
    want = id_kind(vocab)
    ok = (
        isinstance(dtype, t.StringType)
        if want == "string"
        else isinstance(dtype, (t.LongType, t.IntegerType, t.ShortType, t.ByteType))
    )
    if not ok:
        target = "an integer type (e.g. bigint)" if want == "integer" else "string"
        raise InvalidParameterError(
            f"column {name!r} holds {dtype.simpleString()}, but the model's {what} ids are "
            f"{want}s: cast it to {target}"
        )
    return dtype


def _id_type(vocab: Vocabulary) -> Any:
    t = _types()
    return t.StringType() if vocab.is_string else t.LongType()


def _loader(model: MatrixFactorization, df: Any, model_path: Any) -> Callable[[], Any]:
    """A picklable function that returns the model on an executor (loaded once per worker)."""
    if model_path is not None:
        path = os.fspath(model_path)
        if not isinstance(path, str):
            raise InvalidParameterError(f"model_path must be a str path, got {path!r}")
        if not os.path.isfile(path):
            raise InvalidParameterError(
                f"model_path {path!r} is not a file; save the model there first "
                "(model.save(path)) on storage every executor can read"
            )
        return lambda: cached_model(path=path)
    if _is_connect(df):
        raise InvalidParameterError(
            "under Spark Connect the model cannot be broadcast: save it where every executor "
            "can read it (model.save(path)) and pass model_path=path"
        )
    data = model_to_bytes(model)
    bc = df.sparkSession.sparkContext.broadcast(data)
    key = f"broadcast-{uuid.uuid4().hex}"
    return lambda: cached_model(key=key, data=lambda: bc.value)


def _task_cpus() -> int:
    from pyspark import TaskContext

    ctx = TaskContext.get()
    if ctx is None:  # pragma: no cover - mapInArrow functions always run in a task
        return 1
    try:
        return max(1, int(ctx.cpus()))
    except Exception:  # pragma: no cover - TaskContext without cpus()
        return 1


def recommend(
    model: MatrixFactorization,
    users_df: Any,
    n: int = 10,
    *,
    user: str = "user",
    exclude_seen: bool = True,
    model_path: str | os.PathLike[str] | None = None,
) -> Any:
    """Top-``n`` items for every row of ``users_df``, as a Spark DataFrame.

    Parameters
    ----------
    model : MatrixFactorization
        A fitted model (refused before any job starts if it is not).
    users_df : pyspark.sql.DataFrame
        Holds column ``user`` of raw user ids of the model's kind (integer or string).
    n : int
        Recommendations per user.
    user : str
        Name of the user id column.
    exclude_seen : bool
        Skip the items each user rated in training.
    model_path : str or path-like, optional
        A model file readable by every executor; required under Spark Connect. Without it
        the model is broadcast.

    Returns
    -------
    pyspark.sql.DataFrame
        ``user, item, score, rank`` (see the module docs for types and partitioning).
        Users the model does not know follow its ``unknown`` policy as in
        :func:`funkrs.batch.recommend_batch`.
    """
    t = _types()
    model = check_model(model)
    st = model._fitted()
    _check_frame(users_df, "users_df")
    utype = _field(users_df, user, st.users, "user")
    n, exclude_seen = check_recommend_args(n, exclude_seen)
    load = _loader(model, users_df, model_path)
    schema = t.StructType(
        [
            t.StructField("user", utype, False),
            t.StructField("item", _id_type(st.items), False),
            t.StructField("score", t.FloatType(), False),
            t.StructField("rank", t.IntegerType(), False),
        ]
    )

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        m, cpus = load(), _task_cpus()
        for b in batches:
            yield recommend_batch(m, b, n, user=user, exclude_seen=exclude_seen, n_threads=cpus)

    return users_df.select(user).mapInArrow(run, schema)


def predict(
    model: MatrixFactorization,
    pairs_df: Any,
    *,
    user: str = "user",
    item: str = "item",
    output: str = "prediction",
    model_path: str | os.PathLike[str] | None = None,
) -> Any:
    """``pairs_df`` with a ``float`` column ``output`` of predicted ratings, row for row.

    The values of :meth:`funkrs.MatrixFactorization.predict` for the ``(user, item)``
    pairs (unknown ids follow the model's ``unknown`` policy). ``model_path`` as in
    :func:`recommend`.
    """
    t = _types()
    model = check_model(model)
    st = model._fitted()
    _check_frame(pairs_df, "pairs_df")
    _field(pairs_df, user, st.users, "user")
    _field(pairs_df, item, st.items, "item")
    if output in pairs_df.columns:
        raise InvalidParameterError(f"the DataFrame already has a column {output!r}; pick another")
    load = _loader(model, pairs_df, model_path)
    schema = t.StructType([*pairs_df.schema.fields, t.StructField(output, t.FloatType(), False)])

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        m, cpus = load(), _task_cpus()
        for b in batches:
            yield predict_batch(m, b, user=user, item=item, output=output, n_threads=cpus)

    return pairs_df.mapInArrow(run, schema)


def similar_items(
    model: MatrixFactorization,
    items_df: Any,
    n: int = 10,
    *,
    item: str = "item",
    metric: str = "cosine",
    model_path: str | os.PathLike[str] | None = None,
) -> Any:
    """``item, similar, score, rank``: the rows of ``model.similar_items`` for ``items_df``."""
    t = _types()
    model = check_model(model)
    st = model._fitted()
    _check_frame(items_df, "items_df")
    itype = _field(items_df, item, st.items, "item")
    check_similar_args(n, metric)
    load = _loader(model, items_df, model_path)
    schema = t.StructType(
        [
            t.StructField("item", itype, False),
            t.StructField("similar", _id_type(st.items), False),
            t.StructField("score", t.FloatType(), False),
            t.StructField("rank", t.IntegerType(), False),
        ]
    )

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        m, cpus = load(), _task_cpus()
        for b in batches:
            yield similar_items_batch(m, b, n, item=item, metric=metric, n_threads=cpus)

    return items_df.select(item).mapInArrow(run, schema)


def to_ratings(
    df: Any,
    *,
    user: str = "user",
    item: str = "item",
    rating: str = "rating",
    rating_scale: tuple[float, float] | None = None,
    duplicates: DuplicatePolicy = "error",
) -> Ratings:
    """Collect training data from a Spark DataFrame to the driver, through Arrow.

    Memory: the driver holds the collected Arrow table (8 bytes per ``bigint`` id or
    ``double`` rating per row, strings at their length plus 4 bytes) and, while it is
    converted, the :class:`~funkrs.Ratings` (12 bytes per row plus the id vocabularies):
    about 36 bytes per rating with integer ids, so 100 million ratings need about 3.6 GB,
    and ``spark.driver.maxResultSize`` must allow the Arrow result (about 24 bytes per
    row; ``0`` lifts the limit).

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        One row per rating.
    user, item, rating : str
        Column names.
    rating_scale, duplicates
        As in :meth:`funkrs.Ratings.from_arrays`.

    Returns
    -------
    Ratings
        As :meth:`funkrs.Ratings.from_frame` builds from the same rows.
    """
    import pyarrow as pa

    _check_frame(df, "df")
    cols = [user, item, rating]
    for c in cols:
        if c not in df.columns:
            raise InvalidParameterError(
                f"column {c!r} is not in the DataFrame; its columns are {list(df.columns)}"
            )
    selected = df.select(*cols)
    if hasattr(selected, "toArrow"):
        table = selected.toArrow()
    else:  # PySpark 3.5
        table = pa.Table.from_batches(selected._collect_as_arrow())
    return Ratings.from_frame(
        table, user=user, item=item, rating=rating, rating_scale=rating_scale, duplicates=duplicates
    )
