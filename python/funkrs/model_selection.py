"""Model selection: k-fold splits, cross-validation and grid search.

Every fold fits a fresh clone of the estimator (:func:`funkrs._base.clone`). Folds run in a
thread pool: the Rust solvers release the GIL, so ``n_jobs`` folds train at once. To avoid
oversubscribing the cores, each clone then gets ``n_threads = max(1, cores // n_jobs)``
unless the estimator's ``n_threads`` was set explicitly.

Examples
--------
>>> import funkrs
>>> from funkrs.model_selection import cross_validate
>>> data = funkrs.datasets.synthetic(200, 100, 4000, random_state=0)
>>> model = funkrs.MatrixFactorization(n_factors=8, n_epochs=10, random_state=0)
>>> cross_validate(model, data, cv=3, random_state=0).columns
['fold', 'rmse', 'mae', 'fit_time', 'test_time']
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, Protocol

import numpy as np
import polars as pl

from funkrs._base import clone
from funkrs._checks import check_bool, check_float, check_int, is_integer, show_value
from funkrs._progress import progress_bar
from funkrs._ratings import Ratings
from funkrs.exceptions import InvalidParameterError
from funkrs.metrics import evaluate, higher_is_better, parse_metrics

__all__ = ["GridSearch", "KFold", "ParameterGrid", "cross_validate"]


class Splitter(Protocol):
    """Anything with ``split_indices(n)`` yielding ``(train_indices, test_indices)``."""

    def split_indices(self, n: int) -> Iterator[tuple[np.ndarray, np.ndarray]]: ...


class KFold:
    """K-fold cross-validation over the ratings (each rating is tested exactly once).

    Parameters
    ----------
    n_splits : int
        Number of folds, at least 2. Fold sizes differ by at most one rating.
    shuffle : bool
        Permute the ratings (``numpy.random.default_rng(random_state).permutation``) before
        cutting them into folds; False keeps them in their current order.
    random_state : int, numpy.random.Generator or None
        Seed of the permutation. With an int, :meth:`split` gives the same folds every time.

    Examples
    --------
    >>> import funkrs
    >>> data = funkrs.Ratings.from_arrays(list(range(10)), [0] * 10, [4.0] * 10)
    >>> [len(test) for _, test in KFold(3, random_state=0).split(data)]
    [4, 3, 3]
    """

    def __init__(
        self,
        n_splits: int = 5,
        shuffle: bool = True,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.n_splits = n_splits
        self.shuffle = shuffle
        self.random_state = random_state

    def __repr__(self) -> str:
        return (
            f"KFold(n_splits={self.n_splits!r}, shuffle={self.shuffle!r}, "
            f"random_state={self.random_state!r})"
        )

    def get_n_splits(self) -> int:
        """Number of folds."""
        return check_int("n_splits", self.n_splits, minimum=2)

    def split_indices(self, n: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Sorted ``(train_indices, test_indices)`` of ``n`` ratings, fold by fold.

        Raises
        ------
        funkrs.exceptions.InvalidParameterError
            ``n_splits`` is not an integer >= 2 or exceeds ``n``, or ``shuffle`` is not a bool.
        """
        k = check_int("n_splits", self.n_splits, minimum=2)
        if k > n:
            raise InvalidParameterError(f"n_splits={k} is larger than the number of ratings ({n})")
        if check_bool("shuffle", self.shuffle):
            order = np.random.default_rng(self.random_state).permutation(n)
        else:
            order = np.arange(n)
        for test in np.array_split(order, k):
            mask = np.ones(n, dtype=bool)
            mask[test] = False
            yield np.flatnonzero(mask), np.sort(test)

    def split(self, ratings: Ratings) -> Iterator[tuple[Ratings, Ratings]]:
        """``(train, test)`` :class:`~funkrs.Ratings` pairs, fold by fold."""
        _check_ratings(ratings)
        for train, test in self.split_indices(len(ratings)):
            yield ratings.take(train), ratings.take(test)


