"""The exact-svd and imputed-svd solvers: contract, path agreement, reference results."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import funkrs
from funkrs.solvers._svd import ExactSVD, ImputedSVD, dense_matrix, fill_vectors
from funkrs.testing import SolverContract, low_rank_ratings

EPS = float(np.finfo(np.float64).eps)


class TestExactSVD(SolverContract):
    solver = "exact-svd"

    def data(self) -> funkrs.Ratings:
        return low_rank_ratings(density=1.0)


class TestExactSVDFilled(SolverContract):
    solver = "exact-svd"
    solver_options = {"fill": "item"}  # noqa: RUF012


class TestImputedSVD(SolverContract):
    solver = "imputed-svd"


class TestImputedSVDImplicit(SolverContract):
    solver = "imputed-svd"
    solver_options = {"path": "implicit", "fill": "user"}  # noqa: RUF012


def _reconstruction(u: np.ndarray, s: np.ndarray, vt: np.ndarray) -> np.ndarray:
    return (u * s) @ vt


def test_exact_svd_rejects_an_incomplete_matrix() -> None:
    data = low_rank_ratings(density=0.5)
    model = funkrs.MatrixFactorization(solver="exact-svd", n_factors=3)
    with pytest.raises(ValueError, match=r"imputed-svd.*funk-sgd.*fill"):
        model.fit(data)


def test_exact_svd_predicts_the_rank_k_truncation() -> None:
    # a full-rank 30 × 20 matrix truncated to rank 4: the numpy reference, and Eckart–Young
    rng = np.random.default_rng(0)
    x = rng.uniform(1, 5, (30, 20)).astype(np.float32).astype(np.float64)  # as Ratings stores
    users, items = np.divmod(np.arange(x.size), x.shape[1])
    data = funkrs.Ratings.from_arrays(users, items, x[users, items])
    k = 4
    model = funkrs.MatrixFactorization(solver="exact-svd", n_factors=k, clip=False).fit(data)
    assert model.user_factors_.shape == (30, k)
    pred = model.predict(data.raw_users(), data.raw_items()).reshape(x.shape)
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    np.testing.assert_allclose(pred, (u[:, :k] * s[:k]) @ vt[:k], rtol=0, atol=1e-4)
    tail = float(np.sqrt(np.sum(s[k:] ** 2)))
    assert tail > 0.1 * np.linalg.norm(x)  # the truncation drops a real part of the matrix
    assert np.linalg.norm(x - pred) == pytest.approx(tail, rel=1e-5)
    assert not model.biased_
    assert model.global_mean_ == pytest.approx(float(data.values.astype(np.float64).mean()))


def test_n_factors_above_the_rank_bound_is_an_error() -> None:
    data = low_rank_ratings(10, 8, density=1.0)
    for solver in ("exact-svd", "imputed-svd"):
        with pytest.raises(ValueError, match="exceeds min"):
            funkrs.MatrixFactorization(solver=solver, n_factors=9).fit(data)


def test_bad_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="fill"):
        ImputedSVD(fill="median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="path"):
        ImputedSVD(path="sparse")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="solver_options"):
        funkrs.MatrixFactorization(solver="imputed-svd", solver_options={"nope": 1}).fit(
            low_rank_ratings()
        )


@given(
    st.integers(2, 25),
    st.integers(2, 25),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["item", "user", "global"]),
)
def test_imputed_on_a_complete_matrix_equals_exact(m: int, n: int, seed: int, fill: str) -> None:
    rng = np.random.default_rng(seed)
    users, items = np.divmod(np.arange(m * n), n)
    data = funkrs.Ratings.from_arrays(users, items, rng.uniform(1, 5, m * n))
    k = int(rng.integers(1, min(m, n) + 1))
    x = dense_matrix(data, *fill_vectors(data, "zero"))  # every cell is observed
    assume(_tol_attainable(np.linalg.svd(x, compute_uv=False), k))
    want = _reconstruction(*ExactSVD().decompose(data, k))
    for path in ("dense", "implicit"):
        solver = ImputedSVD(fill=fill, path=path, tol=1e-12)  # type: ignore[arg-type]
        got = solver.decompose(data, k)
        assert np.abs(_reconstruction(*got) - want).max() <= 1e-8


def _tol_attainable(s_all: np.ndarray, k: int, tol: float = 1e-12) -> bool:
    """The implicit path reaches ``tol`` only above its attainable accuracy, about
    ``16·ε·σ_1/σ_k`` (see ImputedSVD); asked for less, it stops there with a RuntimeWarning."""
    return bool(s_all[k - 1] > 0 and 16 * EPS * s_all[0] / s_all[k - 1] <= tol)


def _gap_ok(s_all: np.ndarray, k: int) -> bool:
    """The rank-k truncation is unique (to working precision) only when σ_k > σ_{k+1}."""
    return k >= len(s_all) or s_all[k - 1] - s_all[k] > 1e-3 * s_all[0]


@given(
    st.integers(3, 30),
    st.integers(3, 30),
    st.floats(0.2, 0.9),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["item", "user", "global"]),
)
def test_dense_and_implicit_paths_agree(
    m: int, n: int, density: float, seed: int, fill: str
) -> None:
    data = low_rank_ratings(m, n, rank=2, density=density, seed=seed % 1000)
    k = 1 + seed % min(data.n_users, data.n_items)
    dense = ImputedSVD(fill=fill, path="dense")  # type: ignore[arg-type]
    implicit = ImputedSVD(fill=fill, path="implicit", tol=1e-12)  # type: ignore[arg-type]
    x = dense_matrix(data, *fill_vectors(data, fill))
    s_all = np.linalg.svd(x, compute_uv=False)
    assume(_gap_ok(s_all, k) and _tol_attainable(s_all, k))
    got_dense = dense.decompose(data, k)
    got_implicit = implicit.decompose(data, k, seed=seed)
    np.testing.assert_allclose(got_implicit[1], got_dense[1], rtol=0, atol=1e-9 * s_all[0])
    diff = np.abs(_reconstruction(*got_implicit) - _reconstruction(*got_dense)).max()
    assert diff <= 1e-8


def test_the_default_tolerance_is_met_and_reported() -> None:
    # item-mean fill of a sparse low-rank matrix: a noise bulk after the low rank, restarts
    data = funkrs.datasets.synthetic(400, 150, 6000, rank=3, random_state=1)
    solver = ImputedSVD(path="implicit", max_basis=40, block_size=4)
    k = 12
    u, s, vt = solver.decompose(data, k, seed=0)
    assert solver.info_["converged"]
    assert solver.info_["residual"] <= 1e-8
    assert solver.info_["n_iter"] * 4 > 40  # it restarted
    x = dense_matrix(data, *fill_vectors(data, "item"))
    # the residual in info_ is that of the returned triplets
    r1 = np.linalg.norm(x @ vt.T - u * s, axis=0)
    r2 = np.linalg.norm(x.T @ u - vt.T * s, axis=0)
    assert np.hypot(r1, r2).max() / s[0] <= 1.1e-8
    np.testing.assert_allclose(u.T @ u, np.eye(k), atol=1e-12)
    np.testing.assert_allclose(vt @ vt.T, np.eye(k), atol=1e-12)
    # singular values: within tol · σ_1 of LAPACK's
    want = np.linalg.svd(x, compute_uv=False)[:k]
    assert np.abs(s - want).max() <= 1e-8 * want[0]


def test_an_unreachable_tolerance_warns() -> None:
    data = funkrs.datasets.synthetic(400, 150, 6000, rank=3, random_state=1)
    solver = ImputedSVD(path="implicit", tol=0.0, max_iter=3, block_size=2)
    with pytest.warns(RuntimeWarning, match="stopped after 3 steps"):
        solver.decompose(data, 5)
    assert not solver.info_["converged"]


def test_implicit_options_are_checked() -> None:
    for bad in ({"block_size": 0}, {"max_basis": -1}, {"block_size": 2.5}, {"max_basis": True}):
        with pytest.raises(ValueError, match="positive integer or None"):
            ImputedSVD(**bad)  # type: ignore[arg-type]


def test_fill_vectors_reproduce_the_means() -> None:
    data = low_rank_ratings(12, 9, density=0.6)
    x = np.full((data.n_users, data.n_items), np.nan)
    x[data.users, data.items] = data.values
    a, b = fill_vectors(data, "item")
    np.testing.assert_allclose(a[:, None] * b[None, :], np.tile(np.nanmean(x, 0), (12, 1)))
    a, b = fill_vectors(data, "user")
    np.testing.assert_allclose(a[:, None] * b[None, :], np.tile(np.nanmean(x, 1)[:, None], 9))


def test_the_auto_path_follows_the_threshold() -> None:
    data = low_rank_ratings(20, 10)
    assert ImputedSVD().chosen_path(data) == "dense"
    assert ImputedSVD(dense_threshold=199).chosen_path(data) == "implicit"
    assert ImputedSVD(dense_threshold=200).chosen_path(data) == "dense"


def _numpy_imputed(train: funkrs.Ratings, k: int) -> np.ndarray:
    """The reference: dense item-mean fill, numpy's LAPACK SVD, rank-k reconstruction."""
    x = np.full((train.n_users, train.n_items), np.nan)
    x[train.users, train.items] = train.values
    x = np.where(np.isnan(x), np.nanmean(x, axis=0), x)
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    return (u[:, :k] * s[:k]) @ vt[:k]


@pytest.mark.slow
@pytest.mark.parametrize("path", ["dense", "implicit"])
def test_movielens_small_matches_numpy(
    ml_split: tuple[funkrs.Ratings, funkrs.Ratings], path: str
) -> None:
    train, test = ml_split
    ref = _numpy_imputed(train, 10)
    solver = ImputedSVD(path=path, tol=1e-12)  # type: ignore[arg-type]
    got = _reconstruction(*solver.decompose(train, 10, seed=0))
    assert np.abs(got - ref).max() <= 1e-8
    # 0.9695 is the RMSE of the dense numpy computation (item-mean fill, numpy.linalg.svd,
    # rank-10 reconstruction, clipped to the rating scale) on the fixed MovieLens-small split
    model = funkrs.MatrixFactorization(
        solver="imputed-svd", n_factors=10, solver_options={"path": path}, random_state=0
    ).fit(train)
    # all test pairs; items unseen in training fall back to the global mean
    assert funkrs.evaluate(model, test)["rmse"] == pytest.approx(0.9695, abs=5e-4)
