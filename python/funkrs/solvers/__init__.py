"""The solver registry and the solver protocol (version 2): swap solvers by name, or add your own.

Built-in solvers are imported lazily on first use. Third-party packages add solvers with the
entry-point group ``funkrs.solvers`` (``name = "package.module:SolverClass"``) or at run time
with the :func:`register` decorator. A plugin that fails to import only warns; it never breaks
``import funkrs``. Built-in and third-party solvers go through the same checks.

The protocol
------------
A solver is a class. Its constructor takes the solver's options as keyword arguments: the
``solver_options`` of :class:`funkrs.MatrixFactorization`, plus those of the estimator's named
arguments the solver declares in ``estimator_params``. Its ``fit(ratings, params, **extra)``
turns :class:`funkrs.Ratings` and the :class:`SolverParams` every solver gets (``n_factors``,
``seed``, ``n_threads``) into :class:`Factors`. The class declares what it accepts:

``protocol_version = 2``
    Required; a class without it is a version-1 solver (see below).
``feedback`` : ``"explicit"`` (default) or ``"implicit"``
    ``"explicit"`` models fit rating values and are judged by RMSE; ``"implicit"`` models use
    whether a user interacted with an item (values at most as weights) and are judged by their
    top-N lists (their predictions are scores, not ratings).
``supports_validation`` : bool, default False
    ``fit`` accepts ``validation=`` (a :class:`ValidationSet`). Otherwise
    ``MatrixFactorization.fit(validation=...)`` is an ``InvalidParameterError``.
``supports_callback`` : bool, default False
    ``fit`` accepts ``callback=`` (an :data:`EpochCallback`) and calls it once per epoch.
    Otherwise the solver has no epochs, never gets a callback and never calls one.
``estimator_params`` : frozenset of str, default empty
    Which of the estimator's named arguments in :data:`ESTIMATOR_PARAMS` are this solver's
    options; the estimator passes their values to the constructor. One of them set away from
    its default for a solver that does not declare it is an ``InvalidParameterError``.
``rank_limited`` : bool, default False
    ``fit`` may return fewer than ``n_factors`` factor columns (a rank-limited method, or none
    at all for a model without a latent space); never more. Otherwise the width must equal
    ``n_factors``.

``predicts_ratings`` : bool, default True
    Optional. False for a model whose predictions are not ratings (preference scores):
    :func:`funkrs.evaluate` then refuses ``"rmse"`` and ``"mae"`` for it.

``extra`` holds ``validation`` and ``callback`` only when the solver declares them and the
caller gave them. :func:`capabilities` reads the declarations, checked.

Names
-----
A name belongs to whoever claims it first, in this order: the built-in solvers, then entry
points (in the order :func:`importlib.metadata.entry_points` lists them), then
:func:`register` calls as they run (the first :func:`register` call loads the entry points, so
the order does not depend on when the registry is first used). A later claim of a taken name
is ignored with a :class:`~funkrs.exceptions.SolverNameClashWarning` naming both sources,
unless it is ``register(name, overwrite=True)``, which takes the name over (with the same
warning).

Version 1 (deprecated)
----------------------
A class without ``protocol_version = 2`` is a version-1 solver: its ``fit(ratings,
FitParams, *, seed, n_threads, callback=None)`` gets every hyperparameter in a
:class:`FitParams`, declares nothing, and its output width is not checked. It keeps working,
and each fit issues a ``DeprecationWarning`` saying what to change. The built-in solvers also
accept that call (a :class:`FitParams` and ``seed``/``n_threads`` keywords) from code that
drives them directly.

Examples
--------
>>> import funkrs
>>> "funk-sgd" in funkrs.solvers.available()
True
>>> funkrs.solvers.capabilities("funk-sgd").supports_validation
True
"""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, TypeVar, runtime_checkable

import numpy as np

from funkrs._checks import check_bool
from funkrs._funkrs import SGD_DEFAULTS
from funkrs.exceptions import (
    InvalidParameterError,
    NonFiniteError,
    ShapeError,
    SolverNameClashWarning,
    SolverNotFoundError,
)

if TYPE_CHECKING:
    from funkrs._ratings import Ratings

__all__ = [
    "ENTRY_POINT_GROUP",
    "ESTIMATOR_PARAMS",
    "PROTOCOL_VERSION",
    "Capabilities",
    "EpochCallback",
    "Factors",
    "FitParams",
    "Solver",
    "SolverParams",
    "ValidationSet",
    "available",
    "capabilities",
    "get",
    "register",
]

ENTRY_POINT_GROUP = "funkrs.solvers"

#: The current version of the solver protocol.
PROTOCOL_VERSION = 2

