"""``als``: alternating least squares for explicit ratings, in the Rust core."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from funkrs import _funkrs
from funkrs._checks import INT64_MAX, check_bool, check_float, check_int
from funkrs.exceptions import InvalidParameterError
from funkrs.solvers import Factors, SolverParams, UpdateParams

if TYPE_CHECKING:
    from funkrs._ratings import Ratings
    from funkrs._state import FittedState

__all__ = ["ALS"]

_D = _funkrs.ALS_DEFAULTS


class ALS:
    """Explicit-feedback ALS with biases and weighted-λ regularisation: ``solver="als"``.

    Fits ``r̂ = μ + b_u + b_i + p_u·q_i`` (``biased=False``: ``p_u·q_i``) by minimising the
    squared error over the observed ratings plus ``reg·n_u·(‖p_u‖² + b_u²)`` for each user
    and ``reg·n_i·(‖q_i‖² + b_i²)`` for each item, where ``n_u`` and ``n_i`` count their ratings
    (weighted-λ, Zhou et al. 2008, the objective of Spark MLlib's ``ALS`` plus biases). Each
    alternation solves every user's ridge problem against the fixed items, then every item's
    against the fixed users: independent ``(k+1) × (k+1)`` systems (or the smaller
    ``n × n`` dual system for a row with ``n ≤ k`` ratings) solved by Cholesky in float64, in
    parallel, with the same bits at any thread count.

    Training is scale-free as for ``funk-sgd``: the ratings are centred and divided by their
    standard deviation, and the fit is mapped back exactly, so ``reg`` and ``init_std`` mean the
    same on any rating scale (``standardize=False`` fits the raw values).

    Parameters
    ----------
    n_iter : int
        Alternations (10).
    reg : float
        Weighted-λ regularisation, ``> 0`` (0.08, standardised units).
    init_std : float
        Standard deviation of the normal initial item factors (0.1).
    biased : bool
        The estimator's ``biased`` (``estimator_params``).
    standardize : bool
        Fit in standardised units (True).

    The defaults are the core's (``funkrs._funkrs.ALS_DEFAULTS``), chosen by validation on
    the training part of generated shapes (``python benchmarks/tune_defaults.py --solver
    als``). ``history_`` has the training RMSE and seconds of every alternation;
    ``solver_info_`` holds ``seconds_per_iteration`` and the ``scale`` of the training units.

    ``partial_fit`` is supported (see :meth:`update`).
    """

    name: ClassVar[str] = "als"
    protocol_version: ClassVar[int] = 2
    feedback: ClassVar[Literal["explicit", "implicit"]] = "explicit"
    supports_validation: ClassVar[bool] = False
    supports_callback: ClassVar[bool] = False
    estimator_params: ClassVar[frozenset[str]] = frozenset({"biased"})
    rank_limited: ClassVar[bool] = False
    supports_update: ClassVar[bool] = True

    def __init__(
        self,
        *,
        n_iter: int = _D.n_iter,
        reg: float = _D.reg,
        init_std: float = _D.init_std,
        biased: bool = True,
        standardize: bool = True,
    ) -> None:
        self.n_iter = check_int("n_iter", n_iter, minimum=0, maximum=INT64_MAX)
        self.reg = check_float("reg", reg, minimum=0.0, exclusive_minimum=True)
        self.init_std = check_float("init_std", init_std, minimum=0.0, exclusive_minimum=True)
        self.biased = check_bool("biased", biased)
        self.standardize = check_bool("standardize", standardize)

    def fit(self, ratings: Ratings, params: SolverParams) -> Factors:
        """Fit the parameters; see the class documentation."""
        p, q, bu, bi, mu, history = _funkrs.als_fit(
            np.ascontiguousarray(ratings.users, dtype=np.uint32),
            np.ascontiguousarray(ratings.items, dtype=np.uint32),
            np.ascontiguousarray(ratings.values, dtype=np.float32),
            ratings.n_users,
            ratings.n_items,
            n_factors=params.n_factors,
            n_iter=self.n_iter,
            reg=self.reg,
            init_std=self.init_std,
            biased=self.biased,
            standardize=self.standardize,
            seed=params.seed,
            n_threads=params.n_threads,
        )
        rows = [
            {"epoch": it, "train_rmse": rmse, "seconds": seconds} for it, rmse, seconds in history
        ]
        return Factors(
            p,
            q,
            bu,
            bi,
            float(mu),
            biased=self.biased,
            history=rows,
            info={
                "seconds_per_iteration": [row["seconds"] for row in rows],
                "scale": _scale(ratings.values, self.biased, self.standardize),
            },
        )

    def update(self, state: FittedState, new: Ratings, params: UpdateParams) -> Factors:
        """Alternations over the rows ``new`` touches (``partial_fit``; one by default).

        Each alternation solves every touched user's ridge problem against the fixed item
        factors, then every touched item's against the fixed user factors, exactly as a
        half-step of :meth:`fit` does, in the fit's training units (``μ`` and
        ``solver_info_["scale"]``). The training ratings are not stored, only which items
        each user rated: a touched row's old ratings enter through their normal equations,
        rebuilt from its old partners as they were and the row as it was (exact for a row
        that was solved against those partners, as every row is at the end of a fit), and
        the new ratings add theirs. A new rating counts once its partner row is old or has
        been solved; a row that could not use all its new ratings (a partner still unsolved)
        is solved once more at the end, users first.
        So rows without new ratings keep their exact bits, and a new user or item folded in
        this way is exactly one half-step. ``n_epochs`` sets the number of alternations;
        ``replay`` is not supported (the old ratings' equations already anchor the rows).
        """
        if params.replay > 0:
            raise InvalidParameterError(
                f"replay={params.replay}: solver 'als' does not replay old ratings (its update "
                "keeps their normal equations instead); pass replay=0"
            )
        n_iter = 1 if params.n_epochs is None else params.n_epochs
        scale = _scale_of(state, new.values, self.biased, self.standardize)
        p, q, bu, bi, seconds = _funkrs.als_update(
            np.ascontiguousarray(new.users, dtype=np.uint32),
            np.ascontiguousarray(new.items, dtype=np.uint32),
            np.ascontiguousarray(new.values, dtype=np.float32),
            state.user_factors,
            state.item_factors,
            state.user_bias,
            state.item_bias,
            float(state.global_mean),
            scale,
            state.seen_indptr,
            state.seen_indices,
            params.n_old_users,
            params.n_old_items,
            reg=self.reg,
            n_iter=n_iter,
            biased=bool(state.biased),
            n_threads=params.n_threads,
        )
        return Factors(
            p,
            q,
            bu,
            bi,
            float(state.global_mean),
            biased=bool(state.biased),
            history=[{"epoch": j + 1, "seconds": s} for j, s in enumerate(seconds)],
            info={**state.solver_info, "scale": scale},
        )


def _scale(values: np.ndarray, biased: bool, standardize: bool) -> float:
    """The scale ``s`` of the training units (the core's ``standardisation``)."""
    if not standardize or len(values) == 0:
        return 1.0
    v = values.astype(np.float64)
    center = float(v.mean()) if biased else 0.0
    s = float(np.sqrt(np.mean((v - center) ** 2)))
    return s if np.isfinite(s) and s > 0 else 1.0


def _scale_of(state: FittedState, values: np.ndarray, biased: bool, standardize: bool) -> float:
    """The fit's scale from ``solver_info``; models saved without it use ``values``'."""
    scale = state.solver_info.get("scale")
    if isinstance(scale, (int, float)) and not isinstance(scale, bool) and scale > 0:
        return float(scale)
    return _scale(values, biased, standardize)
