"""Reusable test suites for solvers, built-in or third-party.

A plugin author subclasses :class:`SolverContract` in their own pytest suite::

    from funkrs.testing import SolverContract

    class TestMySolver(SolverContract):
        solver = "my-solver"
        solver_options = {"alpha": 0.1}

The contract drives the solver through :class:`~funkrs.MatrixFactorization`, as users do, and
checks what the solver declares (see :mod:`funkrs.solvers`): the declarations themselves,
factor shapes, dtypes and width against ``n_factors``, finite predictions in the rating scale,
unknown users and items, bit-identical factors for a seed at 1, 2 and 4 threads, validation
ratings and the epoch callback accepted exactly when declared, the estimator arguments it
does not take refused, ``solver_info_``, save/load and pickle. A solver that declares
``supports_update`` also has ``partial_fit`` checked: an empty increment changes nothing, bit
for bit; rows that no new rating touches keep their bits (replay off), new users and items
get finite rows; the result is the same at every thread count; and the updated model
round-trips through save/load. One that does not declare it must have ``partial_fit``
refused with an error naming the solvers that can update. Explicit-feedback solvers must
also fit the training ratings better than the global mean and predict held-out ratings of a
generated low-rank set (:func:`funkrs.datasets.synthetic`) no worse than the ``baseline``
solver; implicit-feedback solvers (whose predictions are scores, not ratings) skip those two
and have their top-N lists checked instead. Every check runs on small data in about a second.
"""

from __future__ import annotations

import json
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from funkrs import solvers
from funkrs._ratings import Ratings, train_test_split
from funkrs._state import FittedState
from funkrs.exceptions import InvalidParameterError, SolverNotFoundError, UnknownIdError
from funkrs.model import ROUTED_DEFAULTS, MatrixFactorization, load

__all__ = ["SolverContract", "low_rank_ratings"]


