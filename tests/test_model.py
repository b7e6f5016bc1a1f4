from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import funkrs
from funkrs._funkrs import SGD_DEFAULTS
from funkrs.exceptions import (
    ConvergenceError,
    InvalidParameterError,
    NotFittedError,
    RatingsError,
    ShapeError,
    UnknownIdError,
)


def test_fit_returns_self_and_sets_fitted_attributes(small: funkrs.Ratings) -> None:
    model = funkrs.MatrixFactorization(n_factors=6, n_epochs=3, random_state=1)
    assert model.fit(small) is model
    assert model.user_factors_.shape == (small.n_users, 6)
    assert model.item_factors_.shape == (small.n_items, 6)
    assert model.user_bias_.dtype == np.float32
    assert model.global_mean_ == pytest.approx(float(small.values.mean()), rel=1e-6)
    assert model.n_iter_ == 3
    assert model.history_.columns == [
        "epoch",
        "feature",
        "train_rmse",
        "validation_rmse",
        "lr",
        "seconds",
    ]
    assert model.history_["epoch"].to_list() == [1, 2, 3]


def test_refit_discards_the_previous_fit(small: funkrs.Ratings) -> None:
    model = funkrs.MatrixFactorization(n_factors=4, n_epochs=2, random_state=0).fit(small)
    sub = small.take(np.arange(len(small) // 2))
    model.fit(sub)
    assert model.user_factors_.shape[0] == sub.n_users


def test_predict_shapes_dtypes_and_clipping(
    fitted: funkrs.MatrixFactorization, small: funkrs.Ratings
) -> None:
    pred = fitted.predict(small.raw_users(), small.raw_items())
    assert pred.dtype == np.float32
    assert pred.shape == (len(small),)
    lo, hi = small.rating_scale
    assert pred.min() >= lo
    assert pred.max() <= hi
    raw = fitted.predict(small.raw_users(), small.raw_items(), clip=False)
    assert (raw < lo).any() or (raw > hi).any() or np.allclose(raw, pred)
    np.testing.assert_array_equal(np.clip(raw, lo, hi), pred)
    one = fitted.predict_one(small.raw_users()[0], small.raw_items()[0])
    assert isinstance(one, float)
    assert one == pytest.approx(float(pred[0]))


def test_predict_matches_the_formula(
    fitted: funkrs.MatrixFactorization, small: funkrs.Ratings
) -> None:
    u, i = small.users[:50], small.items[:50]
    expected = (
        fitted.global_mean_
        + fitted.user_bias_[u]
        + fitted.item_bias_[i]
        + np.einsum("ij,ij->i", fitted.user_factors_[u], fitted.item_factors_[i])
    )
    got = fitted.predict(small.raw_users()[:50], small.raw_items()[:50], clip=False)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_unknown_ids_follow_the_policy(fitted: funkrs.MatrixFactorization) -> None:
    user = fitted.users_.ids([0])[0]
    item = fitted.items_.ids([0])[0]
    mu, bu, bi = fitted.global_mean_, fitted.user_bias_[0], fitted.item_bias_[0]
    base = fitted.predict(["nobody", user, "nobody"], [item, 99999, 99999], clip=False)
    np.testing.assert_allclose(base, [mu + bi, mu + bu, mu], rtol=1e-6)
    nan = fitted.predict(["nobody", user], [item, item], unknown="nan")
    assert np.isnan(nan[0])
    assert np.isfinite(nan[1])
    with pytest.raises(UnknownIdError, match=r"user 'nobody' \(position 1\)"):
        fitted.predict([user, "nobody"], [item, item], unknown="error")
    with pytest.raises(UnknownIdError, match="item 99999"):
        fitted.predict([user], [99999], unknown="error")


def test_ids_of_the_wrong_kind_are_an_error_not_a_baseline(
    fitted: funkrs.MatrixFactorization, tmp_path: Path
) -> None:
    # The fixture has string users and integer items.
    user = fitted.users_.ids_array[0]
    item = int(fitted.items_.ids_array[0])
    calls = {
        "predict": lambda u, i: fitted.predict(u, i),
        "predict nan": lambda u, i: fitted.predict(u, i, unknown="nan"),
        "predict error": lambda u, i: fitted.predict(u, i, unknown="error"),
        "recommend": lambda u, i: fitted.recommend(users=u, items=i, n=2),
    }
    cases = [
        ([user], [str(item)], "item ids of this model are integers, got strings"),
        ([user], [item + 0.5], "float ids must be whole numbers"),
        ([user], [True], "got booleans"),
        ([1], [item], "user ids of this model are strings, got integers"),
        ([1.0], [item], "user ids of this model are strings, got floats"),
        ([user], np.array([item], dtype=object).astype(str), "got strings"),
        ([user, None], [item, item], "missing"),
    ]
    for call in calls.values():
        for users, items, match in cases:
            with pytest.raises(RatingsError, match=match):
                call(users, items)
    with pytest.raises(RatingsError, match="item ids of this model are integers, got strings"):
        fitted.similar_items(["a"])
    with pytest.raises(RatingsError, match="user ids of this model are strings, got integers"):
        fitted.similar_users([3])
    with pytest.raises(RatingsError, match=r"user ids .* got integers"):
        fitted.recommend_to_parquet(tmp_path / "recs.parquet", users=[3])
    assert list(tmp_path.iterdir()) == []
    # Unknown ids of the right kind still follow the unknown= policy.
    assert np.isfinite(fitted.predict(["nobody"], [10**9])).all()
    assert np.isnan(fitted.predict(["nobody"], [item], unknown="nan")).all()
    # Membership of an id of the other kind is simply False.
    assert "x" not in fitted.items_
    assert 1 not in fitted.users_
    # An empty query has no kind to get wrong.
    assert fitted.predict([], []).shape == (0,)


def test_integer_ids_of_any_width_and_whole_floats_work(
    fitted: funkrs.MatrixFactorization,
) -> None:
    users = fitted.users_.ids_array[:5]
    items = fitted.items_.ids_array[:5]  # 1000 and up: fits every width below but int8/uint8
    ref = fitted.predict(users, items)
    for dtype in (np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64, np.float64):
        np.testing.assert_array_equal(fitted.predict(users, items.astype(dtype)), ref)
    one = fitted.predict_one(users[0], np.uint16(items[0]))
    assert one == pytest.approx(float(ref[0]))
    small_ids = funkrs.Ratings.from_arrays([1, 2, 3, 3], [4, 5, 4, 6], [1.0, 2.0, 3.0, 4.0])
    model = funkrs.MatrixFactorization(n_factors=2, n_epochs=2, random_state=0).fit(small_ids)
    ref = model.predict([1, 3], [4, 6])
    for dtype in (np.int8, np.uint8, np.int16, np.uint32, np.uint64):
        np.testing.assert_array_equal(
            model.predict(np.array([1, 3], dtype), np.array([4, 6], dtype)), ref
        )
    recs = model.recommend(users=np.array([3], np.uint8), n=1, exclude_seen=False)
    assert recs.height == 1


def test_not_fitted_and_bad_parameters(small: funkrs.Ratings) -> None:
    with pytest.raises(NotFittedError, match="fit"):
        funkrs.MatrixFactorization().predict([1], [1])
    for kwargs, match in [
        ({"n_factors": 0}, "n_factors"),
        ({"lr": -0.1}, "lr"),
        ({"reg": float("nan")}, "reg"),
        ({"n_threads": 0}, "n_threads"),
        ({"unknown": "zero"}, "unknown"),
        ({"random_state": "x"}, "random_state"),
        ({"popularity_weight": "Auto"}, "popularity_weight must be 'auto' or"),
        ({"solver_options": ["n_blocks"]}, "solver_options must be a mapping"),
        ({"solver_options": {"n_blocks": 0}}, "solver_options for solver 'funk-sgd': n_blocks"),
    ]:
        with pytest.raises(InvalidParameterError, match=match):
            funkrs.MatrixFactorization(n_epochs=1, **kwargs).fit(small)
    with pytest.raises(TypeError, match=r"solver_options for solver 'funk-sgd'.*nope"):
        funkrs.MatrixFactorization(solver_options={"nope": 1}).fit(small)
    with pytest.raises(funkrs.exceptions.SolverNotFoundError, match="funk-sgd"):
        funkrs.MatrixFactorization(solver="no-such-solver").fit(small)
    frame = small.to_frame()
    with pytest.raises(InvalidParameterError, match=r"fit: ratings .* got polars\.DataFrame"):
        funkrs.MatrixFactorization().fit(frame)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Ratings\.from_frame"):
        funkrs.MatrixFactorization().fit(frame)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match=r"fit: validation .* got polars\.DataFrame"):
        funkrs.MatrixFactorization().fit(small, validation=frame)  # type: ignore[arg-type]


def test_numpy_scalars_are_accepted_as_options(small: funkrs.Ratings) -> None:
    model = funkrs.MatrixFactorization(
        n_factors=np.int64(3),
        n_epochs=np.uint8(2),
        lr=np.float32(0.02),
        reg=np.int32(0),
        biased=np.bool_(True),
        n_threads=np.int16(1),
        random_state=np.uint64(5),
        popularity_weight=np.float64(1.0),
    ).fit(small)
    assert model.user_factors_.shape == (small.n_users, 3)
    assert model.n_iter_ == 2
    plain = funkrs.MatrixFactorization(
        n_factors=3, n_epochs=2, lr=float(np.float32(0.02)), reg=0, n_threads=1, random_state=5
    ).fit(small)
    np.testing.assert_array_equal(model.user_factors_, plain.user_factors_)


def test_predict_checks_its_overrides(fitted: funkrs.MatrixFactorization) -> None:
    user, item = fitted.users_.ids_array[0], fitted.items_.ids_array[0]
    with pytest.raises(InvalidParameterError, match="unknown must be one of 'baseline', 'nan'"):
        fitted.predict([user], [item], unknown="zero")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="clip must be True or False, got 1"):
        fitted.predict([user], [item], clip=1)  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match=r"equally long, got shapes \(2,\) and \(1,\)"):
        fitted.predict([user, user], [item])


