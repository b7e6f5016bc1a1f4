"""``partial_fit`` for ``als`` and ``implicit-als``: exact half-steps, untouched rows, threads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funkrs
from funkrs.exceptions import InvalidParameterError

DATA = funkrs.datasets.synthetic(150, 90, 4000, random_state=3)
SOLVERS = ["als", "implicit-als"]


def _split(data: funkrs.Ratings, cut: float) -> tuple[funkrs.Ratings, funkrs.Ratings]:
    u, i, r = data.raw_users(), data.raw_items(), data.values
    n = int(len(r) * cut)
    return (
        funkrs.Ratings.from_arrays(u[:n], i[:n], r[:n]),
        funkrs.Ratings.from_arrays(u[n:], i[n:], r[n:]),
    )


OLD, NEW = _split(DATA, 0.85)


def _fitted(
    solver: str, data: funkrs.Ratings = OLD, n_iter: int = 10, **kw: object
) -> funkrs.MatrixFactorization:
    params = {"n_factors": 5, "random_state": 0, "solver_options": {"n_iter": n_iter}, **kw}
    return funkrs.MatrixFactorization(solver=solver, **params).fit(data)  # type: ignore[arg-type]


def _bits(model: funkrs.MatrixFactorization) -> list[bytes]:
    s = model._fitted()
    return [
        s.user_factors.tobytes(),
        s.item_factors.tobytes(),
        s.user_bias.tobytes(),
        s.item_bias.tobytes(),
        s.seen_indptr.tobytes(),
        s.seen_indices.tobytes(),
    ]


@pytest.mark.parametrize("solver", SOLVERS)
def test_the_solvers_declare_updates(solver: str) -> None:
    assert funkrs.solvers.capabilities(solver).supports_update
    assert solver in funkrs.solvers.updatable()
    model = funkrs.MatrixFactorization(solver="baseline", n_factors=2).fit(OLD)
    with pytest.raises(InvalidParameterError, match=solver):
        model.partial_fit(NEW)


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 2**32), st.floats(0.2, 0.95), st.sampled_from(SOLVERS))
def test_rows_no_new_rating_touches_keep_their_bits(seed: int, cut: float, solver: str) -> None:
    a, b = _split(DATA, cut)
    model = _fitted(solver, a, n_iter=3, random_state=seed)
    old = model._fitted()
    model.partial_fit(b)
    new = model._fitted()
    tu = np.zeros(new.n_users, bool)
    tu[new.users.numbers(b.raw_users())] = True
    ti = np.zeros(new.n_items, bool)
    ti[new.items.numbers(b.raw_items())] = True
    for now, before, touched in (
        (new.user_factors, old.user_factors, tu),
        (new.user_bias, old.user_bias, tu),
        (new.item_factors, old.item_factors, ti),
        (new.item_bias, old.item_bias, ti),
    ):
        keep = ~touched[: len(before)]
        assert now[: len(before)][keep].tobytes() == before[keep].tobytes()
    # The touched old rows moved, and the new ones have factors (not the baseline).
    moved = tu[: old.n_users]
    assert moved.any()
    assert not np.array_equal(new.user_factors[: old.n_users][moved], old.user_factors[moved])
    assert np.abs(new.user_factors[old.n_users :]).sum(axis=1).all()
    assert np.abs(new.item_factors[old.n_items :]).sum(axis=1).all()


@pytest.mark.parametrize("solver", SOLVERS)
def test_an_empty_increment_is_a_no_op_bit_for_bit(solver: str) -> None:
    model = _fitted(solver)
    before = _bits(model)
    none = np.zeros(0, np.uint32)
    empty = funkrs.Ratings(
        none, none, np.zeros(0, np.float32), OLD.user_vocab, OLD.item_vocab, OLD.rating_scale
    )
    model.partial_fit(empty)
    assert _bits(model) == before


@pytest.mark.parametrize("solver", SOLVERS)
def test_deterministic_across_thread_counts(solver: str) -> None:
    outs = []
    extra = funkrs.Ratings.from_arrays([10**6, 10**6, 10**6 + 1], [0, 10**7, 10**7], [4, 2, 5.0])
    for threads in (1, 2, 3):
        model = _fitted(solver, n_threads=threads)
        model.partial_fit(NEW)
        model.partial_fit(extra, n_epochs=2)
        outs.append(_bits(model))
    assert outs[0] == outs[1] == outs[2]


def _als_units(model: funkrs.MatrixFactorization) -> tuple[float, float]:
    return model.global_mean_, float(model.solver_info_["scale"])


def test_als_folds_a_new_user_in_by_exactly_one_half_step() -> None:
    model = _fitted("als")
    q, bi = model.item_factors_.astype(np.float64), model.item_bias_.astype(np.float64)
    items = model.items_.ids_array[[1, 4, 7, 20]]
    values = np.array([4.0, 2.0, 5.0, 3.5])
    model.partial_fit(funkrs.Ratings.from_arrays([10**6] * 4, items, values))
    mu, s = _als_units(model)
    reg = funkrs.solvers._als.ALS().reg
    idx = model.items_.numbers(items)
    x = np.hstack([q[idx] / np.sqrt(s), np.ones((4, 1))])
    y = (values - mu) / s - bi[idx] / s
    w = np.linalg.solve(x.T @ x + reg * 4 * np.eye(x.shape[1]), x.T @ y)
    np.testing.assert_allclose(model.user_factors_[-1], w[:-1] * np.sqrt(s), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.user_bias_[-1], w[-1] * s, rtol=1e-4, atol=1e-5)


def test_als_update_of_a_known_user_solves_its_old_and_new_ratings_together() -> None:
    # At convergence every row solves its ratings against the other side; the update then
    # equals the half-step over all of the user's ratings, old ones included.
    model = _fitted("als", n_iter=300)
    user = OLD.raw_users()[0]
    mine = OLD.raw_users() == user
    seen = set(OLD.raw_items()[mine].tolist())
    fresh = [i for i in model.items_.ids_array.tolist() if i not in seen][:3]
    q, bi = model.item_factors_.astype(np.float64), model.item_bias_.astype(np.float64)
    model.partial_fit(funkrs.Ratings.from_arrays([user] * 3, fresh, [5.0, 1.0, 4.0]))
    mu, s = _als_units(model)
    reg = funkrs.solvers._als.ALS().reg
    items = np.concatenate([OLD.raw_items()[mine], fresh])
    values = np.concatenate([OLD.values[mine], [5.0, 1.0, 4.0]])
    idx = model.items_.numbers(items)
    x = np.hstack([q[idx] / np.sqrt(s), np.ones((len(idx), 1))])
    y = (values - mu) / s - bi[idx] / s
    w = np.linalg.solve(x.T @ x + reg * len(idx) * np.eye(x.shape[1]), x.T @ y)
    u = model.users_.numbers([user])[0]
    np.testing.assert_allclose(model.user_factors_[u], w[:-1] * np.sqrt(s), rtol=1e-3, atol=1e-4)


def test_implicit_als_folds_a_new_user_in_by_an_exact_solve() -> None:
    model = _fitted("implicit-als")
    y = model.item_factors_.astype(np.float64)
    opts = funkrs.solvers._implicit_als.ImplicitALS()
    items = model.items_.ids_array[[0, 3, 9]]
    values = np.array([1.0, 3.0, 2.0])
    model.partial_fit(funkrs.Ratings.from_arrays([10**6] * 3, items, values))
    yi = y[model.items_.numbers(items)]
    a = y.T @ y + opts.reg * np.eye(5) + (yi.T * (opts.alpha * values)) @ yi
    b = ((1 + opts.alpha * values)[:, None] * yi).sum(axis=0)
    np.testing.assert_allclose(model.user_factors_[-1], np.linalg.solve(a, b), rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("solver", SOLVERS)
def test_ctrl_c_and_errors_leave_the_model_unchanged(
    solver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _fitted(solver)
    before = _bits(model)
    with pytest.raises(InvalidParameterError, match=r"replay=0\.5: solver .* does not replay"):
        model.partial_fit(NEW, replay=0.5)
    assert _bits(model) == before

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    name = "als_update" if solver == "als" else "ials_update"
    monkeypatch.setattr(funkrs._funkrs, name, interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.partial_fit(NEW)
    assert _bits(model) == before


@pytest.mark.parametrize("solver", SOLVERS)
def test_persistence_round_trips_after_an_update(solver: str, tmp_path: Path) -> None:
    model = _fitted(solver)
    model.partial_fit(NEW)
    model.save(tmp_path / "m.funkrs")
    back = funkrs.load(tmp_path / "m.funkrs")
    assert _bits(back) == _bits(model)
    extra = funkrs.Ratings.from_arrays([10**6], [0], [3.0])
    model.partial_fit(extra)
    back.partial_fit(extra)
    assert _bits(back) == _bits(model)


def test_an_als_update_tracks_a_refit() -> None:
    data = funkrs.datasets.synthetic(300, 200, 20_000, random_state=1)
    a, b = _split(data, 0.7)
    b, test = _split(b, 0.5)
    both = funkrs.Ratings.from_arrays(
        np.concatenate([a.raw_users(), b.raw_users()]),
        np.concatenate([a.raw_items(), b.raw_items()]),
        np.concatenate([a.values, b.values]),
    )
    old = _fitted("als", a, n_factors=8)
    rmse_old = funkrs.evaluate(old, test)["rmse"]
    old.partial_fit(b)
    rmse_upd = funkrs.evaluate(old, test)["rmse"]
    rmse_refit = funkrs.evaluate(_fitted("als", both, n_factors=8), test)["rmse"]
    assert rmse_upd < rmse_old
    assert rmse_upd < rmse_refit + 0.02
