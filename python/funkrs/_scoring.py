"""Ranking and fold-in for fitted models: top-N, similar items/users, Parquet output."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from funkrs import _funkrs
from funkrs._checks import check_bool, check_choice, check_float, check_int
from funkrs._ratings import Ratings
from funkrs._state import FittedAttributes, FittedState
from funkrs._vocab import Vocabulary, show_id
from funkrs.exceptions import InvalidParameterError, RatingsError, UnknownIdError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["ScoringMixin", "require_ratings"]

Metric = Literal["cosine", "dot", "euclidean"]
_METRICS = ("cosine", "dot", "euclidean")
#: Which side ``fold_in`` adds: new users against fixed items, or new items against users.
FoldKind = Literal["users", "items"]


def require_ratings(method: str, argument: str, value: object) -> None:
    """Raise :class:`InvalidParameterError` unless ``value`` is a :class:`~funkrs.Ratings`.

    The message names the method, the argument and the type given, and how to build one.
    """
    if isinstance(value, Ratings):
        return
    kind = type(value)
    root = kind.__module__.partition(".")[0]
    shown = kind.__qualname__ if root == "builtins" else f"{root}.{kind.__qualname__}"
    raise InvalidParameterError(
        f"{method}: {argument} must be funkrs.Ratings, got {shown}; build one with "
        "funkrs.Ratings.from_frame(df, user=..., item=..., rating=...) or "
        "funkrs.Ratings.from_arrays(users, items, ratings)"
    )


class ScoringMixin(FittedAttributes):
    """Top-N recommendation, nearest neighbours and fold-in (mixed into the estimator).

    Every method reads the estimator's :class:`FittedState` (``_fitted()``) once and scores
    from it; fold-in replaces the state with a new validated one (``_adopt``).
    """

    reg: float

    def _threads(self) -> int | None:  # pragma: no cover - provided by the estimator
        raise NotImplementedError

    # -- top-N ------------------------------------------------------------------------------
    def recommend(
        self,
        users: npt.ArrayLike | None = None,
        n: int = 10,
        exclude_seen: bool = True,
        items: npt.ArrayLike | None = None,
    ) -> pl.DataFrame:
        """Top-``n`` items for each user, by predicted rating plus the popularity term.

        The ranking score is ``r̂_ui + item_rank_offset_[i]``: the unclipped predicted
        rating plus the model's popularity term (see ``popularity_weight`` of
        :class:`~funkrs.MatrixFactorization`; zero for models trained for ranking).

        Parameters
        ----------
        users : array-like or scalar, optional
            Raw user ids (training users or users added by :meth:`fold_in`); None
            recommends for every user.
        n : int
            Recommendations per user (fewer when fewer candidates remain).
        exclude_seen : bool
            Skip the items the user rated in the training data (or at fold-in).
        items : array-like, optional
            Restrict the candidates to these raw item ids.

        Returns
        -------
        polars.DataFrame
            Columns ``user``, ``item``, ``score`` (the ranking score above) and
            ``rank`` (1 = best), sorted by user order then rank; ties are broken by the
            lower inner item id.

        Raises
        ------
        UnknownIdError
            A user or candidate item is unknown. Unknown users get no popularity fallback:
            fold them in first (:meth:`fold_in`).
        InvalidParameterError
            ``n`` is not an integer >= 0 or ``exclude_seen`` is not a bool.
        OutOfMemoryError
            The lists of all the users asked for do not fit in memory (``n`` times the
            number of users, at most ``n`` = the number of items); ask for fewer users per
            call or use :meth:`recommend_to_parquet`.
        """
        st = self._fitted()
        n = _check_n(n)
        exclude_seen = check_bool("exclude_seen", exclude_seen)
        uidx = _user_index(st, users)
        cands = _candidates(st, items)
        ids, scores = self._top_n_users(st, uidx, n, exclude_seen, cands)
        return _ranking_frame(st.users.ids(uidx), st.items, ids, scores, ("user", "item"))

    def recommend_to_parquet(
        self,
        path: str | os.PathLike[str],
        n: int = 10,
        users: npt.ArrayLike | None = None,
        *,
        batch_size: int = 100_000,
        exclude_seen: bool = True,
        items: npt.ArrayLike | None = None,
        progress: bool = False,
    ) -> int:
        """Write top-``n`` recommendations for many users to a Parquet file, batch by batch.

        Memory stays bounded by one batch: each batch of users is scored and written to a
        part file, and the parts are streamed into ``path`` at the end. Everything is
        written next to ``path`` under temporary names and renamed into place only on
        success, so a failed or interrupted run leaves no partial file behind.

        Parameters
        ----------
        path : str or path-like
            Output file (the columns of :meth:`recommend`).
        n : int
            Recommendations per user.
        users : array-like, optional
            Raw user ids; None scores every user.
        batch_size : int
            Users per batch.
        exclude_seen, items
            As in :meth:`recommend`.
        progress : bool
            Show a progress bar (needs ``tqdm``).

        Returns
        -------
        int
            Number of rows written.

        Raises
        ------
        InvalidParameterError
            ``n``, ``batch_size``, ``exclude_seen`` or ``progress`` is not accepted.
        FileNotFoundError
            The directory of ``path`` does not exist.
        """
        st = self._fitted()
        n = _check_n(n)
        batch_size = check_int("batch_size", batch_size, minimum=1)
        exclude_seen = check_bool("exclude_seen", exclude_seen)
        progress = check_bool("progress", progress)
        uidx = _user_index(st, users)
        cands = _candidates(st, items)
        target = Path(path)
        if not target.parent.is_dir():
            raise FileNotFoundError(f"directory of {str(target)!r} does not exist")
        parts_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        tmp = parts_dir / "out.parquet"
        try:
            rows = 0
            for j, batch in enumerate(_batches(uidx, batch_size, progress)):
                ids, scores = self._top_n_users(st, batch, n, exclude_seen, cands)
                frame = _ranking_frame(st.users.ids(batch), st.items, ids, scores, ("user", "item"))
                frame.write_parquet(parts_dir / f"part-{j:08d}.parquet")
                rows += frame.height
            parts = sorted(parts_dir.glob("part-*.parquet"))
            if parts:
                pl.scan_parquet(parts).sink_parquet(tmp)
            else:
                _empty_ranking(st.users, st.items).write_parquet(tmp)
            os.replace(tmp, target)
            return rows
        finally:
            shutil.rmtree(parts_dir, ignore_errors=True)

    def _top_n_users(
        self,
        st: FittedState,
        uidx: np.ndarray,
        n: int,
        exclude_seen: bool,
        cands: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        exclude = None
        if exclude_seen:
            exclude = (st.seen_indptr, st.seen_indices, uidx.astype(np.uint32))
        offsets = np.full(len(uidx), st.global_mean if st.biased else 0.0, np.float32)
        if st.biased:
            offsets += st.user_bias[uidx]
        return top_n_rows(
            st,
            np.ascontiguousarray(st.user_factors[uidx]),
            offsets,
            n,
            exclude,
            cands,
            self._threads(),
        )

    # -- neighbours -------------------------------------------------------------------------
    def similar_items(
        self, items: npt.ArrayLike, n: int = 10, metric: Metric = "cosine"
    ) -> pl.DataFrame:
        """The ``n`` items nearest to each given item in latent space.

        Parameters
        ----------
        items : array-like or scalar
            Raw item ids.
        n : int
            Neighbours per item (the item itself is excluded).
        metric : {"cosine", "dot", "euclidean"}
            Similarity of factor vectors. For ``"euclidean"`` the score is the distance
            (smaller is closer); otherwise larger is closer.

        Returns
        -------
        polars.DataFrame
            Columns ``item``, ``similar``, ``score``, ``rank``.

        Raises
        ------
        UnknownIdError
            An item is unknown.
        InvalidParameterError
            ``n`` is not an integer >= 0 or ``metric`` is not one of the three.
        """
        st = self._fitted()
        idx = st.items.numbers(np.atleast_1d(np.asarray(items)), missing="error", what="item")
        ids, scores = self._neighbours(st.item_factors, idx, n, metric)
        return _ranking_frame(st.items.ids(idx), st.items, ids, scores, ("item", "similar"))

    def similar_users(
        self, users: npt.ArrayLike, n: int = 10, metric: Metric = "cosine"
    ) -> pl.DataFrame:
        """The ``n`` users nearest to each given user in latent space.

        Same rules as :meth:`similar_items`; columns ``user``, ``similar``, ``score``,
        ``rank``.
        """
        st = self._fitted()
        idx = st.users.numbers(np.atleast_1d(np.asarray(users)), missing="error", what="user")
        ids, scores = self._neighbours(st.user_factors, idx, n, metric)
        return _ranking_frame(st.users.ids(idx), st.users, ids, scores, ("user", "similar"))

    def _neighbours(
        self, vectors: np.ndarray, idx: np.ndarray, n: int, metric: str
    ) -> tuple[np.ndarray, np.ndarray]:
        n = _check_n(n)
        metric = check_choice("metric", metric, _METRICS)
        q = vectors
        bias = np.zeros(0, np.float32)
        if metric == "cosine":
            norms = np.linalg.norm(q, axis=1, keepdims=True)
            q = np.ascontiguousarray(q / np.maximum(norms, np.finfo(np.float32).tiny))
        elif metric == "euclidean":
            bias = (-0.5 * np.einsum("ij,ij->i", q, q)).astype(np.float32)
        count = len(q)
        n = min(n, max(count - 1, 0))  # every other vector at most
        self_csr = (
            np.arange(count + 1, dtype=np.uint64),
            np.arange(count, dtype=np.uint32),
            idx.astype(np.uint32),
        )
        ids, scores = _funkrs.top_n(
            np.ascontiguousarray(q[idx]),
            np.zeros(len(idx), np.float32),
            np.ascontiguousarray(q, dtype=np.float32),
            bias,
            int(n),
            exclude=self_csr,
            n_threads=self._threads(),
        )
        if metric == "euclidean":
            sq = np.einsum("ij,ij->i", q[idx], q[idx])[:, None] - 2.0 * scores
            scores = np.sqrt(np.maximum(sq, 0.0)).astype(np.float32)
        return ids, scores

    # -- fold-in ----------------------------------------------------------------------------
    def fold_in_factors(
        self, ratings: Ratings, reg: float | None = None, *, kind: FoldKind = "users"
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Factors for the users (or items) of ``ratings`` against the fixed other side.

        With ``kind="users"`` it solves, per user, the ridge problem
        ``min Σ_i (r_ui − μ − b_i − b_u − p_u·q_i)² + reg·n_u·(‖p_u‖² + b_u²)`` (the
        regularisation SGD applies once per rating) against the fixed item factors and
        biases; items unknown to the model are ignored. ``kind="items"`` is the mirror
        image: per item, ``min Σ_u (r_ui − μ − b_u − b_i − p_u·q_i)² + reg·n_i·(‖q_i‖² +
        b_i²)`` against the fixed user factors and biases, ignoring unknown users.

        Returns
        -------
        (ids, factors, bias)
            Raw ids of the users (items) of ``ratings``, ``float32`` factors ``(n, k)`` and
            biases.

        Raises
        ------
        UnknownIdError
            A user (item) has no rating by an item (user) the model knows: nothing to fold
            in.
        RatingsError
            The ids of ``ratings`` on the fixed side are of the other kind than the
            model's (strings for integer ids or the reverse).
        InvalidParameterError
            ``ratings`` is not a :class:`~funkrs.Ratings`, ``reg`` (given, or the
            estimator's) is not a finite number > 0, or ``kind`` is not ``"users"`` or
            ``"items"``.
        """
        st = self._fitted()
        require_ratings("fold_in_factors", "ratings", ratings)
        side = _fold_kind(kind)
        lam = _fold_in_reg(self.reg if reg is None else reg)
        fold = _FoldSide(st, ratings, side)
        indptr, order = _funkrs.csr_from_coo(
            np.ascontiguousarray(fold.rows, dtype=np.uint32),
            np.arange(len(fold.rows), dtype=np.uint32),
            fold.n_rows,
        )
        factors, bias = (
            (st.item_factors, st.item_bias) if side == "users" else (st.user_factors, st.user_bias)
        )
        p, b = _funkrs.fold_in(
            factors,
            bias,
            st.global_mean,
            st.biased,
            indptr,
            np.ascontiguousarray(fold.cols[order], dtype=np.uint32),
            np.ascontiguousarray(fold.values[order], dtype=np.float32),
            float(lam),
            n_threads=self._threads(),
        )
        return fold.ids, p, b

    def fold_in(
        self, ratings: Ratings, reg: float | None = None, *, kind: FoldKind = "users"
    ) -> Any:
        """Add the users (or items) of ``ratings`` that were not seen at fit time; returns ``self``.

        Their factors come from :meth:`fold_in_factors` (the other side stays fixed).
        ``kind="users"`` adds users: the vocabulary stays sorted, and their ratings of known
        items count as seen for ``recommend(exclude_seen=True)``. ``kind="items"`` adds
        items: they are appended after the old items (old items keep their inner numbers,
        as with :meth:`~funkrs.MatrixFactorization.partial_fit`), their ratings by known
        users count as seen, and their popularity term (see ``popularity_weight``) comes
        from their number of raters on the model's own scale. Users (items) already in the
        model are an error (use ``partial_fit``, or :meth:`fold_in_factors` to compare).

        Raises
        ------
        RatingsError
            Some users (items) of ``ratings`` are already in the model, or its ids are of
            the other kind than the model's.
        UnknownIdError
            A user (item) has no rating by an item (user) the model knows.
        InvalidParameterError
            ``ratings`` is not a :class:`~funkrs.Ratings`, ``reg`` is not a finite
            number > 0, or ``kind`` is not ``"users"`` or ``"items"``.
        """
        st = self._fitted()
        require_ratings("fold_in", "ratings", ratings)
        side = _fold_kind(kind)
        _fold_in_reg(self.reg if reg is None else reg)
        what, vocab, known_vocab = (
            ("user", ratings.user_vocab, st.users)
            if side == "users"
            else ("item", ratings.item_vocab, st.items)
        )
        new = vocab.ids_array
        existing = known_vocab.numbers(new, missing="negative", what=what) >= 0
        if existing.any():
            raise RatingsError(
                f"{int(existing.sum())} {what}(s) of fold_in are already in the model "
                f"(e.g. {show_id(new[int(np.argmax(existing))])}); fold_in adds new {what}s "
                "only (partial_fit adds ratings of known ones)"
            )
        new_ids, p, b = self.fold_in_factors(ratings, reg, kind=side)
        if side == "users":
            self._adopt(_with_users(st, new_ids, p, b, ratings))
        else:
            self._adopt(_with_items(st, new_ids, p, b, ratings, self._threads()))
        return self


