"""Score fitted funkrs models over Ray Data (extra ``funkrs[ray]``).

:func:`recommend` and :func:`predict` are ``Dataset.map_batches`` with a callable class over
Arrow batches: the model goes into the object store once (the bytes of its model file, no
pickle), each actor of the pool loads it once in its constructor, and each batch runs the
Rust kernels of :mod:`funkrs.batch` with ``num_cpus`` threads, the CPUs Ray reserves for
the actor, so the pool never oversubscribes the cluster.

The results are lazy ``ray.data.Dataset`` objects with the columns of
:func:`funkrs.batch.recommend_batch` (``user, item, score, rank``) and
:func:`funkrs.batch.predict_batch` (the input's columns plus ``prediction``); write them
with ``ds.write_parquet(path)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from funkrs._checks import check_int
from funkrs.batch import (
    cached_model,
    check_model,
    check_recommend_args,
    model_to_bytes,
    predict_batch,
    recommend_batch,
)
from funkrs.exceptions import InvalidParameterError

if TYPE_CHECKING:
    from funkrs.model import MatrixFactorization

__all__ = ["predict", "recommend"]


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError:
        raise ImportError("funkrs.ray needs Ray Data: pip install 'funkrs[ray]'") from None
    return ray


class _Scorer:
    """The callable class each actor of the pool holds: the model, loaded once."""

    def __init__(self, refs: list[Any], key: str, kind: str, options: dict[str, Any]) -> None:
        ray = _ray()
        self.model = cached_model(key=key, data=lambda: ray.get(refs[0]))
        self.kind = kind
        self.options = options

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        if self.kind == "recommend":
            out = recommend_batch(self.model, batch, **self.options)
        else:
            out = predict_batch(self.model, batch, **self.options)
        return pa.Table.from_batches([out])


def _check_dataset(dataset: Any) -> Any:
    ray = _ray()
    if not isinstance(dataset, ray.data.Dataset):
        raise InvalidParameterError(
            f"dataset must be a ray.data.Dataset, got {type(dataset).__name__}"
        )
    return ray


def _columns(dataset: Any, names: tuple[str, ...]) -> None:
    schema = dataset.schema()
    have = list(schema.names) if schema is not None else []
    for name in names:
        if name not in have:
            raise InvalidParameterError(
                f"column {name!r} is not in the dataset; its columns are {have}"
            )


def _map(
    model: MatrixFactorization,
    dataset: Any,
    kind: str,
    options: dict[str, Any],
    num_cpus: int,
    concurrency: int | None,
    batch_size: int,
) -> Any:
    ray = _ray()
    import uuid

    ref = ray.put(model_to_bytes(model))
    key = f"ray-{uuid.uuid4().hex}"
    return dataset.map_batches(
        _Scorer,
        fn_constructor_args=([ref], key, kind, {**options, "n_threads": num_cpus}),
        batch_format="pyarrow",
        batch_size=batch_size,
        num_cpus=num_cpus,
        compute=ray.data.ActorPoolStrategy(size=concurrency or 1),
    )


def recommend(
    model: MatrixFactorization,
    dataset: Any,
    n: int = 10,
    *,
    user: str = "user",
    exclude_seen: bool = True,
    num_cpus: int = 1,
    concurrency: int | None = None,
    batch_size: int = 65_536,
) -> Any:
    """Top-``n`` items for every row of ``dataset``, as a ``ray.data.Dataset``.

    The columns are ``user, item, score, rank``, as :func:`funkrs.batch.recommend_batch`
    gives them.

    Parameters
    ----------
    model : MatrixFactorization
        A fitted model (refused before anything runs if it is not).
    dataset : ray.data.Dataset
        Holds column ``user`` of raw user ids of the model's kind.
    n, user, exclude_seen
        As in :func:`funkrs.batch.recommend_batch` (unknown users follow the model's
        ``unknown`` policy).
    num_cpus : int
        CPUs each actor reserves; the kernel runs that many threads.
    concurrency : int, optional
        Actors in the pool (default 1). ``num_cpus * concurrency`` CPUs are taken.
    batch_size : int
        Rows per batch.
    """
    model = check_model(model)
    _check_dataset(dataset)
    _columns(dataset, (user,))
    num_cpus = check_int("num_cpus", num_cpus, minimum=1)
    check_int("concurrency", concurrency, minimum=1, allow_none=True)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    n, exclude_seen = check_recommend_args(n, exclude_seen)
    options = {"n": n, "user": user, "exclude_seen": exclude_seen}
    return _map(model, dataset, "recommend", options, num_cpus, concurrency, batch_size)


def predict(
    model: MatrixFactorization,
    dataset: Any,
    *,
    user: str = "user",
    item: str = "item",
    output: str = "prediction",
    num_cpus: int = 1,
    concurrency: int | None = None,
    batch_size: int = 262_144,
) -> Any:
    """``dataset`` with a ``float32`` column ``output`` of predicted ratings of its pairs.

    The values of :meth:`funkrs.MatrixFactorization.predict`; ``num_cpus``,
    ``concurrency`` and ``batch_size`` as in :func:`recommend`.
    """
    model = check_model(model)
    _check_dataset(dataset)
    _columns(dataset, (user, item))
    num_cpus = check_int("num_cpus", num_cpus, minimum=1)
    check_int("concurrency", concurrency, minimum=1, allow_none=True)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    options = {"user": user, "item": item, "output": output}
    return _map(model, dataset, "predict", options, num_cpus, concurrency, batch_size)
