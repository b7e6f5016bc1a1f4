from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import polars as pl
import pytest

import funkrs

pytest.importorskip("matplotlib")

from funkrs import plot
from funkrs.exceptions import InvalidParameterError, NonFiniteError
from funkrs.model_selection import GridSearch


def png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = buf.getvalue()
    assert data.startswith(b"\x89PNG")
    assert len(data) > 2000
    return data


@pytest.fixture(scope="module")
def data() -> funkrs.Ratings:
    return funkrs.datasets.synthetic(60, 40, 1500, random_state=0)


@pytest.fixture(scope="module")
def model(data: funkrs.Ratings) -> funkrs.MatrixFactorization:
    train, val = funkrs.train_test_split(data, random_state=0)
    return funkrs.MatrixFactorization(n_factors=6, n_epochs=8, random_state=0).fit(
        train, validation=val
    )


def test_learning_curve(model: funkrs.MatrixFactorization) -> None:
    fig = plot.learning_curve(model)
    assert len(fig.axes[0].lines) == 2  # train and validation
    png(fig)
    with pytest.raises(ValueError, match="fitted"):
        plot.learning_curve(funkrs.MatrixFactorization())


def test_spectrum_of_model_matches_dense(model: funkrs.MatrixFactorization) -> None:
    dense = model.user_factors_.astype(np.float64) @ model.item_factors_.T
    want = np.linalg.svd(dense, compute_uv=False)[:6]
    assert np.allclose(plot.spectrum(model), want, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", ["model", "ratings", "matrix", "values"])
def test_singular_values(kind: str, model, data) -> None:
    source = {
        "model": model,
        "ratings": data,
        "matrix": np.random.default_rng(0).normal(size=(20, 8)),
        "values": np.array([5.0, 3.0, 1.0, 0.5]),
    }[kind]
    png(plot.singular_values(source))


def test_singular_values_errors() -> None:
    with pytest.raises(NonFiniteError, match="NaN"):
        plot.singular_values(np.array([[1.0, np.nan], [0.0, 1.0]]))
    for bad in (2, 0, -0.5, math.nan, "0.9", True):
        with pytest.raises(
            InvalidParameterError, match=r"energy must be a finite number in \(0, 1\]"
        ):
            plot.singular_values(np.array([1.0]), energy=bad)
    fig = plot.singular_values(np.array([2.0, 1.0]), energy=np.float32(1.0))
    assert len(fig.axes) == 2


@pytest.mark.parametrize("dims", [2, 3])
def test_latent_map(model: funkrs.MatrixFactorization, dims: int) -> None:
    first = model.items_.ids_array[0]
    fig = plot.latent_map(model, labels={first: "first item"}, dims=dims, n=10)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == 10
    png(fig)
    frame = pl.DataFrame({"id": [first], "title": ["from a frame"]})
    texts = [t.get_text() for t in plot.latent_map(model, labels=frame, ids=[first]).axes[0].texts]
    assert "from a frame" in texts
    users = plot.latent_map(model, kind="users", ids=model.users_.ids_array[:5], labels=str)
    assert len(users.axes[0].texts) == 5
    with pytest.raises(ValueError, match="dims"):
        plot.latent_map(model, dims=4)
    assert len(plot.latent_map(model, dims=np.int64(2), n=np.int32(3)).axes[0].texts) == 3


@pytest.mark.parametrize(
    ("option", "bad"),
    [
        ("kind", "movies"),
        ("kind", None),
        ("dims", 4),
        ("dims", 2.0),
        ("dims", True),
        ("n", 0),
        ("n", 2.5),
        ("n", "10"),
    ],
)
def test_latent_map_bad_options_name_the_option(
    model: funkrs.MatrixFactorization, option: str, bad: Any
) -> None:
    with pytest.raises(InvalidParameterError, match=rf"^{option} must be .*, got {bad!r} \("):
        plot.latent_map(model, **{option: bad})


def test_latent_map_dims_beyond_the_factors(model: funkrs.MatrixFactorization) -> None:
    small = funkrs.MatrixFactorization(n_factors=2, n_epochs=2, random_state=0)
    small.fit(funkrs.datasets.synthetic(30, 20, 300, random_state=0))
    with pytest.raises(InvalidParameterError, match="dims=3 needs at least 3 factors"):
        plot.latent_map(small, dims=3)
    frame = pl.DataFrame({"id": model.items_.ids_array[:1]})
    with pytest.raises(InvalidParameterError, match="labels: a frame needs an id column"):
        plot.latent_map(model, labels=frame)


def test_grid_search_curve(data: funkrs.Ratings) -> None:
    base = funkrs.MatrixFactorization(n_epochs=3, random_state=0)
    grid = {"n_factors": [2, 4, 8], "reg": [0.05, 0.1]}
    search = GridSearch(base, grid, cv=2, random_state=0, refit=False).fit(data)
    fig = plot.grid_search_curve(search, "n_factors")
    assert len(fig.axes[0].get_legend().get_texts()) == 2
    png(fig)
    with pytest.raises(InvalidParameterError, match="param='lr' was not searched"):
        plot.grid_search_curve(search, "lr")
    with pytest.raises(
        InvalidParameterError, match=r"metric='ndcg@5' .*computed metrics: \['rmse'"
    ):
        plot.grid_search_curve(search, "n_factors", metric="ndcg@5")


def test_missing_matplotlib_hint(monkeypatch: pytest.MonkeyPatch, model) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"funkrs\[plot\]"):
        plot.learning_curve(model)