def _fold_kind(kind: object) -> FoldKind:
    return "users" if check_choice("kind", kind, ("users", "items")) == "users" else "items"


class _FoldSide:
    """The ratings of a fold-in seen from the folded side.

    ``rows`` are the inner numbers (in ``ratings``) of the users or items being folded in,
    ``cols`` the model's inner numbers of the fixed side, ``values`` the ratings, for the
    ratings whose fixed side the model knows; ``ids`` the raw ids of the folded side.
    """

    def __init__(self, st: FittedState, ratings: Ratings, side: FoldKind) -> None:
        if side == "users":
            fixed = st.items.numbers(ratings.raw_items(), missing="negative", what="item")
            folded, self.ids, self.n_rows = (
                ratings.users,
                ratings.user_vocab.ids_array,
                ratings.n_users,
            )
        else:
            fixed = st.users.numbers(ratings.raw_users(), missing="negative", what="user")
            folded, self.ids, self.n_rows = (
                ratings.items,
                ratings.item_vocab.ids_array,
                ratings.n_items,
            )
        known = fixed >= 0
        self.rows = folded[known]
        self.cols = fixed[known]
        self.values = ratings.values[known]
        _check_some_known(self.ids, self.rows, side)


def _user_index(st: FittedState, users: npt.ArrayLike | None) -> np.ndarray:
    if users is None:
        return np.arange(st.n_users, dtype=np.int64)
    return st.users.numbers(np.atleast_1d(np.asarray(users)), missing="error", what="user")


