"""``svdpp``: SVD++ (Koren 2008) by parallel, deterministic SGD in the Rust core."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from funkrs import _funkrs
from funkrs._checks import check_float, check_int
from funkrs.solvers import Factors, SolverParams

if TYPE_CHECKING:
    from funkrs._ratings import Ratings

__all__ = ["SVDpp"]

_D = _funkrs.SVDPP_DEFAULTS


class SVDpp:
    """SVD++: ``r̂ = μ + b_u + b_i + q_i·(p_u + |N(u)|^-½ Σ_{j∈N(u)} y_j)`` (``solver="svdpp"``).

    ``N(u)`` is the set of items ``u`` rated in training: what a user chose to rate says
    something about them beyond the values. Trained by SGD on the squared error plus ``reg``
    times the squared norms of every parameter, in standardised units (the ratings centred on
    their mean and divided by their standard deviation, then mapped back exactly), so the
    options mean the same on any rating scale.

    Each epoch forms every user's implicit sum ``z_u = |N(u)|^-½ Σ y_j`` once, runs SGD over
    the ratings on a seeded grid of blocks that share no user and no item (in parallel, the
    same bits at any ``n_threads``), accumulating each user's gradient of ``z_u``, and then
    updates every ``y_j`` once from the gradients of the users who rated it (see
    ``rust/funkrs-core/src/svdpp.rs``). The fitted ``user_factors_`` are the combined
    ``p_u + |N(u)|^-½ Σ y_j``, which is all a prediction needs; ``y`` is not kept.

    Parameters
    ----------
    n_epochs : int
        Passes over the ratings (the core's default, 20).
    lr : float
        SGD learning rate of ``p``, ``q`` and the biases, standardised units.
    reg : float
        L2 regularisation of every parameter.
    lr_y : float
        Step size of the once-per-epoch ``y`` update (0 turns the implicit part off: biased
        Funk SVD).
    init_std : float
        Standard deviation of the normal initial ``p`` and ``q`` (``y`` starts at 0).

    The defaults are the core's (``funkrs._funkrs.SVDPP_DEFAULTS``); ``solver_info_`` holds
    ``train_rmse``, the running training RMSE of each epoch in the ratings' units.
    """

    name: ClassVar[str] = "svdpp"
    protocol_version: ClassVar[int] = 2
    feedback: ClassVar[Literal["explicit", "implicit"]] = "explicit"
    supports_validation: ClassVar[bool] = False
    supports_callback: ClassVar[bool] = False
    estimator_params: ClassVar[frozenset[str]] = frozenset()
    rank_limited: ClassVar[bool] = False

    def __init__(
        self,
        *,
        n_epochs: int = _D.n_epochs,
        lr: float = _D.lr,
        reg: float = _D.reg,
        lr_y: float = _D.lr_y,
        init_std: float = _D.init_std,
    ) -> None:
        self.n_epochs = check_int("n_epochs", n_epochs, minimum=0)
        self.lr = check_float("lr", lr, minimum=0.0, exclusive_minimum=True)
        self.reg = check_float("reg", reg, minimum=0.0)
        self.lr_y = check_float("lr_y", lr_y, minimum=0.0)
        self.init_std = check_float("init_std", init_std, minimum=0.0)

    def fit(self, ratings: Ratings, params: SolverParams) -> Factors:
        """Fit the parameters; see the class documentation."""
        p, q, bu, bi, mu, rmse = _funkrs.svdpp_fit(
            np.ascontiguousarray(ratings.users, dtype=np.uint32),
            np.ascontiguousarray(ratings.items, dtype=np.uint32),
            np.ascontiguousarray(ratings.values, dtype=np.float32),
            ratings.n_users,
            ratings.n_items,
            n_factors=params.n_factors,
            n_epochs=self.n_epochs,
            lr=self.lr,
            reg=self.reg,
            lr_y=self.lr_y,
            init_std=self.init_std,
            seed=params.seed,
            n_threads=params.n_threads,
        )
        return Factors(p, q, bu, bi, mu, biased=True, info={"train_rmse": list(rmse)})
