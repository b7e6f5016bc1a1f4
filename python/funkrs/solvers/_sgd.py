"""The ``funk-sgd`` solver: Simon Funk's SGD on the observed ratings (Rust core)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from funkrs import _funkrs
from funkrs.solvers import EpochCallback, Factors, FitParams

if TYPE_CHECKING:
    from funkrs._ratings import Ratings

__all__ = ["FunkSGD"]


class FunkSGD:
    """Funk SVD by parallel, blocked SGD (``solver="funk-sgd"``).

    Uses ``n_factors``, ``n_epochs``, ``lr``, ``reg``, ``init_std`` and ``biased``.
    The ratings are split into a grid of blocks drawn from the seed; blocks that share no
    user and no item are trained in parallel, so a seed gives bit-identical factors whatever
    ``n_threads`` is.

    Parameters
    ----------
    init_mean : float
        Mean of the normal initialisation of the factors (Surprise's ``init_mean``).
    n_blocks : int, optional
        Grid size; by default it grows with the data (about 20,000 ratings per block, at
        most 32 × 32 blocks). Small data gets a single block, which is plain sequential SGD.
    reshuffle : bool
        Inside each block the ratings are grouped by user, in a seeded random order of users
        drawn once; epochs differ by their seeded order of strata. ``reshuffle=True`` draws a
        fresh order of users in every block every epoch, which costs throughput (the ratings
        are no longer streamed in memory order).
    """

    name: ClassVar[str] = "funk-sgd"

    def __init__(
        self, *, init_mean: float = 0.0, n_blocks: int | None = None, reshuffle: bool = False
    ) -> None:
        self.reshuffle = bool(reshuffle)
        self.init_mean = float(init_mean)
        if n_blocks is not None and (isinstance(n_blocks, bool) or int(n_blocks) < 1):
            raise ValueError(f"n_blocks must be a positive integer, got {n_blocks!r}")
        self.n_blocks = None if n_blocks is None else int(n_blocks)

    def fit(
        self,
        ratings: Ratings,
        params: FitParams,
        *,
        seed: int,
        n_threads: int | None,
        callback: EpochCallback | None = None,
    ) -> Factors:
        """Train on ``ratings``; see the class documentation."""
        p, q, bu, bi, mu, hist = _funkrs.sgd_fit(
            np.ascontiguousarray(ratings.users, dtype=np.uint32),
            np.ascontiguousarray(ratings.items, dtype=np.uint32),
            np.ascontiguousarray(ratings.values, dtype=np.float32),
            ratings.n_users,
            ratings.n_items,
            n_factors=params.n_factors,
            n_epochs=params.n_epochs,
            lr=params.lr,
            reg=params.reg,
            init_std=params.init_std,
            init_mean=self.init_mean,
            biased=params.biased,
            seed=seed,
            n_blocks=self.n_blocks,
            reshuffle=self.reshuffle,
            n_threads=n_threads,
            callback=callback,
        )
        history = [{"epoch": e, "train_rmse": r, "seconds": s} for e, r, s in hist]
        return Factors(p, q, bu, bi, float(mu), params.biased, history)