def _candidates(st: FittedState, items: npt.ArrayLike | None) -> np.ndarray | None:
    if items is None:
        return None
    idx = st.items.numbers(np.atleast_1d(np.asarray(items)), missing="error", what="item")
    return np.unique(idx).astype(np.uint32)


def _check_some_known(ids: np.ndarray, known_rows: np.ndarray, side: FoldKind) -> None:
    """Every folded-in user (item) of a fold-in must have a rating on the model's known side."""
    has_known = np.bincount(known_rows, minlength=len(ids)) > 0
    if not has_known.all():
        lost = np.flatnonzero(~has_known)
        what, other = ("user", "items") if side == "users" else ("item", "users")
        raise UnknownIdError(
            f"none of the {other} of {what} {show_id(ids[lost[0]])} are known to the model "
            f"({len(lost)} such {what}(s)); fold-in needs ratings of training {other}"
        )


def _with_users(
    st: FittedState, new_ids: np.ndarray, p: np.ndarray, b: np.ndarray, ratings: Ratings
) -> FittedState:
    """``st`` with the users ``new_ids`` (factors ``p``, biases ``b``) and their seen items."""
    all_ids = np.concatenate([st.users.ids_array, new_ids])
    order = np.argsort(all_ids, kind="stable")
    # Seen lists of the new users, in the model's item ids.
    item_idx = st.items.numbers(ratings.raw_items(), missing="negative", what="item")
    known = item_idx >= 0
    new_indptr, new_pos = _funkrs.csr_from_coo(
        np.ascontiguousarray(ratings.users[known], dtype=np.uint32),
        np.arange(int(known.sum()), dtype=np.uint32),
        len(new_ids),
    )
    new_cols = item_idx[known][new_pos].astype(np.uint32)
    counts = np.concatenate([np.diff(st.seen_indptr), np.diff(new_indptr)]).astype(np.int64)
    starts = np.concatenate([st.seen_indptr[:-1], new_indptr[:-1] + len(st.seen_indices)]).astype(
        np.int64
    )
    counts, starts = counts[order], starts[order]
    cols = np.concatenate([st.seen_indices, _sorted_rows(new_indptr, new_cols)])
    # Gather the rows in the new user order: row r's entries are starts[r] + 0..counts[r].
    first = np.cumsum(counts) - counts
    take = np.repeat(starts - first, counts) + np.arange(int(counts.sum()))
    return st.replace(
        user_factors=np.ascontiguousarray(np.vstack([st.user_factors, p])[order]),
        user_bias=np.ascontiguousarray(np.concatenate([st.user_bias, b])[order]),
        users=Vocabulary.from_sorted(all_ids[order]),
        seen_indptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.uint64),
        seen_indices=np.ascontiguousarray(cols[take], dtype=np.uint32),
    )


