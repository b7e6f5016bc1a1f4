"""Checks of estimator parameters shared by ``fit`` and ``load``."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

__all__ = ["check_float", "check_int", "seed_from"]


def check_int(name: str, value: Any, minimum: int) -> None:
    """``value`` is an integer (not a bool) in ``[minimum, 2**63)``, else ``ValueError``."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or not minimum <= int(value) < 2**63:
        raise ValueError(f"{name} must be an integer >= {minimum} (int64), got {value!r}")


def check_float(name: str, value: Any, *, positive: bool = False) -> None:
    """``value`` is a finite real number ``>= 0`` (``> 0`` if ``positive``), else ``ValueError``."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")


def seed_from(random_state: int | np.random.Generator | None) -> int:
    """The ``u64`` seed for Rust: an int as it is (mod 2**64), else drawn from ``random_state``."""
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be >= 0, got {random_state}")
        return int(random_state) % (1 << 64)
    if random_state is None or isinstance(random_state, np.random.Generator):
        return int(np.random.default_rng(random_state).integers(0, 2**63))
    raise ValueError(
        f"random_state must be None, an int or a numpy Generator, got {random_state!r}"
    )
