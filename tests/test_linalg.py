"""Property tests of funkrs.linalg.svd: the reconstruction invariants of a thin SVD."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funkrs

EPS = np.finfo(np.float64).eps
SCALES = [1e-300, 1e-150, 1e-8, 1.0, 1e8, 1e150, 1e300]
KINDS = ["gaussian", "rank_deficient", "duplicated_rows", "zero", "ill_conditioned"]


@st.composite
def matrices(draw: st.DrawFn) -> np.ndarray:
    """Random shapes (incl. 1×n and m×1), structure and scale."""
    m = draw(st.integers(1, 40))
    n = draw(st.integers(1, 40))
    kind = draw(st.sampled_from(KINDS))
    scale = draw(st.sampled_from(SCALES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "gaussian":
        a = rng.normal(size=(m, n))
    elif kind == "rank_deficient":
        r = draw(st.integers(0, min(m, n)))
        a = rng.normal(size=(m, r)) @ rng.normal(size=(r, n))
    elif kind == "duplicated_rows":
        base = rng.normal(size=(max(1, m // 3), n))
        a = base[rng.integers(0, len(base), m)]
    elif kind == "zero":
        a = np.zeros((m, n))
    else:
        p = min(m, n)
        q1, _ = np.linalg.qr(rng.normal(size=(m, p)))
        q2, _ = np.linalg.qr(rng.normal(size=(n, p)))
        a = (q1 * np.logspace(0, -12, p)) @ q2.T
    order = draw(st.sampled_from(["C", "F"]))
    return np.asarray(a * scale, order=order)


def _normalised(a: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Divide by the largest magnitude so that squares neither overflow nor underflow."""
    c = float(np.abs(a).max()) or 1.0
    return a / c, s / c, c


def _max_off_identity(q: np.ndarray) -> float:
    return float(np.abs(q - np.eye(len(q))).max()) if q.size else 0.0


@given(matrices())
def test_orthonormal_factors_and_sorted_values(a: np.ndarray) -> None:
    m, n = a.shape
    u, s, vt = funkrs.linalg.svd(a)
    p = min(m, n)
    assert u.shape == (m, p)
    assert s.shape == (p,)
    assert vt.shape == (p, n)
    assert np.isfinite(u).all()
    assert np.isfinite(s).all()
    assert np.isfinite(vt).all()
    assert _max_off_identity(u.T @ u) <= 1e-11
    assert _max_off_identity(vt @ vt.T) <= 1e-11
    assert (s >= 0).all()
    assert (np.diff(s) <= 0).all()


@given(matrices())
def test_reconstruction(a: np.ndarray) -> None:
    u, s, vt = funkrs.linalg.svd(a)
    an, sn, _ = _normalised(a, s)
    err = np.linalg.norm(an - (u * sn) @ vt)
    assert err <= 1e-12 * max(np.linalg.norm(an), 1.0)


@given(matrices(), st.data())
def test_rank_k_error_is_eckart_young(a: np.ndarray, data: st.DataObject) -> None:
    p = min(a.shape)
    k = data.draw(st.integers(0, p))
    u, s, vt = funkrs.linalg.svd(a, k)
    s_all = np.linalg.svd(a, compute_uv=False)  # the reference: LAPACK's singular values
    top = s_all[0] if s_all.size else 0.0
    np.testing.assert_allclose(s, s_all[:k], rtol=0, atol=1e-13 * max(a.shape) * top)
    an, sn, c = _normalised(a, s)
    err = np.linalg.norm(an - (u * sn) @ vt)
    expected = np.sqrt(np.sum((s_all[k:] / c) ** 2))
    assert abs(err - expected) <= 1e-11 * max(np.linalg.norm(an), 1.0)


@given(matrices(), st.sampled_from(["gram", "direct"]))
def test_singular_values_match_numpy(a: np.ndarray, method: str) -> None:
    _, s, _ = funkrs.linalg.svd(a, method=method)
    ref = np.linalg.svd(a, compute_uv=False)
    tol = 1e-13 * max(a.shape) * (ref[0] if ref.size else 0.0)
    np.testing.assert_allclose(s, ref, rtol=0, atol=tol)