def _with_items(
    st: FittedState,
    new_ids: np.ndarray,
    q: np.ndarray,
    b: np.ndarray,
    ratings: Ratings,
    n_threads: int | None,
) -> FittedState:
    """``st`` with the items ``new_ids`` (factors ``q``, biases ``b``) appended.

    Their ratings by known users join those users' seen lists: the new item numbers are
    above every old one, so each row stays sorted with its new entries after its old ones.
    """
    fold = _FoldSide(st, ratings, "items")
    n_old = st.n_items
    # Distinct (user, new item) pairs, sorted within each user's row.
    new_indptr, new_cols = _funkrs.csr_from_coo(
        np.ascontiguousarray(fold.cols, dtype=np.uint32),
        np.ascontiguousarray(fold.rows + n_old, dtype=np.uint32),
        st.n_users,
        n_threads=n_threads,
    )
    keep = np.ones(len(new_cols), dtype=bool)
    if len(new_cols) > 1:
        row_of = np.repeat(np.arange(st.n_users), np.diff(new_indptr).astype(np.int64))
        keep[1:] = (new_cols[1:] != new_cols[:-1]) | (row_of[1:] != row_of[:-1])
        counts = np.bincount(row_of[keep], minlength=st.n_users)
        new_indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.uint64)
        new_cols = new_cols[keep]
    old_counts = np.diff(st.seen_indptr).astype(np.int64)
    new_counts = np.diff(new_indptr).astype(np.int64)
    indptr = (st.seen_indptr + new_indptr).astype(np.uint64)
    out = np.empty(int(indptr[-1]), dtype=np.uint32)
    out[
        np.arange(len(st.seen_indices)) + np.repeat(new_indptr[:-1].astype(np.int64), old_counts)
    ] = st.seen_indices
    out[np.arange(len(new_cols)) + np.repeat(st.seen_indptr[1:].astype(np.int64), new_counts)] = (
        new_cols
    )
    raters = np.bincount(new_cols.astype(np.int64) - n_old, minlength=len(new_ids))
    offset = popularity_slope(st) * np.log1p(raters)
    return st.replace(
        item_factors=np.ascontiguousarray(np.vstack([st.item_factors, q]), dtype=np.float32),
        item_bias=np.ascontiguousarray(np.concatenate([st.item_bias, b]), dtype=np.float32),
        items=st.items.extended(new_ids),
        seen_indptr=indptr,
        seen_indices=out,
        item_rank_offset=np.concatenate([st.item_rank_offset, offset.astype(np.float32)]),
    )


