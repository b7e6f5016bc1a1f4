"""Engine-neutral batch scoring: Arrow record batches in, Arrow record batches out.

These functions are the kernel that :mod:`funkrs.spark` and :mod:`funkrs.ray` run on each
partition or block; any engine that hands out Arrow batches can call them the same way.

- :func:`recommend_batch`: a batch of user ids → ``user, item, score, rank`` rows, the same
  rows :meth:`funkrs.MatrixFactorization.recommend` gives for those users.
- :func:`predict_batch`: a batch of ``(user, item)`` pairs → the batch with a
  ``prediction`` column, the values of :meth:`~funkrs.MatrixFactorization.predict`.
- :func:`similar_items_batch`: a batch of item ids → ``item, similar, score, rank``.

The thread count is an argument (``n_threads``) so that an executor passes the cores it was
given (Spark's ``TaskContext.cpus()``, Ray's ``num_cpus``) and never oversubscribes.
Read-only buffers (Ray's object store, zero-copy Arrow views) are accepted: nothing is
written into the input.

Models travel as bytes of the model file format (:func:`model_to_bytes`, no pickle) or as
a file path; :func:`cached_model` loads each once per process.

This module needs ``pyarrow`` (it is imported when a function is called).
"""

from __future__ import annotations

import copy
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from funkrs._checks import check_bool, check_choice, check_int
from funkrs._scoring import top_n_rows
from funkrs._vocab import show_id
from funkrs.exceptions import InvalidParameterError, NotFittedError, UnknownIdError
from funkrs.model import MatrixFactorization

if TYPE_CHECKING:
    import pyarrow as pa

    from funkrs._state import FittedState
    from funkrs._vocab import Vocabulary

__all__ = [
    "cached_model",
    "check_model",
    "check_recommend_args",
    "check_similar_args",
    "model_from_bytes",
    "model_to_bytes",
    "predict_batch",
    "recommend_batch",
    "similar_items_batch",
]

_METRICS = ("cosine", "dot", "euclidean")


def _pa() -> Any:
    try:
        import pyarrow
    except ImportError:  # pragma: no cover - pyarrow comes with every engine extra
        raise ImportError(
            "funkrs.batch needs pyarrow: pip install pyarrow (or funkrs[spark] / funkrs[ray])"
        ) from None
    return pyarrow


# -- shipping models ------------------------------------------------------------------------
def check_model(model: object) -> MatrixFactorization:
    """``model`` if it is a fitted :class:`~funkrs.MatrixFactorization`, else an error.

    Raises
    ------
    InvalidParameterError
        ``model`` is not a :class:`~funkrs.MatrixFactorization`.
    NotFittedError
        It is not fitted.
    """
    if not isinstance(model, MatrixFactorization):
        raise InvalidParameterError(
            f"model must be a fitted funkrs.MatrixFactorization, got {type(model).__name__}"
        )
    if not model.__sklearn_is_fitted__():
        raise NotFittedError(
            "this MatrixFactorization is not fitted yet: call fit() before scoring on an engine"
        )
    return model


def model_to_bytes(model: MatrixFactorization) -> bytes:
    """The model file (:meth:`~funkrs.MatrixFactorization.save`) as bytes."""
    check_model(model)
    with tempfile.TemporaryDirectory(prefix="funkrs-ship-") as tmp:
        path = Path(tmp) / "model.funkrs"
        model.save(path)
        return path.read_bytes()


def model_from_bytes(data: bytes | bytearray | memoryview) -> MatrixFactorization:
    """A model from the bytes of :func:`model_to_bytes` (validated as :func:`funkrs.load`)."""
    with tempfile.TemporaryDirectory(prefix="funkrs-ship-") as tmp:
        path = Path(tmp) / "model.funkrs"
        path.write_bytes(bytes(data))
        return MatrixFactorization.load(path)


_CACHE: OrderedDict[Any, MatrixFactorization] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 4


