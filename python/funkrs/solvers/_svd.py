"""The ``exact-svd`` and ``imputed-svd`` solvers: truncated SVD of a (filled) rating matrix.

Both return the rank-``k`` truncation ``X_k = U_k Σ_k V_kᵀ`` (Eckart–Young: the best rank-``k``
approximation of ``X`` in Frobenius norm) as factors split symmetrically,

    user_factors = U_k Σ_k^½,    item_factors = V_k Σ_k^½,

so that ``p_u · q_i = (X_k)_{ui}``. The models are unbiased (``biased=False``): biases are zero
and a prediction for a known pair is ``p_u · q_i``, the filled matrix's rank-``k`` value;
``global_mean`` (the mean training rating) is only the fallback for unknown users and items.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from funkrs import _funkrs
from funkrs._checks import check_choice, check_float, check_int
from funkrs._funkrs import IMPUTED_SVD_DEFAULTS
from funkrs.exceptions import InvalidParameterError
from funkrs.linalg import svd
from funkrs.solvers import Factors, SolverParams, accepts_v1_calls

if TYPE_CHECKING:
    from funkrs._ratings import Ratings

__all__ = ["DENSE_THRESHOLD", "ExactSVD", "ImputedSVD"]

Fill = Literal["item", "user", "global", "zero"]
Path = Literal["auto", "dense", "implicit"]

#: ``imputed-svd`` builds the dense filled matrix when ``n_users · n_items`` is at most this
#: (20 million cells, 160 MB of float64); above it, the implicit path is used.
DENSE_THRESHOLD = 20_000_000

_FILLS = ("item", "user", "global", "zero")
_PATHS = ("auto", "dense", "implicit")
_METHODS = ("gram", "direct")


def fill_vectors(ratings: Ratings, fill: str) -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)`` such that the filled matrix is ``S + a bᵀ`` (see :class:`ImputedSVD`).

    ``fill="zero"`` gives ``a = 0, b = 0``: the matrix is the observed ratings alone.
    """
    fill = check_choice("fill", fill, _FILLS)
    m, n = ratings.n_users, ratings.n_items
    if fill == "zero":
        return np.zeros(m), np.zeros(n)
    values = ratings.values.astype(np.float64)
    mu = float(values.mean())
    if fill == "global":
        return np.ones(m), np.full(n, mu)
    ids, size = (ratings.items, n) if fill == "item" else (ratings.users, m)
    counts = np.bincount(ids, minlength=size)
    sums = np.bincount(ids, weights=values, minlength=size)
    means = np.divide(sums, counts, out=np.full(size, mu), where=counts > 0)
    return (np.ones(m), means) if fill == "item" else (means, np.ones(n))