#: The estimator's named arguments that are solver options (funk-sgd's, by default): a solver
#: lists the ones it takes in ``estimator_params``.
ESTIMATOR_PARAMS: tuple[str, ...] = ("n_epochs", "lr", "reg", "init_std", "biased")

#: Called after each epoch with a dict of ``epoch``, ``feature``, ``train_rmse``,
#: ``validation_rmse``, ``lr`` and ``seconds``; returning ``False`` stops training.
EpochCallback = Callable[[dict[str, Any]], "bool | None"]


@dataclass(frozen=True)
class ValidationSet:
    """Held-out ratings in the training data's inner ids (``-1`` for ids unseen in training).

    Built by :meth:`funkrs.MatrixFactorization.fit` from its ``validation`` argument and passed
    to solvers that declare ``supports_validation = True``.
    """

    users: np.ndarray
    items: np.ndarray
    values: np.ndarray
    rating_scale: tuple[float, float]


@dataclass(frozen=True)
class SolverParams:
    """What every solver's ``fit`` gets besides the ratings (protocol version 2).

    Attributes
    ----------
    n_factors : int
        Width of the factor matrices to return (at most this with ``rank_limited``).
    seed : int
        64-bit seed; a fixed seed must give bit-identical factors at any ``n_threads``.
    n_threads : int or None
        Threads to use; None means the library default (``FUNKRS_NUM_THREADS`` or all cores).
    """

    n_factors: int
    seed: int = 0
    n_threads: int | None = None


