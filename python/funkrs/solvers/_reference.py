"""Reference solvers without latent factors: ``baseline`` (``μ + b_u + b_i``) and ``popularity``.

They are the yardsticks a factor model has to beat: ``baseline`` for rating prediction (RMSE),
``popularity`` for top-N ranking. Both return factor matrices of width zero (a model without
a latent space; both declare ``rank_limited``): :meth:`~funkrs.MatrixFactorization.predict`,
:meth:`~funkrs.MatrixFactorization.recommend`, ``fold_in``, ``save`` and :func:`funkrs.load`
work as for any biased model, whatever ``n_factors`` says, while ``similar_items`` and
``similar_users`` have no vectors to compare and are not meaningful for these models.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from funkrs._checks import check_float, check_int
from funkrs.solvers import EpochCallback, Factors, SolverParams, accepts_v1_calls

if TYPE_CHECKING:
    from funkrs._ratings import Ratings

__all__ = ["Baseline", "Popularity"]


def _no_factors(ratings: Ratings) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.zeros((ratings.n_users, 0), np.float32),
        np.zeros((ratings.n_items, 0), np.float32),
    )


class Baseline:
    """Baseline estimates ``r̂ = μ + b_u + b_i`` by alternating least squares (``"baseline"``).

    The biases minimise ``Σ (r_ui − μ − b_u − b_i)² + reg_u Σ_u b_u² + reg_i Σ_i b_i²``
    (``μ`` is the mean training rating) by the alternating updates of Surprise's
    ``BaselineOnly`` with ``method="als"``: starting from ``b_u = 0``, each epoch sets

        b_i = Σ_{u ∈ R(i)} (r_ui − μ − b_u) / (reg_i + n_i),   then
        b_u = Σ_{i ∈ R(u)} (r_ui − μ − b_i) / (reg_u + n_u),

    where ``n_i`` and ``n_u`` count the training ratings of the item and the user. Each
    update is the exact minimiser over one set of biases given the other, so the objective
    never increases. The sums are ``numpy.bincount`` passes in float64; the biases are stored
    as float32.

    The defaults are Surprise's (``reg_u=15``, ``reg_i=10``, 10 epochs), so
    ``solver="baseline"`` reproduces ``BaselineOnly()``. The epoch count is this solver's own
    ``n_epochs`` option (``solver_options={"n_epochs": 5}``): the solver takes none of the
    estimator's ``n_epochs`` (an SGD setting, 20 by default), ``lr``, ``reg``, ``init_std``
    and ``biased`` (the model is biased by definition), and ignores ``n_factors`` (it has
    no factors). ``history_`` has one row per epoch with the unclipped training RMSE; a
    callback returning ``False`` stops the fit with ``KeyboardInterrupt``.

    Parameters
    ----------
    reg_u : float, optional
        Regularisation of the user biases; None means 15.
    reg_i : float, optional
        Regularisation of the item biases; None means 10.
    n_epochs : int, optional
        Alternating rounds (each updates the item biases, then the user biases); None means
        10. Zero gives the global mean alone.
    """

    name: ClassVar[str] = "baseline"
    protocol_version: ClassVar[int] = 2
    feedback: ClassVar[Literal["explicit", "implicit"]] = "explicit"
    supports_validation: ClassVar[bool] = False
    supports_callback: ClassVar[bool] = True
    estimator_params: ClassVar[frozenset[str]] = frozenset()
    rank_limited: ClassVar[bool] = True

    #: Surprise's ``BaselineOnly`` defaults (``bsl_options`` of the ALS method).
    DEFAULT_REG_U: ClassVar[float] = 15.0
    DEFAULT_REG_I: ClassVar[float] = 10.0
    DEFAULT_N_EPOCHS: ClassVar[int] = 10

    def __init__(
        self,
        *,
        reg_u: float | None = None,
        reg_i: float | None = None,
        n_epochs: int | None = None,
    ) -> None:
        reg_u = check_float("reg_u", reg_u, minimum=0, allow_none=True)
        reg_i = check_float("reg_i", reg_i, minimum=0, allow_none=True)
        n_epochs = check_int("n_epochs", n_epochs, minimum=0, allow_none=True)
        self.reg_u = self.DEFAULT_REG_U if reg_u is None else reg_u
        self.reg_i = self.DEFAULT_REG_I if reg_i is None else reg_i
        self.n_epochs = self.DEFAULT_N_EPOCHS if n_epochs is None else n_epochs

    @accepts_v1_calls
    def fit(
        self, ratings: Ratings, params: SolverParams, *, callback: EpochCallback | None = None
    ) -> Factors:
        """Alternate the bias updates; see the class documentation."""
        users = np.asarray(ratings.users, dtype=np.intp)
        items = np.asarray(ratings.items, dtype=np.intp)
        values = np.asarray(ratings.values, dtype=np.float64)
        m, n = ratings.n_users, ratings.n_items
        mu = float(values.mean())
        resid = values - mu
        n_u = np.bincount(users, minlength=m).astype(np.float64)
        n_i = np.bincount(items, minlength=n).astype(np.float64)
        bu = np.zeros(m)
        bi = np.zeros(n)
        history: list[dict[str, Any]] = []
        for epoch in range(1, self.n_epochs + 1):
            start = time.perf_counter()
            bi = np.bincount(items, weights=resid - bu[users], minlength=n) / (self.reg_i + n_i)
            bu = np.bincount(users, weights=resid - bi[items], minlength=m) / (self.reg_u + n_u)
            err = resid - bu[users] - bi[items]
            row: dict[str, Any] = {
                "epoch": epoch,
                "train_rmse": float(np.sqrt(np.mean(err * err))),
                "seconds": time.perf_counter() - start,
            }
            history.append(row)
            if callback is not None and callback(dict(row)) is False:
                raise KeyboardInterrupt(f"baseline: the callback stopped training at epoch {epoch}")
        p, q = _no_factors(ratings)
        return Factors(p, q, bu, bi, mu, True, history)


class Popularity:
    """Most-popular items first: a ranking reference (``solver="popularity"``).

    :meth:`~funkrs.MatrixFactorization.recommend` ranks a user's candidates by their number
    of training ratings ``n_i``, most rated first, ties by the lower inner item id. Whether a
    rating was high or low does not matter, only that it exists.

    Predicted ratings are the global mean ``μ`` (the mean training rating): the model is a
    ranking reference and knows nothing about how much anyone likes an item. Within the
    :class:`~funkrs.solvers.Factors` contract this is a biased model with no factors, zero
    user biases and item biases

        b_i = SCALE · n_i / max_j n_j,   SCALE = 1e-5,

    so a prediction ``μ + b_i`` is within ``1e-5`` of ``μ`` and the RMSE of any rating set is
    within ``1e-5`` of the global mean's (the triangle inequality), while the item biases
    keep the order of the counts: top-N scoring compares ``b_i`` (the only term that varies
    for a given user) before adding the user's constant ``μ``, and the float32 ``b_i`` of
    distinct counts differ as long as the largest count is below ``2²³`` (8.4 million
    ratings of one item). The ``score`` column of ``recommend`` is therefore ``μ`` to about
    seven digits and may print equal for items of close counts; ``rank`` carries the order.
    A user added by ``fold_in`` gets the same ranking (and a fitted user bias, which shifts
    the predicted ratings but not the order).

    An implicit-feedback model (``feedback = "implicit"``): its predictions are not meant to
    be accurate ratings, its lists are what it is for. Takes none of the estimator's
    ``n_epochs``, ``lr``, ``reg``, ``init_std`` and ``biased``, ignores ``n_factors`` and the
    seed, and takes no options.
    """

    name: ClassVar[str] = "popularity"
    protocol_version: ClassVar[int] = 2
    feedback: ClassVar[Literal["explicit", "implicit"]] = "implicit"
    supports_validation: ClassVar[bool] = False
    supports_callback: ClassVar[bool] = False
    estimator_params: ClassVar[frozenset[str]] = frozenset()
    rank_limited: ClassVar[bool] = True

    #: Largest item bias, given to the most rated item.
    SCALE: ClassVar[float] = 1e-5

    def __init__(self) -> None:
        pass

    @accepts_v1_calls
    def fit(self, ratings: Ratings, params: SolverParams) -> Factors:
        """Count the ratings of every item; see the class documentation."""
        counts = np.bincount(np.asarray(ratings.items, dtype=np.intp), minlength=ratings.n_items)
        mu = float(np.asarray(ratings.values, dtype=np.float64).mean())
        p, q = _no_factors(ratings)
        return Factors(
            p, q, np.zeros(ratings.n_users), self.item_bias(counts), mu, True, ranking=True
        )

    @classmethod
    def item_bias(cls, counts: np.ndarray) -> np.ndarray:
        """The float32 item biases ``SCALE · n_i / max_j n_j`` of the rating counts ``n_i``."""
        n = np.asarray(counts, dtype=np.float64)
        top = max(float(n.max(initial=0.0)), 1.0)
        return (cls.SCALE * (n / top)).astype(np.float32)