def cached_model(
    *, path: str | os.PathLike[str] | None = None, data: Any = None, key: str | None = None
) -> MatrixFactorization:
    """A model loaded once per process, from a file ``path`` or from ``data`` bytes.

    A path is keyed by its resolved name, size and modification time (a rewritten file is
    loaded again); bytes by ``key``, which the caller makes unique per model (``data`` may
    be a callable returning the bytes, called only on a miss). The last four models are
    kept.
    """
    if path is not None:
        p = Path(path).resolve()
        stat = p.stat()
        cache_key: Any = ("path", str(p), stat.st_size, stat.st_mtime_ns)
    elif key is not None:
        cache_key = ("key", key)
    else:
        raise InvalidParameterError("cached_model needs a path or a key with the data")
    with _CACHE_LOCK:
        hit = _CACHE.get(cache_key)
        if hit is not None:
            _CACHE.move_to_end(cache_key)
            return hit
    if path is not None:
        model = MatrixFactorization.load(path)
    else:
        model = model_from_bytes(data() if callable(data) else data)
    with _CACHE_LOCK:
        _CACHE[cache_key] = model
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return model


def check_recommend_args(n: object, exclude_seen: object) -> tuple[int, bool]:
    """``n`` and ``exclude_seen`` of a recommend call, checked (before any job starts)."""
    return check_int("n", n, minimum=0), check_bool("exclude_seen", exclude_seen)


def check_similar_args(n: object, metric: object) -> tuple[int, str]:
    """``n`` and ``metric`` of a similar-items call, checked (before any job starts)."""
    return check_int("n", n, minimum=0), check_choice("metric", metric, _METRICS)


# -- columns --------------------------------------------------------------------------------
def id_kind(vocab: Vocabulary) -> str:
    """``"string"`` or ``"integer"``: the kind of raw ids a vocabulary holds."""
    return "string" if vocab.is_string else "integer"


def _column(batch: Any, name: str, vocab: Vocabulary, what: str) -> Any:
    """Column ``name`` of ``batch`` checked to hold non-null ids of ``vocab``'s kind."""
    pa = _pa()
    names = list(batch.schema.names)
    if name not in names:
        raise InvalidParameterError(
            f"column {name!r} (the {what} ids) is not in the input; its columns are {names}"
        )
    col = batch.column(names.index(name))
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.dictionary_decode()
        t = col.type
    want = id_kind(vocab)
    is_int = pa.types.is_integer(t)
    is_str = pa.types.is_string(t) or pa.types.is_large_string(t)
    if (want == "integer" and not is_int) or (want == "string" and not is_str):
        raise InvalidParameterError(
            f"column {name!r} holds {t}, but the model's {what} ids are {want}s: cast the "
            f"column to {'an integer type (e.g. bigint)' if want == 'integer' else 'string'}"
        )
    if col.null_count:
        raise InvalidParameterError(
            f"column {name!r} holds {col.null_count} null {what} id(s); drop or fill them first"
        )
    return col


def _values(col: Any) -> np.ndarray:
    pa = _pa()
    if pa.types.is_integer(col.type):
        return np.asarray(col.to_numpy(zero_copy_only=False)).astype(np.int64, copy=False)
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)


def _id_array(ids: np.ndarray, vocab: Vocabulary) -> Any:
    pa = _pa()
    if vocab.is_string:
        return pa.array(ids.tolist(), type=pa.string())
    return pa.array(np.asarray(ids, dtype=np.int64), type=pa.int64())


def _threads(n_threads: object) -> int | None:
    return check_int("n_threads", n_threads, minimum=1, allow_none=True)


