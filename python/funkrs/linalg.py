"""Dense linear algebra: the SVD behind the ``exact-svd`` and ``imputed-svd`` solvers."""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from funkrs import _funkrs
from funkrs._checks import check_choice, check_int, show_value
from funkrs.exceptions import InvalidParameterError, ShapeError

__all__ = ["svd"]

SvdMethod = Literal["gram", "direct"]


def svd(
    A: npt.ArrayLike,
    k: int | None = None,
    *,
    method: SvdMethod = "gram",
    n_threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thin singular value decomposition ``A = U @ np.diag(S) @ Vt``, in float64.

    The default method diagonalises the smaller Gram matrix (``AᵀA`` when ``m ≥ n``, else
    ``AAᵀ``) and recovers the other factor with one matrix product, which is several times
    faster than LAPACK's ``gesdd`` on tall matrices. The shapes are those of
    ``numpy.linalg.svd(A, full_matrices=False)``: ``U`` is ``m × p``, ``S`` has ``p``
    entries in descending order and ``Vt`` is ``p × n``, where ``p = min(m, n)``, or ``k``
    when given (the best rank-``k`` approximation, Eckart–Young).

    Parameters
    ----------
    A : array_like
        A 2-D real matrix; converted to float64. C- and Fortran-ordered (and strided)
        float64 arrays are read in place, without a copy.
    k : int, optional
        Number of singular triplets to keep, ``0 ≤ k ≤ min(m, n)``; all by default.
    method : {"gram", "direct"}
        ``"gram"`` (default): eigendecomposition of the Gram matrix. Singular values are
        accurate to about ``ε·σ₁`` (as LAPACK's), but the singular *vectors* of small
        singular values carry a relative error of about ``ε·σ₁²/σᵢ²`` instead of
        ``ε·σ₁/σᵢ``. ``"direct"``: faer's bidiagonal divide-and-conquer SVD, slower and
        backward stable, for when the directions of small singular values matter.
        Either way ``U`` and ``V`` have orthonormal columns, also for rank-deficient input
        (zero singular values get an orthonormal completion of the basis).
    n_threads : int, optional
        Threads to use; ``FUNKRS_NUM_THREADS`` or all cores by default.

    Returns
    -------
    U : numpy.ndarray
        ``(m, p)`` left singular vectors.
    S : numpy.ndarray
        ``(p,)`` singular values, descending, ``≥ 0``.
    Vt : numpy.ndarray
        ``(p, n)`` right singular vectors, one per row.

    Raises
    ------
    funkrs.exceptions.InvalidParameterError
        ``k`` is not an integer in range, ``method`` is unknown, ``n_threads`` is not a
        positive integer, or ``A`` is complex or not numeric (it is also a ``TypeError``).
    funkrs.exceptions.ShapeError
        ``A`` is not 2-D.
    funkrs.exceptions.NonFiniteError
        ``A`` has a NaN or infinite entry (the message names it).

    Examples
    --------
    >>> import numpy as np
    >>> import funkrs
    >>> A = np.array([[3.0, 0.0], [0.0, 4.0], [0.0, 0.0]])
    >>> U, S, Vt = funkrs.linalg.svd(A)
    >>> S
    array([4., 3.])
    >>> bool(np.allclose(U @ np.diag(S) @ Vt, A))
    True
    """
    a = _as_float64_matrix(A)
    m, n = a.shape
    rank = check_int("k", k, allow_none=True)
    if rank is not None and not 0 <= rank <= min(m, n):
        raise InvalidParameterError(
            f"k must be between 0 and min(m, n) = {min(m, n)} or None, got {show_value(k)}"
        )
    how = check_choice("method", method, ("gram", "direct"))
    threads = check_int("n_threads", n_threads, minimum=1, allow_none=True)
    return _funkrs.dense_svd(a, rank, method=how, n_threads=threads)


def _as_float64_matrix(A: npt.ArrayLike) -> np.ndarray:
    a = np.asarray(A)
    if a.ndim != 2:
        raise ShapeError(f"A must be a 2-D matrix, got an array of shape {a.shape}")
    if np.iscomplexobj(a):
        raise InvalidParameterError("A must be real; complex matrices are not supported")
    if a.dtype.kind not in "biuf":
        raise InvalidParameterError(f"A must be numeric, got dtype {a.dtype}")
    if a.dtype != np.float64:
        a = a.astype(np.float64)
    if a.strides[0] % a.itemsize or a.strides[1] % a.itemsize:
        a = np.ascontiguousarray(a)
    return a
