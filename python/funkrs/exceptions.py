"""Exceptions raised by funkrs.

Every funkrs-specific error derives from :class:`FunkrsError`; each one also derives from the
built-in exception that describes its kind (``ValueError``, ``LookupError``, ...), so code that
catches the built-in keeps working.
"""

from __future__ import annotations

__all__ = [
    "ConvergenceError",
    "FunkrsError",
    "IndexOutOfRangeError",
    "InvalidParameterError",
    "ModelFileError",
    "NonFiniteError",
    "NotFittedError",
    "OutOfMemoryError",
    "PoorFitWarning",
    "RatingsError",
    "RatingsFileNotFoundError",
    "ShapeError",
    "SolverNameClashWarning",
    "SolverNotFoundError",
    "UnknownIdError",
]


class FunkrsError(Exception):
    """Base class of every error funkrs raises for bad input, a bad file or a failed fit."""


class InvalidParameterError(FunkrsError, ValueError, TypeError):
    """A hyperparameter, option or argument is outside its valid range or of the wrong type.

    It is both a ``ValueError`` and a ``TypeError`` (as numpy's ``AxisError`` is both a
    ``ValueError`` and an ``IndexError``), so code that caught either for a bad argument keeps
    working.
    """


class ShapeError(FunkrsError, ValueError):
    """Array lengths or shapes do not agree (or an array has the wrong memory layout)."""


class NonFiniteError(FunkrsError, ValueError):
    """An input value is NaN or infinite; the message names its position."""


class IndexOutOfRangeError(FunkrsError, IndexError):
    """An index is not below the size it refers to; the message names it and its position."""


class OutOfMemoryError(FunkrsError, MemoryError):
    """A call needs more memory than this machine has; nothing was allocated.

    Raised before the allocation, with the buffer and its size in the message
    (``n_factors=10**9`` asks for terabytes of factors).
    """


class ConvergenceError(FunkrsError, ArithmeticError):
    """Training diverged (the loss became NaN or infinite) or a solver did not converge."""


class RatingsError(FunkrsError, ValueError):
    """Rating data is malformed: a missing column, a null or non-finite value, a duplicate."""


class RatingsFileNotFoundError(FunkrsError, FileNotFoundError):
    """A ratings file to read does not exist; the message names the path.

    It is a ``FileNotFoundError`` (an ``OSError``), so code that caught the built-in keeps
    working.
    """


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


class SolverNameClashWarning(UserWarning):
    """Two solvers claim the same registry name; the message names both and which one holds it.

    The first claim keeps the name (built-ins, then entry points, then ``register`` calls),
    unless ``funkrs.solvers.register(name, overwrite=True)`` takes it over.
    """
