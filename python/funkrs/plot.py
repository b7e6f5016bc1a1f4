"""Plots of fitted models, rating matrices and grid searches (needs matplotlib).

Every function returns a :class:`matplotlib.figure.Figure` built without ``pyplot``, so
nothing is shown or kept in global state: save it with ``fig.savefig("plot.png")`` or
display it in a notebook. Install the extra with ``pip install "funkrs[plot]"``.

Examples
--------
>>> import funkrs
>>> from funkrs import plot
>>> data = funkrs.datasets.synthetic(100, 50, 2000, random_state=0)
>>> model = funkrs.MatrixFactorization(n_factors=8, n_epochs=5, random_state=0).fit(data)
>>> fig = plot.learning_curve(model)  # then fig.savefig("learning_curve.png")
>>> len(fig.axes)
1
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from funkrs._checks import check_choice, check_float, check_int
from funkrs._ratings import Ratings
from funkrs.exceptions import InvalidParameterError, NonFiniteError, ShapeError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["grid_search_curve", "latent_map", "learning_curve", "singular_values"]

_MAX_DENSE = 20_000_000  # cells of a rating matrix densified by singular_values


def _figure(**kwargs: Any) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            "funkrs.plot needs matplotlib: pip install 'funkrs[plot]' (or matplotlib>=3.7)"
        ) from exc
    return Figure(**kwargs)


def learning_curve(model: Any) -> Figure:
    """Training and validation RMSE per epoch, from ``model.history_``.

    The validation curve appears when the model was fitted with ``fit(..., validation=...)``;
    with early stopping, a dotted line marks the epoch that was kept (``best_epoch_``).

    Parameters
    ----------
    model : MatrixFactorization
        A fitted model of an iterative solver.

    Returns
    -------
    matplotlib.figure.Figure
    """
    history = getattr(model, "history_", None)
    if not isinstance(history, pl.DataFrame):
        raise ValueError("learning_curve needs a fitted model (call fit first)")
    if history.height == 0:
        raise ValueError(
            f"the model has no per-epoch history (solver {getattr(model, 'solver_', '?')!r} "
            "does not record one)"
        )
    fig = _figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    steps = np.arange(1, history.height + 1)
    ax.plot(steps, history["train_rmse"].to_numpy(), marker=".", label="train")
    val = history["validation_rmse"]
    if val.null_count() < history.height:
        ax.plot(steps, val.fill_null(np.nan).to_numpy(), marker=".", label="validation")
    best = getattr(model, "best_epoch_", None)
    if best is not None:
        ax.axvline(best, linestyle=":", color="grey", label=f"kept (epoch {best})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("RMSE")
    ax.set_title("Learning curve")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def spectrum(source: Any) -> np.ndarray:
    """Singular values (descending) of a model's ``P Qᵀ``, a dense matrix, or ratings.

    A :class:`~funkrs.Ratings` is densified with missing entries filled by item means
    (the imputed-SVD view; small matrices only). A 1-D array is taken as singular values.
    """
    if hasattr(source, "user_factors_") and hasattr(source, "item_factors_"):
        # σ(P Qᵀ) = σ(R_p R_qᵀ) with P = Q_p R_p, Q = Q_q R_q: a k × k problem.
        r_p = np.linalg.qr(np.asarray(source.user_factors_, np.float64)).R
        r_q = np.linalg.qr(np.asarray(source.item_factors_, np.float64)).R
        return np.linalg.svd(r_p @ r_q.T, compute_uv=False)
    if isinstance(source, Ratings):
        cells = source.n_users * source.n_items
        if cells > _MAX_DENSE:
            raise ValueError(
                f"the rating matrix has {cells:,} cells, too many to densify; plot the "
                "spectrum of a fitted model instead"
            )
        counts = np.bincount(source.items, minlength=source.n_items)
        sums = np.bincount(source.items, source.values, minlength=source.n_items)
        dense = np.tile(sums / np.maximum(counts, 1), (source.n_users, 1))
        dense[source.users, source.items] = source.values
        return np.linalg.svd(dense, compute_uv=False)
    arr = np.asarray(source, dtype=np.float64)
    if arr.ndim == 1:
        return np.sort(np.abs(arr))[::-1]
    if arr.ndim == 2:
        if not np.isfinite(arr).all():
            raise NonFiniteError("the matrix has NaN or infinite entries; fill them first")
        return np.linalg.svd(arr, compute_uv=False)
    raise ShapeError(
        f"expected a model, Ratings, singular values or a matrix, got an array of shape {arr.shape}"
    )


def singular_values(source: Any, energy: float = 0.9) -> Figure:
    """The singular-value spectrum and its cumulative energy: how many factors to keep.

    Parameters
    ----------
    source : MatrixFactorization, Ratings, 1-D or 2-D array
        A fitted model (spectrum of ``P Qᵀ``), ratings (item-mean imputed), a dense
        matrix, or singular values.
    energy : float
        Marks the number of factors whose ``Σ σ²`` reaches this fraction of the total.

    Returns
    -------
    matplotlib.figure.Figure
    """
    energy = check_float("energy", energy, minimum=0, maximum=1, exclusive_minimum=True)
    s = spectrum(source)
    if s.size == 0 or not np.any(s > 0):
        raise ValueError("the spectrum is empty or zero")
    cum = np.cumsum(s**2) / np.sum(s**2)
    keep = int(np.searchsorted(cum, energy - 1e-12) + 1)
    idx = np.arange(1, s.size + 1)
    fig = _figure(figsize=(10, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.plot(idx, s, marker=".")
    if np.all(s > 0):
        left.set_yscale("log")
    left.set_xlabel("component")
    left.set_ylabel("singular value σ")
    left.set_title("Singular values")
    right.plot(idx, cum, marker=".")
    right.axhline(energy, linestyle=":", color="grey")
    right.axvline(keep, linestyle=":", color="grey")
    right.annotate(
        f"{keep} factors: {energy:.0%} of Σσ²", (keep, energy), xytext=(8, -16),
        textcoords="offset points",
    )  # fmt: skip
    right.set_ylim(0, 1.02)
    right.set_xlabel("factors kept")
    right.set_ylabel("cumulative energy Σσ² (fraction)")
    right.set_title("Cumulative energy")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return fig


def latent_map(
    model: Any,
    kind: Literal["items", "users"] = "items",
    labels: Mapping[Any, str] | Callable[[Any], str] | pl.DataFrame | None = None,
    dims: int = 2,
    n: int = 30,
    ids: npt.ArrayLike | None = None,
) -> Figure:
    """Items or users in latent space, projected on the factors' principal axes.

    The factor vectors are centred and projected on their top ``dims`` right singular
    vectors (the "eigen-items" view of SVD tutorials), so the axes are ordered by variance
    whatever the solver.

    Parameters
    ----------
    model : MatrixFactorization
        A fitted model.
    kind : {"items", "users"}
        Which factors to draw.
    labels : mapping, callable or polars.DataFrame, optional
        Raw id → label text (e.g. movie titles); a frame maps its first column to its
        second (``funkrs.datasets.movielens_titles()`` works as is). Ids without a label
        show the id.
    dims : {2, 3}
        A 2-D scatter or a 3-D one.
    n : int
        The ``n`` most-rated items (or most active users) when ``ids`` is not given.
    ids : array-like, optional
        Raw ids to draw instead.

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_choice("kind", kind, ("items", "users"))
    dims = check_int("dims", dims, minimum=2, maximum=3)
    if not hasattr(model, "item_factors_"):
        raise ValueError("latent_map needs a fitted model (call fit first)")
    vectors = np.asarray(model.item_factors_ if kind == "items" else model.user_factors_)
    vocab = model.items_ if kind == "items" else model.users_
    if vectors.shape[1] < dims:
        raise InvalidParameterError(
            f"dims={dims} needs at least {dims} factors; the model has {vectors.shape[1]}"
        )
    chosen = _chosen(model, kind, vocab, n, ids)
    centred = vectors - vectors.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    coords = centred[chosen] @ vt[:dims].T
    raw = vocab.ids(chosen)
    if isinstance(labels, pl.DataFrame):
        if labels.width < 2:
            raise InvalidParameterError(
                "labels: a frame needs an id column followed by a label column, got "
                f"{labels.width} column(s)"
            )
        labels = dict(zip(labels[:, 0].to_list(), labels[:, 1].to_list(), strict=True))
    text = [_label(labels, r) for r in raw.tolist()]
    fig = _figure(figsize=(7, 6), layout="constrained")
    share = s[:dims] ** 2 / max(float(np.sum(s**2)), 1e-30)
    names = [f"component {d + 1} ({share[d]:.0%} of variance)" for d in range(dims)]
    if dims == 2:
        ax = fig.add_subplot()
        ax.scatter(coords[:, 0], coords[:, 1], s=12)
        for (x, y), t in zip(coords, text, strict=True):
            ax.annotate(t, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
    else:
        ax3: Any = fig.add_subplot(projection="3d")  # an Axes3D
        ax3.scatter(coords[:, 0], coords[:, 1], coords[:, 2], s=12)
        for (x, y, z), t in zip(coords, text, strict=True):
            ax3.text(x, y, z, t, fontsize=6)
        ax3.set_xlabel(names[0])
        ax3.set_ylabel(names[1])
        ax3.set_zlabel(names[2])
        ax = ax3
    ax.set_title(f"{kind.capitalize()} in latent space ({len(chosen)} shown)")
    return fig


def _chosen(model: Any, kind: str, vocab: Any, n: int, ids: npt.ArrayLike | None) -> np.ndarray:
    if ids is not None:
        return np.asarray(vocab.numbers(np.atleast_1d(np.asarray(ids)), missing="error"))
    n = check_int("n", n, minimum=1)
    indptr = getattr(model, "_seen_indptr", None)
    counts: np.ndarray
    if indptr is None:
        counts = np.zeros(len(vocab))
    elif kind == "items":
        counts = np.bincount(model._seen_indices, minlength=len(vocab))
    else:
        counts = np.diff(np.asarray(indptr, dtype=np.int64))
    return np.sort(np.argsort(-counts, kind="stable")[:n])


def _label(labels: Mapping[Any, str] | Callable[[Any], str] | None, raw: Any) -> str:
    if labels is None:
        return str(raw)
    if callable(labels):
        return str(labels(raw))
    return str(labels.get(raw, raw))


def grid_search_curve(
    grid_search: Any, param: str = "n_factors", metric: str | None = None
) -> Figure:
    """Mean cross-validated score against one parameter of a fitted :class:`GridSearch`.

    One line per combination of the other searched parameters; error bars are the
    standard deviation over the folds.

    Parameters
    ----------
    grid_search : funkrs.model_selection.GridSearch
        A fitted search.
    param : str
        The parameter on the x axis.
    metric : str, optional
        The metric on the y axis (default: the search's ``metric``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    res = getattr(grid_search, "cv_results_", None)
    if not isinstance(res, pl.DataFrame):
        raise ValueError("grid_search_curve needs a fitted GridSearch (call fit first)")
    metric = metric or grid_search.metric
    col = f"param_{param}"
    searched = [c.removeprefix("param_") for c in res.columns if c.startswith("param_")]
    if col not in res.columns:
        raise InvalidParameterError(
            f"param={param!r} was not searched; searched parameters: {searched}"
        )
    if f"mean_{metric}" not in res.columns:
        computed = [c.removeprefix("mean_") for c in res.columns if c.startswith("mean_")]
        computed = [c for c in computed if c not in ("fit_time", "test_time")]
        raise InvalidParameterError(
            f"metric={metric!r} was not computed by this search; computed metrics: {computed}"
        )
    others = [c for c in res.columns if c.startswith("param_") and c != col]
    fig = _figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    groups: Sequence[tuple[Any, pl.DataFrame]] = (
        list(res.group_by(others, maintain_order=True)) if others else [((), res)]
    )
    for key, grp in groups:
        grp = grp.filter(pl.col(col).is_not_null()).sort(col)
        label = ", ".join(
            f"{o.removeprefix('param_')}={v}" for o, v in zip(others, key, strict=True)
        )
        ax.errorbar(
            grp[col].to_numpy(), grp[f"mean_{metric}"].to_numpy(),
            yerr=grp[f"std_{metric}"].to_numpy(), marker="o", capsize=3, label=label or None,
        )  # fmt: skip
    ax.set_xlabel(param)
    ax.set_ylabel(f"mean {metric} (cross-validated)")
    ax.set_title(f"{metric} against {param}")
    ax.grid(alpha=0.3)
    if others:
        ax.legend(fontsize=8)
    return fig