# -- recommend ------------------------------------------------------------------------------
def recommend_batch(
    model: MatrixFactorization,
    batch: pa.RecordBatch | pa.Table,
    n: int = 10,
    *,
    user: str = "user",
    exclude_seen: bool = True,
    exclude: pa.RecordBatch | pa.Table | None = None,
    n_threads: int | None = None,
) -> pa.RecordBatch:
    """Top-``n`` items for the users of one Arrow batch.

    Parameters
    ----------
    model : MatrixFactorization
        A fitted model.
    batch : pyarrow.RecordBatch or pyarrow.Table
        Holds column ``user`` of raw user ids (integers or strings, the model's kind).
        Other columns are ignored.
    n : int
        Recommendations per user.
    user : str
        Name of the user id column.
    exclude_seen : bool
        Skip the items each user rated in training (the model's seen index).
    exclude : pyarrow.RecordBatch or pyarrow.Table, optional
        More ``(user, item)`` pairs to skip, columns named ``user`` (as above) and
        ``item``. Pairs of users or items the model does not know are ignored.
    n_threads : int, optional
        Threads of the scoring kernel; None uses the model's ``n_threads``. An executor
        passes the cores it holds.

    Returns
    -------
    pyarrow.RecordBatch
        Columns ``user`` (the input column's type), ``item`` (``int64`` or ``string``),
        ``score`` (``float32``) and ``rank`` (``int32``, 1 = best), in input order then
        rank: for known users exactly the rows of ``model.recommend(users, n,
        exclude_seen)``. Users the model does not know follow its ``unknown`` policy:
        ``"error"`` raises :class:`~funkrs.exceptions.UnknownIdError`, ``"nan"`` gives them
        no rows, ``"baseline"`` gives them the top-``n`` by ``μ + b_i`` plus the popularity
        term.

    Raises
    ------
    InvalidParameterError
        A column is missing (named), holds ids of the wrong type (the expected type is
        named) or nulls, or an option is not accepted.
    NotFittedError
        The model is not fitted.
    UnknownIdError
        An unknown user under ``unknown="error"``.
    """
    pa = _pa()
    model = check_model(model)
    st = model._fitted()
    n, exclude_seen = check_recommend_args(n, exclude_seen)
    threads = _threads(n_threads)
    policy = check_choice("unknown", model.unknown, ("baseline", "nan", "error"))
    col = _column(batch, user, st.users, "user")
    raw = _values(col)
    uidx = st.users.numbers(raw, missing="negative", what="user")
    known = uidx >= 0
    if policy == "error" and not known.all():
        j = int(np.argmax(~known))
        raise UnknownIdError(
            f"user {show_id(raw[j])} (row {j} of the batch) was not seen in training; fold it "
            "in first, or use unknown='baseline' or 'nan'"
        )
    k_pos = np.flatnonzero(known)
    uk = uidx[k_pos]
    ex = _exclusions(st, uk, exclude_seen, exclude, user)
    offsets = np.full(len(uk), st.global_mean if st.biased else 0.0, np.float32)
    if st.biased:
        offsets += st.user_bias[uk]
    ids, scores = top_n_rows(st, st.user_factors[uk], offsets, n, ex, None, threads)
    rows = k_pos
    if policy == "baseline" and not known.all():
        u_pos = np.flatnonzero(~known)
        vec = np.zeros((1, st.n_factors), np.float32)
        base = np.full(1, st.global_mean, np.float32)
        b_ids, b_scores = top_n_rows(st, vec, base, n, None, None, threads)
        width = ids.shape[1] if ids.ndim == 2 and len(uk) else b_ids.shape[1]
        all_ids = np.full((len(raw), width), -1, np.int64)
        all_scores = np.zeros((len(raw), width), np.float32)
        if len(uk):
            all_ids[k_pos], all_scores[k_pos] = ids, scores
        all_ids[u_pos], all_scores[u_pos] = b_ids[0], b_scores[0]
        ids, scores, rows = all_ids, all_scores, np.arange(len(raw))
    if ids.ndim != 2 or ids.shape[1] == 0 or len(rows) == 0:
        r, slots = np.zeros(0, np.int64), np.zeros(0, np.int64)
        item_ids = st.items.ids_array[:0]
        sc = np.zeros(0, np.float32)
    else:
        valid = ids >= 0
        r, slots = np.nonzero(valid)
        item_ids = st.items.ids(ids[valid])
        sc = scores[valid].astype(np.float32)
    return pa.RecordBatch.from_arrays(
        [
            col.take(pa.array(rows[r], type=pa.int64())),
            _id_array(item_ids, st.items),
            pa.array(sc, type=pa.float32()),
            pa.array((slots + 1).astype(np.int32), type=pa.int32()),
        ],
        names=["user", "item", "score", "rank"],
    )


def _gather(indptr: np.ndarray, values: np.ndarray, rows: np.ndarray) -> tuple[Any, Any]:
    """The CSR rows ``rows`` of ``(indptr, values)``: (row label per entry, entries)."""
    starts = indptr[rows].astype(np.int64)
    counts = (indptr[rows + 1].astype(np.int64) - starts) if len(rows) else starts
    first = np.cumsum(counts) - counts
    take = np.repeat(starts - first, counts) + np.arange(int(counts.sum()))
    return np.repeat(np.arange(len(rows)), counts), values[take]


