"""Early stopping on a seeded hold-out, and the warning for fits worse than the bias baseline."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import funkrs
from funkrs.exceptions import PoorFitWarning


@pytest.fixture(scope="module")
def split() -> tuple[funkrs.Ratings, funkrs.Ratings]:
    data = funkrs.datasets.synthetic(300, 200, 6000, random_state=0)
    return funkrs.train_test_split(data, random_state=0)


def test_a_deliberately_bad_lr_warns_naming_lr_and_reg(split) -> None:
    train, val = split
    model = funkrs.MatrixFactorization(n_factors=50, lr=0.2, reg=0.0, random_state=0)
    with pytest.warns(PoorFitWarning, match=r"lr \(now 0.2\).*reg \(now 0\)"):
        model.fit(train, validation=val)


def test_the_defaults_do_not_warn(split) -> None:
    train, val = split
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        funkrs.MatrixFactorization(n_factors=8, random_state=0).fit(train, validation=val)


def test_early_stopping_holds_out_ratings_and_keeps_the_best_epoch(split) -> None:
    train, _ = split
    options = {"early_stopping": True, "validation_fraction": 0.2, "n_iter_no_change": 2}
    model = funkrs.MatrixFactorization(
        n_factors=30, n_epochs=60, lr=0.05, reg=0.0, random_state=0, solver_options=options
    ).fit(train)
    val = model.history_["validation_rmse"].to_numpy()
    assert np.isfinite(val).all()
    assert model.best_epoch_ is not None
    assert model.n_iter_ == model.best_epoch_ + 2 < 60
    assert val[model.best_epoch_ - 1] == val.min()
    again = funkrs.MatrixFactorization(
        n_factors=30,
        n_epochs=60,
        lr=0.05,
        reg=0.0,
        random_state=0,
        solver_options=options,
        n_threads=1,
    ).fit(train)
    np.testing.assert_array_equal(again.user_factors_, model.user_factors_)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"early_stopping": "auto"}, "early_stopping"),
        ({"early_stopping": True, "validation_fraction": 1.0}, "validation_fraction"),
        ({"early_stopping": True, "n_iter_no_change": 0}, "n_iter_no_change"),
        ({"early_stopping": True, "objective": "ranking"}, "ranking objective"),
    ],
)
def test_bad_early_stopping_options_name_the_option(split, options, match) -> None:
    with pytest.raises(ValueError, match=match):
        funkrs.MatrixFactorization(n_factors=4, solver_options=options).fit(split[0])


def test_nothing_to_hold_out_is_an_error() -> None:
    tiny = funkrs.Ratings.from_arrays([0, 1], [0, 1], [3.0, 4.0])
    with pytest.raises(ValueError, match="held out"):
        funkrs.MatrixFactorization(solver_options={"early_stopping": True}).fit(tiny)


def test_the_hold_out_leaves_every_user_and_item_a_training_rating() -> None:
    from funkrs.solvers._sgd import _hold_out

    data = funkrs.datasets.synthetic(200, 150, 1500, random_state=4)
    train, held = _hold_out(data, 0.5, seed=7)
    assert 0.3 * len(data) < len(held.values) < 0.6 * len(data)
    assert (np.bincount(train.users, minlength=data.n_users) > 0).all()
    assert (np.bincount(train.items, minlength=data.n_items) > 0).all()
    assert len(train) + len(held.values) == len(data)
