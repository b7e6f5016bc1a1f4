from __future__ import annotations

import dataclasses
import hashlib
import math
from typing import Any

import numpy as np
import pytest

import funkrs
from funkrs.datasets import Shape, shapes, synthetic
from funkrs.exceptions import FunkrsError, InvalidParameterError


def digest(r: funkrs.Ratings) -> str:
    m = hashlib.sha256()
    for a in (r.raw_users(), r.raw_items(), r.values):
        a = np.ascontiguousarray(a)
        m.update(str(a.dtype).encode())
        m.update(a.tobytes())
    m.update(repr(r.rating_scale).encode())
    return m.hexdigest()


# Digests of synthetic(...) taken before rating_scale and step existed: the default
# arguments must keep giving the same ratings bit for bit.
BEFORE = [
    ((200, 100, 4000), {}, "b3fc9040e96696ee9fb96449ad34624fad3f78f8513aa60136047c839b5465f5"),
    (
        (300, 120, 9000),
        {"rank": 4, "noise": 0.2, "random_state": 2},
        "52de36f1ee4e1ebcf3d8e525e54c6de896bb3bf471fa8eab146ee01e11b1dceb",
    ),
    (
        (3000, 6000, 200_000),
        {},
        "2bce5e8551074d8137968bf94008f2c5ed01175b3331cfdf8022f01c8c712ba3",
    ),
    (
        (50, 40, 1500),
        {"popularity": 0.0, "activity": 0.0, "random_state": 7},
        "eb9bca232282ad334452d4bae0a3112308a0c817f8d3d31b33391f8bcc05cb72",
    ),
    (
        (80, 60, 2500),
        {"random_state": 3},
        "bee940927f7ab4f1da101a0f8f4a0692ed8b58dca54a47e6a0d7bb93fe7d2c54",
    ),
]


@pytest.mark.parametrize(("args", "kwargs", "expected"), BEFORE)
def test_default_output_unchanged(args: Any, kwargs: Any, expected: str) -> None:
    assert digest(synthetic(*args, **kwargs)) == expected
    explicit = synthetic(*args, **kwargs, rating_scale=(0.5, 5.0), step=0.5)
    assert digest(explicit) == expected


@pytest.fixture(scope="module")
def made() -> dict[str, funkrs.Ratings]:
    return {name: s.make(0) for name, s in shapes().items()}


def on_grid(values: np.ndarray, lo: float, step: float) -> bool:
    k = (values.astype(np.float64) - lo) / step
    return bool(np.allclose(k, np.round(k), atol=1e-6, rtol=0))


@pytest.mark.parametrize(
    ("scale", "step"),
    [((1, 5), 1), ((1.0, 10.0), 1.0), ((-10, 10), None), ((0, 100), 1), ((0.5, 5), 0.5)],
)
def test_scale_bounds_and_step(scale: tuple[float, float], step: float | None) -> None:
    r = synthetic(400, 300, 20_000, rating_scale=scale, step=step, random_state=1)
    lo, hi = float(scale[0]), float(scale[1])
    assert r.rating_scale == (lo, hi)
    assert r.values.dtype == np.float32
    assert r.values.min() >= lo
    assert r.values.max() <= hi
    if step is None:
        assert len(np.unique(r.values)) > len(r.values) // 2
    else:
        assert on_grid(r.values, lo, step)
        levels = round((hi - lo) / step) + 1
        # Most levels are used, the ends included (the latent spread reaches both).
        assert len(np.unique(r.values)) >= min(levels, 8)


def test_mapping_is_affine_and_rounding_is_from_low() -> None:
    args = (300, 200, 15_000)
    star = synthetic(*args, step=None, random_state=4)
    wide = synthetic(*args, rating_scale=(-10, 10), step=None, random_state=4)
    np.testing.assert_array_equal(star.raw_users(), wide.raw_users())
    np.testing.assert_array_equal(star.raw_items(), wide.raw_items())
    inside = (star.values > 0.5) & (star.values < 5.0)
    assert inside.mean() > 0.8
    expected = -10.0 + (star.values[inside].astype(np.float64) - 0.5) * (20.0 / 4.5)
    np.testing.assert_allclose(wide.values[inside], expected, rtol=0, atol=1e-4)
    # Clipped values stay at the ends.
    assert np.all(wide.values[star.values <= 0.5] == -10.0)
    assert np.all(wide.values[star.values >= 5.0] == 10.0)

    # Rounding the continuous ratings to the grid from low gives the stepped ones.
    stepped = synthetic(*args, rating_scale=(-10, 10), step=2.5, random_state=4)
    grid = np.clip(-10.0 + 2.5 * np.round((wide.values.astype(np.float64) + 10.0) / 2.5), -10, 10)
    assert np.mean(stepped.values == grid) > 0.999
    assert on_grid(stepped.values, -10.0, 2.5)

    # Half stars: the default equals rounding the continuous ratings.
    halves = synthetic(*args, random_state=4)
    assert np.mean(halves.values == np.clip(np.round(star.values * 2) / 2, 0.5, 5)) > 0.999


