"""funkrs.ray on a real ray.init(num_cpus=2), compared with the in-process model exactly."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import numpy as np
import polars as pl
import pytest

import funkrs
from conftest import engine_missing
from funkrs.exceptions import InvalidParameterError, NotFittedError

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]


@pytest.fixture(scope="module")
def ray() -> Iterator[Any]:
    if importlib.util.find_spec("ray") is None:
        engine_missing("ray is not installed (pip install 'funkrs[ray]')")
    import ray
    import ray.data

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def data() -> funkrs.Ratings:
    return funkrs.datasets.synthetic(300, 80, 5000, random_state=6)


@pytest.fixture(scope="module")
def model(data: funkrs.Ratings) -> funkrs.MatrixFactorization:
    return funkrs.MatrixFactorization(n_factors=6, n_epochs=5, random_state=0).fit(data)


def _collect(ray: Any, ds: Any) -> pl.DataFrame:
    import pyarrow as pa

    return pl.from_arrow(pa.concat_tables(ray.get(ds.to_arrow_refs())))


def test_recommend_and_predict_match(
    ray: Any, data: funkrs.Ratings, model: funkrs.MatrixFactorization
) -> None:
    import pyarrow as pa

    import funkrs.ray as fr

    users = np.asarray(model._fitted().users.ids_array)
    ds = ray.data.from_arrow([pa.table({"user": part}) for part in np.array_split(users, 3)])
    got = _collect(ray, fr.recommend(model, ds, 5, batch_size=64, num_cpus=1, concurrency=2))
    assert got.sort("user", "rank").equals(model.recommend(users, 5).sort("user", "rank"))
    u, i = data.raw_users()[:500], data.raw_items()[:500]
    pairs = ray.data.from_arrow(pa.table({"user": u, "item": i}))
    pred = _collect(ray, fr.predict(model, pairs, num_cpus=2))
    np.testing.assert_array_equal(
        pred["prediction"].to_numpy(),
        model.predict(pred["user"].to_numpy(), pred["item"].to_numpy()),
    )


def test_bad_input(ray: Any, model: funkrs.MatrixFactorization) -> None:
    import pyarrow as pa

    import funkrs.ray as fr

    ds = ray.data.from_arrow(pa.table({"uid": [1, 2]}))
    with pytest.raises(InvalidParameterError, match=r"column 'user'.*\['uid'\]"):
        fr.recommend(model, ds)
    with pytest.raises(NotFittedError):
        fr.recommend(funkrs.MatrixFactorization(), ds, user="uid")
    with pytest.raises(InvalidParameterError, match=r"ray\.data\.Dataset"):
        fr.recommend(model, [1, 2])
    strict = funkrs.MatrixFactorization(**{**model.get_params(), "unknown": "error"})
    strict._adopt(model._fitted())
    unknown = ray.data.from_arrow(pa.table({"user": [10**12]}))
    with pytest.raises(Exception, match=r"UnknownIdError: user 1000000000000"):
        fr.recommend(strict, unknown).materialize()
