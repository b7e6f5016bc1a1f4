"""funk-sgd specifics: validation, early stopping, schedules, learning-rate decay, Ctrl-C."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funkrs

Split = tuple[funkrs.Ratings, funkrs.Ratings]


@pytest.fixture
def noisy() -> Split:
    base = funkrs.testing.low_rank_ratings(120, 80, rank=3, density=0.35, seed=3)
    rng = np.random.default_rng(0)
    noisy = funkrs.Ratings.from_arrays(
        base.raw_users(), base.raw_items(), base.values + rng.normal(0, 0.5, len(base))
    )
    return funkrs.train_test_split(noisy, test_size=0.2, random_state=0)


def test_validation_rmse_is_recorded_and_matches_evaluate(noisy: Split) -> None:
    train, test = noisy
    model = funkrs.MatrixFactorization(n_factors=8, n_epochs=5, random_state=0)
    model.fit(train, validation=test)
    val = model.history_["validation_rmse"].to_numpy()
    assert len(val) == 5
    assert np.isfinite(val).all()
    assert val[-1] == pytest.approx(funkrs.evaluate(model, test)["rmse"], abs=1e-4)
    assert model.best_epoch_ is None


def test_early_stopping_keeps_the_best_epoch(noisy: Split) -> None:
    train, test = noisy
    model = funkrs.MatrixFactorization(
        n_factors=40,
        n_epochs=300,
        lr=0.03,
        reg=0.0,
        random_state=0,
        solver_options={"patience": 3, "min_delta": 0.0},
    )
    model.fit(train, validation=test)
    hist = model.history_
    assert hist.height < 300
    best = model.best_epoch_
    assert hist.height == best + 3
    best_val = hist["validation_rmse"][best - 1]
    assert hist["validation_rmse"].min() == best_val
    assert funkrs.evaluate(model, test)["rmse"] == pytest.approx(best_val, abs=1e-4)


def test_patience_without_validation_is_an_error(noisy: Split) -> None:
    train, _ = noisy
    with pytest.raises(ValueError, match="needs fit"):
        funkrs.MatrixFactorization(solver_options={"patience": 2}).fit(train)
    with pytest.raises(ValueError, match="patience"):
        funkrs.MatrixFactorization(solver_options={"patience": 0})._make_solver()


def test_feature_wise_schedule(noisy: Split) -> None:
    train, test = noisy
    model = funkrs.MatrixFactorization(
        n_factors=3,
        n_epochs=30,
        lr=0.01,
        random_state=0,
        solver_options={"schedule": "feature-wise"},
    ).fit(train, validation=test)
    hist = model.history_
    assert hist.height == 4 * 30
    assert hist["feature"][:30].is_null().all()
    assert hist["feature"][30:].to_list() == [f for f in range(3) for _ in range(30)]
    base = np.sqrt(np.mean((test.values - train.values.mean()) ** 2))
    assert funkrs.evaluate(model, test)["rmse"] < base
    with pytest.raises(ValueError, match="schedule"):
        funkrs.MatrixFactorization(solver_options={"schedule": "random"}).fit(train)


def test_learning_rate_decay(noisy: Split) -> None:
    train, _ = noisy
    model = funkrs.MatrixFactorization(
        n_epochs=3, lr=0.01, random_state=0, solver_options={"lr_decay": 1.0}
    ).fit(train)
    np.testing.assert_allclose(model.history_["lr"].to_numpy(), [0.01, 0.005, 0.01 / 3], rtol=1e-6)


@given(st.integers(0, 2**40), st.sampled_from([1, 2, 3, 4]), st.booleans())
def test_bit_identical_for_any_thread_count(seed: int, blocks: int, reshuffle: bool) -> None:
    data = funkrs.testing.low_rank_ratings(25, 20, seed=seed % 100)
    opts = {"n_blocks": blocks, "reshuffle": reshuffle}
    fits = [
        funkrs.MatrixFactorization(
            n_factors=5, n_epochs=3, random_state=seed, n_threads=t, solver_options=opts
        ).fit(data)
        for t in (1, 2, 4)
    ]
    for other in fits[1:]:
        np.testing.assert_array_equal(other.user_factors_, fits[0].user_factors_)
        np.testing.assert_array_equal(other.item_factors_, fits[0].item_factors_)
        np.testing.assert_array_equal(other.user_bias_, fits[0].user_bias_)
        np.testing.assert_array_equal(other.item_bias_, fits[0].item_bias_)
        assert other.global_mean_ == fits[0].global_mean_


def test_noiseless_low_rank_is_recovered() -> None:
    data = funkrs.testing.low_rank_ratings(200, 150, rank=3, density=0.3, seed=5)
    train, test = funkrs.train_test_split(data, test_size=0.1, random_state=0)
    model = funkrs.MatrixFactorization(
        n_factors=3, n_epochs=300, lr=0.01, reg=0.0, random_state=0, clip=False
    ).fit(train)
    assert model.history_["train_rmse"][-1] < model.history_["train_rmse"][0] / 10
    assert funkrs.evaluate(model, test)["rmse"] < 0.05


@pytest.mark.timeout(120)
def test_ctrl_c_stops_a_fit_and_leaves_the_model_unfitted() -> None:
    # About 4·10¹¹ updates: the fit cannot end on its own before the timeout. An interrupt
    # that the fit ignored would surface after it, with the model fitted ("True").
    script = textwrap.dedent(
        """
        import os, signal, threading
        import funkrs
        data = funkrs.testing.low_rank_ratings(300, 200, density=0.7)
        model = funkrs.MatrixFactorization(n_factors=4, n_epochs=10_000_000, random_state=0)
        threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        try:
            model.fit(data)
        except KeyboardInterrupt:
            print("interrupted", hasattr(model, "user_factors_"))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=100
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["interrupted", "False"]
