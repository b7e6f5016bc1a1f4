r"""Top-N ranking metrics: precision, recall, NDCG, MAP at k, and catalogue coverage.

The model recommends ``k`` items to every evaluated user (:meth:`recommend` with
``exclude_seen=True``, so training items are never counted). The *relevant* items of a user
are the test ratings ``>= threshold``. Users with no relevant test item, and users unknown to
the model, are skipped. With :math:`h_u(r) \in \{0, 1\}` the hit at rank :math:`r`,
:math:`R_u` the number of relevant items and :math:`m_u = \min(k, R_u)`:

- precision@k :math:`= \sum_r h_u(r) / k`;
- recall@k :math:`= \sum_r h_u(r) / R_u`;
- NDCG@k :math:`= \mathrm{DCG}/\mathrm{IDCG}` with :math:`\mathrm{DCG} = \sum_r h_u(r)/\log_2(r+1)`
  and :math:`\mathrm{IDCG} = \sum_{r \le m_u} 1/\log_2(r+1)` (binary relevance);
- AP@k :math:`= \frac{1}{m_u} \sum_r h_u(r)\,\mathrm{precision@}r`, MAP@k its mean;
- coverage@k: distinct recommended items over the model's catalogue size.

Relevant items the model never saw count in :math:`R_u` (no model can recommend them).
Everything is vectorised with numpy over the recommendation arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from funkrs._checks import check_bool, check_float, check_int
from funkrs._ratings import Ratings
from funkrs.exceptions import InvalidParameterError

if TYPE_CHECKING:
    from funkrs.model import MatrixFactorization

__all__ = ["RANKING_METRICS", "ranking_metrics"]

RANKING_METRICS = ("precision", "recall", "ndcg", "map", "coverage")


def ranking_metrics(
    model: MatrixFactorization,
    test: Ratings,
    k: int = 10,
    metrics: Sequence[str] = RANKING_METRICS,
    *,
    threshold: float = 4.0,
    exclude_seen: bool = True,
) -> dict[str, float]:
    """Ranking quality of a model's top-``k`` lists against held-out ratings.

    Parameters
    ----------
    model : MatrixFactorization
        A fitted model.
    test : Ratings
        Held-out ratings; those ``>= threshold`` are the relevant items.
    k : int
        Length of the recommendation lists.
    metrics : sequence of str
        Any of ``"precision"``, ``"recall"``, ``"ndcg"``, ``"map"``, ``"coverage"``.
    threshold : float
        Smallest rating that counts as relevant.
    exclude_seen : bool
        Leave the user's training items out of the lists (as :meth:`recommend`).

    Returns
    -------
    dict
        ``"<metric>@<k>"`` to its mean over the evaluated users (NaN when no user has a
        relevant test item).

    Examples
    --------
    >>> import funkrs
    >>> data = funkrs.datasets.synthetic(100, 50, 3000, random_state=0)
    >>> train, test = funkrs.train_test_split(data, random_state=0)
    >>> model = funkrs.MatrixFactorization(n_factors=8, random_state=0).fit(train)
    >>> sorted(ranking_metrics(model, test, k=5, metrics=["precision", "ndcg"]))
    ['ndcg@5', 'precision@5']
    """
    if not isinstance(test, Ratings):
        raise InvalidParameterError(
            f"expected funkrs.Ratings as test data, got {type(test).__name__}"
        )
    k = check_int("k", k, minimum=1)
    if isinstance(metrics, (str, bytes)):
        raise InvalidParameterError(
            f"metrics must be a list of ranking metric names, got the string {metrics!r}"
        )
    bad = [m for m in metrics if m not in RANKING_METRICS]
    if bad:
        raise InvalidParameterError(
            f"metrics: unknown ranking metric(s) {bad}; available: {', '.join(RANKING_METRICS)}"
        )
    threshold = check_float("threshold", threshold)
    exclude_seen = check_bool("exclude_seen", exclude_seen)
    n_items = model.n_items_
    u = model.users_.numbers(test.raw_users(), missing="negative")
    i = model.items_.numbers(test.raw_items(), missing="negative")
    rel = (test.values >= threshold) & (u >= 0)
    n_rel = np.bincount(u[rel], minlength=model.n_users_)
    users = np.flatnonzero(n_rel)
    if len(users) == 0:
        return {f"{m}@{k}": math.nan for m in metrics}

    recs = model.recommend(users=model.users_.ids(users), n=k, exclude_seen=exclude_seen)
    ru = model.users_.numbers(recs["user"].to_numpy(), missing="error")
    ri = model.items_.numbers(recs["item"].to_numpy(), missing="error")
    rank = recs["rank"].to_numpy().astype(np.int64)
    known = rel & (i >= 0)
    rel_keys = np.unique(u[known] * n_items + i[known])
    hit = np.isin(ru * n_items + ri, rel_keys, assume_unique=False).astype(np.float64)

    # Hits up to each rank within the user's list (rows are grouped by user, ranked 1..k).
    cum = np.cumsum(hit)
    start = np.flatnonzero(np.r_[True, ru[1:] != ru[:-1]]) if len(ru) else np.zeros(0, int)
    before = np.repeat((cum - hit)[start], np.diff(np.r_[start, len(ru)]))
    hits_to_rank = cum - before

    size = model.n_users_
    hits = np.bincount(ru, weights=hit, minlength=size)[users]
    dcg = np.bincount(ru, weights=hit / np.log2(rank + 1.0), minlength=size)[users]
    ap_sum = np.bincount(ru, weights=hit * hits_to_rank / rank, minlength=size)[users]
    n_u = n_rel[users].astype(np.float64)
    m_u = np.minimum(n_u, k).astype(np.int64)
    ideal = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))
    values = {
        "precision": hits / k,
        "recall": hits / n_u,
        "ndcg": dcg / ideal[m_u - 1],
        "map": ap_sum / m_u,
    }
    out: dict[str, float] = {}
    for m in metrics:
        if m == "coverage":
            out[f"{m}@{k}"] = len(np.unique(ri)) / n_items if n_items else math.nan
        else:
            out[f"{m}@{k}"] = float(np.mean(values[m]))
    return out
