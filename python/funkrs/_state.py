"""The fitted state of a model: one immutable value that fitting builds and persistence stores.

:class:`FittedState` holds everything a fitted :class:`~funkrs.MatrixFactorization` knows
besides its constructor parameters. :meth:`FittedState.validate` checks the invariants the
scoring kernels rely on (shapes, dtypes, finite values, a well-formed seen-items index), so a
state read from a file is either fully usable or rejected with the name of the bad field.
"""

from __future__ import annotations

import dataclasses
import json
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, TypeVar, cast, overload

import numpy as np

from funkrs._vocab import Vocabulary
from funkrs.exceptions import NotFittedError, RatingsError

__all__ = ["HISTORY_FIELDS", "FittedAttributes", "FittedState", "StateField", "history_rows"]

T = TypeVar("T")

#: The columns of the per-epoch training history and the Python type of their values.
HISTORY_FIELDS: dict[str, type] = {
    "epoch": int,
    "feature": int,
    "train_rmse": float,
    "validation_rmse": float,
    "lr": float,
    "seconds": float,
}

# Scores are computed in float32: the largest score a state can produce (bounded by
# |μ| + max|b_u| + max|b_i| + max‖p_u‖·max‖q_i‖ + max|offset|) must stay well inside its range,
# with room for the rounding of a float32 dot product.
_SCORE_LIMIT = float(np.finfo(np.float32).max) / 16
_INT64 = np.iinfo(np.int64)
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def history_rows(history: Any) -> Any:
    """Per-epoch rows restricted to :data:`HISTORY_FIELDS` (missing keys become ``None``).

    Numpy scalars become Python numbers. Anything that is not a list of mappings is returned
    as it is, for :meth:`FittedState.validate` to reject by name.
    """
    if not isinstance(history, (list, tuple)):
        return history
    return tuple(
        {name: _plain(row.get(name)) for name in HISTORY_FIELDS}
        if isinstance(row, Mapping)
        else row
        for row in history
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True, eq=False)
class FittedState:
    """Everything a fitted model learned, as one immutable value.

    Attributes
    ----------
    user_factors, item_factors : numpy.ndarray
        ``float32``, C-contiguous, shapes ``(n_users, k)`` and ``(n_items, k)``.
    user_bias, item_bias : numpy.ndarray
        ``float32``, one per user / item.
    global_mean : float
        ``μ``, the fallback prediction.
    biased : bool
        Whether ``μ + b_u + b_i`` enters predictions of known pairs.
    users, items : Vocabulary
        Raw ids; the position of an id is its row in the factors. Sorted after ``fit``;
        ids added by ``partial_fit`` are appended after the old ones.
    rating_scale : (float, float)
        Lowest and highest training rating (the clipping range).
    seen_indptr, seen_indices : numpy.ndarray
        The items each user rated in training, as CSR: ``uint64`` row pointers
        (``n_users + 1``) and ``uint32`` item numbers, sorted within each row.
    item_rank_offset : numpy.ndarray
        ``float32`` per item, the popularity term ``recommend`` adds to predictions.
    history : tuple of dict
        One row per epoch with the keys of :data:`HISTORY_FIELDS`.
    best_epoch : int or None
        With early stopping, the epoch whose parameters these are.
    solver : str
        Name of the solver that produced the state.
    solver_info : dict
        The solver's diagnostics (``Factors.info``): string keys, JSON values.
    """

    user_factors: np.ndarray
    item_factors: np.ndarray
    user_bias: np.ndarray
    item_bias: np.ndarray
    global_mean: float
    biased: bool
    users: Vocabulary
    items: Vocabulary
    rating_scale: tuple[float, float]
    seen_indptr: np.ndarray
    seen_indices: np.ndarray
    item_rank_offset: np.ndarray
    history: tuple[dict[str, Any], ...] = ()
    best_epoch: int | None = None
    solver: str = ""
    solver_info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        """Number of users."""
        return len(self.users)

    @property
    def n_items(self) -> int:
        """Number of items."""
        return len(self.items)

    @property
    def n_factors(self) -> int:
        """Number of latent factors ``k``."""
        return int(self.user_factors.shape[1])

    def replace(self, **changes: Any) -> FittedState:
        """A copy with ``changes`` applied (not validated)."""
        return dataclasses.replace(self, **changes)

    def validate(self, error: type[Exception]) -> FittedState:
        """Check every invariant; raise ``error`` naming the first bad field, else return self.

        Checks dtypes and contiguity, that shapes agree (factor rows with vocabulary sizes,
        one factor count for users and items), that factors, biases and the popularity term
        are finite and small enough for float32 scores, that the vocabularies are sorted and
        distinct, that the seen-items index is well formed and within the item count, and
        the types of the scalar fields and the history.
        """
        _check_scalars(self, error)
        n_users = _check_vocab("users", self.users, error)
        n_items = _check_vocab("items", self.items, error)
        p = _float_array("user_factors", self.user_factors, 2, error)
        q = _float_array("item_factors", self.item_factors, 2, error)
        _shape("user_factors", p, (n_users, p.shape[1]), error)
        _shape("item_factors", q, (n_items, p.shape[1]), error)
        bu = _float_array("user_bias", self.user_bias, 1, error)
        bi = _float_array("item_bias", self.item_bias, 1, error)
        offset = _float_array("item_rank_offset", self.item_rank_offset, 1, error)
        _shape("user_bias", bu, (n_users,), error)
        _shape("item_bias", bi, (n_items,), error)
        _shape("item_rank_offset", offset, (n_items,), error)
        _check_magnitudes(self, error)
        _check_seen(self.seen_indptr, self.seen_indices, n_users, n_items, error)
        _check_history(self.history, error)
        return self