def popularity_slope(st: FittedState, counts: np.ndarray | None = None) -> float:
    """``w · σ`` of the popularity term ``w · σ · log(1 + n_i)``, read back from ``st``.

    The training data is not stored: the slope is the median ratio of the term to
    ``log(1 + n_i)`` over the items with seen users (0 when the term is off). ``counts``
    are the seen users per item if the caller has them (else they are counted).
    """
    old = st.item_rank_offset
    if not old.any():
        return 0.0
    if counts is None:
        counts = np.bincount(st.seen_indices, minlength=st.n_items)
    ok = (counts > 0) & (old > 0)
    if not ok.any():
        return 0.0
    return float(np.median(old[ok] / np.log1p(counts[ok])))


def top_n_rows(
    st: FittedState,
    user_vecs: np.ndarray,
    offsets: np.ndarray,
    n: int,
    exclude: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    cands: np.ndarray | None,
    n_threads: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``n`` item numbers and ranking scores of query rows against ``st``'s items.

    ``user_vecs`` ``(rows, k)`` and ``offsets`` (``μ + b_u`` or what stands for it) are
    the query rows; ``exclude`` is a CSR ``(indptr, indices, rows)`` of items to skip per
    row (sorted within a row), as the Rust ``top_n`` takes it.
    """
    # A list is never longer than the items there are: n beyond that asks for nothing.
    n = min(n, st.n_items if cands is None else len(cands))
    item_terms = st.item_bias if st.biased else None
    rank = st.item_rank_offset
    if rank.any():
        item_terms = rank if item_terms is None else item_terms + rank
    if item_terms is None and st.item_factors.shape[1] == 0:
        # Without factor columns the kernel counts the items by their bias terms.
        item_terms = np.zeros(st.n_items, np.float32)
    return _funkrs.top_n(
        np.ascontiguousarray(user_vecs, dtype=np.float32),
        np.ascontiguousarray(offsets, dtype=np.float32),
        st.item_factors,
        np.zeros(0, np.float32) if item_terms is None else item_terms,
        int(n),
        exclude=exclude,
        candidates=cands,
        n_threads=n_threads,
    )


def _sorted_rows(indptr: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Sort the columns within each CSR row (the exclusion lists must be sorted)."""
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr).astype(np.int64))
    return cols[np.lexsort((cols, rows))]