def test_determinism(made: dict[str, funkrs.Ratings]) -> None:
    kw: dict[str, Any] = {"rating_scale": (1, 10), "step": 1}
    a = synthetic(500, 300, 10_000, random_state=5, **kw)
    b = synthetic(500, 300, 10_000, random_state=5, **kw)
    c = synthetic(500, 300, 10_000, random_state=6, **kw)
    assert digest(a) == digest(b)
    assert digest(a) != digest(c)
    s = shapes()["jester-dense"]
    assert digest(s.make(0)) == digest(made["jester-dense"])
    assert digest(s.make(1)) != digest(made["jester-dense"])


def test_suite_spans_scales_and_densities() -> None:
    suite = shapes()
    assert len(suite) >= 8
    assert list(suite) == [s.name for s in suite.values()]
    assert list(suite) == list(shapes())  # a fixed order
    assert suite is not shapes()
    scales = {(s.rating_scale, s.step) for s in suite.values()}
    for scale in [
        ((0.5, 5.0), 0.5),
        ((1.0, 5.0), 1.0),
        ((1.0, 10.0), 1.0),
        ((-10.0, 10.0), None),
        ((0.0, 100.0), 1.0),
    ]:
        assert scale in scales
    assert {s.density for s in suite.values()} == {"sparse", "medium", "dense"}
    jester = suite["jester-dense"]
    assert (jester.rating_scale, jester.step, jester.density) == ((-10.0, 10.0), None, "dense")
    assert len({(s.noise, s.rank) for s in suite.values()}) >= 5
    assert all(s.description for s in suite.values())


BANDS = {"sparse": (0.0, 0.05), "medium": (0.10, 0.20), "dense": (0.50, 1.0)}


@pytest.mark.parametrize("name", list(shapes()))
def test_shape_density_band(name: str, made: dict[str, funkrs.Ratings]) -> None:
    s = shapes()[name]
    r = made[name]
    density = len(r) / (s.n_users * s.n_items)
    lo, hi = BANDS[s.density]
    assert lo < density < hi, f"{name}: {density:.3f} of cells, not {s.density}"
    if s.density == "dense":
        assert s.n_items == 100
    assert len(r) <= 1_300_000
    assert r.rating_scale == s.rating_scale
    assert r.values.min() >= s.rating_scale[0]
    assert r.values.max() <= s.rating_scale[1]
    if s.step is not None:
        assert on_grid(r.values, s.rating_scale[0], s.step)


@pytest.mark.parametrize(
    ("name", "skew"), [("stars-sparse", 3.0), ("ten-medium", 3.0), ("percent-dense", 1.3)]
)
def test_popular_items_are_the_held_out_ones(
    name: str, skew: float, made: dict[str, funkrs.Ratings]
) -> None:
    train, test = funkrs.train_test_split(made[name], test_size=0.2, random_state=0)
    n = shapes()[name].n_items
    tr = np.bincount(train.raw_items(), minlength=n)
    te = np.bincount(test.raw_items(), minlength=n)
    assert np.corrcoef(tr, te)[0, 1] > 0.8
    assert tr.max() > skew * np.median(tr)  # a skewed, power-law popularity


