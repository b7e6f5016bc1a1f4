"""The user-facing estimator :class:`MatrixFactorization`."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from funkrs import _funkrs, persistence
from funkrs import solvers as _solvers
from funkrs._base import BaseEstimator
from funkrs._checks import (
    INT64_MAX,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_random_state,
    is_real,
    show_value,
)
from funkrs._funkrs import SGD_DEFAULTS
from funkrs._ratings import Ratings
from funkrs._scoring import ScoringMixin, popularity_slope, require_ratings
from funkrs._state import HISTORY_FIELDS, FittedState, history_rows
from funkrs._vocab import show_id
from funkrs.exceptions import (
    FunkrsError,
    InvalidParameterError,
    ModelFileError,
    ShapeError,
    UnknownIdError,
)

if TYPE_CHECKING:
    from funkrs.solvers import Capabilities, EpochCallback, Factors

__all__ = ["MatrixFactorization", "load"]

UnknownPolicy = Literal["baseline", "nan", "error"]
_POLICIES = ("baseline", "nan", "error")


class MatrixFactorization(ScoringMixin, BaseEstimator):
    """Matrix factorization for explicit ratings: ``r̂ = μ + b_u + b_i + p_u·q_i``.

    The solver is chosen by name (see :func:`funkrs.solvers.available`). ``n_factors``,
    ``random_state`` and ``n_threads`` go to every solver. ``n_epochs``, ``lr``, ``reg``,
    ``init_std`` and ``biased`` are options of the solvers that take them (funk-sgd, the
    default, takes all five; see :func:`funkrs.solvers.capabilities`); setting one away from
    its default for a solver that does not take it is an ``InvalidParameterError`` naming
    it. Every other solver setting goes in ``solver_options``.

    The names follow Surprise's ``SVD``. The defaults are the Rust core's
    (``funkrs._funkrs.SGD_DEFAULTS``): ``n_factors=100, n_epochs=20, lr=0.025, reg=0.035,
    init_std=0.005``, in the standardised units funk-sgd trains in (the ratings centred and
    scaled; see the README), where Surprise uses ``lr=0.005, reg=0.02, init_std=0.1`` on the
    raw ratings for the same 100 factors and 20 epochs. They were chosen on validation splits
    carved out of training data, never on a test set (``benchmarks/tune_defaults.py``); on
    the fixed MovieLens-small split (:func:`funkrs.datasets.movielens_small_split`) they give
    a test RMSE of 0.866-0.868 for ``random_state`` 0-2, against 0.888 for Surprise's own
    ``SVD()``.
    :meth:`surprise_defaults` builds an estimator with Surprise's values.

    Parameters
    ----------
    solver : str
        Registered solver name, ``"funk-sgd"`` by default.
    n_factors : int
        Number of latent factors.
    n_epochs : int
        Passes over the training ratings (funk-sgd). Surprise: 20.
    lr : float
        Learning rate (funk-sgd). Surprise: 0.005.
    reg : float
        L2 regularisation of factors and biases (funk-sgd); also the default ``reg`` of
        :meth:`fold_in`. Surprise: 0.02.
    init_std : float
        Standard deviation of the random initial factors (funk-sgd).
    biased : bool
        Learn ``μ + b_u + b_i`` (funk-sgd, as Surprise's ``SVD``); False gives ``p_u·q_i``.
    random_state : int, numpy.random.Generator or None
        Seed. With an int, refitting gives bit-identical factors whatever ``n_threads`` is.
    n_threads : int or None
        Threads for training and scoring; None uses ``FUNKRS_NUM_THREADS`` or all cores.
    solver_options : mapping, optional
        Extra keyword arguments for the solver (for funk-sgd: ``init_mean``, ``n_blocks``).
    clip : bool
        Clip predictions to the training data's rating scale.
    unknown : {"baseline", "nan", "error"}
        Prediction for a user or item not seen in training: the baseline (``μ`` plus
        whichever bias is known, as Surprise does), NaN, or an :class:`UnknownIdError`.
    popularity_weight : float or "auto"
        :meth:`recommend` ranks by ``r̂_ui + w · σ · log(1 + n_i)``, ``n_i`` the item's
        training ratings and ``σ`` their standard deviation: a model fitted to the ratings
        people chose to give says how much they like an item *if* they pick it; the
        popularity term says how likely they are to pick it (see the README). ``"auto"``
        is ``w = POPULARITY_WEIGHT`` for rating-trained solvers and 0 for those trained for
        ranking (funk-sgd's ranking objective, PureSVD, popularity). Predictions never
        include the term.

    Examples
    --------
    >>> import funkrs
    >>> data = funkrs.datasets.synthetic(200, 100, 4000, random_state=0)
    >>> model = funkrs.MatrixFactorization(n_factors=8, random_state=0).fit(data)
    >>> model.predict(data.raw_users()[:3], data.raw_items()[:3]).shape
    (3,)
    """

    def __init__(
        self,
        solver: str = "funk-sgd",
        n_factors: int = SGD_DEFAULTS.n_factors,
        n_epochs: int = SGD_DEFAULTS.n_epochs,
        lr: float = SGD_DEFAULTS.lr,
        reg: float = SGD_DEFAULTS.reg,
        *,
        init_std: float = SGD_DEFAULTS.init_std,
        biased: bool = True,
        random_state: int | np.random.Generator | None = None,
        n_threads: int | None = None,
        solver_options: Mapping[str, Any] | None = None,
        clip: bool = True,
        unknown: UnknownPolicy = "baseline",
        popularity_weight: float | Literal["auto"] = "auto",
    ) -> None:
        self.solver = solver
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr = lr
        self.reg = reg
        self.init_std = init_std
        self.biased = biased
        self.random_state = random_state
        self.n_threads = n_threads
        self.solver_options = solver_options
        self.clip = clip
        self.unknown = unknown
        self.popularity_weight = popularity_weight

    #: The popularity weight ``popularity_weight="auto"`` gives rating-trained models, chosen
    #: by ``benchmarks/tune_defaults.py`` on validation parts of training data.
    POPULARITY_WEIGHT: ClassVar[float] = 2.0

    #: Surprise's ``SVD`` defaults, for :meth:`surprise_defaults`.
    SURPRISE_DEFAULTS: ClassVar[dict[str, Any]] = {
        "n_factors": 100,
        "n_epochs": 20,
        "lr": 0.005,
        "reg": 0.02,
        "init_std": 0.1,
        "biased": True,
    }

    @classmethod
    def surprise_defaults(cls, **params: Any) -> MatrixFactorization:
        """An estimator with Surprise's ``SVD()`` defaults; ``params`` override any of them.

        With funk-sgd this also trains on the raw rating values, as Surprise does
        (``solver_options={"standardize": False}``, merged into any ``solver_options``
        given), so Surprise's ``lr`` and ``reg`` keep their meaning.

        Examples
        --------
        >>> MatrixFactorization.surprise_defaults(random_state=0)  # doctest: +NORMALIZE_WHITESPACE
        MatrixFactorization(lr=0.005, reg=0.02, init_std=0.1, random_state=0,
                            solver_options={'standardize': False})
        """
        sgd = params.get("solver", "funk-sgd") == "funk-sgd"
        # Only funk-sgd takes Surprise's SGD settings; other solvers get n_factors alone.
        defaults = (
            cls.SURPRISE_DEFAULTS if sgd else {"n_factors": cls.SURPRISE_DEFAULTS["n_factors"]}
        )
        merged = {**defaults, **params}
        if sgd:
            merged["solver_options"] = {
                "standardize": False,
                **(params.get("solver_options") or {}),
            }
        return cls(**merged)

    #: What :meth:`for_top_n` sets; chosen by ``benchmarks/tune_defaults.py --top-n-only``
    #: on the validation parts of the generated shapes and MovieLens small (see the README).
    FOR_TOP_N: ClassVar[dict[str, Any]] = {
        "solver": "implicit-als",
        "n_factors": 32,
        "solver_options": {"confidence": "rating", "alpha": 32.0, "reg": 200.0},
    }

    @classmethod
    def for_top_n(cls, **params: Any) -> MatrixFactorization:
        """The configuration funkrs recommends for top-N lists; ``params`` override any of it.

        ``implicit-als`` on the ratings read as interactions (``confidence="rating"``):
        every rated item counts as chosen, with a confidence that grows from 1 at the lowest
        rating of the scale to ``1 + alpha`` at the highest, and every unrated item counts
        as not chosen with confidence 1. The model so learns which items people choose as
        well as how much they like them, on any rating scale (negative ones included). Its
        lists beat a most-rated list, the rating-trained default and funk-sgd's ranking
        objective by far; it predicts preference scores, not ratings, so use the default
        model for RMSE. ``solver_options`` given here are merged into these ones; with
        another ``solver`` only ``n_factors`` is kept.

        Examples
        --------
        >>> model = MatrixFactorization.for_top_n(random_state=0)
        >>> model.solver, model.solver_options["confidence"]
        ('implicit-als', 'rating')
        """
        solver = params.get("solver", cls.FOR_TOP_N["solver"])
        if solver != cls.FOR_TOP_N["solver"]:
            return cls(**{"n_factors": cls.FOR_TOP_N["n_factors"], **params})
        merged = {**cls.FOR_TOP_N, **params}
        merged["solver_options"] = {
            **cls.FOR_TOP_N["solver_options"],
            **(params.get("solver_options") or {}),
        }
        return cls(**merged)

    # -- fitted state (the attributes themselves: see FittedAttributes) ---------------------
    @property
    def history_(self) -> pl.DataFrame:
        """Per-epoch training history (columns of :data:`HISTORY_SCHEMA`)."""
        return history_frame(self._fitted().history)

    @property
    def n_iter_(self) -> int:
        """Number of epochs trained."""
        return len(self._fitted().history)

    # -- fitting ----------------------------------------------------------------------------
    def fit(
        self,
        ratings: Ratings,
        *,
        validation: Ratings | None = None,
        callback: EpochCallback | None = None,
    ) -> MatrixFactorization:
        """Learn factors from ``ratings``; any previous fit is discarded.

        Parameters
        ----------
        ratings : Ratings
            Training data (see :meth:`Ratings.from_frame` and :func:`funkrs.read_ratings`).
        validation : Ratings, optional
            Held-out ratings scored after every epoch (``history_["validation_rmse"]``),
            with the ``unknown="baseline"`` fallback and clipping; with funk-sgd's
            ``patience`` option they also drive early stopping.
        callback : callable, optional
            Called after each epoch of iterative solvers with a dict (``epoch``,
            ``feature``, ``train_rmse``, ``validation_rmse``, ``lr``, ``seconds``); returning
            ``False`` stops training with ``KeyboardInterrupt`` and leaves the model unfitted.

        Returns
        -------
        MatrixFactorization
            ``self``.

        Raises
        ------
        funkrs.exceptions.InvalidParameterError
            A hyperparameter or ``solver_options`` entry is out of range or of the wrong type
            (the message names it), or ``ratings``/``validation`` is not a
            :class:`~funkrs.Ratings`. It is a ``ValueError`` and a ``TypeError``.
        funkrs.exceptions.OutOfMemoryError
            The fit needs more memory than the machine has (``n_factors`` far too large);
            raised before anything is allocated.
        funkrs.exceptions.ConvergenceError
            Training diverged (try a smaller ``lr``).
        """
        require_ratings("fit", "ratings", ratings)
        if validation is not None:
            require_ratings("fit", "validation", validation)
        n_factors = self._check_params()
        solver, caps = self._make_solver_and_capabilities()
        _check_feedback(self.solver, caps, ratings)
        seed = _seed(check_random_state("random_state", self.random_state))
        params = _solvers.SolverParams(n_factors=n_factors, seed=seed, n_threads=self._threads())
        extra: dict[str, Any] = {}
        if validation is not None:
            if not caps.supports_validation:
                raise InvalidParameterError(
                    f"validation: solver {self.solver!r} does not support validation ratings "
                    "(it does not declare supports_validation = True)"
                )
            extra["validation"] = _validation_set(ratings, validation)
        if callback is not None and caps.supports_callback:
            extra["callback"] = callback
        factors = solver.fit(ratings, params, **extra)
        self._set_fitted(ratings, _checked_factors(factors, ratings, self.solver, caps, n_factors))
        return self

    def partial_fit(
        self, new_ratings: Ratings, n_epochs: int | None = None, *, replay: float = 0.0
    ) -> MatrixFactorization:
        """Add ``new_ratings`` to the fitted model without refitting; returns ``self``.

        Users and items never seen before are appended to the vocabularies (old ids keep
        their inner numbers). The solver then updates the rows the new ratings touch
        (funk-sgd: the new users and items folded in, then ``n_epochs`` warm-started SGD
        epochs over the new ratings in the fit's standardised units; see
        :meth:`funkrs.solvers._sgd.FunkSGD.update`; als and implicit-als: ``n_epochs``
        alternations, 1 by default, over the touched rows, see
        :meth:`funkrs.solvers._als.ALS.update` and
        :meth:`funkrs.solvers._implicit_als.ImplicitALS.update`). Rows no new rating touches keep
        their bits unless ``replay > 0``. The seen-items index, the rating scale, the
        popularity term of the touched items and ``history_`` (one row per update epoch,
        numbered on from the fit's) follow the new ratings; ``μ`` stays. The new state is
        built aside and validated before it replaces the old one, so an error or Ctrl-C
        leaves the model exactly as it was. Deterministic for an int ``random_state`` at
        any ``n_threads`` (each successive update draws from its own stream of it).

        Parameters
        ----------
        new_ratings : Ratings
            The new ratings (raw ids of the model's kind).
        n_epochs : int, optional
            Passes over the new ratings; None uses the solver's own default (funk-sgd: its
            ``n_epochs``; als and implicit-als: one alternation).
        replay : float
            Old pairs of the affected users replayed per new rating (0, the default, replays
            none), trained towards the model's predictions from before the update; this
            anchors the affected rows and also moves the rows of the replayed items
            (funk-sgd only).

        Raises
        ------
        NotFittedError
            The model is not fitted.
        InvalidParameterError
            The solver cannot update (the message names those that can), or ``n_epochs``
            or ``replay`` is out of range.
        RatingsError
            The ids of ``new_ratings`` are of the other kind than the model's.
        """
        st = self._fitted()
        require_ratings("partial_fit", "new_ratings", new_ratings)
        epochs = check_int("n_epochs", n_epochs, minimum=0, maximum=INT64_MAX, allow_none=True)
        share = check_float("replay", replay, minimum=0)
        solver, caps = self._make_solver_and_capabilities()
        if not caps.supports_update:
            can = _solvers.updatable()
            raise InvalidParameterError(
                f"solver {self.solver!r} cannot update a fitted model (it does not declare "
                f"supports_update = True); solvers that can: {', '.join(can) or 'none'}; "
                "refit with fit() instead"
            )
        _check_feedback(self.solver, caps, new_ratings)
        if len(new_ratings) == 0:
            return self
        grown, new = _grown(st, new_ratings)
        n_updates = int(st.solver_info.get("n_updates", 0) or 0) + 1
        base = _seed(check_random_state("random_state", self.random_state))
        seed = (base + 0x9E3779B97F4A7C15 * n_updates) % (1 << 64)
        params = _solvers.UpdateParams(
            n_old_users=st.n_users,
            n_old_items=st.n_items,
            n_epochs=epochs,
            replay=share,
            seed=seed,
            n_threads=self._threads(),
        )
        factors = solver.update(grown, new, params)
        if not isinstance(factors, _solvers.Factors):
            raise InvalidParameterError(
                f"solver {self.solver!r} update returned {type(factors).__name__}, not "
                "funkrs.solvers.Factors"
            )
        f = factors.validate(grown.n_users, grown.n_items, st.n_factors, solver=self.solver)
        last = max((int(r["epoch"] or 0) for r in st.history), default=0)
        rows = [{**row, "epoch": last + int(row.get("epoch") or 0)} for row in f.history]
        state = grown.replace(
            user_factors=f.user_factors,
            item_factors=f.item_factors,
            user_bias=f.user_bias,
            item_bias=f.item_bias,
            history=tuple(st.history) + tuple(history_rows(rows)),
            best_epoch=None,
            solver_info={**dict(f.info), "n_updates": n_updates},
        )
        self._adopt(state)
        return self

    def _check_params(self) -> int:
        """Check every parameter the estimator owns; return ``n_factors``."""
        n_factors = check_int("n_factors", self.n_factors, minimum=1, maximum=INT64_MAX)
        check_int("n_epochs", self.n_epochs, minimum=0, maximum=INT64_MAX)
        check_float("lr", self.lr, minimum=0, exclusive_minimum=True)
        check_float("reg", self.reg, minimum=0)
        check_float("init_std", self.init_std, minimum=0)
        check_bool("biased", self.biased)
        self._check_policies()
        return n_factors

    def _check_policies(self) -> None:
        """Check the options that scoring reads (also checked when a model file is loaded)."""
        check_choice("unknown", self.unknown, _POLICIES)
        check_bool("clip", self.clip)
        self._threads()
        _popularity_weight(self.popularity_weight)

    def _threads(self) -> int | None:
        return check_int("n_threads", self.n_threads, minimum=1, maximum=INT64_MAX, allow_none=True)

    def _make_solver(self) -> Any:
        """The solver instance, built from ``solver_options`` and the routed arguments."""
        return self._make_solver_and_capabilities()[0]

    def _make_solver_and_capabilities(self) -> tuple[Any, Capabilities]:
        if not isinstance(self.solver, str):
            raise InvalidParameterError(
                f"solver must be the name of a registered solver, got {show_value(self.solver)}"
            )
        cls = _solvers.get(self.solver)
        caps = _solvers.capabilities(cls)
        if self.solver_options is not None and not isinstance(self.solver_options, Mapping):
            raise InvalidParameterError(
                f"solver_options must be a mapping of option names to values or None, got "
                f"{show_value(self.solver_options)}"
            )
        options = dict(self.solver_options or {})
        options.update(self._routed(caps, options))
        try:
            if caps.protocol_version == 1:
                from funkrs.solvers._v1 import V1Solver

                return V1Solver(cls, options), caps
            return cls(**options), caps
        except TypeError as exc:  # an unknown option, or a bad value (InvalidParameterError)
            raise InvalidParameterError(
                f"invalid solver_options for solver {self.solver!r}: {exc}"
            ) from None

    def _routed(self, caps: Capabilities, options: Mapping[str, Any]) -> dict[str, Any]:
        """The estimator arguments that are options of this solver; reject the others if set."""
        routed: dict[str, Any] = {}
        for name in _solvers.ESTIMATOR_PARAMS:
            value, default = getattr(self, name), ROUTED_DEFAULTS[name]
            if name in caps.estimator_params:
                if name in options:
                    raise InvalidParameterError(
                        f"solver_options[{name!r}]: {name} is an argument of "
                        f"{type(self).__name__}; pass {name}={show_value(options[name])} there"
                    )
                routed[name] = value
            elif not _is_default(value, default):
                raise InvalidParameterError(
                    f"{name}={show_value(value)}: solver {self.solver!r} does not take {name}; "
                    f"leave it at its default ({default!r}) or choose a solver that takes it "
                    "(its own settings go in solver_options)"
                )
        return routed

    def _set_fitted(self, ratings: Ratings, f: Factors) -> None:
        weight = _popularity_weight(self.popularity_weight)
        if weight is None:
            weight = 0.0 if f.ranking else self.POPULARITY_WEIGHT
        indptr, indices = _funkrs.csr_from_coo(
            np.ascontiguousarray(ratings.users, dtype=np.uint32),
            np.ascontiguousarray(ratings.items, dtype=np.uint32),
            ratings.n_users,
            n_threads=self._threads(),
        )
        lo, hi = ratings.rating_scale
        state = FittedState(
            user_factors=f.user_factors,
            item_factors=f.item_factors,
            user_bias=f.user_bias,
            item_bias=f.item_bias,
            global_mean=float(f.global_mean),
            biased=bool(f.biased),
            users=ratings.user_vocab,
            items=ratings.item_vocab,
            rating_scale=(float(lo), float(hi)),
            seen_indptr=indptr,
            seen_indices=indices,
            item_rank_offset=rank_offset(ratings, weight),
            history=history_rows(f.history),
            best_epoch=f.best_epoch,
            solver=self.solver,
            solver_info=dict(f.info),
        )
        self._adopt(state)

    def _check_fitted(self) -> None:
        self._fitted()

    # -- prediction -------------------------------------------------------------------------
    def predict(
        self,
        users: npt.ArrayLike,
        items: npt.ArrayLike,
        *,
        unknown: UnknownPolicy | None = None,
        clip: bool | None = None,
    ) -> np.ndarray:
        """Predict ratings for ``(users[j], items[j])`` pairs of raw ids (vectorised in Rust).

        Parameters
        ----------
        users, items : array-like
            Raw ids, equally long.
        unknown : {"baseline", "nan", "error"}, optional
            Override the estimator's ``unknown`` policy for this call.
        clip : bool, optional
            Override the estimator's ``clip`` setting for this call.

        Returns
        -------
        numpy.ndarray
            ``float32`` predictions, one per pair.

        Raises
        ------
        UnknownIdError
            With ``unknown="error"``, naming the first unknown user or item.
        ShapeError
            ``users`` and ``items`` are not 1-D or differ in length.
        InvalidParameterError
            ``unknown`` or ``clip`` (here or on the estimator) is not one of the accepted
            values.
        """
        st = self._fitted()
        policy = check_choice("unknown", self.unknown if unknown is None else unknown, _POLICIES)
        do_clip = check_bool("clip", self.clip if clip is None else clip)
        u_raw, i_raw = np.atleast_1d(np.asarray(users)), np.atleast_1d(np.asarray(items))
        if u_raw.shape != i_raw.shape or u_raw.ndim != 1:
            raise ShapeError(
                f"users and items must be 1-D and equally long, got shapes {u_raw.shape} "
                f"and {i_raw.shape}"
            )
        scoring: dict[str, Any] = {
            "clip": st.rating_scale if do_clip else None,
            "unknown_nan": policy == "nan",
            "n_threads": self._threads(),
        }
        params = (
            st.user_factors,
            st.item_factors,
            st.user_bias,
            st.item_bias,
            st.global_mean,
            st.biased,
        )
        if policy != "error":
            # Integer ids: one Rust pass maps the raw ids and scores the pairs.
            uq, iq = st.users.int_query(u_raw), st.items.int_query(i_raw)
            if uq is not None and iq is not None:
                indexes = (st.users._int_index(), st.items._int_index())
                return _funkrs.predict(*params, uq, iq, indexes=indexes, **scoring)
        u = st.users.numbers(u_raw, missing="negative", what="user")
        i = st.items.numbers(i_raw, missing="negative", what="item")
        if policy == "error":
            _raise_unknown("user", u, u_raw)
            _raise_unknown("item", i, i_raw)
        return _funkrs.predict(*params, u, i, **scoring)

    def predict_one(self, user: Any, item: Any) -> float:
        """Predicted rating of one ``(user, item)`` pair of raw ids."""
        return float(self.predict(np.asarray([user]), np.asarray([item]))[0])

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the fitted model (``.npz`` plus a JSON header, no pickle).

        Load it back with :func:`funkrs.load` or :meth:`load`.

        Raises
        ------
        NotFittedError
            The model is not fitted.
        InvalidParameterError
            A parameter was set to a value that is not accepted (:meth:`set_params` checks
            nothing) or cannot be written as JSON; the message names it and nothing is
            written.
        """
        state = self._fitted()
        self._check_params()
        check_random_state("random_state", self.random_state)
        params = self.get_params()
        if isinstance(params.get("random_state"), np.random.Generator):
            params["random_state"] = None
        if params.get("solver_options") is not None:
            params["solver_options"] = dict(params["solver_options"])
        persistence.write_state(path, params, state)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MatrixFactorization:
        """Load a model written by :meth:`save`; the same as :func:`funkrs.load`."""
        return cls._from_file(path, stacklevel=3)

    @classmethod
    def _from_file(cls, path: str | os.PathLike[str], stacklevel: int) -> MatrixFactorization:
        params, state = persistence.read_state(path, stacklevel=stacklevel)
        where = repr(str(path))
        try:
            model = cls(**params)
        except TypeError as exc:
            raise ModelFileError(
                f"{where} is damaged: params do not fit {cls.__name__}: {exc}"
            ) from None
        try:
            model._check_params()
            check_random_state("random_state", model.random_state)
        except FunkrsError as exc:
            raise ModelFileError(f"{where} is damaged: params: {exc}") from None
        model._state = state
        return model


def load(path: str | os.PathLike[str]) -> MatrixFactorization:
    """Load a model written by :meth:`MatrixFactorization.save`.

    The file is validated as a whole (shapes, dtypes, finite values, the seen-items index,
    the parameters) before a model is returned.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ModelFileError
        The file is not a funkrs model, or it is truncated or corrupted; the message names
        the damaged field.
    """
    return MatrixFactorization._from_file(path, stacklevel=3)


persistence.set_loader(load)


def _grown(st: FittedState, ratings: Ratings) -> tuple[FittedState, Ratings]:
    """``st`` grown to the users and items of ``ratings``, and ``ratings`` in its inner ids.

    New ids are appended (in sorted order) with zero rows; the seen-items index gains the
    new pairs, the rating scale widens to cover the new values, and the popularity term of
    the items rated is recomputed from their new counts of seen users.
    """
    inner = []
    vocabs = []
    for what, vocab, old in (
        ("user", ratings.user_vocab, st.users),
        ("item", ratings.item_vocab, st.items),
    ):
        ids = vocab.ids_array
        mapped = old.numbers(ids, missing="negative", what=what)
        fresh = mapped < 0
        mapped[fresh] = len(old) + np.arange(int(fresh.sum()))
        inner.append(mapped)
        vocabs.append(old.extended(ids[fresh]))
    users = inner[0][ratings.users].astype(np.uint32)
    items = inner[1][ratings.items].astype(np.uint32)
    n_users, n_items = len(vocabs[0]), len(vocabs[1])
    k = st.n_factors

    def grow(arr: np.ndarray, n: int) -> np.ndarray:
        extra = np.zeros((n - arr.shape[0], *arr.shape[1:]), np.float32)
        return np.ascontiguousarray(np.concatenate([arr, extra]), dtype=np.float32)

    indptr, indices, before, after = _funkrs.csr_merge(
        st.seen_indptr, st.seen_indices, users, items, n_users, n_items
    )
    lo, hi = st.rating_scale
    if len(ratings.values):
        lo = min(lo, float(ratings.values.min()))
        hi = max(hi, float(ratings.values.max()))
    grown = st.replace(
        user_factors=grow(st.user_factors, n_users).reshape(n_users, k),
        item_factors=grow(st.item_factors, n_items).reshape(n_items, k),
        user_bias=grow(st.user_bias, n_users),
        item_bias=grow(st.item_bias, n_items),
        users=vocabs[0],
        items=vocabs[1],
        rating_scale=(lo, hi),
        seen_indptr=indptr,
        seen_indices=indices,
        item_rank_offset=_grown_offset(st, before, after, items),
    )
    new = Ratings(users, items, ratings.values, vocabs[0], vocabs[1], (lo, hi))
    return grown, new


def _grown_offset(
    st: FittedState, before: np.ndarray, after: np.ndarray, items: np.ndarray
) -> np.ndarray:
    """The popularity term with the rated items' counts updated (others keep their bits).

    ``before`` and ``after`` are the seen users per item before and after the new pairs.
    The term is ``w · σ · log(1 + n_i)``; ``w · σ`` is read back from the old term and the
    old counts (the training data is not stored).
    """
    old = st.item_rank_offset
    out = np.concatenate([old, np.zeros(len(after) - len(old), np.float32)])
    if not old.any() or len(items) == 0:
        return out
    slope = popularity_slope(st, before[: st.n_items])
    if slope == 0.0:
        return out
    touched = np.unique(items)
    out[touched] = (slope * np.log1p(after[touched])).astype(np.float32)
    return out


def rank_offset(ratings: Ratings, weight: float) -> np.ndarray:
    """``weight · σ · log(1 + n_i)`` per item: the popularity term of ``recommend`` scores."""
    if weight == 0.0 or len(ratings) == 0:
        return np.zeros(ratings.n_items, np.float32)
    counts = np.bincount(ratings.items, minlength=ratings.n_items)
    spread = float(np.std(ratings.values, dtype=np.float64)) or 1.0
    return (weight * spread * np.log1p(counts)).astype(np.float32)


HISTORY_SCHEMA = {
    name: pl.Int64 if kind is int else pl.Float64 for name, kind in HISTORY_FIELDS.items()
}


def history_frame(history: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Per-epoch training history as a Polars frame (missing keys become nulls)."""
    rows = [{name: row.get(name) for name in HISTORY_SCHEMA} for row in history]
    return pl.DataFrame(rows, schema=HISTORY_SCHEMA)


#: The defaults of the estimator arguments in :data:`funkrs.solvers.ESTIMATOR_PARAMS`.
ROUTED_DEFAULTS: dict[str, Any] = {
    "n_epochs": SGD_DEFAULTS.n_epochs,
    "lr": SGD_DEFAULTS.lr,
    "reg": SGD_DEFAULTS.reg,
    "init_std": SGD_DEFAULTS.init_std,
    "biased": True,
}


def _is_default(value: Any, default: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, (bool, np.bool_)) and bool(value) is default
    return not isinstance(value, (bool, np.bool_)) and is_real(value) and value == default


def _check_feedback(name: str, caps: Capabilities, ratings: Ratings) -> None:
    """An explicit-feedback solver needs rating values, not bare interactions."""
    if caps.feedback == "explicit" and getattr(ratings, "implicit", False):
        raise InvalidParameterError(
            f"solver {name!r} fits rating values (feedback='explicit'), but these ratings are "
            "interactions without values; use an implicit-feedback solver"
        )


def _checked_factors(
    factors: Any, ratings: Ratings, name: str, caps: Capabilities, n_factors: int
) -> Factors:
    """What ``fit`` returned, validated, with its width checked against ``n_factors``."""
    if not isinstance(factors, _solvers.Factors):
        raise InvalidParameterError(
            f"solver {name!r} returned {type(factors).__name__}, not funkrs.solvers.Factors"
        )
    checked = factors.validate(ratings.n_users, ratings.n_items, solver=name)
    k = checked.user_factors.shape[1]
    if caps.protocol_version >= 2 and (k > n_factors or (k < n_factors and not caps.rank_limited)):
        raise ShapeError(
            f"solver {name!r} returned {k} factor columns for n_factors={n_factors}; a solver "
            "returns exactly n_factors columns, or at most that many if it declares "
            "rank_limited = True"
        )
    return checked


def _validation_set(train: Ratings, validation: Ratings) -> _solvers.ValidationSet:
    return _solvers.ValidationSet(
        users=train.user_vocab.numbers(validation.raw_users(), missing="negative", what="user"),
        items=train.item_vocab.numbers(validation.raw_items(), missing="negative", what="item"),
        values=np.ascontiguousarray(validation.values, dtype=np.float32),
        rating_scale=train.rating_scale,
    )


def _raise_unknown(what: str, inner: np.ndarray, raw: np.ndarray) -> None:
    missing = inner < 0
    if missing.any():
        j = int(np.argmax(missing))
        raise UnknownIdError(
            f"{what} {show_id(raw[j])} (position {j}) was not seen in training; "
            "use unknown='baseline' or 'nan' to predict it anyway"
        )


def _popularity_weight(value: object) -> float | None:
    """``popularity_weight`` checked: None for ``"auto"``, else the weight as a float."""
    if isinstance(value, str) and value == "auto":
        return None
    if is_real(value):
        try:
            weight = float(value)
        except OverflowError:  # an int beyond float64
            weight = math.inf
        if math.isfinite(weight) and weight >= 0:
            return weight
    raise InvalidParameterError(
        f"popularity_weight must be 'auto' or a finite number >= 0, got {show_value(value)}"
    )


def _seed(random_state: int | np.random.Generator | None) -> int:
    """The core's 64-bit seed for a checked ``random_state``."""
    if isinstance(random_state, int):
        return random_state % (1 << 64)
    return int(np.random.default_rng(random_state).integers(0, 2**63))
