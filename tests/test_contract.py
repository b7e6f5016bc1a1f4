from __future__ import annotations

from funkrs.testing import SolverContract


class TestFunkSGD(SolverContract):
    solver = "funk-sgd"
    params = {"n_epochs": 60, "lr": 0.02}  # noqa: RUF012


class TestFunkSGDUnbiased(SolverContract):
    solver = "funk-sgd"
    params = {"n_epochs": 80, "lr": 0.02, "biased": False}  # noqa: RUF012
