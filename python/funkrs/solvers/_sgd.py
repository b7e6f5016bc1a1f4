"""The ``funk-sgd`` solver: Simon Funk's SGD on the observed ratings (Rust core)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from funkrs import _funkrs
from funkrs._checks import INT64_MAX, check_bool, check_choice, check_float, check_int
from funkrs._funkrs import SGD_DEFAULTS
from funkrs.exceptions import InvalidParameterError, PoorFitWarning
from funkrs.solvers import (
    EpochCallback,
    Factors,
    SolverParams,
    UpdateParams,
    ValidationSet,
    accepts_v1_calls,
)

if TYPE_CHECKING:
    from funkrs._ratings import Ratings
    from funkrs._state import FittedState

__all__ = ["FunkSGD"]


class FunkSGD:
    """Funk SVD by parallel, blocked SGD (``solver="funk-sgd"``).

    Takes the estimator's ``n_epochs``, ``lr``, ``reg``, ``init_std`` and ``biased`` as
    options (``estimator_params``), accepts validation ratings and calls the epoch callback.
    The ratings are split into a grid of blocks drawn from the seed; blocks that share no
    user and no item are trained in parallel, so a seed gives bit-identical factors whatever
    ``n_threads`` is.

    Parameters
    ----------
    n_epochs, lr, reg, init_std, biased
        As for :class:`funkrs.MatrixFactorization` (the same defaults, the core's).
    init_mean : float
        Mean of the normal initialisation of the factors (Surprise's ``init_mean``).
    lr_decay : float
        Epoch ``t`` uses ``lr / (1 + lr_decay * (t - 1))``. The default 0 keeps the rate
        constant, as Surprise does, so Surprise's tuned hyperparameters carry over.
    schedule : {"joint", "feature-wise"}
        ``"joint"`` updates all factors of a pair at once (Surprise, LIBMF).
        ``"feature-wise"`` is Simon Funk's original: the biases first, then factor 1 for
        ``n_epochs`` epochs, then factor 2, ..., each against cached predictions of the ones
        already trained (so ``(n_factors + 1) * n_epochs`` epochs in all).
    patience : int, optional
        With ``fit(..., validation=...)``: stop after this many epochs without a validation
        RMSE at least ``min_delta`` below the best, and keep the best epoch's parameters.
        None (default) only records the validation RMSE.
    min_delta : float
        Smallest decrease of the validation RMSE that counts as an improvement.
    n_blocks : int, optional
        Grid size; by default it grows with the data (about 1,000 ratings per block, at
        most 32 × 32 blocks), never with ``n_threads``. Under 4,000 ratings there is a
        single block, which is plain sequential SGD.
    reshuffle : bool
        Inside each block the ratings are grouped by user, in a seeded random order of users
        drawn once; epochs differ by their seeded order of strata. ``reshuffle=True`` draws a
        fresh order of users in every block every epoch, which costs throughput (the ratings
        are no longer streamed in memory order).
    objective : {"rating", "ranking"}
        ``"rating"`` fits the observed ratings (least squares, as Surprise). ``"ranking"`` also
        trains, every epoch, ``negatives`` freshly sampled unobserved pairs per rating (same
        user, item drawn uniformly among the ones the user did not rate) towards
        ``negative_target``: Steck's treatment of missing ratings as low ones with a small
        weight, which puts items people rarely choose below the ones they do. Its lists rank
        far better, its rating predictions are biased low (the README's "Top-N lists"
        compares it with :meth:`funkrs.MatrixFactorization.for_top_n`).
    negatives : float
        Unobserved pairs sampled per rating and epoch with ``objective="ranking"``.
    negative_target : float, optional
        The value those pairs are trained towards, in the ratings' units; None (default) is
        the low end of the rating scale.
    early_stopping : bool
        Hold out ``validation_fraction`` of the training ratings (drawn from the seed; a
        user or item all of whose ratings were drawn keeps them), train on the rest, stop
        after ``n_iter_no_change`` epochs without a lower held-out RMSE and keep the best
        epoch's parameters (scikit-learn's ``early_stopping``). ``history_`` records the
        held-out RMSE of every epoch and ``best_epoch_`` the epoch kept. Ignored when
        ``fit`` is given ``validation`` ratings (then ``patience`` decides). Off by default:
        on none of the data shapes of ``benchmarks/tune_defaults.py`` did it lower the
        validation RMSE of the defaults, since the ratings it holds out cost more than the
        epochs it saves.
    validation_fraction : float
        Share of the training ratings held out for ``early_stopping``, in ``(0, 1)``.
    n_iter_no_change : int
        Epochs without improvement before ``early_stopping`` stops.
    standardize : bool
        Train in standardised units (the default): the ratings are centred on their mean
        ``c`` and divided by their standard deviation ``s`` (unbiased models: no centring,
        ``s`` is the root mean square), so ``lr``, ``reg``, ``init_std`` and ``min_delta``
        mean the same on a 1–5, a 0–100 or a −10..10 scale. The fitted parameters are
        mapped back exactly (``μ = c + s·μ'``, ``b = s·b'``, ``p = √s·p'``, ``q = √s·q'``),
        so predictions, the fitted attributes, saved models and the history's RMSEs are in
        the ratings' own units. ``False`` trains on the raw values, as Surprise does
        (:meth:`funkrs.MatrixFactorization.surprise_defaults` sets it).
    """

    name: ClassVar[str] = "funk-sgd"
    protocol_version: ClassVar[int] = 2
    feedback: ClassVar[Literal["explicit", "implicit"]] = "explicit"
    supports_validation: ClassVar[bool] = True
    supports_callback: ClassVar[bool] = True
    estimator_params: ClassVar[frozenset[str]] = frozenset(
        {"n_epochs", "lr", "reg", "init_std", "biased"}
    )
    rank_limited: ClassVar[bool] = False
    supports_update: ClassVar[bool] = True

    def __init__(
        self,
        *,
        n_epochs: int = SGD_DEFAULTS.n_epochs,
        lr: float = SGD_DEFAULTS.lr,
        reg: float = SGD_DEFAULTS.reg,
        init_std: float = SGD_DEFAULTS.init_std,
        biased: bool = True,
        init_mean: float = 0.0,
        lr_decay: float = 0.0,
        schedule: str = "joint",
        patience: int | None = None,
        min_delta: float = 0.0,
        n_blocks: int | None = None,
        reshuffle: bool = False,
        objective: Literal["rating", "ranking"] = "rating",
        negatives: float = 4.0,
        negative_target: float | None = None,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 2,
        standardize: bool = SGD_DEFAULTS.standardize,
    ) -> None:
        self.n_epochs = check_int("n_epochs", n_epochs, minimum=0, maximum=INT64_MAX)
        self.lr = check_float("lr", lr, minimum=0, exclusive_minimum=True)
        self.reg = check_float("reg", reg, minimum=0)
        self.init_std = check_float("init_std", init_std, minimum=0)
        self.biased = check_bool("biased", biased)
        self.init_mean = check_float("init_mean", init_mean)
        self.lr_decay = check_float("lr_decay", lr_decay, minimum=0)
        self.schedule = check_choice("schedule", schedule, ("joint", "feature-wise"))
        self.patience = check_int("patience", patience, minimum=1, allow_none=True)
        self.min_delta = check_float("min_delta", min_delta, minimum=0)
        self.n_blocks = check_int("n_blocks", n_blocks, minimum=1, allow_none=True)
        self.reshuffle = check_bool("reshuffle", reshuffle)
        self.objective = check_choice("objective", objective, ("rating", "ranking"))
        self.negatives = check_float("negatives", negatives, minimum=0)
        self.negative_target = check_float("negative_target", negative_target, allow_none=True)
        self.early_stopping = check_bool("early_stopping", early_stopping)
        self.validation_fraction = check_float(
            "validation_fraction",
            validation_fraction,
            minimum=0,
            maximum=1,
            exclusive_minimum=True,
            exclusive_maximum=True,
        )
        self.n_iter_no_change = check_int("n_iter_no_change", n_iter_no_change, minimum=1)
        self.standardize = check_bool("standardize", standardize)

    @accepts_v1_calls
    def fit(
        self,
        ratings: Ratings,
        params: SolverParams,
        *,
        callback: EpochCallback | None = None,
        validation: ValidationSet | None = None,
    ) -> Factors:
        """Train on ``ratings``; see the class documentation."""
        seed, n_threads = params.seed, params.n_threads
        if self.patience is not None and validation is None:
            raise InvalidParameterError(
                f"patience={self.patience} (early stopping) needs fit(..., validation=ratings)"
            )
        patience = self.patience
        if validation is None and self._stops_early():
            ratings, validation = _hold_out(ratings, self.validation_fraction, seed)
            patience = self.n_iter_no_change
        val, clip = None, None
        if validation is not None:
            val = (
                np.ascontiguousarray(validation.users, dtype=np.int64),
                np.ascontiguousarray(validation.items, dtype=np.int64),
                np.ascontiguousarray(validation.values, dtype=np.float32),
            )
            clip = validation.rating_scale
        target = ratings.rating_scale[0] if self.negative_target is None else self.negative_target
        p, q, bu, bi, mu, history, best = _funkrs.sgd_fit(
            np.ascontiguousarray(ratings.users, dtype=np.uint32),
            np.ascontiguousarray(ratings.items, dtype=np.uint32),
            np.ascontiguousarray(ratings.values, dtype=np.float32),
            ratings.n_users,
            ratings.n_items,
            n_factors=params.n_factors,
            n_epochs=self.n_epochs,
            lr=self.lr,
            reg=self.reg,
            init_std=self.init_std,
            init_mean=self.init_mean,
            lr_decay=self.lr_decay,
            biased=self.biased,
            seed=seed,
            n_blocks=self.n_blocks,
            reshuffle=self.reshuffle,
            schedule=self.schedule,
            negatives=self.negatives if self.objective == "ranking" else 0.0,
            negative_target=target,
            standardize=self.standardize,
            validation=val,
            clip=clip,
            patience=patience,
            min_delta=self.min_delta,
            n_threads=n_threads,
            callback=callback,
        )
        if validation is not None:
            _warn_if_worse_than_baseline(ratings, validation, history, self.lr, self.reg)
        return Factors(
            p,
            q,
            bu,
            bi,
            float(mu),
            self.biased,
            history,
            best,
            ranking=self.objective == "ranking",
            info=_units_info(ratings.values, self.biased, self.standardize),
        )

    def update(self, state: FittedState, new: Ratings, params: UpdateParams) -> Factors:
        """Warm-started epochs over ``new`` (see :meth:`funkrs.MatrixFactorization.partial_fit`).

        New users are first folded in against the item factors (ridge least squares on
        their ratings of old items), then new items against the user factors; a new row
        with no such rating starts from the seeded normal initialisation of ``fit``. Then
        ``n_epochs`` epochs of the joint SGD schedule run over the new ratings (and, with
        ``replay > 0``, ``replay`` sampled old pairs of the affected users per new rating,
        trained towards the model's own predictions from before the update), in the
        standardised units of the original fit (``solver_info_["center"]`` and
        ``["scale"]``). ``μ`` stays as it is. The ranking objective's sampled negatives are
        not drawn in an update: it trains on the ratings given.
        """
        n_epochs = self.n_epochs if params.n_epochs is None else params.n_epochs
        center, scale = _units_of(state, new.values, self.biased, self.standardize)
        p = np.array(state.user_factors, dtype=np.float32, order="C")
        q = np.array(state.item_factors, dtype=np.float32, order="C")
        bu = np.array(state.user_bias, dtype=np.float32)
        bi = np.array(state.item_bias, dtype=np.float32)
        _init_new_rows(self, state, new, params, (p, q, bu, bi), scale)
        users, items, values = new.users, new.items, new.values
        if params.replay > 0:
            ru, ri, rv = _replay(state, new, params, (p, q, bu, bi))
            users = np.concatenate([users, ru])
            items = np.concatenate([items, ri])
            values = np.concatenate([values, rv])
        p2, q2, bu2, bi2, history = _funkrs.sgd_update(
            np.ascontiguousarray(users, dtype=np.uint32),
            np.ascontiguousarray(items, dtype=np.uint32),
            np.ascontiguousarray(values, dtype=np.float32),
            p,
            q,
            bu,
            bi,
            float(state.global_mean),
            center,
            scale,
            n_epochs=n_epochs,
            lr=self.lr,
            reg=self.reg,
            lr_decay=self.lr_decay,
            biased=self.biased,
            seed=params.seed,
            reshuffle=self.reshuffle,
            n_threads=params.n_threads,
        )
        info = {**state.solver_info, "center": center, "scale": scale}
        return Factors(
            p2,
            q2,
            bu2,
            bi2,
            float(state.global_mean),
            self.biased,
            history,
            None,
            ranking=self.objective == "ranking",
            info=info,
        )

    def _stops_early(self) -> bool:
        if self.early_stopping and self.objective == "ranking":
            raise InvalidParameterError(
                "early_stopping watches the RMSE of held-out ratings, which the ranking "
                "objective does not minimise; pass early_stopping=False"
            )
        return self.early_stopping


def _units_info(values: np.ndarray, biased: bool, standardize: bool) -> dict[str, Any]:
    """The training units of a fit (``Units::of`` in the core), for later updates."""
    if not standardize or len(values) == 0:
        return {"center": 0.0, "scale": 1.0}
    v = values.astype(np.float64)
    center = float(np.float32(v.mean())) if biased else 0.0
    scale = float(np.sqrt(np.mean((v - center) ** 2)))
    if not (np.isfinite(scale) and scale > 0):
        scale = 1.0
    return {"center": center, "scale": float(np.float32(scale))}


def _units_of(
    state: FittedState, values: np.ndarray, biased: bool, standardize: bool
) -> tuple[float, float]:
    """The fit's units from ``solver_info``; models saved without them use ``values``'."""
    info = state.solver_info
    center, scale = info.get("center"), info.get("scale")
    if isinstance(center, (int, float)) and isinstance(scale, (int, float)) and scale > 0:
        return float(center), float(scale)
    units = _units_info(values, biased, standardize)
    return float(units["center"]), float(units["scale"])


def _init_new_rows(
    solver: FunkSGD,
    state: FittedState,
    new: Ratings,
    params: UpdateParams,
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    scale: float,
) -> None:
    """Starting values of the new users' and items' rows (in place): fold-in, else random."""
    p, q, bu, bi = arrays
    n_users, n_items = p.shape[0], q.shape[0]
    nu0, ni0 = params.n_old_users, params.n_old_items
    users, items, values = new.users.astype(np.int64), new.items.astype(np.int64), new.values
    reg = max(solver.reg, 1e-6)
    mu, biased = float(state.global_mean), solver.biased
    n_threads = params.n_threads

    def fold(
        rows: np.ndarray,
        cols: np.ndarray,
        vals: np.ndarray,
        n: int,
        side: tuple[np.ndarray, np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray]:
        indptr, order = _funkrs.csr_from_coo(
            np.ascontiguousarray(rows, dtype=np.uint32),
            np.arange(len(rows), dtype=np.uint32),
            n,
        )
        return _funkrs.fold_in(
            side[0],
            side[1],
            mu,
            biased,
            indptr,
            np.ascontiguousarray(cols[order], dtype=np.uint32),
            np.ascontiguousarray(vals[order], dtype=np.float32),
            float(reg),
            n_threads=n_threads,
        )

    filled_u = np.zeros(n_users - nu0, dtype=bool)
    if n_users > nu0:
        sel = (users >= nu0) & (items < ni0)
        fp, fb = fold(users[sel] - nu0, items[sel], values[sel], n_users - nu0, (q, bi))
        filled_u = np.bincount(users[sel] - nu0, minlength=n_users - nu0) > 0
        p[nu0:][filled_u] = fp[filled_u]
        bu[nu0:][filled_u] = fb[filled_u]
    filled_i = np.zeros(n_items - ni0, dtype=bool)
    if n_items > ni0:
        known_user = np.ones(n_users, dtype=bool)
        known_user[nu0:] = filled_u
        sel = (items >= ni0) & known_user[users]
        fq, fb = fold(items[sel] - ni0, users[sel], values[sel], n_items - ni0, (p, bu))
        filled_i = np.bincount(items[sel] - ni0, minlength=n_items - ni0) > 0
        q[ni0:][filled_i] = fq[filled_i]
        bi[ni0:][filled_i] = fb[filled_i]
    rng = np.random.default_rng([params.seed % (1 << 63), 0x0F0D])
    root = np.sqrt(scale)
    for rows, filled, start in ((p, filled_u, nu0), (q, filled_i, ni0)):
        empty = start + np.flatnonzero(~filled)
        if len(empty):
            draw = rng.normal(solver.init_mean, solver.init_std, (len(empty), rows.shape[1]))
            rows[empty] = (draw * root).astype(np.float32)


def _replay(
    state: FittedState,
    new: Ratings,
    params: UpdateParams,
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``replay`` old pairs per new rating, drawn from the seen rows of the affected old users.

    Their targets are the model's predictions before the update, so replaying them pulls the
    affected rows towards where they were (the old ratings themselves are not stored).
    """
    p, q, bu, bi = arrays
    nu0, ni0 = params.n_old_users, params.n_old_items
    affected = np.unique(new.users[new.users < nu0]).astype(np.int64)
    indptr = state.seen_indptr.astype(np.int64)
    counts = indptr[affected + 1] - indptr[affected]
    total = int(counts.sum())
    n = round(params.replay * len(new))
    if total == 0 or n == 0:
        empty = np.zeros(0, np.uint32)
        return empty, empty, np.zeros(0, np.float32)
    rng = np.random.default_rng([params.seed % (1 << 63), 0x2E91A7])
    pick = np.sort(rng.integers(0, total, size=n))
    first = np.cumsum(counts) - counts
    row = np.searchsorted(first, pick, side="right") - 1
    u = affected[row]
    i = state.seen_indices[indptr[u] + (pick - first[row])].astype(np.int64)
    keep = i < ni0
    u, i = u[keep], i[keep]
    pred = np.einsum("ij,ij->i", p[u], q[i])
    if state.biased:
        pred = pred + state.global_mean + bu[u] + bi[i]
    return u.astype(np.uint32), i.astype(np.uint32), pred.astype(np.float32)


def _warn_if_worse_than_baseline(
    ratings: Ratings,
    validation: ValidationSet,
    history: list[dict[str, Any]],
    lr: float,
    reg: float,
) -> None:
    """Warn when the best validation RMSE is above the bias baseline's on the same ratings."""
    scores = [row["validation_rmse"] for row in history if row.get("validation_rmse") is not None]
    if not scores:
        return
    from funkrs.solvers._reference import Baseline

    base = Baseline().fit(ratings, SolverParams(n_factors=0))
    u, i = validation.users, validation.items
    pred = np.full(len(u), base.global_mean)
    pred[u >= 0] += base.user_bias[u[u >= 0]]
    pred[i >= 0] += base.item_bias[i[i >= 0]]
    lo, hi = validation.rating_scale
    err = np.clip(pred, lo, hi) - validation.values
    base_rmse = float(np.sqrt(np.mean(err * err)))
    best = min(scores)
    if best > base_rmse:
        warnings.warn(
            f"funk-sgd: the best validation RMSE, {best:.4g}, is worse than the bias "
            f"baseline's (μ + b_u + b_i), {base_rmse:.4g}: the factors fit noise or diverge; "
            f"try a smaller lr (now {lr:g}) or a larger reg (now {reg:g})",
            PoorFitWarning,
            stacklevel=4,
        )


def _hold_out(ratings: Ratings, fraction: float, seed: int) -> tuple[Ratings, ValidationSet]:
    """Split about ``fraction`` of ``ratings`` off for early stopping, drawn from ``seed``.

    A user or item whose every rating was drawn keeps them all in training, so every row the
    model scores gets trained.
    """
    users, items = ratings.users, ratings.items
    held = np.random.default_rng([seed, 0x5EED]).random(len(ratings)) < fraction
    train_u = np.bincount(users[~held], minlength=ratings.n_users)
    train_i = np.bincount(items[~held], minlength=ratings.n_items)
    held &= (train_u[users] > 0) & (train_i[items] > 0)
    if not held.any():
        raise InvalidParameterError(
            f"early_stopping: no rating of {len(ratings)} can be held out without leaving a "
            "user or item untrained; pass solver_options={'early_stopping': False}"
        )
    keep = ~held
    train = type(ratings)(
        users[keep],
        items[keep],
        ratings.values[keep],
        ratings.user_vocab,
        ratings.item_vocab,
        ratings.rating_scale,
    )
    validation = ValidationSet(
        users=users[held].astype(np.int64),
        items=items[held].astype(np.int64),
        values=np.ascontiguousarray(ratings.values[held], dtype=np.float32),
        rating_scale=ratings.rating_scale,
    )
    return train, validation
