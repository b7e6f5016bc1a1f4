"""Every built-in solver passes the same contract a third-party solver does."""

from __future__ import annotations

from typing import Any, ClassVar

from funkrs.testing import SolverContract


class TestFunkSGD(SolverContract):
    solver = "funk-sgd"
    params: ClassVar[dict[str, Any]] = {"n_epochs": 60, "lr": 0.02}


class TestFunkSGDUnbiased(SolverContract):
    solver = "funk-sgd"
    params: ClassVar[dict[str, Any]] = {"n_epochs": 80, "lr": 0.02, "biased": False}


class TestExactSVD(SolverContract):
    # A held-out split leaves cells missing: exact-svd fills them when asked.
    solver = "exact-svd"
    solver_options: ClassVar[dict[str, Any]] = {"fill": "item"}


class TestImputedSVD(SolverContract):
    solver = "imputed-svd"


class TestImputedSVDImplicitPath(SolverContract):
    solver = "imputed-svd"
    solver_options: ClassVar[dict[str, Any]] = {"path": "implicit"}


class TestBaseline(SolverContract):
    solver = "baseline"


class TestPopularity(SolverContract):
    solver = "popularity"


class TestImplicitALS(SolverContract):
    solver = "implicit-als"
    params: ClassVar[dict[str, Any]] = {"n_factors": 8}


class TestALS(SolverContract):
    solver = "als"
    params: ClassVar[dict[str, Any]] = {"n_factors": 8}