def _exclusions(
    st: FittedState, uk: np.ndarray, exclude_seen: bool, exclude: Any, user: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The exclusion CSR over the query rows ``uk`` (inner user ids), or None."""
    if exclude is None:
        if not exclude_seen:
            return None
        return (st.seen_indptr, st.seen_indices, uk.astype(np.uint32))
    eu = st.users.numbers(_values(_column(exclude, user, st.users, "user")), missing="negative")
    ei = st.items.numbers(_values(_column(exclude, "item", st.items, "item")), missing="negative")
    keep = (eu >= 0) & (ei >= 0)
    eu, ei = eu[keep], ei[keep]
    order = np.lexsort((ei, eu))
    eu, ei = eu[order], ei[order]
    ex_ptr = np.searchsorted(eu, np.arange(st.n_users + 1)).astype(np.int64)
    labels, items = _gather(ex_ptr, ei, uk)
    if exclude_seen:
        s_labels, s_items = _gather(st.seen_indptr, st.seen_indices.astype(np.int64), uk)
        labels = np.concatenate([labels, s_labels])
        items = np.concatenate([items, s_items])
    keys = np.unique(labels.astype(np.int64) * st.n_items + items.astype(np.int64))
    labels, items = keys // st.n_items, keys % st.n_items
    indptr = np.searchsorted(labels, np.arange(len(uk) + 1)).astype(np.uint64)
    return indptr, items.astype(np.uint32), np.arange(len(uk), dtype=np.uint32)


# -- predict --------------------------------------------------------------------------------
def predict_batch(
    model: MatrixFactorization,
    batch: pa.RecordBatch | pa.Table,
    *,
    user: str = "user",
    item: str = "item",
    output: str = "prediction",
    n_threads: int | None = None,
) -> pa.RecordBatch:
    """The batch with a ``float32`` column ``output`` of predicted ratings of its pairs.

    The values are those of ``model.predict(users, items)`` (unknown users and items follow
    the model's ``unknown`` policy, predictions its ``clip``). ``n_threads`` as in
    :func:`recommend_batch`.

    Raises
    ------
    InvalidParameterError
        A column is missing, holds the wrong id type or nulls, or ``output`` already names
        a column.
    NotFittedError
        The model is not fitted.
    UnknownIdError
        An unknown user or item under ``unknown="error"``.
    """
    pa = _pa()
    model = check_model(model)
    st = model._fitted()
    threads = _threads(n_threads)
    if output in batch.schema.names:
        raise InvalidParameterError(f"the input already has a column {output!r}; pick another")
    u = _values(_column(batch, user, st.users, "user"))
    i = _values(_column(batch, item, st.items, "item"))
    local = copy.copy(model)
    local.n_threads = threads if threads is not None else model.n_threads
    pred = local.predict(u, i)
    arrays = [batch.column(j) for j in range(batch.num_columns)]
    arrays = [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in arrays]
    return pa.RecordBatch.from_arrays(
        [*arrays, pa.array(pred, type=pa.float32())],
        names=[*batch.schema.names, output],
    )


# -- similar items --------------------------------------------------------------------------
def similar_items_batch(
    model: MatrixFactorization,
    batch: pa.RecordBatch | pa.Table,
    n: int = 10,
    *,
    item: str = "item",
    metric: str = "cosine",
    n_threads: int | None = None,
) -> pa.RecordBatch:
    """``item, similar, score, rank`` rows for the items of one batch.

    The rows of ``model.similar_items(items, n, metric)``; an unknown item is an
    :class:`~funkrs.exceptions.UnknownIdError`. ``n_threads`` as in
    :func:`recommend_batch`.
    """
    pa = _pa()
    model = check_model(model)
    st = model._fitted()
    threads = _threads(n_threads)
    n, metric = check_similar_args(n, metric)
    col = _column(batch, item, st.items, "item")
    idx = st.items.numbers(_values(col), missing="error", what="item")
    local = copy.copy(model)
    local.n_threads = threads if threads is not None else model.n_threads
    ids, scores = local._neighbours(st.item_factors, idx, n, metric)
    if ids.ndim != 2 or ids.shape[1] == 0:
        r, slots = np.zeros(0, np.int64), np.zeros(0, np.int64)
        sim, sc = st.items.ids_array[:0], np.zeros(0, np.float32)
    else:
        valid = ids >= 0
        r, slots = np.nonzero(valid)
        sim, sc = st.items.ids(ids[valid]), scores[valid].astype(np.float32)
    return pa.RecordBatch.from_arrays(
        [
            col.take(pa.array(r, type=pa.int64())),
            _id_array(sim, st.items),
            pa.array(sc, type=pa.float32()),
            pa.array((slots + 1).astype(np.int32), type=pa.int32()),
        ],
        names=["item", "similar", "score", "rank"],
    )