def _check_scalars(state: FittedState, error: type[Exception]) -> None:
    mu = state.global_mean
    if not _is_float32(mu):
        raise error(f"global_mean must be a finite float32 number, got {mu!r}")
    if not isinstance(state.biased, (bool, np.bool_)):
        raise error(f"biased must be True or False, got {state.biased!r}")
    scale = state.rating_scale
    ok = isinstance(scale, tuple) and len(scale) == 2 and all(_is_float32(v) for v in scale)
    if not ok or scale[0] > scale[1]:
        raise error(f"rating_scale must be two finite numbers (low <= high), got {scale!r}")
    best = state.best_epoch
    if best is not None and (not _is_int(best) or best < 0):
        raise error(f"best_epoch must be None or an integer >= 0, got {best!r}")
    if not isinstance(state.solver, str):
        raise error(f"solver must be a string, got {state.solver!r}")
    _check_info(state.solver_info, error)


def _check_info(info: Any, error: type[Exception]) -> None:
    if not isinstance(info, dict) or not all(isinstance(k, str) for k in info):
        raise error(f"solver_info must be a mapping with string keys, got {info!r}")
    try:
        json.dumps(info, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise error(f"solver_info must hold JSON values only: {exc}") from None


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _is_float32(value: Any) -> bool:
    """A real number that float32 holds without overflow."""
    if not _is_real(value):
        return False
    try:
        return abs(float(value)) <= _FLOAT32_MAX
    except OverflowError:  # an int beyond float64
        return False


def _is_int(value: Any) -> bool:
    if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)):
        return False
    return bool(_INT64.min <= int(value) <= _INT64.max)


def _check_vocab(name: str, vocab: Any, error: type[Exception]) -> int:
    if not isinstance(vocab, Vocabulary):
        raise error(f"{name} must be a Vocabulary, got {type(vocab).__name__}")
    ids = vocab.ids_array
    if not isinstance(ids, np.ndarray) or ids.ndim != 1:
        raise error(f"{name} ids must be a 1-D array, got {getattr(ids, 'shape', ids)!r}")
    if ids.dtype != np.int64 and not (ids.dtype.kind == "U" and ids.dtype.isnative):
        raise error(f"{name} ids must be int64 or unicode strings, got dtype {ids.dtype}")
    # Sorted at fit time; ids added later (partial_fit) are appended, so check distinctness.
    if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])) and len(np.unique(ids)) != len(ids):
        raise error(f"{name} ids must be distinct")
    if len(ids) > _INT64.max // 2 or len(ids) > np.iinfo(np.uint32).max:
        raise error(f"{name} has {len(ids)} ids, more than funkrs can index")
    return len(ids)


