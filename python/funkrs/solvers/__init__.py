"""The solver registry: swap solvers by name, or plug in your own.

Built-in solvers are imported lazily on first use. Third-party packages add solvers with the
entry-point group ``funkrs.solvers`` (``name = "package.module:SolverClass"``) or at run time
with the :func:`register` decorator. A plugin that fails to import only warns; it never breaks
``import funkrs``.

A solver is a class whose constructor takes the solver-specific options (the
``solver_options`` mapping of :class:`funkrs.MatrixFactorization`, as keyword arguments) and
whose :meth:`Solver.fit` turns :class:`funkrs.Ratings` into :class:`Factors`.

Examples
--------
>>> import funkrs
>>> "funk-sgd" in funkrs.solvers.available()
True
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, runtime_checkable

import numpy as np

from funkrs._checks import check_bool
from funkrs._funkrs import SGD_DEFAULTS
from funkrs.exceptions import (
    InvalidParameterError,
    NonFiniteError,
    ShapeError,
    SolverNotFoundError,
)

if TYPE_CHECKING:
    from funkrs._ratings import Ratings

__all__ = [
    "ENTRY_POINT_GROUP",
    "EpochCallback",
    "ValidationSet",
    "Factors",
    "FitParams",
    "Solver",
    "available",
    "get",
    "register",
]

ENTRY_POINT_GROUP = "funkrs.solvers"

#: Called after each epoch with a dict of ``epoch``, ``feature``, ``train_rmse``,
#: ``validation_rmse``, ``lr`` and ``seconds``; returning ``False`` stops training.
EpochCallback = Callable[[dict[str, Any]], "bool | None"]


@dataclass(frozen=True)
class ValidationSet:
    """Held-out ratings in the training data's inner ids (``-1`` for ids unseen in training).

    Built by :meth:`funkrs.MatrixFactorization.fit` from its ``validation`` argument and passed
    to solvers whose ``fit`` accepts a ``validation`` keyword.
    """

    users: np.ndarray
    items: np.ndarray
    values: np.ndarray
    rating_scale: tuple[float, float]


@dataclass(frozen=True)
class FitParams:
    """Hyperparameters shared by every solver (each solver documents which it uses).

    The defaults are the Rust core's (``funkrs._funkrs.SGD_DEFAULTS``).
    """

    n_factors: int = SGD_DEFAULTS.n_factors
    n_epochs: int = SGD_DEFAULTS.n_epochs
    lr: float = SGD_DEFAULTS.lr
    reg: float = SGD_DEFAULTS.reg
    init_std: float = SGD_DEFAULTS.init_std
    biased: bool = True


@dataclass(frozen=True, eq=False)
class Factors:
    """What a solver returns: the learned parameters of ``μ + b_u + b_i + p_u·q_i``.

    Attributes
    ----------
    user_factors : numpy.ndarray
        ``float32``, shape ``(n_users, n_factors)``, C-contiguous.
    item_factors : numpy.ndarray
        ``float32``, shape ``(n_items, n_factors)``, C-contiguous.
    user_bias, item_bias : numpy.ndarray
        ``float32``, one per user / item (zeros for unbiased models).
    global_mean : float
        The mean training rating; the fallback prediction.
    biased : bool
        Whether ``μ + b_u + b_i`` enters predictions of known pairs.
    history : list of dict
        One entry per epoch with the keys of :data:`EpochCallback` (may be empty).
    best_epoch : int or None
        With early stopping, the epoch whose parameters these are.
    ranking : bool
        The parameters were trained for top-N lists and already rank often-chosen items up
        (a ranking objective, PureSVD's zero fill, item counts), so ``recommend`` adds no
        popularity term under ``popularity_weight="auto"``.
    """

    user_factors: np.ndarray
    item_factors: np.ndarray
    user_bias: np.ndarray
    item_bias: np.ndarray
    global_mean: float
    biased: bool = True
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    ranking: bool = False

    def validate(self, n_users: int, n_items: int, n_factors: int | None = None) -> Factors:
        """Check shapes, dtypes and finiteness; return a copy with canonical dtypes."""
        p = np.ascontiguousarray(self.user_factors, dtype=np.float32)
        q = np.ascontiguousarray(self.item_factors, dtype=np.float32)
        bu = np.ascontiguousarray(self.user_bias, dtype=np.float32).reshape(-1)
        bi = np.ascontiguousarray(self.item_bias, dtype=np.float32).reshape(-1)
        k = p.shape[1] if p.ndim == 2 else -1
        expected = {
            "user_factors": (p.shape, (n_users, k)),
            "item_factors": (q.shape, (n_items, k)),
            "user_bias": (bu.shape, (n_users,)),
            "item_bias": (bi.shape, (n_items,)),
        }
        for name, (got, want) in expected.items():
            if got != want:
                raise ShapeError(f"solver returned {name} of shape {got}, expected {want}")
        if n_factors is not None and k != n_factors:
            raise ShapeError(f"solver returned {k} factors, expected {n_factors}")
        for name, arr in (
            ("user_factors", p),
            ("item_factors", q),
            ("user_bias", bu),
            ("item_bias", bi),
        ):
            if not np.isfinite(arr).all():
                raise NonFiniteError(f"solver returned non-finite values in {name}")
        mu = float(self.global_mean)
        if not np.isfinite(mu):
            raise NonFiniteError("solver returned a non-finite global_mean")
        return Factors(
            p, q, bu, bi, mu, bool(self.biased), list(self.history), self.best_epoch, self.ranking
        )


@runtime_checkable
class Solver(Protocol):
    """The interface every solver implements.

    The constructor receives ``solver_options`` as keyword arguments and should reject
    unknown ones with ``TypeError``. A solver that can score held-out ratings during
    training also accepts a ``validation`` keyword (a :class:`ValidationSet`).
    """

    name: ClassVar[str]

    def fit(
        self,
        ratings: Ratings,
        params: FitParams,
        *,
        seed: int,
        n_threads: int | None,
        callback: EpochCallback | None = None,
    ) -> Factors:
        """Learn factors from ``ratings``; see :class:`Factors` for the contract."""
        ...


_KNOWN: dict[str, str] = {
    "funk-sgd": "funkrs.solvers._sgd:FunkSGD",
    "exact-svd": "funkrs.solvers._svd:ExactSVD",
    "imputed-svd": "funkrs.solvers._svd:ImputedSVD",
    "baseline": "funkrs.solvers._reference:Baseline",
    "popularity": "funkrs.solvers._reference:Popularity",
}
_REGISTRY: dict[str, type[Any]] = {}
_entry_points_loaded = False

S = TypeVar("S", bound=type[Any])


def register(name: str | None = None, *, overwrite: bool = False) -> Callable[[S], S]:
    """Class decorator that registers a solver under ``name`` (default: ``cls.name``).

    Parameters
    ----------
    name : str, optional
        Registry name, e.g. ``"my-solver"``.
    overwrite : bool
        Replace an existing solver of that name (with a warning) instead of raising.

    Raises
    ------
    funkrs.exceptions.InvalidParameterError
        The name is missing or taken (and ``overwrite`` is False), or the class has no
        ``fit`` method.
    """
    replace = check_bool("overwrite", overwrite)

    def deco(cls: S) -> S:
        key = name or getattr(cls, "name", None)
        if not isinstance(key, str) or not key:
            raise InvalidParameterError(
                f"a solver needs a name: register('name') or a `name` attribute, got name={key!r}"
            )
        if not callable(getattr(cls, "fit", None)):
            raise InvalidParameterError(f"solver {key!r} ({cls.__name__}) has no fit() method")
        taken = key in _REGISTRY or key in _KNOWN
        if taken and not replace:
            raise InvalidParameterError(
                f"a solver named {key!r} is already registered; pass overwrite=True to replace it"
            )
        if taken:
            warnings.warn(f"replacing the solver registered as {key!r}", UserWarning, stacklevel=2)
            _KNOWN.pop(key, None)
        if getattr(cls, "name", None) != key:
            cls.name = key
        _REGISTRY[key] = cls
        return cls

    return deco


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _REGISTRY or ep.name in _KNOWN:
            continue
        try:
            cls = ep.load()
            register(ep.name)(cls)
        except Exception as exc:
            warnings.warn(
                f"funkrs: skipping solver plugin {ep.name!r} ({ep.value}): "
                f"{type(exc).__name__}: {exc}",
                RuntimeWarning,
                stacklevel=3,
            )


def available() -> list[str]:
    """Names of every registered solver (built-in, registered and from entry points), sorted."""
    _load_entry_points()
    return sorted(set(_KNOWN) | set(_REGISTRY))


def get(name: str) -> type[Any]:
    """The solver class registered as ``name``.

    Raises
    ------
    SolverNotFoundError
        No such solver; the message lists the available ones.
    ImportError
        A built-in solver's module failed to import.
    """
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name in _KNOWN:
        module, _, attr = _KNOWN[name].partition(":")
        try:
            cls: type[Any] = getattr(importlib.import_module(module), attr)
        except ImportError as exc:
            raise ImportError(
                f"solver {name!r} could not be imported ({exc}); reinstall funkrs"
            ) from exc
        _REGISTRY[name] = cls
        return cls
    _load_entry_points()
    found = _REGISTRY.get(name)
    if found is not None:
        return found
    raise SolverNotFoundError(
        f"unknown solver {name!r}; available solvers: {', '.join(available())}"
    )
