"""Helpers shared by the tests of the ``svdpp`` and ``nmf`` solvers."""

from __future__ import annotations

import numpy as np

import funkrs


def exact_low_rank(
    n_users: int,
    n_items: int,
    rank: int,
    density: float,
    *,
    nonnegative: bool,
    seed: int = 0,
) -> funkrs.Ratings:
    """Noise-free ``3 + b_u + b_i + p_u·q_i``; factors uniform in ``[0, 1)`` or normal.

    Every user and item has at least ``rank + 2`` ratings so that each one is determined.
    """
    rng = np.random.default_rng(seed)
    if nonnegative:
        p = rng.uniform(0, 1, (n_users, rank))
        q = rng.uniform(0, 1, (n_items, rank))
    else:
        p = rng.normal(0, 0.7, (n_users, rank))
        q = rng.normal(0, 0.7, (n_items, rank))
    bu = rng.normal(0, 0.3, (n_users, 1))
    bi = rng.normal(0, 0.3, (1, n_items))
    full = 3.0 + bu + bi + p @ q.T
    mask = rng.random((n_users, n_items)) < density
    for _ in range(rank + 2):
        mask[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
        mask[rng.integers(0, n_users, n_items), np.arange(n_items)] = True
    users, items = np.nonzero(mask)
    return funkrs.Ratings.from_arrays(users, items, full[users, items])


def held_out_rmse(model: funkrs.MatrixFactorization, test: funkrs.Ratings) -> float:
    pred = model.predict(test.raw_users(), test.raw_items(), unknown="baseline")
    return float(np.sqrt(np.mean((np.asarray(pred, np.float64) - test.values) ** 2)))