class ParameterGrid:
    """The cartesian product of a parameter grid (or of each grid in a list), in order.

    Parameters
    ----------
    param_grid : mapping or sequence of mappings
        Parameter name to a non-empty sequence of values, e.g.
        ``{"n_factors": [50, 100], "reg": [0.05, 0.1]}``.

    Raises
    ------
    funkrs.exceptions.InvalidParameterError
        ``param_grid`` is not such a mapping or sequence, a name is not a string, or a value
        list is a single value or empty.

    Examples
    --------
    >>> list(ParameterGrid({"n_factors": [10, 20], "reg": [0.1]}))
    [{'n_factors': 10, 'reg': 0.1}, {'n_factors': 20, 'reg': 0.1}]
    """

    def __init__(self, param_grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]]):
        grids = [param_grid] if isinstance(param_grid, Mapping) else param_grid
        if isinstance(grids, (str, bytes)) or not isinstance(grids, Sequence) or not grids:
            raise InvalidParameterError(
                "param_grid must be a dict of parameter name -> list of values, or a "
                f"non-empty list of such dicts, got {show_value(param_grid)}"
            )
        self.grids: list[dict[str, list[Any]]] = []
        for grid in grids:
            if not isinstance(grid, Mapping):
                raise InvalidParameterError(
                    f"param_grid: each parameter grid must be a dict, got {show_value(grid)}"
                )
            checked: dict[str, list[Any]] = {}
            for name, values in grid.items():
                if not isinstance(name, str):
                    raise InvalidParameterError(
                        f"param_grid: parameter names must be strings, got {show_value(name)}"
                    )
                if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
                    raise InvalidParameterError(
                        f"param_grid: values of parameter {name!r} must be a list, got "
                        f"{show_value(values)}; write {name!r}: [{values!r}] for a single value"
                    )
                listed = list(values)
                if not listed:
                    raise InvalidParameterError(
                        f"param_grid: parameter {name!r} has no values to try"
                    )
                checked[name] = listed
            self.grids.append(checked)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for grid in self.grids:
            names = list(grid)
            for combo in itertools.product(*(grid[n] for n in names)):
                yield dict(zip(names, combo, strict=True))

    def __len__(self) -> int:
        return sum(math.prod(len(v) for v in g.values()) for g in self.grids)


def cross_validate(
    model: Any,
    ratings: Ratings,
    cv: int | Splitter = 5,
    n_jobs: int | None = None,
    metrics: Sequence[str] = ("rmse", "mae"),
    random_state: int | np.random.Generator | None = None,
    *,
    threshold: float = 4.0,
    progress: bool = False,
) -> pl.DataFrame:
    """Fit and score a clone of ``model`` on each fold of ``ratings``.

    Parameters
    ----------
    model : MatrixFactorization
        An estimator (unfitted or fitted: it is cloned, never modified).
    ratings : Ratings
        All the ratings; each fold holds out a part of them as the test set.
    cv : int or KFold
        Number of folds (a shuffled :class:`KFold` seeded by ``random_state``) or a
        splitter with ``split_indices(n)``.
    n_jobs : int or None
        Folds fitted at once (threads). None means 1; -1 means one per core. With more
        than one job, every clone gets ``n_threads = max(1, cores // n_jobs)`` unless
        ``model.n_threads`` is set.
    metrics : sequence of str
        Names accepted by :func:`funkrs.evaluate`: ``"rmse"``, ``"mae"``,
        ``"precision@10"``, ``"recall@10"``, ``"ndcg@10"``, ``"map@10"``,
        ``"coverage@10"`` (any k).
    random_state : int, numpy.random.Generator or None
        Seed of the fold assignment when ``cv`` is an int.
    threshold : float
        Smallest test rating counted as relevant by the ranking metrics.
    progress : bool
        Show a progress bar over the folds (needs ``tqdm``).

    Returns
    -------
    polars.DataFrame
        One row per fold: ``fold`` (0-based), one column per metric, ``fit_time`` and
        ``test_time`` (seconds).
    """
    _check_ratings(ratings)
    parse_metrics(metrics)
    metrics = list(metrics)
    threshold = check_float("threshold", threshold)
    progress = check_bool("progress", progress)
    splits = list(_splitter(cv, random_state).split_indices(len(ratings)))
    jobs = _n_jobs(n_jobs, len(splits))
    tasks = [(_fold_clone(model, jobs), ratings, tr, te, metrics, threshold) for tr, te in splits]
    rows = _run(tasks, jobs, "cross-validate" if progress else None)
    return (
        _fold_frame(rows, metrics)
        .with_columns(pl.Series("fold", range(len(rows))))
        .select("fold", *metrics, "fit_time", "test_time")
    )


