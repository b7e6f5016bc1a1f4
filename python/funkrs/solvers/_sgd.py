"""The ``funk-sgd`` solver: Simon Funk's SGD on the observed ratings (Rust core)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from funkrs import _funkrs
from funkrs.solvers import EpochCallback, Factors, FitParams, ValidationSet

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
    """

    name: ClassVar[str] = "funk-sgd"

    def __init__(
        self,
        *,
        init_mean: float = 0.0,
        lr_decay: float = 0.0,
        schedule: str = "joint",
        patience: int | None = None,
        min_delta: float = 0.0,
        n_blocks: int | None = None,
        reshuffle: bool = False,
    ) -> None:
        self.init_mean = float(init_mean)
        self.lr_decay = float(lr_decay)
        if schedule not in ("joint", "feature-wise"):
            raise ValueError(f"schedule must be 'joint' or 'feature-wise', got {schedule!r}")
        self.schedule = schedule
        self.patience = _positive_or_none("patience", patience)
        self.min_delta = float(min_delta)
        self.n_blocks = _positive_or_none("n_blocks", n_blocks)
        self.reshuffle = bool(reshuffle)

    def fit(
        self,
        ratings: Ratings,
        params: FitParams,
        *,
        seed: int,
        n_threads: int | None,
        callback: EpochCallback | None = None,
        validation: ValidationSet | None = None,
    ) -> Factors:
        """Train on ``ratings``; see the class documentation."""
        if self.patience is not None and validation is None:
            raise ValueError("patience (early stopping) needs fit(..., validation=ratings)")
        val = None
        if validation is not None:
            val = (
                np.ascontiguousarray(validation.users, dtype=np.int64),
                np.ascontiguousarray(validation.items, dtype=np.int64),
                np.ascontiguousarray(validation.values, dtype=np.float32),
            )
        p, q, bu, bi, mu, history, best = _funkrs.sgd_fit(
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
            lr_decay=self.lr_decay,
            biased=params.biased,
            seed=seed,
            n_blocks=self.n_blocks,
            reshuffle=self.reshuffle,
            schedule=self.schedule,
            validation=val,
            clip=None if validation is None else validation.rating_scale,
            patience=self.patience,
            min_delta=self.min_delta,
            n_threads=n_threads,
            callback=callback,
        )
        return Factors(p, q, bu, bi, float(mu), params.biased, history, best)


def _positive_or_none(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    return int(value)