def test_shape_make_is_synthetic() -> None:
    s = shapes()["five-medium"]
    direct = synthetic(
        s.n_users,
        s.n_items,
        s.n_ratings,
        rank=s.rank,
        noise=s.noise,
        popularity=s.popularity,
        activity=s.activity,
        random_state=2,
        rating_scale=s.rating_scale,
        step=s.step,
        selection=s.selection,
    )
    assert digest(s.make(random_state=2)) == digest(direct)
    assert digest(s.make()) == digest(s.make(0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.noise = 1.0  # type: ignore[misc]
    assert isinstance(s, Shape)


def test_exports() -> None:
    assert "shapes" in funkrs.datasets.__all__
    assert "Shape" in funkrs.datasets.__all__


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"step": 0}, "step"),
        ({"step": -0.5}, "step"),
        ({"step": math.nan}, "step"),
        ({"step": math.inf}, "step"),
        ({"step": "1"}, "step"),
        ({"step": True}, "step"),
        ({"step": 0.3, "rating_scale": (1, 5)}, "step"),
        ({"rating_scale": (5, 1)}, "rating_scale"),
        ({"rating_scale": (1, 1)}, "rating_scale"),
        ({"rating_scale": (0, math.inf)}, "rating_scale"),
        ({"rating_scale": (math.nan, 5)}, "rating_scale"),
        ({"rating_scale": (1,)}, "rating_scale"),
        ({"rating_scale": 5}, "rating_scale"),
        ({"rating_scale": ("a", "b")}, "rating_scale"),
        ({"noise": -0.1}, "noise"),
        ({"noise": math.nan}, "noise"),
        ({"popularity": math.inf}, "popularity"),
        ({"activity": -1.0}, "activity"),
        ({"rank": 0}, "rank"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidParameterError, match=param) as info:
        synthetic(50, 40, 500, **kwargs)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, FunkrsError)
    assert repr(kwargs[param]) in str(info.value)


@pytest.mark.parametrize("param", ["n_users", "n_items", "n_ratings"])
def test_bad_sizes(param: str) -> None:
    sizes = {"n_users": 50, "n_items": 40, "n_ratings": 500}
    sizes[param] = 0
    with pytest.raises(InvalidParameterError, match=f"{param} must be a positive integer, got 0"):
        synthetic(sizes["n_users"], sizes["n_items"], sizes["n_ratings"])


def test_self_selection_makes_well_liked_items_the_often_rated_ones() -> None:
    def popularity_rating_correlation(r: funkrs.Ratings) -> float:
        n = np.bincount(r.items, minlength=r.n_items).astype(float)
        total = np.bincount(r.items, weights=r.values, minlength=r.n_items)
        ok = n > 5
        return float(np.corrcoef(np.log(n[ok]), total[ok] / n[ok])[0, 1])

    mcar = synthetic(2000, 3000, 100_000, random_state=1)
    mnar = synthetic(2000, 3000, 100_000, random_state=1, selection=1.0)
    assert abs(len(mnar) - len(mcar)) < 0.1 * len(mcar)
    assert mnar.values.mean() > mcar.values.mean() + 0.3
    assert popularity_rating_correlation(mnar) > popularity_rating_correlation(mcar) + 0.15


@pytest.mark.parametrize("bad", [-0.5, float("nan"), "high"])
def test_bad_selection_names_it(bad) -> None:
    with pytest.raises(InvalidParameterError, match="selection"):
        synthetic(50, 40, 500, selection=bad)


@pytest.mark.parametrize("bad", [1, 0, 2.5, "16"])
def test_bad_pool_names_it(bad) -> None:
    with pytest.raises(InvalidParameterError, match="pool"):
        synthetic(50, 40, 500, selection=1.0, pool=bad)


def test_a_larger_pool_lets_taste_decide_what_is_rated() -> None:
    # With one pair kept in 16 instead of 1 in 2, the kept ratings are the better-liked
    # ones, and popularity explains less of who rated what: a most-rated list recalls less.
    def most_rated_share(r: funkrs.Ratings) -> float:
        counts = np.bincount(r.items, minlength=r.n_items)
        top = np.argsort(-counts)[: r.n_items // 20]
        return float(np.isin(r.items, top).mean())

    two = synthetic(2000, 3000, 100_000, random_state=1, selection=2.0)
    sixteen = synthetic(2000, 3000, 100_000, random_state=1, selection=2.0, pool=16)
    again = synthetic(2000, 3000, 100_000, random_state=1, selection=2.0, pool=2)
    np.testing.assert_array_equal(again.values, two.values)  # pool=2 is the default
    assert sixteen.values.mean() > two.values.mean() + 0.2
    assert most_rated_share(sixteen) < most_rated_share(two) - 0.05


def test_choice_shapes_are_the_sparse_and_medium_shapes_with_a_large_pool() -> None:
    choice = funkrs.datasets.choice_shapes()
    plain = shapes()
    assert "choice_shapes" in funkrs.datasets.__all__
    assert list(choice) == [f"{n}-choice" for n, s in plain.items() if s.density != "dense"]
    for name, s in choice.items():
        base = plain[name.removesuffix("-choice")]
        assert dataclasses.replace(s, name=base.name, pool=2, selection=base.selection) == base
        assert (s.pool, s.selection) == (16, 2.0)
