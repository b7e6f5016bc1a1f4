"""The reference solvers: ``baseline`` (ALS biases) and ``popularity`` (most rated first)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import funkrs
from funkrs.exceptions import InvalidParameterError
from funkrs.solvers import SolverParams
from funkrs.solvers._reference import Baseline, Popularity
from funkrs.testing import SolverContract, low_rank_ratings


# The default-option contracts of both solvers are in test_contract.py.
class TestBaselineOptions(SolverContract):
    solver = "baseline"
    solver_options = {"reg_u": 2.0, "reg_i": 1.0, "n_epochs": 25}  # noqa: RUF012
    # The same model with less regularisation than Surprise's: held out, within 1% of it
    # (0.8705 against 0.8701 on the contract's generated split).
    heldout_tolerance = 0.01


def _small() -> funkrs.Ratings:
    # 3 users × 3 items, 7 of the 9 cells rated.
    users = np.array([0, 0, 0, 1, 1, 2, 2])
    items = np.array([0, 1, 2, 0, 1, 1, 2])
    values = np.array([5.0, 3.0, 4.0, 4.0, 2.0, 1.0, 3.0])
    return funkrs.Ratings.from_arrays(users, items, values, rating_scale=(1.0, 5.0))


def _reference_biases(
    data: funkrs.Ratings, reg_u: float, reg_i: float, n_epochs: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """The ALS formulas on the dense matrix with a mask (no bincount, no loop over ratings)."""
    mask = np.zeros((data.n_users, data.n_items))
    r = np.zeros_like(mask)
    mask[data.users, data.items] = 1.0
    r[data.users, data.items] = data.values
    mu = float(data.values.astype(np.float64).mean())
    bu, bi = np.zeros(data.n_users), np.zeros(data.n_items)
    for _ in range(n_epochs):
        bi = ((r - mu - bu[:, None]) * mask).sum(axis=0) / (reg_i + mask.sum(axis=0))
        bu = ((r - mu - bi[None, :]) * mask).sum(axis=1) / (reg_u + mask.sum(axis=1))
    return bu, bi, mu


def _fit(solver: Any, data: funkrs.Ratings) -> funkrs.solvers.Factors:
    return solver.fit(data, SolverParams(n_factors=4, seed=0, n_threads=1))  # type: ignore[no-any-return]


def test_baseline_one_epoch_by_hand() -> None:
    data = _small()
    f = _fit(Baseline(reg_u=1.0, reg_i=2.0, n_epochs=1), data)
    mu = 22.0 / 7.0
    # Item biases with b_u = 0: Σ_u (r − μ) / (reg_i + n_i).
    bi = np.array([(9.0 - 2 * mu) / 4.0, (6.0 - 3 * mu) / 5.0, (7.0 - 2 * mu) / 4.0])
    # User biases against those: Σ_i (r − μ − b_i) / (reg_u + n_u).
    bu = np.array(
        [
            (12.0 - 3 * mu - bi.sum()) / 4.0,
            (6.0 - 2 * mu - bi[0] - bi[1]) / 3.0,
            (4.0 - 2 * mu - bi[1] - bi[2]) / 3.0,
        ]
    )
    assert f.global_mean == pytest.approx(mu)
    np.testing.assert_allclose(f.item_bias, bi, rtol=0, atol=1e-12)
    np.testing.assert_allclose(f.user_bias, bu, rtol=0, atol=1e-12)
    assert f.biased
    assert f.user_factors.shape == (3, 0)
    assert f.item_factors.shape == (3, 0)


@pytest.mark.parametrize(("reg_u", "reg_i", "n_epochs"), [(15, 10, 10), (0.5, 0.0, 3), (0, 0, 40)])
def test_baseline_matches_the_formulas(reg_u: float, reg_i: float, n_epochs: int) -> None:
    for data in (_small(), low_rank_ratings(seed=3, density=0.3)):
        f = _fit(Baseline(reg_u=reg_u, reg_i=reg_i, n_epochs=n_epochs), data)
        bu, bi, mu = _reference_biases(data, reg_u, reg_i, n_epochs)
        np.testing.assert_allclose(f.user_bias, bu, rtol=0, atol=1e-10)
        np.testing.assert_allclose(f.item_bias, bi, rtol=0, atol=1e-10)
        assert f.global_mean == pytest.approx(mu)


def test_baseline_defaults_are_surprises() -> None:
    solver = Baseline()
    assert (solver.reg_u, solver.reg_i, solver.n_epochs) == (15.0, 10.0, 10)
    data = low_rank_ratings()
    model = funkrs.MatrixFactorization(solver="baseline", clip=False).fit(data)
    bu, bi, mu = _reference_biases(data, 15.0, 10.0, 10)
    assert model.n_iter_ == 10
    pred = model.predict(data.raw_users(), data.raw_items())
    want = mu + bu[data.users] + bi[data.items]
    np.testing.assert_allclose(pred, want, rtol=0, atol=1e-5)


def test_the_estimators_n_epochs_is_not_the_baselines() -> None:
    # The estimator's n_epochs is an SGD setting (default 20); baseline's own is an option.
    data = low_rank_ratings()
    with pytest.raises(InvalidParameterError, match=r"n_epochs=3 .*'baseline' does not take"):
        funkrs.MatrixFactorization(solver="baseline", n_epochs=3).fit(data)
    model = funkrs.MatrixFactorization(solver="baseline", solver_options={"n_epochs": 3})
    assert model.fit(data).n_iter_ == 3


def test_baseline_history_and_callback_stop() -> None:
    data = low_rank_ratings()
    model = funkrs.MatrixFactorization(solver="baseline", clip=False).fit(data)
    assert model.history_["epoch"].to_list() == list(range(1, 11))
    pred = model.predict(data.raw_users(), data.raw_items()).astype(np.float64)
    last = float(np.sqrt(np.mean((pred - data.values) ** 2)))
    assert model.history_["train_rmse"][-1] == pytest.approx(last, abs=1e-5)
    seen: list[int] = []

    def stop(row: dict[str, Any]) -> bool:
        seen.append(row["epoch"])
        return row["epoch"] < 2

    with pytest.raises(KeyboardInterrupt):
        funkrs.MatrixFactorization(solver="baseline").fit(data, callback=stop)
    assert seen == [1, 2]


def test_baseline_zero_epochs_is_the_global_mean() -> None:
    f = _fit(Baseline(n_epochs=0), _small())
    assert not f.user_bias.any()
    assert not f.item_bias.any()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("reg_u", -1.0),
        ("reg_u", float("nan")),
        ("reg_i", "ten"),
        ("reg_i", True),
        ("n_epochs", -1),
        ("n_epochs", 2.5),
        ("n_epochs", True),
    ],
)
def test_baseline_bad_options_name_the_option(option: str, value: Any) -> None:
    model = funkrs.MatrixFactorization(solver="baseline", solver_options={option: value})
    with pytest.raises(ValueError, match=rf"{option} must be .* got {value!r}"):
        model.fit(_small())


def test_unknown_options_are_type_errors() -> None:
    for solver in ("baseline", "popularity"):
        model = funkrs.MatrixFactorization(solver=solver, solver_options={"alpha": 1})
        with pytest.raises(TypeError, match="alpha"):
            model.fit(_small())


def test_popularity_ranks_by_count_ties_by_lower_id() -> None:
    rng = np.random.default_rng(0)
    n_users, n_items = 40, 30
    counts = rng.integers(1, 12, n_items)  # many ties
    items = np.repeat(np.arange(n_items), counts)
    users = np.concatenate([rng.choice(n_users, c, replace=False) for c in counts])
    values = rng.uniform(1.0, 5.0, len(items))
    data = funkrs.Ratings.from_arrays(users, items, values)
    model = funkrs.MatrixFactorization(solver="popularity").fit(data)
    order = np.lexsort((np.arange(n_items), -counts))  # count descending, then lower id
    recs = model.recommend(users=[0], n=n_items, exclude_seen=False)
    np.testing.assert_array_equal(recs["item"].to_numpy(), order)
    # With the seen items excluded each user gets the same order minus their own items.
    recs = model.recommend(n=5)
    for u in (0, 7, 39):
        seen = set(items[users == u])
        want = [i for i in order if i not in seen][:5]
        got = recs.filter(recs["user"] == u)["item"].to_list()
        assert got == want


def test_popularity_predicts_the_global_mean(tmp_path: Path) -> None:
    data = low_rank_ratings()
    model = funkrs.MatrixFactorization(solver="popularity").fit(data)
    mu = float(data.values.astype(np.float64).mean())
    assert model.global_mean_ == pytest.approx(mu)
    pred = model.predict(data.raw_users(), data.raw_items())
    np.testing.assert_allclose(pred, mu, rtol=0, atol=Popularity.SCALE + 1e-6)
    rmse = float(np.sqrt(np.mean((pred - data.values) ** 2)))
    base = float(np.sqrt(np.mean((mu - data.values) ** 2)))
    assert round(rmse, 4) == round(base, 4)
    # Unknown users and items fall back to the mean as well.
    assert model.predict_one(-5, -5) == pytest.approx(mu)
    model.save(tmp_path / "pop.funkrs")
    back = funkrs.load(tmp_path / "pop.funkrs")
    assert back.recommend(n=3).equals(model.recommend(n=3))


def test_popularity_bias_keeps_every_count_distinct() -> None:
    # Up to 2**23 - 1 ratings on one item, the float32 biases of distinct counts differ.
    counts = np.array([1, 2, 3, 2**23 - 2, 2**23 - 1])
    bias = Popularity.item_bias(counts)
    assert bias.dtype == np.float32
    assert np.all(np.diff(bias) > 0)
    assert bias[-1] == np.float32(Popularity.SCALE)


def test_reference_models_fold_in() -> None:
    data = low_rank_ratings()
    new = funkrs.Ratings.from_arrays(
        np.array([1000, 1000]), data.raw_items()[:2], np.array([4.0, 3.0])
    )
    for solver in ("baseline", "popularity"):
        model = funkrs.MatrixFactorization(solver=solver).fit(data)
        ref = model.recommend(users=[0], n=5, exclude_seen=False)["item"].to_list()
        model.fold_in(new)
        got = model.recommend(users=[1000], n=5, exclude_seen=False)["item"].to_list()
        assert got == ref  # no factors: every user gets the same item order