def test_defaults_are_the_cores() -> None:
    params = funkrs.MatrixFactorization().get_params()
    core = {name: getattr(SGD_DEFAULTS, name) for name in ("n_factors", "n_epochs", "lr", "reg")}
    core["init_std"] = SGD_DEFAULTS.init_std
    for name, value in core.items():
        assert params[name] == value, name
        assert type(params[name]) is type(value), name
    # The plain values, not a wrapper object: repr hides them and get_params shows them.
    assert (params["lr"], params["reg"], params["init_std"]) == (0.025, 0.035, 0.005)
    assert (params["n_factors"], params["n_epochs"]) == (100, 20)
    assert repr(funkrs.MatrixFactorization()) == "MatrixFactorization()"
    assert repr(funkrs.MatrixFactorization(lr=0.01)) == "MatrixFactorization(lr=0.01)"
    # The class docstring states the same numbers.
    doc = " ".join((funkrs.MatrixFactorization.__doc__ or "").split())
    found = re.search(
        r"``n_factors=(\d+), n_epochs=(\d+), lr=([\d.]+), reg=([\d.]+), init_std=([\d.]+)``",
        doc,
    )
    assert found is not None
    stated = [float(v) for v in found.groups()]
    assert stated == [float(core[n]) for n in ("n_factors", "n_epochs", "lr", "reg", "init_std")]


