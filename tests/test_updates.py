"""``partial_fit``: growing vocabularies, untouched rows, determinism, persistence, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funkrs
from funkrs.exceptions import InvalidParameterError, ModelFileError

DATA = funkrs.datasets.synthetic(120, 80, 3000, random_state=0)


def _split(data: funkrs.Ratings, cut: float) -> tuple[funkrs.Ratings, funkrs.Ratings]:
    u, i, r = data.raw_users(), data.raw_items(), data.values
    n = int(len(r) * cut)
    a = funkrs.Ratings.from_arrays(u[:n], i[:n], r[:n])
    b = funkrs.Ratings.from_arrays(u[n:], i[n:], r[n:])
    return a, b


def _fitted(data: funkrs.Ratings, **kw: object) -> funkrs.MatrixFactorization:
    params = {"n_factors": 6, "n_epochs": 5, "random_state": 0, **kw}
    return funkrs.MatrixFactorization(**params).fit(data)  # type: ignore[arg-type]


def _bits(model: funkrs.MatrixFactorization) -> list[bytes]:
    st_ = model._fitted()
    return [
        st_.user_factors.tobytes(),
        st_.item_factors.tobytes(),
        st_.user_bias.tobytes(),
        st_.item_bias.tobytes(),
        st_.seen_indptr.tobytes(),
        st_.seen_indices.tobytes(),
        st_.users.ids_array.tobytes(),
        st_.items.ids_array.tobytes(),
    ]


OLD, NEW = _split(DATA, 0.8)


def test_vocabularies_grow_and_old_ids_keep_their_numbers() -> None:
    model = _fitted(OLD)
    before_u, before_i = model.users_.ids_array.copy(), model.items_.ids_array.copy()
    extra = funkrs.Ratings.from_arrays([10_001, 10_001, 10_002], [9_001, 0, 9_001], [5.0, 1, 3])
    model.partial_fit(
        funkrs.Ratings.from_arrays(
            np.concatenate([NEW.raw_users(), extra.raw_users()]),
            np.concatenate([NEW.raw_items(), extra.raw_items()]),
            np.concatenate([NEW.values, extra.values]),
        )
    )
    assert np.array_equal(model.users_.ids_array[: len(before_u)], before_u)
    assert np.array_equal(model.items_.ids_array[: len(before_i)], before_i)
    assert model.users_.ids_array[-2:].tolist() == [10_001, 10_002]
    assert model.items_.ids_array[-1] == 9_001
    # New users and items get factor-based scores, not the baseline.
    assert np.abs(model.user_factors_[-2:]).sum() > 0
    assert np.abs(model.item_factors_[-1]).sum() > 0
    assert 10_001 in model.users_
    assert model.predict_one(10_001, 9_001) > 0
    # The seen index covers the new pairs; history continues.
    recs = model.recommend([10_001], n=200)
    assert 9_001 not in recs["item"].to_list()
    assert 0 not in recs["item"].to_list()
    assert model.n_iter_ == 5 + 5
    assert model.history_["epoch"].to_list() == list(range(1, 11))


def test_rows_that_no_new_rating_touches_keep_their_bits() -> None:
    model = _fitted(OLD)
    p0, q0 = model.user_factors_.copy(), model.item_factors_.copy()
    bu0, bi0 = model.user_bias_.copy(), model.item_bias_.copy()
    inc = funkrs.Ratings.from_arrays(NEW.raw_users()[:20], NEW.raw_items()[:20], NEW.values[:20])
    model.partial_fit(inc)
    touched_u = set(model.users_.numbers(inc.raw_users()).tolist())
    touched_i = set(model.items_.numbers(inc.raw_items()).tolist())
    for rows, old, touched in (
        (model.user_factors_, p0, touched_u),
        (model.item_factors_, q0, touched_i),
        (model.user_bias_, bu0, touched_u),
        (model.item_bias_, bi0, touched_i),
    ):
        keep = np.array([x for x in range(len(old)) if x not in touched])
        assert rows[keep].tobytes() == old[keep].tobytes()
        moved = np.array(sorted(x for x in touched if x < len(old)))
        assert rows[moved].tobytes() != old[moved].tobytes()


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32), st.floats(0.1, 0.9))
def test_partial_fit_only_touches_rows_of_the_increment(seed: int, cut: float) -> None:
    a, b = _split(DATA, cut)
    model = _fitted(a, random_state=seed, n_epochs=2)
    old = model._fitted()
    model.partial_fit(b, n_epochs=2)
    new = model._fitted()
    tu = np.zeros(new.n_users, bool)
    tu[new.users.numbers(b.raw_users())] = True
    ti = np.zeros(new.n_items, bool)
    ti[new.items.numbers(b.raw_items())] = True
    assert new.user_factors[: old.n_users][~tu[: old.n_users]].tobytes() == (
        old.user_factors[~tu[: old.n_users]].tobytes()
    )
    assert new.item_factors[: old.n_items][~ti[: old.n_items]].tobytes() == (
        old.item_factors[~ti[: old.n_items]].tobytes()
    )


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32), st.sampled_from(["funk-sgd"]))
def test_an_empty_increment_is_a_no_op_bit_for_bit(seed: int, solver: str) -> None:
    model = _fitted(OLD, random_state=seed, n_epochs=2)
    before = _bits(model)
    history = model.history_
    # Ratings.from_arrays refuses empty data; an empty increment can still be built.
    none = np.zeros(0, np.uint32)
    empty = funkrs.Ratings(
        none, none, np.zeros(0, np.float32), OLD.user_vocab, OLD.item_vocab, OLD.rating_scale
    )
    model.partial_fit(empty)
    assert _bits(model) == before
    assert model.history_.equals(history)


def test_deterministic_across_thread_counts() -> None:
    outs = []
    for threads in (1, 2):
        model = _fitted(OLD, n_threads=threads)
        model.partial_fit(NEW)
        model.partial_fit(NEW, replay=1.0)
        outs.append(_bits(model))
    assert outs[0] == outs[1]


def test_ctrl_c_leaves_the_model_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _fitted(OLD)
    before = _bits(model)

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(funkrs._funkrs, "sgd_update", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.partial_fit(NEW)
    assert _bits(model) == before
    assert model.n_iter_ == 5


def test_an_update_tracks_a_refit() -> None:
    data = funkrs.datasets.synthetic(300, 200, 20_000, random_state=1)
    a, b = _split(data, 0.7)
    b, test = _split(b, 0.5)
    both = funkrs.Ratings.from_arrays(
        np.concatenate([a.raw_users(), b.raw_users()]),
        np.concatenate([a.raw_items(), b.raw_items()]),
        np.concatenate([a.values, b.values]),
    )
    old = _fitted(a, n_factors=8, n_epochs=20)
    old.partial_fit(b, n_epochs=2)
    rmse_upd = funkrs.evaluate(old, test)["rmse"]
    rmse_refit = funkrs.evaluate(_fitted(both, n_factors=8, n_epochs=20), test)["rmse"]
    # Far from a diverged or baseline-only model: within 0.02 of a refit on the same data.
    assert rmse_upd < rmse_refit + 0.02


def test_persistence_round_trips_after_partial_fit(tmp_path: Path) -> None:
    model = _fitted(OLD)
    model.partial_fit(funkrs.Ratings.from_arrays([77_777], [0], [4.0]))
    path = tmp_path / "m.funkrs"
    model.save(path)
    back = funkrs.load(path)
    assert _bits(back) == _bits(model)
    assert back.history_.equals(model.history_)
    assert dict(back.solver_info_) == dict(model.solver_info_)
    # The loaded model updates exactly as the original does.
    model.partial_fit(NEW)
    back.partial_fit(NEW)
    assert _bits(back) == _bits(model)


def test_a_solver_without_updates_names_the_ones_that_can() -> None:
    model = funkrs.MatrixFactorization(solver="baseline", n_factors=2).fit(OLD)
    with pytest.raises(InvalidParameterError, match="funk-sgd"):
        model.partial_fit(NEW)
    assert funkrs.solvers.capabilities("funk-sgd").supports_update
    assert not funkrs.solvers.capabilities("baseline").supports_update


def test_bad_arguments_are_named() -> None:
    model = _fitted(OLD)
    with pytest.raises(InvalidParameterError, match="replay"):
        model.partial_fit(NEW, replay=-1.0)
    with pytest.raises(InvalidParameterError, match="n_epochs"):
        model.partial_fit(NEW, n_epochs=-1)
    with pytest.raises(InvalidParameterError, match="new_ratings"):
        model.partial_fit([1, 2, 3])  # type: ignore[arg-type]


def test_loading_rejects_tampered_updated_models(tmp_path: Path) -> None:
    model = _fitted(OLD)
    model.partial_fit(NEW)
    path = tmp_path / "m.funkrs"
    model.save(path)
    with np.load(path, allow_pickle=False) as z:
        arrays = {name: z[name] for name in z.files}
    for name, change in (
        ("user_factors", lambda a: a.__setitem__((0, 0), np.nan)),
        ("seen_indices", lambda a: a.__setitem__(0, 10**6)),
        ("item_bias", None),
    ):
        bad = {k: v.copy() for k, v in arrays.items()}
        if change is None:
            bad[name] = bad[name][:-1]
        else:
            change(bad[name])
        target = tmp_path / f"bad_{name}.funkrs"
        with open(target, "wb") as fh:
            np.savez(fh, **bad)
        with pytest.raises(ModelFileError):
            funkrs.load(target)
