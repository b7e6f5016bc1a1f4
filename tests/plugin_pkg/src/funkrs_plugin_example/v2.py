"""The example ALS solver written against version 2 of the solver protocol.

It declares what it accepts (``protocol_version``, ``feedback``, ``supports_callback``,
``estimator_params``, ...), takes the estimator's ``reg`` as an option, gets ``n_factors``,
``seed`` and ``n_threads`` in a :class:`funkrs.solvers.SolverParams`, and reports its
diagnostics in ``Factors.info`` (the fitted model's ``solver_info_``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np

from funkrs.solvers import EpochCallback, Factors, SolverParams

__all__ = ["ExampleALSv2"]


class ExampleALSv2:
    """Alternating ridge regressions of user and item vectors (with a bias column each).

    Parameters
    ----------
    reg : float
        Ridge penalty, scaled by 10 (the estimator's ``reg``; ``estimator_params``).
    n_iter : int
        Alternating rounds, one callback call each.
    """

    name: ClassVar[str] = "example-als-v2"
    protocol_version: ClassVar[int] = 2
    feedback: ClassVar[Literal["explicit", "implicit"]] = "explicit"
    supports_validation: ClassVar[bool] = False
    supports_callback: ClassVar[bool] = True
    estimator_params: ClassVar[frozenset[str]] = frozenset({"reg"})
    rank_limited: ClassVar[bool] = False

    def __init__(self, *, reg: float = 0.035, n_iter: int = 10) -> None:
        self.reg = float(reg)
        self.n_iter = int(n_iter)

    def fit(
        self, ratings: Any, params: SolverParams, *, callback: EpochCallback | None = None
    ) -> Factors:
        rng = np.random.default_rng(params.seed)
        k = params.n_factors
        mu = float(ratings.values.mean())
        r = ratings.values.astype(np.float64) - mu
        m, n = ratings.n_users, ratings.n_items
        p = rng.normal(0, 0.1, (m, k))
        q = rng.normal(0, 0.1, (n, k))
        bu, bi = np.zeros(m), np.zeros(n)
        lam = max(self.reg, 1e-3) * 10
        history: list[dict[str, Any]] = []
        for epoch in range(1, self.n_iter + 1):
            p, bu = _solve(ratings.users, ratings.items, r - bi[ratings.items], q, lam, m)
            q, bi = _solve(ratings.items, ratings.users, r - bu[ratings.users], p, lam, n)
            err = r - bu[ratings.users] - bi[ratings.items]
            err -= np.einsum("ij,ij->i", p[ratings.users], q[ratings.items])
            row = {"epoch": epoch, "train_rmse": float(np.sqrt(np.mean(err * err)))}
            history.append(row)
            if callback is not None and callback(dict(row)) is False:
                raise KeyboardInterrupt(f"example-als-v2: stopped at iteration {epoch}")
        return Factors(
            p.astype(np.float32),
            q.astype(np.float32),
            bu.astype(np.float32),
            bi.astype(np.float32),
            mu,
            True,
            history,
            info={"n_iter": self.n_iter, "ridge": lam},
        )


def _solve(
    rows: np.ndarray, cols: np.ndarray, target: np.ndarray, other: np.ndarray, lam: float, n: int
) -> tuple[np.ndarray, np.ndarray]:
    k = other.shape[1]
    x = np.hstack([other, np.ones((len(other), 1))])
    out = np.zeros((n, k + 1))
    order = np.argsort(rows, kind="stable")
    bounds = np.searchsorted(rows[order], np.arange(n + 1))
    for row in range(n):
        idx = order[bounds[row] : bounds[row + 1]]
        a = x[cols[idx]]
        out[row] = np.linalg.solve(a.T @ a + lam * np.eye(k + 1), a.T @ target[idx])
    return out[:, :k], out[:, k]