@dataclass(frozen=True)
class FitParams:
    """The hyperparameters a version-1 solver's ``fit`` gets (deprecated; see the module).

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
    info : mapping
        The solver's diagnostics (iterations, residuals, convergence, ...): string keys and
        JSON values (numbers, strings, booleans, None, lists and mappings of them). The
        fitted model exposes them as ``solver_info_`` and model files keep them.
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
    info: Mapping[str, Any] = field(default_factory=dict)

    def validate(
        self, n_users: int, n_items: int, n_factors: int | None = None, *, solver: str = ""
    ) -> Factors:
        """Check shapes, dtypes, finiteness and ``info``; return a copy with canonical dtypes.

        ``n_factors`` (if given) is the exact width required; ``solver`` names the solver in
        the messages.
        """
        who = f"solver {solver!r}" if solver else "solver"
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
                raise ShapeError(f"{who} returned {name} of shape {got}, expected {want}")
        if n_factors is not None and k != n_factors:
            raise ShapeError(f"{who} returned {k} factors, expected {n_factors}")
        for name, arr in (
            ("user_factors", p),
            ("item_factors", q),
            ("user_bias", bu),
            ("item_bias", bi),
        ):
            if not np.isfinite(arr).all():
                raise NonFiniteError(f"{who} returned non-finite values in {name}")
        mu = float(self.global_mean)
        if not np.isfinite(mu):
            raise NonFiniteError(f"{who} returned a non-finite global_mean")
        info = plain_info(self.info, who)
        return Factors(
            p,
            q,
            bu,
            bi,
            mu,
            bool(self.biased),
            list(self.history),
            self.best_epoch,
            self.ranking,
            info,
        )


def plain_info(info: Any, who: str = "solver") -> dict[str, Any]:
    """``info`` as a plain JSON-compatible dict (numpy scalars become Python numbers).

    Raises
    ------
    InvalidParameterError
        ``info`` is not a mapping with string keys, or holds a value JSON cannot represent
        (an object, NaN or infinity); the message names the key.
    """
    if not isinstance(info, Mapping):
        raise InvalidParameterError(
            f"{who} returned info of type {type(info).__name__}, not a mapping"
        )
    return {str(k): _json_value(v, f"{who} info[{k!r}]") for k, v in _str_keys(info, who).items()}


def _str_keys(info: Mapping[Any, Any], who: str) -> Mapping[str, Any]:
    for key in info:
        if not isinstance(key, str):
            raise InvalidParameterError(f"{who} returned info with a non-string key {key!r}")
    return info


def _json_value(value: Any, where: str) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidParameterError(f"{where} is {value}, which a model file cannot hold")
        return value
    if isinstance(value, (list, tuple)):
        return [_json_value(v, f"{where}[{j}]") for j, v in enumerate(value)]
    if isinstance(value, Mapping):
        return {
            str(k): _json_value(v, f"{where}[{k!r}]") for k, v in _str_keys(value, where).items()
        }
    raise InvalidParameterError(
        f"{where} is a {type(value).__name__}; solver info holds numbers, strings, booleans, "
        "None, and lists or mappings of them"
    )


@runtime_checkable
class Solver(Protocol):
    """The interface every solver implements (protocol version 2; see the module docs)."""

    name: ClassVar[str]
    protocol_version: ClassVar[int]

    def fit(self, ratings: Ratings, params: SolverParams, **extra: Any) -> Factors:
        """Learn factors from ``ratings``; see :class:`Factors` for the contract."""
        ...


@dataclass(frozen=True)
class Capabilities:
    """What a solver class declares (see the module docs); built by :func:`capabilities`."""

    protocol_version: int
    feedback: Literal["explicit", "implicit"] = "explicit"
    supports_validation: bool = False
    supports_callback: bool = False
    estimator_params: frozenset[str] = frozenset()
    rank_limited: bool = False


def capabilities(solver: str | type[Any]) -> Capabilities:
    """The checked declarations of a solver class, or of the solver registered as ``solver``.

    A version-1 class gets the version-1 behaviour: every estimator argument goes to its
    :class:`FitParams`, it always gets the callback, and it takes ``validation`` when its
    ``fit`` has such a parameter.

    Raises
    ------
    SolverNotFoundError
        ``solver`` is a name and no such solver is registered.
    InvalidParameterError
        A declaration has the wrong type or value (the message names it).
    """
    cls = get(solver) if isinstance(solver, str) else solver
    return _declared(cls, getattr(cls, "name", cls.__name__))


def _declared(cls: type[Any], key: str) -> Capabilities:
    version = getattr(cls, "protocol_version", 1)
    if version == 1:
        return _v1_capabilities(cls)
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise InvalidParameterError(
            f"solver {key!r} ({_where(cls)}) declares protocol_version = {version!r}; this funkrs "
            f"implements versions 1 (deprecated) and {PROTOCOL_VERSION}"
        )
    flags = {}
    for attr in ("supports_validation", "supports_callback", "rank_limited"):
        value = getattr(cls, attr, False)
        if not isinstance(value, bool):
            raise InvalidParameterError(
                f"solver {key!r} declares {attr} = {value!r}; it must be True or False"
            )
        flags[attr] = value
    feedback: Any = getattr(cls, "feedback", "explicit")
    if feedback not in ("explicit", "implicit"):
        raise InvalidParameterError(
            f"solver {key!r} declares feedback = {feedback!r}; it must be 'explicit' or 'implicit'"
        )
    taken: Any = getattr(cls, "estimator_params", frozenset())
    if isinstance(taken, str) or not all(isinstance(n, str) for n in taken):
        raise InvalidParameterError(
            f"solver {key!r} declares estimator_params = {taken!r}; it must be a set of names"
        )
    unknown = sorted(set(taken) - set(ESTIMATOR_PARAMS))
    if unknown:
        raise InvalidParameterError(
            f"solver {key!r} declares estimator_params {unknown}, which are not estimator "
            f"arguments; they are among {list(ESTIMATOR_PARAMS)} (other options go in "
            "solver_options)"
        )
    return Capabilities(
        protocol_version=version,
        feedback=feedback,
        estimator_params=frozenset(taken),
        **flags,
    )


def _v1_capabilities(cls: type[Any]) -> Capabilities:
    """What version 1 implied: every estimator argument, the callback, validation if in ``fit``."""
    try:
        takes_validation = "validation" in inspect.signature(cls.fit).parameters
    except (TypeError, ValueError):  # a fit without a readable signature
        takes_validation = False
    return Capabilities(
        protocol_version=1,
        supports_validation=takes_validation,
        supports_callback=True,
        estimator_params=frozenset(ESTIMATOR_PARAMS),
        rank_limited=True,
    )


F = TypeVar("F", bound=Callable[..., Factors])


def accepts_v1_calls(fit: F) -> F:
    """Decorate a version-2 ``fit`` so that it also takes the version-1 call.

    ``fit(ratings, FitParams(...), seed=..., n_threads=..., callback=..., validation=...)``
    runs the version-2 ``fit`` of a shallow copy of the solver whose ``estimator_params``
    attributes are set from the :class:`FitParams` (unchecked, as version 1 passed them).
    """

    @functools.wraps(fit)
    def wrapper(self: Any, ratings: Ratings, params: Any, **extra: Any) -> Factors:
        if not isinstance(params, FitParams):
            return fit(self, ratings, params, **extra)
        caps = capabilities(type(self))
        seed, n_threads = extra.pop("seed", 0), extra.pop("n_threads", None)
        if not caps.supports_callback:
            extra.pop("callback", None)
        solver = self
        if caps.estimator_params:
            solver = copy.copy(self)
            for name in caps.estimator_params:
                setattr(solver, name, getattr(params, name))
        return fit(solver, ratings, SolverParams(params.n_factors, seed, n_threads), **extra)

    return wrapper  # type: ignore[return-value]


# -- the registry ---------------------------------------------------------------------------
#: The built-in solvers: name -> "module:Class", imported on first use. One line per solver.
_KNOWN: dict[str, str] = {
    "funk-sgd": "funkrs.solvers._sgd:FunkSGD",
    "exact-svd": "funkrs.solvers._svd:ExactSVD",
    "imputed-svd": "funkrs.solvers._svd:ImputedSVD",
    "baseline": "funkrs.solvers._reference:Baseline",
    "popularity": "funkrs.solvers._reference:Popularity",
    "implicit-als": "funkrs.solvers._implicit_als:ImplicitALS",
    "als": "funkrs.solvers._als:ALS",
}
_REGISTRY: dict[str, type[Any]] = {}
#: Where each registered (or built-in) name comes from, for the clash warnings.
_SOURCES: dict[str, str] = {}
_entry_points_loaded = False

S = TypeVar("S", bound=type[Any])


def register(name: str | None = None, *, overwrite: bool = False) -> Callable[[S], S]:
    """Class decorator that registers a solver under ``name`` (default: ``cls.name``).

    Parameters
    ----------
    name : str, optional
        Registry name, e.g. ``"my-solver"``.
    overwrite : bool
        Take the name over if another solver holds it. Either way a clash issues a
        :class:`~funkrs.exceptions.SolverNameClashWarning` naming both solvers; without
        ``overwrite`` the solver already registered keeps the name (see the module docs).

    Raises
    ------
    funkrs.exceptions.InvalidParameterError
        The name is missing, the class has no ``fit`` method, or a declaration of the
        protocol has the wrong type or value.
    """
    replace = check_bool("overwrite", overwrite)

    def deco(cls: S) -> S:
        key = name or getattr(cls, "name", None)
        if not isinstance(key, str) or not key:
            raise InvalidParameterError(
                f"a solver needs a name: register('name') or a `name` attribute, got name={key!r}"
            )
        _load_entry_points()
        _admit(key, cls, f"register() of {_where(cls)}", replace=replace, stacklevel=3)
        return cls

    return deco


def _where(cls: type[Any]) -> str:
    return f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', cls.__name__)}"


def _check_class(key: str, cls: type[Any]) -> None:
    if not callable(getattr(cls, "fit", None)):
        raise InvalidParameterError(f"solver {key!r} ({_where(cls)}) has no fit() method")
    _declared(cls, key)


def _holder(key: str) -> str | None:
    """Where the solver now named ``key`` comes from, or None if the name is free."""
    if key in _SOURCES:
        return _SOURCES[key]
    if key in _KNOWN:
        return f"built-in {_KNOWN[key]}"
    return None


def _admit(key: str, cls: type[Any], source: str, *, replace: bool, stacklevel: int) -> bool:
    """Register ``cls`` as ``key`` under the naming rule; True if it now holds the name."""
    _check_class(key, cls)
    holder = _holder(key)
    if holder is not None and _REGISTRY.get(key) is cls:
        return True  # the same class claiming its name again (e.g. a self-registering plugin)
    if holder is not None:
        verdict = f"{source} takes it over" if replace else f"{source} is ignored"
        warnings.warn(
            f"two solvers claim the name {key!r}: {holder} holds it and {verdict}",
            SolverNameClashWarning,
            stacklevel=stacklevel + 1,
        )
        if not replace:
            return False
        _KNOWN.pop(key, None)
    if getattr(cls, "name", None) != key:
        cls.name = key
    _REGISTRY[key] = cls
    _SOURCES[key] = source
    return True


def _entry_point_source(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    where = f" of {dist.name} {dist.version}" if dist is not None else ""
    return f"entry point {ep.name} = {ep.value}{where}"


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        source = _entry_point_source(ep)
        holder = _holder(ep.name)
        if holder is not None and holder.startswith("built-in "):
            # Built-ins always keep their names: the plugin is not even imported.
            warnings.warn(
                f"two solvers claim the name {ep.name!r}: {holder} holds it and {source} is "
                "ignored",
                SolverNameClashWarning,
                stacklevel=4,
            )
            continue
        try:
            cls = ep.load()
        except Exception as exc:
            warnings.warn(
                f"funkrs: skipping solver plugin {ep.name!r} ({ep.value}): "
                f"{type(exc).__name__}: {exc}",
                RuntimeWarning,
                stacklevel=4,
            )
            continue
        try:
            _admit(ep.name, cls, source, replace=False, stacklevel=4)
        except InvalidParameterError as exc:
            warnings.warn(
                f"funkrs: skipping solver plugin {ep.name!r} ({ep.value}): {exc}",
                RuntimeWarning,
                stacklevel=4,
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
        _check_class(name, cls)
        _REGISTRY[name] = cls
        _SOURCES[name] = f"built-in {_KNOWN[name]}"
        return cls
    _load_entry_points()
    found = _REGISTRY.get(name)
    if found is not None:
        return found
    raise SolverNotFoundError(
        f"unknown solver {name!r}; available solvers: {', '.join(available())}"
    )