def dense_matrix(ratings: Ratings, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The filled ``n_users × n_items`` matrix ``a bᵀ`` with observed cells overwritten."""
    x = np.outer(a, b)
    x[ratings.users, ratings.items] = ratings.values
    return x


def to_factors(
    u: np.ndarray,
    s: np.ndarray,
    vt: np.ndarray,
    ratings: Ratings,
    *,
    ranking: bool = False,
    info: dict[str, Any] | None = None,
) -> Factors:
    """Split ``U Σ Vᵀ`` into ``U Σ^½`` and ``V Σ^½`` (unbiased, zero biases)."""
    root = np.sqrt(s)
    return Factors(
        user_factors=u * root,
        item_factors=vt.T * root,
        user_bias=np.zeros(ratings.n_users),
        item_bias=np.zeros(ratings.n_items),
        global_mean=float(ratings.values.astype(np.float64).mean()),
        biased=False,
        ranking=ranking,
        info=info or {},
    )


def _check_rank(k: int, ratings: Ratings, name: str) -> None:
    p = min(ratings.n_users, ratings.n_items)
    if k > p:
        raise InvalidParameterError(
            f"{name}: n_factors={k} exceeds min(n_users, n_items) = {p}, the largest rank "
            f"of a {ratings.n_users} × {ratings.n_items} matrix"
        )


class ExactSVD:
    """Truncated SVD of a fully observed rating matrix (``solver="exact-svd"``).

    Every user must have rated every item. The rank-``n_factors`` SVD is computed by
    :func:`funkrs.linalg.svd` (eigendecomposition of the smaller Gram matrix); see the module
    documentation for how it becomes factors. Takes none of the estimator's ``n_epochs``,
    ``lr``, ``reg``, ``init_std`` and ``biased`` (the model is unbiased), has no epochs and no
    use for validation ratings; the seed does not matter.

    Parameters
    ----------
    fill : {"item", "user", "global", "zero"}, optional
        Fill missing cells with the item, user or global mean, or with zero, first (then
        this is the dense path of ``imputed-svd``). Without it an incomplete matrix is an
        error.
    method : {"gram", "direct"}
        Passed to :func:`funkrs.linalg.svd`.
    """

    name: ClassVar[str] = "exact-svd"
    protocol_version: ClassVar[int] = 2
    feedback: ClassVar[Literal["explicit", "implicit"]] = "explicit"
    supports_validation: ClassVar[bool] = False
    supports_callback: ClassVar[bool] = False
    estimator_params: ClassVar[frozenset[str]] = frozenset()
    rank_limited: ClassVar[bool] = False

    def __init__(self, *, fill: Fill | None = None, method: str = "gram") -> None:
        self.fill = check_choice("fill", fill, _FILLS, allow_none=True)
        self.method = check_choice("method", method, _METHODS)

    def decompose(
        self, ratings: Ratings, k: int, *, n_threads: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The float64 rank-``k`` SVD ``(U, S, Vt)`` of the (filled) rating matrix."""
        _check_rank(k, ratings, self.name)
        m, n = ratings.n_users, ratings.n_items
        if self.fill is None:
            missing = m * n - len(ratings)
            if missing:
                raise InvalidParameterError(
                    f"exact-svd needs a fully observed rating matrix, but {missing:,} of the "
                    f"{m:,} × {n:,} cells are missing. Use solver='imputed-svd' (fills missing "
                    "cells with means; scales to large data) or solver='funk-sgd' (learns from "
                    "observed ratings only), or pass solver_options={'fill': 'item'} "
                    "('user' or 'global' also work) to fill them here."
                )
            x = np.zeros((m, n))
            x[ratings.users, ratings.items] = ratings.values
        else:
            x = dense_matrix(ratings, *fill_vectors(ratings, self.fill))
        return svd(x, k, method=self.method, n_threads=n_threads)  # type: ignore[arg-type]

    @accepts_v1_calls
    def fit(self, ratings: Ratings, params: SolverParams) -> Factors:
        """Decompose ``ratings``; see the class documentation."""
        u, s, vt = self.decompose(ratings, params.n_factors, n_threads=params.n_threads)
        return to_factors(u, s, vt, ratings, ranking=self.fill == "zero", info={"path": "dense"})


class ImputedSVD:
    """Mean-imputed truncated SVD (``solver="imputed-svd"``).

    Missing cells are filled with the item mean (default), the user mean, the global mean or
    zero, and the filled matrix ``X`` gets a rank-``n_factors`` SVD (factors as in the module
    documentation). ``X = S + a bᵀ``, where ``S`` is sparse (observed rating minus fill) and
    ``a bᵀ`` is the rank-one fill (item means: ``a = 1, b = μ_item``; zero: ``a = 0, b = 0``).

    ``fill="zero"`` is PureSVD (Cremonesi, Koren and Turrin, 2010): a missing rating counts
    as 0, so ``X`` is the sparse rating matrix itself and ``p_u · q_i`` is a relevance score
    for ranking rather than a rating. It is small for the many items a user's few ratings
    say little about, so ``predict`` returns values well below the ratings, many of them
    below the rating scale (clipped to its low end), while
    :meth:`~funkrs.MatrixFactorization.recommend` favours items that are both popular and
    aligned with the user's ratings. The model is unbiased like the other
    fills (``global_mean``, the mean training rating, is only the fallback for unknown users
    and items).

    Two paths give the same answer:

    - **dense** (``n_users · n_items ≤ dense_threshold``, 20 million cells by default):
      ``X`` is built and decomposed by :func:`funkrs.linalg.svd`;
    - **implicit**: thick-restarted block Lanczos on the Gram matrix of ``X``'s shorter side
      (``XᵀX`` when there are more users than items), whose product ``XᵀX B`` costs one pass
      over the observed ratings, ``O(nnz + n_users + n_items)`` per column, so ``X`` is never
      formed. Each step adds ``block_size`` columns to a Krylov basis, and a Rayleigh–Ritz
      step gives the approximate triplets. Unlike subspace (power) iteration, which needs
      ``O(1/gap)`` rounds to separate the nearly equal singular values of the noise bulk that
      follows the low-rank part of a rating matrix, a Krylov method needs ``O(1/√gap)``.

    **Stopping rule (implicit path).** Iteration stops when every one of the ``n_factors``
    returned triplets ``(u_i, σ_i, v_i)`` satisfies ``‖Xᵀ u_i − σ_i v_i‖ ≤ tol · σ_1``, with
    ``u_i = X v_i / σ_i`` (so ``X v_i = σ_i u_i`` holds to rounding). That residual is
    recomputed from the returned factors with two extra sparse products and stored in
    ``info_``. What it guarantees: each triplet is an exact singular triplet of a matrix
    within ``tol · σ_1`` of ``X`` in spectral norm, so each ``σ_i`` is within ``tol · σ_1`` of a
    singular value of ``X`` (within ``(tol · σ_1)² / gap`` for one separated from the rest of
    the spectrum by ``gap``), and the subspace of the leading singular vectors is within an
    angle ``tol · σ_1 / gap`` of the true one. The default ``tol = %(tol)s`` is far below what
    predictions need and far above the attainable accuracy, about ``16 ε σ_1 / σ_k`` for the
    Gram route (``ε = 2.2e-16``); a smaller ``tol`` than that stops there, with
    ``converged=False`` and a ``RuntimeWarning``.

    Takes none of the estimator's ``n_epochs``, ``lr``, ``reg``, ``init_std`` and
    ``biased`` (the model is unbiased), has no epochs and no use for validation ratings; the
    seed only matters for the implicit path's start block. ``solver_info_`` of the fitted
    model holds ``path`` (``"dense"`` or ``"implicit"``) and, after the implicit path, the
    entries of ``info_``.

    Parameters
    ----------
    fill : {"item", "user", "global", "zero"}
        What fills the missing cells: the item, user or global mean, or zero (PureSVD).
    path : {"auto", "dense", "implicit"}
        Force a path; ``"auto"`` chooses by ``dense_threshold``.
    dense_threshold : int
        Largest ``n_users · n_items`` for which ``"auto"`` takes the dense path.
    method : {"gram", "direct"}
        Dense path: passed to :func:`funkrs.linalg.svd`.
    oversample : int
        Implicit path: Ritz vectors kept beyond ``n_factors`` when the Krylov basis is
        restarted (default %(oversample)s).
    tol : float
        Implicit path: relative residual at which iteration stops (see above; default
        %(tol)s).
    max_iter : int
        Implicit path: maximum number of block Lanczos steps (one pass over the ratings
        each; default %(max_iter)s); a ``RuntimeWarning`` is issued when ``tol`` is not
        reached.
    block_size : int or None
        Implicit path: columns added to the Krylov basis per step (``None``: 16).
    max_basis : int or None
        Implicit path: largest Krylov basis before a thick restart (``None``:
        ``max(400, 3 · (n_factors + oversample))``); it takes ``8 · min(n_users, n_items) ·
        max_basis`` bytes.

    Attributes
    ----------
    info_ : dict
        After an implicit-path fit: ``n_iter`` (block Lanczos steps run), ``residual``
        (largest ``(‖X v_i − σ_i u_i‖² + ‖Xᵀ u_i − σ_i v_i‖²)^½ / σ_1`` of the returned
        triplets) and ``converged`` (``residual ≤ tol``).
    """

    name: ClassVar[str] = "imputed-svd"
    protocol_version: ClassVar[int] = 2
    feedback: ClassVar[Literal["explicit", "implicit"]] = "explicit"
    supports_validation: ClassVar[bool] = False
    supports_callback: ClassVar[bool] = False
    estimator_params: ClassVar[frozenset[str]] = frozenset()
    rank_limited: ClassVar[bool] = False

    def __init__(
        self,
        *,
        fill: Fill = "item",
        path: Path = "auto",
        dense_threshold: int = DENSE_THRESHOLD,
        method: str = "gram",
        oversample: int = IMPUTED_SVD_DEFAULTS.oversample,
        tol: float = IMPUTED_SVD_DEFAULTS.tol,
        max_iter: int = IMPUTED_SVD_DEFAULTS.max_iter,
        block_size: int | None = None,
        max_basis: int | None = None,
    ) -> None:
        self.fill = check_choice("fill", fill, _FILLS)
        self.path = check_choice("path", path, _PATHS)
        self.dense_threshold = check_int("dense_threshold", dense_threshold, minimum=0)
        self.method = check_choice("method", method, _METHODS)
        self.oversample = check_int("oversample", oversample, minimum=0)
        self.tol = check_float("tol", tol, minimum=0)
        self.max_iter = check_int("max_iter", max_iter, minimum=1)
        self.block_size = check_int("block_size", block_size, minimum=1, allow_none=True)
        self.max_basis = check_int("max_basis", max_basis, minimum=1, allow_none=True)
        self.info_: dict[str, float | int | bool] = {}

    def chosen_path(self, ratings: Ratings) -> Literal["dense", "implicit"]:
        """The path :meth:`fit` takes for ``ratings``."""
        if self.path == "auto":
            dense = ratings.n_users * ratings.n_items <= self.dense_threshold
        else:
            dense = self.path == "dense"
        return "dense" if dense else "implicit"

    def decompose(
        self, ratings: Ratings, k: int, *, seed: int = 0, n_threads: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The float64 rank-``k`` SVD ``(U, S, Vt)`` of the filled rating matrix."""
        _check_rank(k, ratings, self.name)
        a, b = fill_vectors(ratings, self.fill)
        if self.chosen_path(ratings) == "dense":
            x = dense_matrix(ratings, a, b)
            return svd(x, k, method=self.method, n_threads=n_threads)  # type: ignore[arg-type]
        u, s, vt, n_iter, residual, converged = _funkrs.imputed_svd(
            np.ascontiguousarray(ratings.users, dtype=np.uint32),
            np.ascontiguousarray(ratings.items, dtype=np.uint32),
            np.ascontiguousarray(ratings.values, dtype=np.float32),
            a,
            b,
            k=k,
            oversample=self.oversample,
            tol=self.tol,
            max_iter=self.max_iter,
            block_size=self.block_size,
            max_basis=self.max_basis,
            seed=seed,
            n_threads=n_threads,
        )
        self.info_ = {"n_iter": n_iter, "residual": residual, "converged": converged}
        if not converged:
            warnings.warn(
                f"imputed-svd: the implicit path stopped after {n_iter} steps with a relative "
                f"residual of {residual:.2e} > tol={self.tol:.0e} (max_iter={self.max_iter}); "
                "raise max_iter, or loosen tol if it is below the attainable accuracy "
                "(about 16·2.2e-16·σ_1/σ_k)",
                RuntimeWarning,
                stacklevel=3,
            )
        return u, s, vt

    @accepts_v1_calls
    def fit(self, ratings: Ratings, params: SolverParams) -> Factors:
        """Fill and decompose ``ratings``; see the class documentation."""
        self.info_ = {}
        u, s, vt = self.decompose(
            ratings, params.n_factors, seed=params.seed, n_threads=params.n_threads
        )
        info: dict[str, Any] = {"path": self.chosen_path(ratings), **self.info_}
        return to_factors(u, s, vt, ratings, ranking=self.fill == "zero", info=info)


def _sci(x: float) -> str:
    """``1e-8`` rather than Python's ``1e-08``."""
    return f"{x:g}".replace("e-0", "e-").replace("e+0", "e+")


# The defaults are the core's (IMPUTED_SVD_DEFAULTS); the docstring quotes them from there.
if ImputedSVD.__doc__ is not None:  # None under python -OO
    ImputedSVD.__doc__ %= {
        "oversample": IMPUTED_SVD_DEFAULTS.oversample,
        "tol": _sci(IMPUTED_SVD_DEFAULTS.tol),
        "max_iter": IMPUTED_SVD_DEFAULTS.max_iter,
    }
