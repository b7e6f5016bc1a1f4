from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import funkrs
from funkrs.exceptions import InvalidParameterError
from funkrs.model_selection import GridSearch, KFold, ParameterGrid, cross_validate


@pytest.fixture(scope="module")
def data() -> funkrs.Ratings:
    return funkrs.datasets.synthetic(120, 80, 4000, random_state=0)


def small_model(**kw) -> funkrs.MatrixFactorization:
    return funkrs.MatrixFactorization(n_factors=4, n_epochs=5, random_state=0, **kw)


def test_kfold_partitions(data: funkrs.Ratings) -> None:
    folds = list(KFold(4, random_state=0).split_indices(len(data)))
    assert len(folds) == 4
    tests = np.concatenate([te for _, te in folds])
    assert np.array_equal(np.sort(tests), np.arange(len(data)))
    for tr, te in folds:
        assert len(tr) + len(te) == len(data)
        assert not np.intersect1d(tr, te).size
    again = list(KFold(4, random_state=0).split_indices(len(data)))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    ordered = [te for _, te in KFold(3, shuffle=False).split_indices(10)]
    assert [t.tolist() for t in ordered] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_kfold_split_ratings(data: funkrs.Ratings) -> None:
    for train, test in KFold(3, random_state=1).split(data):
        assert len(train) + len(test) == len(data)
        assert isinstance(test, funkrs.Ratings)


@pytest.mark.parametrize("k", [1, 0, 2.5, True])
def test_kfold_bad_splits(k) -> None:
    with pytest.raises(ValueError, match="n_splits"):
        list(KFold(k).split_indices(10))


def test_cross_validate_frame(data: funkrs.Ratings) -> None:
    res = cross_validate(small_model(), data, cv=3, random_state=0)
    assert res.columns == ["fold", "rmse", "mae", "fit_time", "test_time"]
    assert res.height == 3
    assert res["fold"].to_list() == [0, 1, 2]
    assert (res["rmse"] > res["mae"]).all()
    assert (res["fit_time"] > 0).all()


def test_cross_validate_matches_manual_and_parallel(data: funkrs.Ratings) -> None:
    model = small_model()
    seq = cross_validate(model, data, cv=KFold(3, random_state=5))
    par = cross_validate(model, data, cv=KFold(3, random_state=5), n_jobs=2)
    # Seeded fits are deterministic whatever the thread count.
    assert np.allclose(seq["rmse"].to_numpy(), par["rmse"].to_numpy())
    train, test = next(KFold(3, random_state=5).split(data))
    manual = funkrs.evaluate(funkrs._base.clone(model).fit(train), test)
    assert seq["rmse"][0] == pytest.approx(manual["rmse"])
    assert not hasattr(model, "user_factors_")  # the estimator itself is never fitted


def test_cross_validate_ranking_metrics(data: funkrs.Ratings) -> None:
    res = cross_validate(small_model(), data, cv=2, metrics=["rmse", "ndcg@5"], random_state=0)
    assert res.columns == ["fold", "rmse", "ndcg@5", "fit_time", "test_time"]
    assert res["ndcg@5"].is_between(0, 1).all()


def test_threads_per_job(monkeypatch: pytest.MonkeyPatch) -> None:
    from funkrs import model_selection as ms

    monkeypatch.setattr(ms, "available_cores", lambda: 8)
    assert ms._fold_clone(small_model(), 3).n_threads == 2
    assert ms._fold_clone(small_model(), 16).n_threads == 1
    assert ms._fold_clone(small_model(), 1).n_threads is None
    assert ms._fold_clone(small_model(n_threads=4), 3).n_threads == 4
    assert ms._n_jobs(-1, 100) == 8
    assert ms._n_jobs(4, 2) == 2
    for bad in (0, -2, 1.5, True, "2"):
        with pytest.raises(InvalidParameterError, match="n_jobs must be None, -1 or a positive"):
            ms._n_jobs(bad, 3)
    assert ms._n_jobs(np.int32(2), 3) == 2


