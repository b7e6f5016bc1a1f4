"""Version 1 of the solver protocol, kept working behind a ``DeprecationWarning``.

A version-1 solver declares nothing and has ``fit(ratings, FitParams, *, seed, n_threads,
callback=None)``, optionally with a ``validation`` keyword. :class:`V1Solver` wraps one so that
the estimator drives every solver through the version-2 call.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, ClassVar

from funkrs.solvers import (
    ESTIMATOR_PARAMS,
    EpochCallback,
    Factors,
    FitParams,
    SolverParams,
    ValidationSet,
)

if TYPE_CHECKING:
    from funkrs._ratings import Ratings

__all__ = ["V1Solver"]


class V1Solver:
    """A version-1 solver instance driven through the version-2 call.

    The estimator's ``n_epochs``, ``lr``, ``reg``, ``init_std`` and ``biased`` arrive as
    constructor options (as for any solver that takes them) and go into the
    :class:`FitParams` of the wrapped solver's ``fit``. Each fit warns.
    """

    name: ClassVar[str] = ""
    protocol_version: ClassVar[int] = 2

    def __init__(self, cls: type[Any], options: dict[str, Any]) -> None:
        self.legacy = {name: options.pop(name) for name in ESTIMATOR_PARAMS if name in options}
        self.cls = cls
        self.inner = cls(**options)

    def fit(
        self,
        ratings: Ratings,
        params: SolverParams,
        *,
        callback: EpochCallback | None = None,
        validation: ValidationSet | None = None,
    ) -> Factors:
        """Warn, then call the wrapped solver's version-1 ``fit``."""
        name = getattr(self.cls, "name", self.cls.__name__)
        warnings.warn(
            f"solver {name!r} ({self.cls.__module__}.{self.cls.__qualname__}) implements "
            "version 1 of the solver protocol, which is deprecated: declare "
            "`protocol_version = 2` and the capabilities it supports (supports_validation, "
            "supports_callback, feedback, estimator_params, rank_limited), take n_epochs, lr, "
            "reg, init_std or biased as constructor options, and implement "
            "fit(ratings, params: funkrs.solvers.SolverParams, **extra) (see funkrs.solvers)",
            DeprecationWarning,
            stacklevel=3,
        )
        extra: dict[str, Any] = {}
        if validation is not None:
            extra["validation"] = validation
        fit_params = FitParams(n_factors=params.n_factors, **self.legacy)
        factors: Factors = self.inner.fit(
            ratings,
            fit_params,
            seed=params.seed,
            n_threads=params.n_threads,
            callback=callback,
            **extra,
        )
        return factors