def test_divergence_raises_a_clear_error(small: funkrs.Ratings) -> None:
    model = funkrs.MatrixFactorization(lr=100.0, n_epochs=30, random_state=0)
    with pytest.raises(ConvergenceError, match="smaller learning rate"):
        model.fit(small)
    assert not hasattr(model, "user_factors_")


def test_callback_sees_every_epoch_and_can_stop(small: funkrs.Ratings) -> None:
    seen: list[dict] = []
    funkrs.MatrixFactorization(n_epochs=4, random_state=0).fit(small, callback=seen.append)
    assert [e["epoch"] for e in seen] == [1, 2, 3, 4]
    assert set(seen[0]) == {"epoch", "feature", "train_rmse", "validation_rmse", "lr", "seconds"}
    model = funkrs.MatrixFactorization(n_epochs=10, random_state=0)
    with pytest.raises(KeyboardInterrupt):
        model.fit(small, callback=lambda e: e["epoch"] < 2)
    assert not hasattr(model, "user_factors_")

    def boom(e: dict) -> None:
        raise RuntimeError("from the callback")

    with pytest.raises(RuntimeError, match="from the callback"):
        funkrs.MatrixFactorization(n_epochs=3).fit(small, callback=boom)


def test_same_seed_is_bit_identical_for_any_thread_count(small: funkrs.Ratings) -> None:
    opts = {"n_blocks": 4}
    ref = funkrs.MatrixFactorization(
        n_factors=8, n_epochs=5, random_state=3, n_threads=1, solver_options=opts
    ).fit(small)
    for threads in (2, 4):
        other = funkrs.MatrixFactorization(
            n_factors=8, n_epochs=5, random_state=3, n_threads=threads, solver_options=opts
        ).fit(small)
        np.testing.assert_array_equal(other.user_factors_, ref.user_factors_)
        np.testing.assert_array_equal(other.item_factors_, ref.item_factors_)
        np.testing.assert_array_equal(other.user_bias_, ref.user_bias_)


