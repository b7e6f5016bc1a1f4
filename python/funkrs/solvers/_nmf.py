"""``nmf``: biased non-negative matrix factorization by projected SGD in the Rust core."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from funkrs import _funkrs
from funkrs._checks import check_float, check_int
from funkrs.solvers import Factors, SolverParams

if TYPE_CHECKING:
    from funkrs._ratings import Ratings

__all__ = ["NMF"]

_D = _funkrs.NMF_DEFAULTS


class NMF:
    """Biased NMF: ``r̂ = μ + b_u + b_i + p_u·q_i`` with ``p_u, q_i ≥ 0`` (``solver="nmf"``).

    Trained by projected SGD: each rating's SGD step on the squared error plus ``reg`` times
    the squared norms is followed by ``max(0, ·)`` on every factor, so the factors are never
    negative. The biases are free, which is what lets any rating scale work, negative ratings
    too: the factors add non-negative "parts" on top of the biases' baseline. Like
    ``funk-sgd`` it trains in standardised units and maps back exactly (the factors are
    scaled by ``√s > 0``, which keeps them non-negative), on a seeded grid of blocks that
    share no user and no item: parallel, and the same bits at any ``n_threads``.

    Surprise's ``NMF`` uses multiplicative updates instead, which need non-negative targets
    and so cannot fit free biases or ratings below zero; see ``rust/funkrs-core/src/nmf.rs``.

    Parameters
    ----------
    n_epochs : int
        Passes over the ratings.
    lr : float
        SGD learning rate, standardised units.
    reg : float
        L2 regularisation of factors and biases.
    init_high : float
        The initial factors are uniform in ``[0, init_high)`` (standardised units).

    The defaults are the core's (``funkrs._funkrs.NMF_DEFAULTS``); ``solver_info_`` holds
    ``train_rmse``, the running training RMSE of each epoch in the ratings' units.
    """

    name: ClassVar[str] = "nmf"
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
        init_high: float = _D.init_high,
    ) -> None:
        self.n_epochs = check_int("n_epochs", n_epochs, minimum=0)
        self.lr = check_float("lr", lr, minimum=0.0, exclusive_minimum=True)
        self.reg = check_float("reg", reg, minimum=0.0)
        self.init_high = check_float("init_high", init_high, minimum=0.0, exclusive_minimum=True)

    def fit(self, ratings: Ratings, params: SolverParams) -> Factors:
        """Fit the parameters; see the class documentation."""
        p, q, bu, bi, mu, rmse = _funkrs.nmf_fit(
            np.ascontiguousarray(ratings.users, dtype=np.uint32),
            np.ascontiguousarray(ratings.items, dtype=np.uint32),
            np.ascontiguousarray(ratings.values, dtype=np.float32),
            ratings.n_users,
            ratings.n_items,
            n_factors=params.n_factors,
            n_epochs=self.n_epochs,
            lr=self.lr,
            reg=self.reg,
            init_high=self.init_high,
            seed=params.seed,
            n_threads=params.n_threads,
        )
        return Factors(p, q, bu, bi, mu, biased=True, info={"train_rmse": list(rmse)})
