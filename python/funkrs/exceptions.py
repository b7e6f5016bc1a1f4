"""Exceptions raised by funkrs.

Every funkrs-specific error derives from :class:`FunkrsError`; each one also derives from the
built-in exception that describes its kind (``ValueError``, ``LookupError``, ...), so code that
catches the built-in keeps working.
"""

from __future__ import annotations

from funkrs._funkrs import ConvergenceError, FunkrsError

__all__ = [
    "ConvergenceError",
    "FunkrsError",
    "ModelFileError",
    "NotFittedError",
    "PoorFitWarning",
    "RatingsError",
    "SolverNotFoundError",
    "UnknownIdError",
]


class RatingsError(FunkrsError, ValueError):
    """Rating data is malformed: a missing column, a null or non-finite value, a duplicate."""


class NotFittedError(FunkrsError, AttributeError):
    """A method that needs a fitted model was called before ``fit``."""


class UnknownIdError(FunkrsError, LookupError):
    """A user or item id was not seen at fit time (with ``unknown="error"``)."""


class ModelFileError(FunkrsError, ValueError):
    """A file is not a readable funkrs model (foreign, truncated or corrupted)."""


class SolverNotFoundError(FunkrsError, LookupError):
    """No solver is registered under the requested name."""


class PoorFitWarning(UserWarning):
    """A fitted model scores worse on its validation ratings than the bias baseline.

    ``μ + b_u + b_i`` alone predicting held-out ratings better than the factor model means
    the hyperparameters do not suit the data (most often ``lr`` too large or ``reg`` too
    small).
    """