class GridSearch:
    """Exhaustive search over a parameter grid, scored by cross-validation.

    Every parameter combination is scored on the same folds. All (combination, fold) fits
    share one thread pool of ``n_jobs`` workers, each fit using ``cores // n_jobs`` threads
    (unless the estimator's ``n_threads`` is set).

    Parameters
    ----------
    model : MatrixFactorization
        The estimator whose parameters are searched; it is cloned, never modified.
    param_grid : mapping or sequence of mappings
        See :class:`ParameterGrid`; the names must be parameters of ``model``.
    cv : int or KFold
        Folds, as in :func:`cross_validate`.
    n_jobs : int or None
        Fits run at once, as in :func:`cross_validate`.
    metric : str
        The metric that picks the best combination (lowest ``"rmse"``/``"mae"``, highest
        ranking metric). Every name in ``metrics`` is reported in ``cv_results_``.
    metrics : sequence of str, optional
        Metrics to compute; ``metric`` is added when missing. Default: rmse and mae.
    refit : bool
        Refit the best combination on all the ratings as ``best_estimator_``.
    random_state : int, numpy.random.Generator or None
        Seed of the fold assignment when ``cv`` is an int.
    threshold : float
        Relevance threshold of the ranking metrics.
    progress : bool
        Show a progress bar over the fits (needs ``tqdm``).

    Attributes
    ----------
    best_params_ : dict
        The winning combination.
    best_score_ : float
        Its mean ``metric`` over the folds.
    best_estimator_ : MatrixFactorization
        A clone with ``best_params_``, fitted on all the ratings (when ``refit``).
    cv_results_ : polars.DataFrame
        One row per combination: ``param_<name>`` columns, ``mean_<metric>`` and
        ``std_<metric>`` for each metric, ``mean_fit_time``, ``mean_test_time`` and
        ``rank`` (1 = best).
    fold_results_ : polars.DataFrame
        One row per (combination, fold): ``candidate``, ``fold``, metrics and times.

    Examples
    --------
    >>> import funkrs
    >>> data = funkrs.datasets.synthetic(200, 100, 4000, random_state=0)
    >>> model = funkrs.MatrixFactorization(n_epochs=10, random_state=0)
    >>> search = GridSearch(model, {"n_factors": [4, 8]}, cv=3, random_state=0).fit(data)
    >>> sorted(search.best_params_)
    ['n_factors']
    """

    def __init__(
        self,
        model: Any,
        param_grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]],
        cv: int | Splitter = 5,
        n_jobs: int | None = None,
        metric: str = "rmse",
        *,
        metrics: Sequence[str] | None = None,
        refit: bool = True,
        random_state: int | np.random.Generator | None = None,
        threshold: float = 4.0,
        progress: bool = False,
    ) -> None:
        self.model = model
        self.param_grid = param_grid
        self.cv = cv
        self.n_jobs = n_jobs
        self.metric = metric
        self.metrics = metrics
        self.refit = refit
        self.random_state = random_state
        self.threshold = threshold
        self.progress = progress

    def fit(self, ratings: Ratings) -> GridSearch:
        """Score every combination on every fold, pick the best, refit it; returns ``self``."""
        _check_ratings(ratings)
        if not isinstance(self.metric, str):
            raise InvalidParameterError(
                f"metric must be the name of one metric, e.g. 'rmse', got {show_value(self.metric)}"
            )
        parse_metrics([self.metric], option="metric")
        if self.metrics is not None:
            parse_metrics(self.metrics)
        metrics = list(self.metrics or ("rmse", "mae"))
        if self.metric not in metrics:
            metrics.insert(0, self.metric)
        threshold = check_float("threshold", self.threshold)
        refit = check_bool("refit", self.refit)
        progress = check_bool("progress", self.progress)
        candidates = list(ParameterGrid(self.param_grid))
        valid = set(self.model.get_params())
        for params in candidates:
            unknown = sorted(set(params) - valid)
            if unknown:
                raise InvalidParameterError(
                    f"param_grid: unknown parameter(s) {unknown} for {type(self.model).__name__}; "
                    f"valid parameters: {', '.join(sorted(valid))}"
                )
        # One fixed seed so that every combination is scored on the same folds.
        state = self.random_state
        if state is None or isinstance(state, np.random.Generator):
            state = int(np.random.default_rng(state).integers(0, 2**63))
        splits = list(_splitter(self.cv, state).split_indices(len(ratings)))
        jobs = _n_jobs(self.n_jobs, len(candidates) * len(splits))
        tasks = [
            (_fold_clone(self.model, jobs, p), ratings, tr, te, metrics, threshold)
            for p in candidates
            for tr, te in splits
        ]
        rows = _run(tasks, jobs, "grid search" if progress else None)
        n_folds = len(splits)
        folds = _fold_frame(rows, metrics).with_columns(
            pl.Series("candidate", [c for c in range(len(candidates)) for _ in splits]),
            pl.Series("fold", [f for _ in candidates for f in range(n_folds)]),
        )
        self.fold_results_ = folds.select("candidate", "fold", *metrics, "fit_time", "test_time")
        self.cv_results_ = _summary(folds, candidates, metrics, self.metric)
        best = int(self.cv_results_["rank"].arg_min())  # type: ignore[arg-type]
        self.best_index_ = best
        self.best_params_ = dict(candidates[best])
        self.best_score_ = float(self.cv_results_[f"mean_{self.metric}"][best])
        if refit:
            self.best_estimator_ = clone(self.model).set_params(**self.best_params_)
            self.best_estimator_.fit(ratings)
        return self