def _clusters(s: np.ndarray, gap: float) -> list[tuple[int, int]]:
    """Index ranges of singular values separated from the others and from 0 by ``gap``."""
    out, start = [], 0
    for i in range(1, len(s) + 1):
        if i == len(s) or s[i - 1] - s[i] > gap:
            if s[i - 1] > gap:
                out.append((start, i))
            start = i
    return out


@given(matrices(), st.sampled_from(["gram", "direct"]))
def test_singular_subspaces_match_numpy(a: np.ndarray, method: str) -> None:
    u, _, vt = funkrs.linalg.svd(a, method=method)
    ur, sr, vtr = np.linalg.svd(a, full_matrices=False)
    assume(sr[0] > 0)  # a zero matrix has no singular subspaces to compare
    # Gram route: vector error ≈ ε·σ₁²/(σᵢ·gap), here ≤ ε·10⁴ with gap, σᵢ ≥ 10⁻²·σ₁.
    clusters = _clusters(sr / sr[0], 1e-2)
    # at most 40 values: those from σ₁/σ₁ = 1 down to the first gap stay above 1 − 40·10⁻²,
    # so that run is a cluster
    assert clusters
    for lo, hi in clusters:
        for x, y in ((u[:, lo:hi], ur[:, lo:hi]), (vt[lo:hi].T, vtr[lo:hi].T)):
            diff = np.abs(x @ x.T - y @ y.T).max()
            assert diff <= 1e-9, (lo, hi, diff)


def test_tiny_singular_values_are_resolved() -> None:
    """σ far below √ε·σ₁ is still found to about ε·σ₁, unlike sqrt(eigenvalues of AᵀA)."""
    rng = np.random.default_rng(0)
    q1, _ = np.linalg.qr(rng.normal(size=(50, 5)))
    q2, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    sigma = np.array([1.0, 1e-3, 1e-6, 1e-9, 1e-12])
    _, s, _ = funkrs.linalg.svd((q1 * sigma) @ q2.T)
    np.testing.assert_allclose(s, sigma, rtol=0, atol=50 * EPS)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_names_the_entry(bad: float) -> None:
    a = np.ones((4, 3))
    a[2, 1] = bad
    with pytest.raises(ValueError, match=r"A\[2, 1\] is not finite"):
        funkrs.linalg.svd(a)
    with pytest.raises(ValueError, match=r"A\[2, 1\] is not finite"):
        funkrs.linalg.svd(np.asfortranarray(a))


def test_input_validation() -> None:
    with pytest.raises(ValueError, match="2-D"):
        funkrs.linalg.svd(np.ones(3))
    with pytest.raises(ValueError, match="2-D"):
        funkrs.linalg.svd(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="k must be between 0 and min"):
        funkrs.linalg.svd(np.ones((3, 2)), k=3)
    with pytest.raises(ValueError, match="k must be between"):
        funkrs.linalg.svd(np.ones((3, 2)), k=-1)
    with pytest.raises(ValueError, match="method"):
        funkrs.linalg.svd(np.ones((3, 2)), method="lapack")
    with pytest.raises(TypeError, match="real"):
        funkrs.linalg.svd(np.ones((3, 2), dtype=complex))


@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, max_side=12),
        elements=st.floats(-1e3, 1e3),
    )
)
def test_arbitrary_small_matrices(a: np.ndarray) -> None:
    u, s, vt = funkrs.linalg.svd(a)
    assert _max_off_identity(u.T @ u) <= 1e-11
    assert _max_off_identity(vt @ vt.T) <= 1e-11
    scale = max(float(np.abs(a).max()), 1.0)
    assert np.abs(a - (u * s) @ vt).max() <= 1e-12 * scale * max(a.shape)
    ref = np.linalg.svd(a, compute_uv=False)
    np.testing.assert_allclose(s, ref, rtol=0, atol=1e-12 * max(a.shape) * scale)


def test_strided_and_integer_input() -> None:
    a = np.arange(60, dtype=np.float64).reshape(10, 6)
    for x in (a[::2, ::3], a.T, np.asfortranarray(a), a.astype(np.int32)):
        u, s, vt = funkrs.linalg.svd(x)
        np.testing.assert_allclose((u * s) @ vt, x, atol=1e-10)