def test_recommend_and_similar_items(
    fitted: funkrs.MatrixFactorization, small: funkrs.Ratings
) -> None:
    user = small.raw_users()[0]
    recs = fitted.recommend(users=[user], n=5)
    assert recs.columns == ["user", "item", "score", "rank"]
    assert recs["rank"].to_list() == [1, 2, 3, 4, 5]
    seen = set(small.raw_items()[small.raw_users() == user].tolist())
    assert not seen & set(recs["item"].to_list())
    scores = recs["score"].to_numpy()
    assert (np.diff(scores) <= 0).all()
    direct = fitted.predict([user] * 5, recs["item"].to_numpy(), clip=False)
    offset = fitted.item_rank_offset_[fitted.items_.numbers(recs["item"].to_numpy())]
    assert (offset > 0).all()
    np.testing.assert_allclose(direct + offset, scores, rtol=1e-5)
    everything = fitted.recommend(users=[user], n=10_000, exclude_seen=True)
    assert everything.height == small.n_items - len(seen)
    only = fitted.recommend(users=[user], n=3, exclude_seen=False, items=small.raw_items()[:4])
    assert set(only["item"].to_list()) <= set(small.raw_items()[:4].tolist())
    assert fitted.recommend(users=[], n=3).height == 0
    with pytest.raises(UnknownIdError):
        fitted.recommend(users=["nobody"])
    item = small.raw_items()[0]
    for metric in ("cosine", "dot", "euclidean"):
        sims = fitted.similar_items([item], n=4, metric=metric)
        assert sims.columns == ["item", "similar", "score", "rank"]
        assert item not in sims["similar"].to_list()
        assert sims.height == 4
    with pytest.raises(InvalidParameterError, match="metric must be one of 'cosine', 'dot'"):
        fitted.similar_items([item], metric="manhattan")  # type: ignore[arg-type]


def test_get_set_params_and_clone() -> None:
    model = funkrs.MatrixFactorization(n_factors=7, solver_options={"n_blocks": 2})
    params = model.get_params()
    assert params["n_factors"] == 7
    assert "random_state" in params
    copy = funkrs._base.clone(model)
    assert copy.get_params() == params
    assert copy.solver_options is not model.solver_options
    model.set_params(lr=0.01)
    assert model.lr == 0.01
    with pytest.raises(InvalidParameterError, match="invalid parameter 'learning_rate'"):
        model.set_params(n_factors=3, learning_rate=1)
    assert model.n_factors == 7  # nothing is set when a name is wrong
    assert repr(funkrs.MatrixFactorization(n_factors=7)) == "MatrixFactorization(n_factors=7)"


def test_evaluate(fitted: funkrs.MatrixFactorization, small: funkrs.Ratings) -> None:
    scores = funkrs.evaluate(fitted, small)
    assert set(scores) == {"rmse", "mae"}
    assert 0 < scores["mae"] <= scores["rmse"]
    with pytest.raises(ValueError, match="unknown metric"):
        funkrs.evaluate(fitted, small, metrics=["auc"])
    nobody = funkrs.Ratings.from_arrays(["x", "y", "z"], [10**9] * 3, [1.0, 2.0, 3.0])
    fitted.set_params(unknown="nan")
    with pytest.raises(RatingsError, match=r"no test pair can be scored for rmse, mae: all 3"):
        funkrs.evaluate(fitted, nobody)
    fitted.set_params(unknown="baseline")
    assert np.isfinite(funkrs.evaluate(fitted, nobody)["rmse"])
    empty = small.take(np.arange(0))
    with pytest.raises(RatingsError, match="the test ratings are empty"):
        funkrs.evaluate(fitted, empty, metrics=["mae"])
    assert isinstance(fitted.recommend(n=1), pl.DataFrame)


@pytest.mark.slow
def test_movielens_accuracy_matches_surprise(ml_split) -> None:
    train, test = ml_split
    model = funkrs.MatrixFactorization.surprise_defaults(random_state=0).fit(train)
    rmse = funkrs.evaluate(model, test)["rmse"]
    # Surprise 1.1.5 SVD() with the same defaults (n_factors=100, n_epochs=20, lr=0.005,
    # reg=0.02) scores a test RMSE of 0.8883 on this fixed MovieLens-small split.
    assert abs(rmse - 0.8883) < 0.01, rmse
    # funkrs' own defaults (chosen on a validation split of the training data) do better.
    ours = funkrs.evaluate(funkrs.MatrixFactorization(random_state=0).fit(train), test)["rmse"]
    assert ours <= 0.875, ours


def test_surprise_defaults_set_sgd_settings_for_funk_sgd_only() -> None:
    sgd = funkrs.MatrixFactorization.surprise_defaults()
    assert (sgd.lr, sgd.reg, sgd.init_std) == (0.005, 0.02, 0.1)
    svd = funkrs.MatrixFactorization.surprise_defaults(
        solver="imputed-svd", n_factors=3, random_state=0
    )
    assert (
        svd.get_params()
        == funkrs.MatrixFactorization(
            solver="imputed-svd", n_factors=3, random_state=0
        ).get_params()
    )
    svd.fit(funkrs.testing.low_rank_ratings())  # nothing it does not take is set
