"""A tiny third-party solver: biased alternating least squares in numpy.

funkrs finds it through the ``funkrs.solvers`` entry point declared in ``pyproject.toml``.
It imports nothing private from funkrs: a solver only has to return ``funkrs.solvers.Factors``.

``ExampleALS`` (``example-als``) is written against version 1 of the solver protocol, which
funkrs still runs with a ``DeprecationWarning``; ``funkrs_plugin_example.v2.ExampleALSv2``
(``example-als-v2``) is the same solver in the version-2 form.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from funkrs.solvers import Factors, FitParams


class ExampleALS:
    """Alternating ridge regressions of user and item vectors (with a bias column each)."""

    name = "example-als"

    def __init__(self, *, n_iter: int = 10) -> None:
        self.n_iter = int(n_iter)

    def fit(
        self, ratings: Any, params: FitParams, *, seed: int, n_threads: Any, callback: Any = None
    ) -> Factors:
        rng = np.random.default_rng(seed)
        k = params.n_factors
        mu = float(ratings.values.mean())
        r = ratings.values.astype(np.float64) - mu
        p = rng.normal(0, params.init_std, (ratings.n_users, k))
        q = rng.normal(0, params.init_std, (ratings.n_items, k))
        bu, bi = np.zeros(ratings.n_users), np.zeros(ratings.n_items)
        lam = max(params.reg, 1e-3) * 10
        for _ in range(self.n_iter):
            p, bu = _solve(ratings.users, ratings.items, r - bi[ratings.items], q, lam)
            q, bi = _solve(ratings.items, ratings.users, r - bu[ratings.users], p, lam)
        return Factors(
            p.astype(np.float32),
            q.astype(np.float32),
            bu.astype(np.float32),
            bi.astype(np.float32),
            mu,
            True,
            [],
        )


def _solve(
    rows: np.ndarray, cols: np.ndarray, target: np.ndarray, other: np.ndarray, lam: float
) -> tuple[np.ndarray, np.ndarray]:
    n_rows = int(rows.max()) + 1
    k = other.shape[1]
    x = np.hstack([other, np.ones((len(other), 1))])
    out = np.zeros((n_rows, k + 1))
    order = np.argsort(rows, kind="stable")
    bounds = np.searchsorted(rows[order], np.arange(n_rows + 1))
    for row in range(n_rows):
        idx = order[bounds[row] : bounds[row + 1]]
        a = x[cols[idx]]
        out[row] = np.linalg.solve(a.T @ a + lam * np.eye(k + 1), a.T @ target[idx])
    return out[:, :k], out[:, k]