def _float_array(name: str, arr: Any, ndim: int, error: type[Exception]) -> np.ndarray:
    if not isinstance(arr, np.ndarray):
        raise error(f"{name} must be a numpy array, got {type(arr).__name__}")
    if arr.dtype != np.float32 or not arr.dtype.isnative:
        raise error(f"{name} must have dtype float32, got {arr.dtype}")
    if arr.ndim != ndim:
        raise error(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if not arr.flags.c_contiguous:
        raise error(f"{name} must be C-contiguous")
    if not np.isfinite(arr).all():
        raise error(f"{name} holds NaN or infinite values")
    return arr


def _shape(name: str, arr: np.ndarray, want: tuple[int, ...], error: type[Exception]) -> None:
    if arr.shape != want:
        raise error(f"{name} has shape {arr.shape}, expected {want} (from the vocabularies)")


def _check_magnitudes(state: FittedState, error: type[Exception]) -> None:
    def biggest(arr: np.ndarray) -> float:
        return float(np.max(np.abs(arr), initial=0.0))

    def longest(arr: np.ndarray) -> float:
        norms = np.sqrt(np.einsum("ij,ij->i", arr, arr, dtype=np.float64))
        return float(np.max(norms, initial=0.0))

    p_len, q_len = longest(state.user_factors), longest(state.item_factors)
    # Each term bounds one part of a score; similar_* also square the vector lengths.
    terms = {
        "global_mean": abs(float(state.global_mean)),
        "user_bias": biggest(state.user_bias),
        "item_bias": biggest(state.item_bias),
        "user_factors and item_factors": p_len * q_len,
        "item_rank_offset": biggest(state.item_rank_offset),
    }
    bound = sum(terms.values())
    worst = max(terms, key=lambda k: terms[k])
    if max(p_len, q_len) ** 2 > bound:
        bound, worst = max(p_len, q_len) ** 2, "user_factors" if p_len > q_len else "item_factors"
    if bound > _SCORE_LIMIT:
        raise error(
            f"{worst} values are so large that scores could reach {bound:.3g}, beyond the "
            "float32 range"
        )


def _check_seen(
    indptr: Any, indices: Any, n_users: int, n_items: int, error: type[Exception]
) -> None:
    if not isinstance(indptr, np.ndarray) or indptr.dtype != np.uint64 or indptr.ndim != 1:
        raise error(f"seen_indptr must be a 1-D uint64 array, got {_describe(indptr)}")
    if not isinstance(indices, np.ndarray) or indices.dtype != np.uint32 or indices.ndim != 1:
        raise error(f"seen_indices must be a 1-D uint32 array, got {_describe(indices)}")
    if not (indptr.dtype.isnative and indices.dtype.isnative):
        raise error("seen_indptr and seen_indices must be in native byte order")
    if not (indptr.flags.c_contiguous and indices.flags.c_contiguous):
        raise error("seen_indptr and seen_indices must be C-contiguous")
    if indptr.shape != (n_users + 1,):
        raise error(f"seen_indptr has {len(indptr)} entries, expected n_users + 1 = {n_users + 1}")
    if indptr[0] != 0 or indptr[-1] != len(indices):
        raise error(
            f"seen_indptr must start at 0 and end at len(seen_indices) = {len(indices)}, "
            f"got {int(indptr[0])} .. {int(indptr[-1])}"
        )
    if len(indptr) > 1 and not bool(np.all(indptr[1:] >= indptr[:-1])):
        raise error("seen_indptr must be non-decreasing")
    if len(indices) and int(indices.max()) >= n_items:
        raise error(f"seen_indices holds item {int(indices.max())}, past the {n_items} items")
    # Within a row the items must increase (the kernels binary-search them).
    if len(indices) > 1:
        falls = np.flatnonzero(indices[1:] <= indices[:-1]) + 1
        row_starts = indptr[1:-1][indptr[1:-1] < len(indices)].astype(np.int64)
        is_start = np.zeros(len(indices), dtype=bool)
        is_start[row_starts] = True
        if not bool(is_start[falls].all()):
            raise error("seen_indices must be sorted and distinct within each user's row")


def _describe(arr: Any) -> str:
    if isinstance(arr, np.ndarray):
        return f"dtype {arr.dtype} and shape {arr.shape}"
    return type(arr).__name__


def _check_history(history: Any, error: type[Exception]) -> None:
    if not isinstance(history, tuple):
        raise error(f"history must be a tuple of rows, got {type(history).__name__}")
    for j, row in enumerate(history):
        if not isinstance(row, dict) or set(row) != set(HISTORY_FIELDS):
            keys = sorted(row) if isinstance(row, dict) else type(row).__name__
            raise error(f"history row {j} must have the keys {list(HISTORY_FIELDS)}, got {keys}")
        for name, kind in HISTORY_FIELDS.items():
            value = row[name]
            ok = value is None or (_is_int(value) if kind is int else _is_real(value))
            if not ok:
                raise error(f"history row {j}: {name} must be a {kind.__name__}, got {value!r}")


class StateField(Generic[T]):
    """A fitted attribute: a view of one field of the owner's :class:`FittedState`.

    Assigning to it replaces the state by a validated copy, so the fitted attributes never
    disagree with each other.
    """

    def __init__(self, field: str, doc: str) -> None:
        self.field = field
        self.__doc__ = doc

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> StateField[T]: ...
    @overload
    def __get__(self, obj: FittedAttributes, owner: type[Any] | None = None) -> T: ...
    def __get__(
        self, obj: FittedAttributes | None, owner: type[Any] | None = None
    ) -> T | StateField[T]:
        if obj is None:
            return self
        return cast("T", getattr(obj._fitted(), self.field))

    def __set__(self, obj: FittedAttributes, value: T) -> None:
        obj._adopt(obj._fitted().replace(**{self.field: value}))


class FittedAttributes:
    """Mixin: an estimator that stores one :class:`FittedState` (``None`` until fitted).

    The scikit-learn style fitted attributes (``user_factors_``, ``users_``, ...) are views
    of the state's fields; reading one before ``fit`` raises :class:`NotFittedError`.
    """

    _state: FittedState | None = None

    user_factors_ = StateField[np.ndarray]("user_factors", "``float32`` ``(n_users_, k)``.")
    item_factors_ = StateField[np.ndarray]("item_factors", "``float32`` ``(n_items_, k)``.")
    user_bias_ = StateField[np.ndarray]("user_bias", "``float32`` per user (0 if unbiased).")
    item_bias_ = StateField[np.ndarray]("item_bias", "``float32`` per item (0 if unbiased).")
    global_mean_ = StateField[float]("global_mean", "``μ``, the fallback prediction.")
    biased_ = StateField[bool]("biased", "Whether ``μ + b_u + b_i`` enters predictions.")
    users_ = StateField[Vocabulary]("users", "Raw user ids; position = row of the factors.")
    items_ = StateField[Vocabulary]("items", "Raw item ids; position = row of the factors.")
    rating_scale_ = StateField[tuple[float, float]]("rating_scale", "Training rating range.")
    best_epoch_ = StateField[int | None]("best_epoch", "The epoch kept by early stopping.")
    solver_ = StateField[str]("solver", "Name of the solver that fitted the model.")
    item_rank_offset_ = StateField[np.ndarray](
        "item_rank_offset", "``float32`` per item: the popularity term of ``recommend``."
    )
    _seen_indptr = StateField[np.ndarray]("seen_indptr", "CSR row pointers of seen items.")
    _seen_indices = StateField[np.ndarray]("seen_indices", "CSR item numbers of seen items.")

    @property
    def solver_info_(self) -> Mapping[str, Any]:
        """The solver's diagnostics from the fit (read-only; empty if it reported none).

        For example ``imputed-svd``'s ``path``, ``n_iter``, ``residual`` and ``converged``.
        Model files keep them; files written without them load with an empty mapping.
        """
        return MappingProxyType(self._fitted().solver_info)

    @property
    def n_users_(self) -> int:
        """Number of users (seen in training or folded in)."""
        return self._fitted().n_users

    @property
    def n_items_(self) -> int:
        """Number of items seen in training."""
        return self._fitted().n_items

    def __sklearn_is_fitted__(self) -> bool:
        """Whether the estimator is fitted (scikit-learn's ``check_is_fitted`` asks this)."""
        return self._state is not None

    def _fitted(self) -> FittedState:
        if self._state is None:
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(ratings) first"
            )
        return self._state

    def _adopt(self, state: FittedState) -> None:
        """Make ``state`` the fitted state once it validates (else nothing changes)."""
        self._state = state.validate(RatingsError)
