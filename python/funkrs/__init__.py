"""funkrs: matrix factorization for recommender systems, with a Rust core.

Fit Funk SVD (SGD), exact SVD or mean-imputed SVD on explicit ratings, predict, recommend
and find similar items::

    import funkrs

    ratings = funkrs.read_ratings("ratings.csv", user="userId", item="movieId", rating="rating")
    train, test = funkrs.train_test_split(ratings, test_size=0.2, random_state=0)
    model = funkrs.MatrixFactorization(solver="funk-sgd", random_state=0).fit(train)
    funkrs.evaluate(model, test)
"""

from __future__ import annotations

from funkrs import datasets, exceptions, linalg, model_selection, ranking, solvers, testing
from funkrs._funkrs import __version__
from funkrs._ratings import Ratings, train_test_split
from funkrs._vocab import Vocabulary
from funkrs.io import read_ratings
from funkrs.metrics import evaluate
from funkrs.model import MatrixFactorization, load

__all__ = [
    "MatrixFactorization",
    "Ratings",
    "Vocabulary",
    "__version__",
    "datasets",
    "evaluate",
    "exceptions",
    "linalg",
    "load",
    "model_selection",
    "ranking",
    "read_ratings",
    "solvers",
    "testing",
    "train_test_split",
]
