"""Accuracy metrics for rating prediction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from funkrs._checks import show_value
from funkrs._ratings import Ratings
from funkrs.exceptions import InvalidParameterError, RatingsError

if TYPE_CHECKING:
    from funkrs.model import MatrixFactorization

__all__ = ["evaluate", "higher_is_better", "mae", "parse_metrics", "rmse"]

_METRICS = ("rmse", "mae")


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error (accumulated in float64)."""
    d = np.asarray(y_true, np.float64) - np.asarray(y_pred, np.float64)
    return float(np.sqrt(np.mean(d * d)))


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error (accumulated in float64)."""
    d = np.asarray(y_true, np.float64) - np.asarray(y_pred, np.float64)
    return float(np.mean(np.abs(d)))


def parse_metrics(
    metrics: Sequence[str], *, option: str = "metrics"
) -> list[tuple[str, int | None]]:
    """Split metric names into ``(name, k)`` pairs.

    ``"rmse"`` gives ``("rmse", None)`` and ``"ndcg@10"`` gives ``("ndcg", 10)``.

    Parameters
    ----------
    metrics : sequence of str
        The names.
    option : str
        The option's name in error messages.

    Raises
    ------
    funkrs.exceptions.InvalidParameterError
        ``metrics`` is a single string or not a sequence, or a name is unknown (the message
        lists the available ones).
    """
    from funkrs.ranking import RANKING_METRICS

    if isinstance(metrics, (str, bytes)) or not isinstance(metrics, Iterable):
        raise InvalidParameterError(
            f"{option} must be a list of metric names, got {show_value(metrics)}"
        )
    parsed: list[tuple[str, int | None]] = []
    for metric in metrics:
        name, sep, k = str(metric).partition("@")
        if not sep and name in _METRICS:
            parsed.append((name, None))
        elif sep and name in RANKING_METRICS and k.isdigit() and int(k) >= 1:
            parsed.append((name, int(k)))
        else:
            ranking = ", ".join(f"{m}@K" for m in RANKING_METRICS)
            raise InvalidParameterError(
                f"{option}: unknown metric {show_value(metric)}; available: "
                f"{', '.join(_METRICS)}, {ranking} (K a positive integer, e.g. ndcg@10)"
            )
    return parsed


def higher_is_better(metric: str) -> bool:
    """True for ranking metrics (precision@k, ...), False for errors (rmse, mae)."""
    return metric not in _METRICS


def evaluate(
    model: MatrixFactorization,
    test: Ratings,
    metrics: Sequence[str] = _METRICS,
    *,
    threshold: float = 4.0,
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
        ``"rmse"`` and ``"mae"`` (the default), and ranking metrics of the top-k lists
        (see :mod:`funkrs.ranking`): ``"precision@K"``, ``"recall@K"``, ``"ndcg@K"``,
        ``"map@K"`` and ``"coverage@K"`` for any positive ``K``.
    threshold : float
        Smallest test rating that counts as relevant for the ranking metrics.

    Returns
    -------
    dict
        Metric name to value in the order asked, e.g. ``{"rmse": 0.87, "mae": 0.67}``.

    Raises
    ------
    funkrs.exceptions.InvalidParameterError
        ``test`` is not a :class:`~funkrs.Ratings`, a metric name is unknown, or
        ``"rmse"``/``"mae"`` were asked of a model whose solver declares
        ``predicts_ratings = False`` (``implicit-als``: its predictions are preference
        scores).
    funkrs.exceptions.RatingsError
        No test pair can be scored for ``"rmse"``/``"mae"``: ``test`` is empty, or every
        pair has an unknown user or item and the model predicts NaN for them
        (``unknown="nan"``).
    """
    if not isinstance(test, Ratings):
        raise InvalidParameterError(
            f"evaluate expects funkrs.Ratings as test data, got {type(test).__name__}"
        )
    parsed = parse_metrics(metrics)
    scores: dict[str, float] = {}
    accuracy = [name for name, k in parsed if k is None]
    if accuracy:
        scores.update(_accuracy(model, test, accuracy))
    by_k: dict[int, list[str]] = {}
    for name, k in parsed:
        if k is not None:
            by_k.setdefault(k, []).append(name)
    if by_k:
        from funkrs.ranking import ranking_metrics

        for k, names in by_k.items():
            scores.update(ranking_metrics(model, test, k, names, threshold=threshold))
    return {str(m): scores[str(m)] for m in metrics}


def _accuracy(model: MatrixFactorization, test: Ratings, metrics: list[str]) -> dict[str, float]:
    from funkrs import solvers
    from funkrs.exceptions import SolverNotFoundError

    try:
        cls = solvers.get(model.solver) if isinstance(model.solver, str) else None
    except SolverNotFoundError:  # a loaded model whose plugin is not installed here
        cls = None
    if cls is not None and not getattr(cls, "predicts_ratings", True):
        raise InvalidParameterError(
            f"evaluate: {', '.join(metrics)} compare predicted with actual ratings, but "
            f"{model.solver!r} predicts preference scores, not ratings; score its top-N lists "
            "with ranking metrics instead (e.g. metrics=['ndcg@10', 'recall@10'])"
        )
    pred = model.predict(test.raw_users(), test.raw_items())
    truth = test.values
    keep = ~np.isnan(pred)
    if not keep.any():
        why = (
            "the test ratings are empty"
            if len(test) == 0
            else f"all {len(test)} pairs have a user or item unknown to the model, which "
            "predicts NaN for them (unknown='nan'; the default 'baseline' scores them)"
        )
        raise RatingsError(f"evaluate: no test pair can be scored for {', '.join(metrics)}: {why}")
    pred, truth = pred[keep], truth[keep]
    funcs = {"rmse": rmse, "mae": mae}
    return {m: funcs[m](truth, pred) for m in metrics}