def _check_n(n: object) -> int:
    """``n`` of a top-n call: any integer >= 0 (a list holds at most every candidate)."""
    return check_int("n", n, minimum=0)


def _fold_in_reg(reg: object) -> float:
    """Fold-in's ridge weight: the ridge problem needs ``reg > 0``."""
    return check_float("reg", reg, minimum=0, exclusive_minimum=True)


def _batches(uidx: np.ndarray, size: int, progress: bool) -> Iterator[np.ndarray]:
    starts = range(0, len(uidx), size)
    bar: Any = None
    if progress:
        with contextlib.suppress(ImportError):
            from tqdm.auto import tqdm

            bar = tqdm(total=len(uidx), unit="user", desc="recommend")
    try:
        for s in starts:
            batch = uidx[s : s + size]
            yield batch
            if bar is not None:
                bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()


def _empty_ranking(users: Vocabulary, items: Vocabulary) -> pl.DataFrame:
    return _ranking_frame(
        users.ids_array[:0],
        items,
        np.zeros((0, 0), np.int64),
        np.zeros((0, 0), np.float32),
        ("user", "item"),
    )


def _ranking_frame(
    query_ids: np.ndarray,
    vocab: Vocabulary,
    ids: np.ndarray,
    scores: np.ndarray,
    names: tuple[str, str],
) -> pl.DataFrame:
    n = ids.shape[1] if ids.ndim == 2 else 0
    valid = ids >= 0
    rows, slots = np.nonzero(valid)
    return pl.DataFrame(
        {
            names[0]: query_ids[rows],
            names[1]: vocab.ids(ids[valid]) if n else vocab.ids_array[:0],
            "score": scores[valid].astype(np.float32),
            "rank": (slots + 1).astype(np.int32) if n else np.zeros(0, np.int32),
        }
    )
