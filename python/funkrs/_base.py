"""A minimal scikit-learn-compatible estimator base: parameters, ``clone`` and ``repr``."""

from __future__ import annotations

import copy
import inspect
from typing import Any, TypeVar

from funkrs.exceptions import InvalidParameterError

__all__ = ["BaseEstimator", "clone"]

E = TypeVar("E", bound="BaseEstimator")


class BaseEstimator:
    """Parameters are the ``__init__`` arguments, stored unchanged as attributes.

    Follows scikit-learn's conventions, so ``sklearn.base.clone`` works on subclasses:
    ``__init__`` validates nothing, ``fit`` validates and returns ``self``, and fitted
    attributes end with ``_``.
    """

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters and their current values."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self: E, **params: Any) -> E:
        """Set constructor parameters; values are checked by ``fit``, as in ``__init__``.

        Raises
        ------
        funkrs.exceptions.InvalidParameterError
            A name is not a constructor parameter (nothing is set then). It is a
            ``ValueError``, as scikit-learn raises.
        """
        valid = set(self._param_names())
        unknown = [name for name in params if name not in valid]
        if unknown:
            raise InvalidParameterError(
                f"invalid parameter {unknown[0]!r} for {type(self).__name__}; "
                f"valid parameters: {', '.join(sorted(valid))}"
            )
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        shown = []
        for name, value in self.get_params().items():
            default = sig.parameters[name].default
            if default is inspect.Parameter.empty or not _same(value, default):
                shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a is b or a == b) and type(a) is type(b)
    except Exception:  # comparisons of arrays and other odd values
        return False


def clone(estimator: E) -> E:
    """A new unfitted estimator with the same parameters (deep-copied)."""
    params = {k: copy.deepcopy(v) for k, v in estimator.get_params().items()}
    return type(estimator)(**params)