def low_rank_ratings(
    n_users: int = 60, n_items: int = 40, rank: int = 3, density: float = 0.5, seed: int = 0
) -> Ratings:
    """Noiseless low-rank ratings (plus biases) observed at ``density`` of the cells."""
    rng = np.random.default_rng(seed)
    p = rng.normal(0, 0.6, (n_users, rank))
    q = rng.normal(0, 0.6, (n_items, rank))
    full = 3.0 + rng.normal(0, 0.3, (n_users, 1)) + rng.normal(0, 0.3, (1, n_items)) + p @ q.T
    mask = rng.random((n_users, n_items)) < density
    mask[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    mask[rng.integers(0, n_users, n_items), np.arange(n_items)] = True
    users, items = np.nonzero(mask)
    return Ratings.from_arrays(users, items, full[users, items])


def _rmse(model: MatrixFactorization, data: Ratings) -> float:
    pred = model.predict(data.raw_users(), data.raw_items()).astype(np.float64)
    return float(np.sqrt(np.mean((pred - data.values) ** 2)))


def _a_non_default(name: str) -> Any:
    default = ROUTED_DEFAULTS[name]
    if isinstance(default, bool):
        return not default
    return default + 1 if isinstance(default, int) else default * 2


class SolverContract:
    """Checks every solver must pass (see the module documentation).

    Attributes to override
    ----------------------
    solver : str
        Registry name of the solver under test.
    solver_options : dict
        Passed as ``solver_options``.
    params : dict
        Extra estimator parameters (``n_factors``, ``n_epochs``, ...).
    max_rmse_ratio : float
        Training RMSE must be at most this fraction of the global mean's RMSE.
    heldout_tolerance : float
        Held-out RMSE must be at most ``(1 + heldout_tolerance)`` times the ``baseline``
        solver's on the same split.
    thread_counts : tuple of int
        Thread counts that must all give the same factors for a seed.
    """

    solver: ClassVar[str] = ""
    solver_options: ClassVar[dict[str, Any]] = {}
    params: ClassVar[dict[str, Any]] = {}
    max_rmse_ratio: ClassVar[float] = 0.9
    heldout_tolerance: ClassVar[float] = 0.0
    thread_counts: ClassVar[tuple[int, ...]] = (1, 2, 4)

    def make_model(self, **overrides: Any) -> MatrixFactorization:
        """An unfitted estimator for the solver under test."""
        kwargs: dict[str, Any] = {
            "solver": self.solver,
            "solver_options": dict(self.solver_options) or None,
            "n_factors": 4,
            "random_state": 0,
        }
        kwargs.update(self.params)
        kwargs.update(overrides)
        return MatrixFactorization(**kwargs)

    def data(self) -> Ratings:
        """Training data of the contract."""
        return low_rank_ratings()

    def heldout_data(self) -> tuple[Ratings, Ratings]:
        """Training and held-out ratings of a generated low-rank set with noise."""
        from funkrs.datasets import synthetic

        data = synthetic(200, 100, 12000, rank=3, random_state=0)
        return train_test_split(data, test_size=0.2, random_state=0)

    def capabilities(self) -> solvers.Capabilities:
        """The declarations of the solver under test."""
        return solvers.capabilities(self.solver)

    # -- the registry and the declarations --------------------------------------------------
    def test_registered(self) -> None:
        assert self.solver in solvers.available()

    def test_an_unknown_solver_name_is_an_error(self) -> None:
        import pytest

        missing = f"{self.solver}-not-registered"
        with pytest.raises(
            SolverNotFoundError, match=rf"unknown solver '{missing}'.*{self.solver}"
        ):
            solvers.get(missing)
        with pytest.raises(SolverNotFoundError, match="available solvers"):
            self.make_model(solver=missing).fit(self.data())

    def test_declares_the_current_protocol(self) -> None:
        caps = self.capabilities()
        assert caps.protocol_version == solvers.PROTOCOL_VERSION
        assert caps.feedback in ("explicit", "implicit")
        assert caps.estimator_params <= set(solvers.ESTIMATOR_PARAMS)

    # -- what fit returns -------------------------------------------------------------------
    def test_factor_shapes_and_dtypes(self) -> None:
        data = self.data()
        model = self.make_model().fit(data)
        k = model.user_factors_.shape[1]
        n_factors = model.n_factors
        assert k <= n_factors if self.capabilities().rank_limited else k == n_factors
        assert model.user_factors_.shape == (data.n_users, k)
        assert model.item_factors_.shape == (data.n_items, k)
        assert model.user_bias_.shape == (data.n_users,)
        assert model.item_bias_.shape == (data.n_items,)
        for arr in (model.user_factors_, model.item_factors_, model.user_bias_, model.item_bias_):
            assert arr.dtype == np.float32
            assert np.isfinite(arr).all()
        assert np.isfinite(model.global_mean_)

    def test_predictions_are_finite_and_in_scale(self) -> None:
        data = self.data()
        model = self.make_model().fit(data)
        pred = model.predict(data.raw_users(), data.raw_items())
        lo, hi = data.rating_scale
        assert pred.dtype == np.float32
        assert pred.shape == (len(data),)
        assert np.isfinite(pred).all()
        assert pred.min() >= lo
        assert pred.max() <= hi

    def test_unknown_users_and_items(self) -> None:
        import pytest

        data = self.data()
        model = self.make_model(clip=False).fit(data)
        user, item = data.raw_users()[0], data.raw_items()[0]
        new_user, new_item = data.raw_users().max() + 1, data.raw_items().max() + 1
        pred = model.predict([new_user, user, new_user], [item, new_item, new_item])
        u, i = model.users_.numbers([user]), model.items_.numbers([item])
        mu = model.global_mean_
        want = [mu + model.item_bias_[i[0]], mu + model.user_bias_[u[0]], mu]
        np.testing.assert_allclose(pred, want, rtol=1e-6, atol=1e-6)
        assert np.isnan(model.predict([new_user], [item], unknown="nan")).all()
        with pytest.raises(UnknownIdError, match="not seen in training"):
            model.predict([user], [new_item], unknown="error")

    def test_same_seed_same_model(self) -> None:
        data = self.data()
        a = self.make_model(random_state=7).fit(data)
        b = self.make_model(random_state=7).fit(data)
        np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
        np.testing.assert_array_equal(a.item_factors_, b.item_factors_)
        np.testing.assert_array_equal(a.item_bias_, b.item_bias_)

    def test_same_factors_at_any_thread_count(self) -> None:
        data = self.data()
        first, *rest = (self.make_model(n_threads=n).fit(data) for n in self.thread_counts)
        for other in rest:
            np.testing.assert_array_equal(other.user_factors_, first.user_factors_)
            np.testing.assert_array_equal(other.item_factors_, first.item_factors_)
            np.testing.assert_array_equal(other.user_bias_, first.user_bias_)
            np.testing.assert_array_equal(other.item_bias_, first.item_bias_)
            assert other.global_mean_ == first.global_mean_

    # -- accuracy (explicit feedback) and lists (implicit feedback) -------------------------
    def _needs_explicit(self) -> None:
        import pytest

        if self.capabilities().feedback != "explicit":
            pytest.skip(f"{self.solver} is an implicit-feedback model: RMSE is not its purpose")

    def test_fits_better_than_the_global_mean(self) -> None:
        self._needs_explicit()
        data = self.data()
        err = _rmse(self.make_model().fit(data), data)
        base = float(np.sqrt(np.mean((data.values - data.values.mean()) ** 2)))
        assert err <= self.max_rmse_ratio * base, f"train RMSE {err:.4f} vs baseline {base:.4f}"

    def test_held_out_rmse_is_no_worse_than_the_bias_baseline(self) -> None:
        import pytest

        self._needs_explicit()
        data = self.data()
        if len(data) == data.n_users * data.n_items:
            pytest.skip("the contract data are fully observed; held-out ratings leave cells out")
        train, test = self.heldout_data()
        model = self.make_model()
        if model._make_solver().fit(train, solvers.SolverParams(model.n_factors)).ranking:
            pytest.skip(f"these {self.solver} factors are trained to rank, not to predict ratings")
        err = _rmse(model.fit(train), test)
        base = _rmse(MatrixFactorization(solver="baseline").fit(train), test)
        limit = base * (1 + self.heldout_tolerance)
        assert err <= limit, f"held-out RMSE {err:.4f}, baseline solver {base:.4f}"

    def test_recommends_unseen_items_in_rank_order(self) -> None:
        data = self.data()
        model = self.make_model().fit(data)
        users = np.unique(data.raw_users()[:5])
        seen = set(zip(data.raw_users().tolist(), data.raw_items().tolist(), strict=True))
        for exclude in (True, False):
            recs = model.recommend(users=users, n=5, exclude_seen=exclude)
            for user in users.tolist():
                group = recs.filter(recs["user"] == user)
                unseen = data.n_items - sum(1 for u, _ in seen if u == user)
                assert group.height == min(5, unseen if exclude else data.n_items)
                assert group["rank"].to_list() == list(range(1, group.height + 1))
                assert (np.diff(group["score"].to_numpy()) <= 0).all()
                if exclude:
                    assert not any((user, item) in seen for item in group["item"].to_list())

    # -- declared capabilities, enforced by the estimator -----------------------------------
    def test_validation_ratings_are_taken_exactly_when_declared(self) -> None:
        import pytest

        train, test = self.heldout_data()
        model = self.make_model()
        if self.capabilities().supports_validation:
            model.fit(train, validation=test)
            scores = model.history_["validation_rmse"].drop_nulls()
            assert scores.len() > 0
            assert np.isfinite(scores.to_numpy()).all()
        else:
            refused = rf"validation: solver '{re.escape(self.solver)}'"
            with pytest.raises(InvalidParameterError, match=refused):
                model.fit(train, validation=test)

    def test_the_callback_is_called_exactly_when_declared(self) -> None:
        import pytest

        data = self.data()
        calls: list[dict[str, Any]] = []
        model = self.make_model().fit(data, callback=calls.append)
        if not self.capabilities().supports_callback:
            assert calls == []
            return
        assert len(calls) == model.n_iter_
        assert all(isinstance(row.get("epoch"), int) for row in calls)
        if calls:
            with pytest.raises(KeyboardInterrupt):
                self.make_model().fit(data, callback=lambda row: False)

    def test_estimator_arguments_it_does_not_take_are_refused(self) -> None:
        import pytest

        data = self.data()
        for name in sorted(set(solvers.ESTIMATOR_PARAMS) - self.capabilities().estimator_params):
            value = _a_non_default(name)
            refused = rf"{name}=.*'{re.escape(self.solver)}' does not take {name}"
            with pytest.raises(InvalidParameterError, match=refused):
                self.make_model(**{name: value}).fit(data)

    # -- solver_info_ and persistence -------------------------------------------------------
    def test_solver_info_is_json_and_kept_by_save_and_pickle(self, tmp_path: Path) -> None:
        data = self.data()
        model = self.make_model().fit(data)
        info = model.solver_info_
        assert isinstance(info, Mapping)
        assert json.loads(json.dumps(dict(info), allow_nan=False)) == dict(info)
        model.save(tmp_path / "m.funkrs")
        for back in (load(tmp_path / "m.funkrs"), pickle.loads(pickle.dumps(model))):
            assert dict(back.solver_info_) == dict(info)

    def test_save_load_and_pickle_round_trip(self, tmp_path: Path) -> None:
        data = self.data()
        model = self.make_model().fit(data)
        model.save(tmp_path / "m.funkrs")
        for back in (load(tmp_path / "m.funkrs"), pickle.loads(pickle.dumps(model))):
            np.testing.assert_array_equal(back.user_factors_, model.user_factors_)
            np.testing.assert_array_equal(back.item_factors_, model.item_factors_)
            np.testing.assert_array_equal(
                back.predict(data.raw_users(), data.raw_items()),
                model.predict(data.raw_users(), data.raw_items()),
            )

    # -- partial_fit (solvers that declare supports_update) ---------------------------------
    def update_data(self) -> tuple[Ratings, Ratings]:
        """A fit set and an increment: a few ratings held back, plus a new user and item."""
        data = self.data()
        order = np.random.default_rng(0).permutation(len(data))
        keep, held = np.sort(order[:-12]), np.sort(order[-12:])
        u, i, r = data.raw_users(), data.raw_items(), data.values
        new_user, new_item = u.max() + 1, i.max() + 1
        lo, hi = data.rating_scale
        inc_u = np.concatenate([u[held], [new_user, new_user, u[0]]])
        inc_i = np.concatenate([i[held], [i[0], new_item, new_item]])
        inc_r = np.concatenate([r[held], [hi, lo, (lo + hi) / 2]])
        return (
            Ratings.from_arrays(u[keep], i[keep], r[keep]),
            Ratings.from_arrays(inc_u, inc_i, inc_r),
        )

    def _needs_update(self) -> None:
        import pytest

        if not self.capabilities().supports_update:
            pytest.skip(f"{self.solver} does not declare supports_update")

    @staticmethod
    def _state_bits(state: FittedState) -> list[bytes]:
        return [
            arr.tobytes()
            for arr in (
                state.user_factors,
                state.item_factors,
                state.user_bias,
                state.item_bias,
                state.seen_indptr,
                state.seen_indices,
                state.item_rank_offset,
            )
        ]

    def test_partial_fit_is_refused_unless_declared(self) -> None:
        import pytest

        if self.capabilities().supports_update:
            return
        _, new = self.update_data()
        model = self.make_model().fit(self.data())
        before = model._fitted()
        with pytest.raises(InvalidParameterError, match="cannot update a fitted model"):
            model.partial_fit(new)
        assert model._fitted() is before

    def test_an_empty_increment_is_a_no_op_bit_for_bit(self) -> None:
        self._needs_update()
        old, _ = self.update_data()
        model = self.make_model().fit(old)
        before = self._state_bits(model._fitted())
        history = model.history_
        none = np.zeros(0, np.uint32)
        empty = Ratings(
            none, none, np.zeros(0, np.float32), old.user_vocab, old.item_vocab, old.rating_scale
        )
        model.partial_fit(empty)
        assert self._state_bits(model._fitted()) == before
        assert model.history_.equals(history)

    def test_partial_fit_changes_only_the_rows_it_touches(self) -> None:
        self._needs_update()
        old, new = self.update_data()
        model = self.make_model().fit(old)
        was = model._fitted()
        model.partial_fit(new)
        now = model._fitted()
        assert now.n_users == was.n_users + 1
        assert now.n_items == was.n_items + 1
        assert now.users.ids_array[: was.n_users].tolist() == was.users.ids_array.tolist()
        assert now.items.ids_array[: was.n_items].tolist() == was.items.ids_array.tolist()
        for what, vocab, n_old, rows in (
            ("user", now.users, was.n_users, (now.user_factors, now.user_bias)),
            ("item", now.items, was.n_items, (now.item_factors, now.item_bias)),
        ):
            ids = new.raw_users() if what == "user" else new.raw_items()
            touched = np.zeros(len(vocab), bool)
            touched[vocab.numbers(ids)] = True
            old_rows = (
                (was.user_factors, was.user_bias)
                if what == "user"
                else (was.item_factors, was.item_bias)
            )
            for arr, before in zip(rows, old_rows, strict=True):
                keep = ~touched[:n_old]
                assert arr[:n_old][keep].tobytes() == before[keep].tobytes(), (
                    f"{what} rows that no new rating touches changed"
                )
                assert np.isfinite(arr[n_old:]).all()

    def test_partial_fit_is_the_same_at_any_thread_count(self) -> None:
        self._needs_update()
        old, new = self.update_data()
        outs = []
        for n in self.thread_counts:
            model = self.make_model(n_threads=n).fit(old)
            model.partial_fit(new)
            outs.append(self._state_bits(model._fitted()))
        assert all(out == outs[0] for out in outs[1:])

    def test_an_updated_model_round_trips(self, tmp_path: Path) -> None:
        self._needs_update()
        old, new = self.update_data()
        model = self.make_model().fit(old)
        model.partial_fit(new)
        model.save(tmp_path / "m.funkrs")
        back = load(tmp_path / "m.funkrs")
        assert self._state_bits(back._fitted()) == self._state_bits(model._fitted())
