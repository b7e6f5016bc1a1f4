"""``implicit-als``: alternating least squares for implicit feedback, in the Rust core."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from funkrs import _funkrs
from funkrs._checks import check_choice, check_float, check_int
from funkrs.exceptions import InvalidParameterError
from funkrs.solvers import Factors, SolverParams, UpdateParams

if TYPE_CHECKING:
    from funkrs._ratings import Ratings
    from funkrs._state import FittedState

_D = _funkrs.IALS_DEFAULTS


class ImplicitALS:
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008): ``solver="implicit-als"``.

    Every training pair ``(u, i)`` with value ``r`` counts as "``u`` interacted with ``i``",
    with confidence ``1 + alpha·r``; every other pair counts as "no interaction" with
    confidence 1. The factors minimise the confidence-weighted squared error of ``p_u · q_i``
    against 1 (interaction) or 0 (none) over *all* user-item pairs, plus ``reg`` times the
    squared norms of the factors. Each alternation solves every user against fixed item
    factors, then every item against fixed user factors, each row by ``cg_steps``
    conjugate-gradient steps warm-started from its current value (as the ``implicit``
    package does), in parallel and with the same bits at any thread count.

    With ``confidence="weight"`` (the default) ``r`` is the value itself, which must be
    ``≥ 0``: play counts, clicks, watch time. With ``confidence="rating"`` the values are
    ratings on any scale, negative ones included: ``r = (value − lo) / (hi − lo)`` with
    ``(lo, hi)`` the data's ``rating_scale``, so the lowest possible rating still counts as an
    interaction (confidence 1) and the highest gets ``1 + alpha``; the factors are then the
    same whatever unit the ratings are in. On data whose scale is a single value every
    interaction gets ``r = 1``. This is how :meth:`funkrs.MatrixFactorization.for_top_n`
    turns ratings into top-N lists. The model is for top-N lists (``recommend``, ranking
    metrics, ``similar_items``): its predictions are preference scores near 0 and 1, not
    ratings, and it has no biases.

    Parameters
    ----------
    n_iter : int
        Alternations; the core's default (15).
    reg : float
        L2 regularisation ``λ`` of the factors (0.01).
    alpha : float
        Confidence slope (1.0).
    cg_steps : int
        Conjugate-gradient steps per row and half-step (3).
    init_std : float
        Standard deviation of the normal initial factors (0.01).
    confidence : {"weight", "rating"}
        How a training value becomes the ``r`` of the confidence ``1 + alpha·r`` (above).

    The defaults are those of ``implicit.als.AlternatingLeastSquares``, read from the core
    (``funkrs._funkrs.IALS_DEFAULTS``). ``solver_info_`` holds ``seconds_per_iteration``
    and ``mean_value``, the mean ``r`` of the training pairs (for updates).

    ``partial_fit`` is supported (see :meth:`update`).
    """

    name: ClassVar[str] = "implicit-als"
    protocol_version: ClassVar[int] = 2
    feedback: ClassVar[Literal["explicit", "implicit"]] = "implicit"
    supports_validation: ClassVar[bool] = False
    supports_callback: ClassVar[bool] = False
    estimator_params: ClassVar[frozenset[str]] = frozenset()
    rank_limited: ClassVar[bool] = False
    #: Its predictions are preferences near 0 and 1: ``evaluate`` refuses RMSE and MAE.
    predicts_ratings: ClassVar[bool] = False
    supports_update: ClassVar[bool] = True

    def __init__(
        self,
        *,
        n_iter: int = _D.n_iter,
        reg: float = _D.reg,
        alpha: float = _D.alpha,
        cg_steps: int = _D.cg_steps,
        init_std: float = _D.init_std,
        confidence: Literal["weight", "rating"] = "weight",
    ) -> None:
        self.n_iter = check_int("n_iter", n_iter, minimum=0)
        self.reg = check_float("reg", reg, minimum=0.0)
        self.alpha = check_float("alpha", alpha, minimum=0.0, exclusive_minimum=True)
        self.cg_steps = check_int("cg_steps", cg_steps, minimum=1)
        self.init_std = check_float("init_std", init_std, minimum=0.0, exclusive_minimum=True)
        self.confidence = check_choice("confidence", confidence, ("weight", "rating"))

    def fit(self, ratings: Ratings, params: SolverParams) -> Factors:
        """Fit the factors; see the class documentation."""
        strengths = self.strengths(ratings)
        x, y, seconds = _funkrs.ials_fit(
            np.ascontiguousarray(ratings.users, dtype=np.uint32),
            np.ascontiguousarray(ratings.items, dtype=np.uint32),
            strengths,
            ratings.n_users,
            ratings.n_items,
            n_factors=params.n_factors,
            n_iter=self.n_iter,
            reg=self.reg,
            alpha=self.alpha,
            cg_steps=self.cg_steps,
            init_std=self.init_std,
            seed=params.seed,
            n_threads=params.n_threads,
        )
        return Factors(
            x,
            y,
            np.zeros(ratings.n_users, np.float32),
            np.zeros(ratings.n_items, np.float32),
            0.0,
            biased=False,
            ranking=True,
            info={
                "seconds_per_iteration": [float(s) for s in seconds],
                "mean_value": float(np.mean(strengths, dtype=np.float64)),
            },
        )

    def update(self, state: FittedState, new: Ratings, params: UpdateParams) -> Factors:
        """Alternations over the rows ``new`` touches (``partial_fit``; one by default).

        Each alternation updates every touched user against the fixed item factors, then
        every touched item against the fixed user factors. A touched row moves by the
        solution of its new system (with the new interactions) applied to the change of
        its residual, solved by conjugate gradient in float64 (at most ``n_factors`` steps,
        to a residual reduced 10⁶-fold). The old interactions' values are not stored, only
        which items each user had: their targets cancel, and where their confidence enters
        it is taken as ``1 + alpha · solver_info_["mean_value"]``. So rows without new
        interactions keep their exact bits, and a new user or item is solved from its
        interactions alone. A new interaction counts once its partner row is old or has
        been solved; a row that could not use all its new ratings (a partner still unsolved)
        is solved once more at the end, users first.
        ``n_epochs`` sets the number of alternations; ``replay`` is not supported. With
        ``confidence="rating"`` the new values are placed on the model's rating scale.
        """
        if params.replay > 0:
            raise InvalidParameterError(
                f"replay={params.replay}: solver 'implicit-als' does not replay old "
                "interactions; pass replay=0"
            )
        n_iter = 1 if params.n_epochs is None else params.n_epochs
        mean = state.solver_info.get("mean_value")
        if not isinstance(mean, (int, float)) or isinstance(mean, bool) or not mean >= 0:
            mean = float(np.mean(self.strengths(new), dtype=np.float64)) if len(new) else 1.0
        x, y, seconds = _funkrs.ials_update(
            np.ascontiguousarray(new.users, dtype=np.uint32),
            np.ascontiguousarray(new.items, dtype=np.uint32),
            self.strengths(new),
            state.user_factors,
            state.item_factors,
            state.seen_indptr,
            state.seen_indices,
            params.n_old_users,
            params.n_old_items,
            reg=self.reg,
            alpha=self.alpha,
            old_weight=self.alpha * float(mean),
            cg_steps=max(self.cg_steps, state.n_factors),
            n_iter=n_iter,
            n_threads=params.n_threads,
        )
        return Factors(
            x,
            y,
            np.zeros(state.n_users, np.float32),
            np.zeros(state.n_items, np.float32),
            0.0,
            biased=False,
            ranking=True,
            history=[{"epoch": j + 1, "seconds": s} for j, s in enumerate(seconds)],
            info={**state.solver_info, "mean_value": float(mean)},
        )

    def strengths(self, ratings: Ratings) -> np.ndarray:
        """The ``r`` of each training pair's confidence ``1 + alpha·r``, as ``float32``."""
        if self.confidence == "weight":
            return np.ascontiguousarray(ratings.values, dtype=np.float32)
        lo, hi = (float(v) for v in ratings.rating_scale)
        if not hi > lo:
            return np.ones(len(ratings.values), dtype=np.float32)
        # Ratings always lie inside their scale (``Ratings`` checks it), so these are in [0, 1].
        values = np.asarray(ratings.values, dtype=np.float64)
        return ((values - lo) / (hi - lo)).astype(np.float32)
