"""Accuracy metrics for rating prediction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from funkrs._ratings import Ratings

if TYPE_CHECKING:
    from funkrs.model import MatrixFactorization

__all__ = ["evaluate", "mae", "rmse"]

_METRICS = ("rmse", "mae")


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error (accumulated in float64)."""
    d = np.asarray(y_true, np.float64) - np.asarray(y_pred, np.float64)
    return float(np.sqrt(np.mean(d * d)))


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error (accumulated in float64)."""
    d = np.asarray(y_true, np.float64) - np.asarray(y_pred, np.float64)
    return float(np.mean(np.abs(d)))


def evaluate(
    model: MatrixFactorization, test: Ratings, metrics: Sequence[str] = _METRICS
) -> dict[str, float]:
    """Score a fitted model on held-out ratings.

    Pairs whose user or item is unknown to the model are predicted by its ``unknown``
    policy (the baseline by default, as Surprise does); with ``unknown="nan"`` they are left
    out of the metrics.

    Parameters
    ----------
    model : MatrixFactorization
        A fitted model.
    test : Ratings
        Held-out ratings (raw ids are matched against the model's vocabularies).
    metrics : sequence of str
        Any of ``"rmse"`` and ``"mae"``.

    Returns
    -------
    dict
        Metric name to value, e.g. ``{"rmse": 0.87, "mae": 0.67}``.
    """
    if not isinstance(test, Ratings):
        raise TypeError(f"evaluate expects funkrs.Ratings as test data, got {type(test).__name__}")
    unknown = [m for m in metrics if m not in _METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; available: {', '.join(_METRICS)}")
    pred = model.predict(test.raw_users(), test.raw_items())
    truth = test.values
    keep = ~np.isnan(pred)
    if not keep.any():
        raise ValueError("no test pair could be predicted (every user or item is unknown)")
    pred, truth = pred[keep], truth[keep]
    funcs = {"rmse": rmse, "mae": mae}
    return {m: funcs[m](truth, pred) for m in metrics}