# -- internals --------------------------------------------------------------------------------
Task = tuple[Any, Ratings, np.ndarray, np.ndarray, list[str], float]


def _check_ratings(ratings: Any) -> None:
    if not isinstance(ratings, Ratings):
        raise InvalidParameterError(f"expected funkrs.Ratings, got {type(ratings).__name__}")


def _splitter(cv: Any, random_state: Any) -> Splitter:
    if is_integer(cv):
        return KFold(check_int("cv", cv, minimum=2), shuffle=True, random_state=random_state)
    if hasattr(cv, "split_indices"):
        return cv  # type: ignore[no-any-return]
    raise InvalidParameterError(
        "cv must be a number of folds (an integer >= 2) or a splitter such as KFold, got "
        f"{show_value(cv)}"
    )


def available_cores() -> int:
    """Cores this process may use (``FUNKRS_NUM_THREADS`` when set)."""
    env = os.environ.get("FUNKRS_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _n_jobs(n_jobs: int | None, n_tasks: int) -> int:
    if n_jobs is None:
        return 1
    if not is_integer(n_jobs) or not (int(n_jobs) == -1 or int(n_jobs) >= 1):
        raise InvalidParameterError(
            f"n_jobs must be None, -1 or a positive integer, got {show_value(n_jobs)}"
        )
    jobs = available_cores() if n_jobs == -1 else int(n_jobs)
    return max(1, min(jobs, n_tasks))


def _fold_clone(model: Any, jobs: int, params: Mapping[str, Any] | None = None) -> Any:
    est = clone(model)
    if params:
        est.set_params(**params)
    params_now = est.get_params()
    if jobs > 1 and "n_threads" in params_now and params_now["n_threads"] is None:
        est.set_params(n_threads=max(1, available_cores() // jobs))
    return est


def _fit_and_score(task: Task) -> dict[str, float]:
    model, ratings, train_idx, test_idx, metrics, threshold = task
    train, test = ratings.take(train_idx), ratings.take(test_idx)
    start = time.perf_counter()
    model.fit(train)
    fitted = time.perf_counter()
    scores = evaluate(model, test, metrics, threshold=threshold)
    scores["fit_time"] = fitted - start
    scores["test_time"] = time.perf_counter() - fitted
    return scores


def _run(tasks: list[Task], jobs: int, progress: str | None = None) -> list[dict[str, float]]:
    bar = progress_bar(len(tasks), progress, "fit") if progress else None
    try:
        if jobs == 1:
            return [_tick(_fit_and_score(t), bar) for t in tasks]
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="funkrs-cv") as pool:
            futures = [pool.submit(_fit_and_score, t) for t in tasks]
            try:
                for done in as_completed(futures):
                    _tick(done.result(), bar)
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
            return [f.result() for f in futures]
    finally:
        if bar is not None:
            bar.close()


def _tick(row: dict[str, float], bar: Any) -> dict[str, float]:
    if bar is not None:
        bar.update(1)
    return row


def _fold_frame(rows: list[dict[str, float]], metrics: list[str]) -> pl.DataFrame:
    cols = [*metrics, "fit_time", "test_time"]
    return pl.DataFrame(
        {c: [float(r[c]) for r in rows] for c in cols}, schema=dict.fromkeys(cols, pl.Float64)
    )


def _summary(
    folds: pl.DataFrame, candidates: list[dict[str, Any]], metrics: list[str], metric: str
) -> pl.DataFrame:
    stats = (
        folds.group_by("candidate", maintain_order=True)
        .agg(
            *(
                e
                for m in metrics
                for e in (
                    pl.col(m).mean().alias(f"mean_{m}"),
                    pl.col(m).std(ddof=0).alias(f"std_{m}"),
                )
            ),
            pl.col("fit_time").mean().alias("mean_fit_time"),
            pl.col("test_time").mean().alias("mean_test_time"),
        )
        .sort("candidate")
    )
    key = pl.col(f"mean_{metric}")
    rank = (-key if higher_is_better(metric) else key).rank("min").cast(pl.Int64).alias("rank")
    names = list(dict.fromkeys(name for c in candidates for name in c))
    if not names:
        return stats.drop("candidate").with_columns(rank)
    params = pl.DataFrame([_param_column(n, [c.get(n) for c in candidates]) for n in names])
    return pl.concat([params, stats.drop("candidate")], how="horizontal").with_columns(rank)


def _param_column(name: str, values: list[Any]) -> pl.Series:
    try:
        return pl.Series(f"param_{name}", values)
    except (TypeError, ValueError, pl.exceptions.PolarsError):
        return pl.Series(f"param_{name}", [None if v is None else repr(v) for v in values])
