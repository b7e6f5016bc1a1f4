"""funk-sgd trains in standardised units: results follow affine maps of the ratings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funkrs

DATA = Path(__file__).parent / "data"


def _affine(r: funkrs.Ratings, a: float, b: float) -> funkrs.Ratings:
    lo, hi = r.rating_scale
    values = (a * r.values.astype(np.float64) + b).astype(np.float32)
    return funkrs.Ratings(
        r.users, r.items, values, r.user_vocab, r.item_vocab, (a * lo + b, a * hi + b)
    )


@pytest.fixture(scope="module")
def base() -> funkrs.Ratings:
    return funkrs.datasets.synthetic(150, 90, 4000, random_state=5)


@given(a=st.floats(0.1, 50.0), b=st.floats(-100.0, 100.0))
def test_predictions_and_parameters_follow_an_affine_map_of_the_ratings(base, a, b) -> None:
    params = {"n_factors": 6, "n_epochs": 8, "random_state": 0, "n_threads": 1}
    ref = funkrs.MatrixFactorization(**params).fit(base)
    got = funkrs.MatrixFactorization(**params).fit(_affine(base, a, b))
    users, items = base.raw_users()[:300], base.raw_items()[:300]
    want = a * ref.predict(users, items).astype(np.float64) + b
    # float32 rounding of the mapped ratings is all that differs: a few ulps of the scale.
    tol = 1e-4 * a * 4.5 + 1e-5 * abs(b)
    np.testing.assert_allclose(got.predict(users, items), want, atol=tol)
    np.testing.assert_allclose(got.user_factors_, ref.user_factors_ * np.sqrt(a), atol=1e-4 * a)
    np.testing.assert_allclose(got.item_bias_, ref.item_bias_ * a, atol=1e-4 * a)
    assert got.global_mean_ == pytest.approx(a * ref.global_mean_ + b, abs=tol)
    np.testing.assert_allclose(
        got.history_["train_rmse"].to_numpy(), a * ref.history_["train_rmse"].to_numpy(), rtol=1e-3
    )


def test_raw_units_keep_surprise_semantics(base) -> None:
    """Without standardisation, multiplying the ratings changes what lr and reg do."""
    opts = {"standardize": False}
    ref = funkrs.MatrixFactorization(n_factors=4, n_epochs=5, random_state=0, solver_options=opts)
    big = funkrs.MatrixFactorization(n_factors=4, n_epochs=5, random_state=0, solver_options=opts)
    ref.fit(base)
    big.fit(_affine(base, 10.0, 0.0))
    users, items = base.raw_users()[:50], base.raw_items()[:50]
    assert not np.allclose(big.predict(users, items), 10 * ref.predict(users, items), atol=1e-2)


def test_surprise_defaults_train_on_raw_values() -> None:
    model = funkrs.MatrixFactorization.surprise_defaults(solver_options={"n_blocks": 2})
    assert model.solver_options == {"standardize": False, "n_blocks": 2}
    svd = funkrs.MatrixFactorization.surprise_defaults(solver="exact-svd")
    assert svd.solver_options is None


def test_constant_ratings_train_without_rescaling() -> None:
    flat = funkrs.Ratings.from_arrays([0, 0, 1, 1], [0, 1, 0, 1], [3.0, 3.0, 3.0, 3.0])
    model = funkrs.MatrixFactorization(n_factors=2, random_state=0).fit(flat)
    np.testing.assert_allclose(model.predict([0, 1], [1, 0]), 3.0, atol=1e-3)


def test_standardize_must_be_a_bool(base) -> None:
    with pytest.raises(ValueError, match="standardize"):
        funkrs.MatrixFactorization(solver_options={"standardize": "yes"}).fit(base)


def test_models_saved_in_raw_units_still_load_and_predict_the_same() -> None:
    model = funkrs.load(DATA / "funk_sgd_raw_units.funkrs")
    expected = np.load(DATA / "funk_sgd_raw_units_expected.npz")
    np.testing.assert_array_equal(
        model.predict(expected["users"], expected["items"]), expected["pred"]
    )


@pytest.mark.parametrize("options", [{}, {"objective": "ranking", "negatives": 1.5}])
def test_bit_identical_for_any_thread_count(base, options) -> None:
    fits = [
        funkrs.MatrixFactorization(
            n_factors=16, n_epochs=4, random_state=3, n_threads=t, solver_options=options
        ).fit(base)
        for t in (1, 2, 4)
    ]
    for other in fits[1:]:
        np.testing.assert_array_equal(other.user_factors_, fits[0].user_factors_)
        np.testing.assert_array_equal(other.item_factors_, fits[0].item_factors_)
        np.testing.assert_array_equal(other.item_bias_, fits[0].item_bias_)