def test_cross_validate_errors(data: funkrs.Ratings) -> None:
    with pytest.raises(InvalidParameterError, match="unknown metric 'rsme'"):
        cross_validate(small_model(), data, metrics=["rsme"])
    with pytest.raises(InvalidParameterError, match="metrics must be a list of metric names"):
        cross_validate(small_model(), data, metrics="rmse")
    with pytest.raises(TypeError, match="Ratings"):
        cross_validate(small_model(), data.to_frame())
    # a wrong option is an InvalidParameterError (a ValueError), also for a wrong type
    with pytest.raises(InvalidParameterError, match=r"cv must be a number of folds .* got '5'"):
        cross_validate(small_model(), data, cv="5")
    with pytest.raises(InvalidParameterError, match="cv must be an integer >= 2, got 1"):
        cross_validate(small_model(), data, cv=1)
    with pytest.raises(ValueError, match="lr"):
        cross_validate(small_model(lr=-1.0), data, cv=2)


def test_parameter_grid() -> None:
    grid = ParameterGrid([{"a": [1, 2], "b": [3]}, {"c": (4, 5, 6)}])
    assert len(grid) == 5
    assert next(iter(grid)) == {"a": 1, "b": 3}
    with pytest.raises(InvalidParameterError, match="must be a list"):
        ParameterGrid({"a": 1})
    with pytest.raises(InvalidParameterError, match="must be a list"):
        ParameterGrid({"solver": "funk-sgd"})
    with pytest.raises(InvalidParameterError, match="no values"):
        ParameterGrid({"a": []})
    with pytest.raises(InvalidParameterError, match="param_grid"):
        ParameterGrid([])
    with pytest.raises(InvalidParameterError, match="names must be strings, got 1"):
        ParameterGrid({1: [2]})  # type: ignore[dict-item]


def test_grid_search(data: funkrs.Ratings) -> None:
    grid = {"n_factors": [2, 6], "reg": [0.05, 0.2]}
    search = GridSearch(small_model(), grid, cv=3, n_jobs=2, random_state=0).fit(data)
    res = search.cv_results_
    assert res.height == 4
    for col in ["param_n_factors", "param_reg", "mean_rmse", "std_rmse", "mean_mae",
                "std_mae", "mean_fit_time", "rank"]:  # fmt: skip
        assert col in res.columns
    best = res.filter(pl.col("rank") == 1)
    assert search.best_score_ == pytest.approx(res["mean_rmse"].min())
    assert search.best_params_ == {
        "n_factors": best["param_n_factors"][0],
        "reg": best["param_reg"][0],
    }
    assert search.best_estimator_.n_factors == search.best_params_["n_factors"]
    assert search.best_estimator_.n_threads is None
    assert search.best_estimator_.user_factors_.shape[0] == data.n_users
    assert search.fold_results_.height == 12
    # Same folds for every candidate: the cross_validate of the best one agrees.
    single = GridSearch(small_model(reg=0.05), {"n_factors": [2]}, cv=3, random_state=0)
    single.fit(data)
    row = res.filter(pl.col("param_n_factors") == 2, pl.col("param_reg") == 0.05)
    assert single.cv_results_["mean_rmse"][0] == pytest.approx(row["mean_rmse"][0])


def test_grid_search_ranking_metric(data: funkrs.Ratings) -> None:
    search = GridSearch(
        small_model(),
        {"n_factors": [2, 4]},
        cv=2,
        metric="precision@5",
        random_state=0,
        refit=False,
    ).fit(data)
    res = search.cv_results_
    assert "mean_precision@5" in res.columns
    assert "mean_rmse" in res.columns
    assert search.best_score_ == pytest.approx(res["mean_precision@5"].max())
    assert not hasattr(search, "best_estimator_")


def test_grid_search_errors(data: funkrs.Ratings) -> None:
    with pytest.raises(ValueError, match=r"unknown parameter.*n_factor"):
        GridSearch(small_model(), {"n_factor": [1]}, cv=2).fit(data)
    with pytest.raises(ValueError, match="unknown metric"):
        GridSearch(small_model(), {"n_factors": [1]}, metric="accuracy").fit(data)
    with pytest.raises(ValueError, match="n_factors"):
        GridSearch(small_model(), {"n_factors": [0]}, cv=2).fit(data)


def test_grid_search_mixed_values(data: funkrs.Ratings) -> None:
    grid = {"solver_options": [None, {"n_blocks": 2}], "n_epochs": [2]}
    res = GridSearch(small_model(), grid, cv=2, random_state=0).fit(data).cv_results_
    assert res.height == 2
    assert "param_solver_options" in res.columns


def test_sklearn_clone() -> None:
    sklearn_base = pytest.importorskip("sklearn.base")
    model = small_model(solver_options={"n_blocks": 2})
    copy = sklearn_base.clone(model)
    assert copy is not model
    assert copy.get_params() == model.get_params()
    assert copy.solver_options is not model.solver_options
