"""FittedState: the one value a fitted model holds, and the invariants validate() checks."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import funkrs
from funkrs._state import FittedState
from funkrs._vocab import Vocabulary
from funkrs.exceptions import ModelFileError, NotFittedError, RatingsError

SRC = Path(__file__).resolve().parent.parent / "python" / "funkrs"


@pytest.fixture
def state(fitted: funkrs.MatrixFactorization) -> FittedState:
    assert fitted._state is not None
    return fitted._state


def test_a_fitted_state_is_valid_and_backs_the_fitted_attributes(
    fitted: funkrs.MatrixFactorization, state: FittedState
) -> None:
    assert state.validate(ModelFileError) is state
    assert fitted.user_factors_ is state.user_factors
    assert fitted.item_bias_ is state.item_bias
    assert fitted.users_ is state.users
    assert fitted.global_mean_ == state.global_mean
    assert fitted.rating_scale_ == state.rating_scale
    assert fitted.solver_ == state.solver == "funk-sgd"
    assert fitted.n_iter_ == len(state.history) == fitted.history_.height
    assert fitted._seen_indptr is state.seen_indptr
    assert (state.n_users, state.n_items, state.n_factors) == (40, 30, 5)


def _bad(state: FittedState, **changes: Any) -> FittedState:
    return state.replace(**changes)


def _cases(s: FittedState) -> list[tuple[FittedState, str]]:
    p, q, bu = s.user_factors, s.item_factors, s.user_bias
    nan_p = p.copy()
    nan_p[3, 1] = np.nan
    inf_b = bu.copy()
    inf_b[0] = np.inf
    indptr = s.seen_indptr.copy()
    indptr[[2, 3]] = indptr[[3, 2]]
    past = s.seen_indices.copy()
    past[-1] = s.n_items
    unsorted = s.seen_indices.copy()
    r0 = slice(int(s.seen_indptr[0]), int(s.seen_indptr[1]))
    unsorted[r0] = unsorted[r0][::-1]
    huge = q.copy()
    huge[0] = 1e19
    return [
        (_bad(s, user_factors=nan_p), "user_factors holds NaN"),
        (_bad(s, user_bias=inf_b), "user_bias holds NaN or infinite"),
        (_bad(s, item_rank_offset=np.full(s.n_items, np.nan, np.float32)), "item_rank_offset"),
        (_bad(s, user_factors=p[:-1].copy()), r"user_factors has shape \(39, 5\)"),
        (_bad(s, item_factors=q[:, :-1].copy()), r"item_factors has shape \(30, 4\)"),
        (_bad(s, item_bias=s.item_bias[:-1].copy()), "item_bias has shape"),
        (_bad(s, user_factors=p.astype(np.float64)), "user_factors must have dtype float32"),
        (_bad(s, item_factors=np.asfortranarray(q)), "item_factors must be C-contiguous"),
        (_bad(s, user_bias=bu[None, :]), "user_bias must be 1-D"),
        (_bad(s, seen_indptr=indptr), "seen_indptr must be non-decreasing"),
        (_bad(s, seen_indptr=s.seen_indptr[:-1].copy()), "seen_indptr has 40 entries"),
        (_bad(s, seen_indptr=s.seen_indptr.astype(np.int64)), "seen_indptr must be a 1-D uint64"),
        (_bad(s, seen_indices=past), f"seen_indices holds item {s.n_items}, past the"),
        (_bad(s, seen_indices=s.seen_indices[:-1].copy()), "seen_indptr must start at 0 and end"),
        (_bad(s, seen_indices=unsorted), "sorted and distinct within each user's row"),
        (_bad(s, items=Vocabulary.from_sorted(_repeat_first(s.items.ids_array))), "items ids"),
        (_bad(s, users=Vocabulary.from_sorted(s.users.ids_array.astype("S"))), "users ids"),
        (_bad(s, item_factors=huge), "beyond the float32 range"),
        (_bad(s, global_mean=float("nan")), "global_mean"),
        (_bad(s, global_mean="3.5"), "global_mean"),
        (_bad(s, biased=1), "biased"),
        (_bad(s, rating_scale=(5.0, 1.0)), "rating_scale"),
        (_bad(s, best_epoch=-1), "best_epoch"),
        (_bad(s, solver=3), "solver"),
        (_bad(s, history=({"epoch": 1},)), "history row 0 must have the keys"),
        (_bad(s, history=(dict(s.history[0], epoch="one"),)), "history row 0: epoch"),
        (_bad(s, history=(dict(s.history[0], lr=True),)), "history row 0: lr"),
        (_bad(s, solver_info=[1]), "solver_info must be a mapping with string keys"),
        (_bad(s, solver_info={1: 2}), "solver_info must be a mapping with string keys"),
        (_bad(s, solver_info={"x": float("nan")}), "solver_info must hold JSON values"),
        (_bad(s, solver_info={"x": object()}), "solver_info must hold JSON values"),
    ]


def test_validate_names_the_bad_field(state: FittedState) -> None:
    for bad, match in _cases(state):
        with pytest.raises(ModelFileError, match=match):
            bad.validate(ModelFileError)
        with pytest.raises(RatingsError, match=match):  # the caller chooses the class
            bad.validate(RatingsError)


def test_assigning_a_fitted_attribute_replaces_the_state_validated(
    fitted: funkrs.MatrixFactorization,
) -> None:
    before = fitted._state
    fitted.global_mean_ = 3.25
    assert fitted.global_mean_ == 3.25
    assert fitted._state is not before
    assert fitted.predict_one(fitted.users_.ids_array[0], 123456789) == pytest.approx(
        3.25 + float(fitted.user_bias_[0]), rel=1e-6
    )
    kept = fitted._state
    with pytest.raises(RatingsError, match="user_factors holds NaN"):
        fitted.user_factors_ = np.full_like(fitted.user_factors_, np.nan)
    assert fitted._state is kept  # a rejected assignment changes nothing
    with pytest.raises(AttributeError):
        fitted.history_ = None  # type: ignore[misc]
    with pytest.raises(NotFittedError):
        funkrs.MatrixFactorization().global_mean_ = 1.0


def test_unfitted_models_have_no_fitted_attributes() -> None:
    model = funkrs.MatrixFactorization()
    for name in ("user_factors_", "users_", "history_", "n_iter_", "solver_", "_seen_indptr"):
        assert not hasattr(model, name), name
    with pytest.raises(NotFittedError, match="not fitted"):
        _ = model.item_rank_offset_


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_persistence_and_the_state_do_not_import_the_estimator() -> None:
    persistence = _imports(SRC / "persistence.py")
    assert "funkrs.model" not in persistence
    assert "funkrs.__version__" not in persistence  # the version comes from funkrs._funkrs
    modules = {m.split(".")[1] for m in _imports(SRC / "_state.py") if m.startswith("funkrs.")}
    assert modules <= {"_vocab", "exceptions"}  # a leaf: numpy, the vocabulary, the errors


def test_solver_info_is_a_read_only_view(fitted: funkrs.MatrixFactorization) -> None:
    model = funkrs.MatrixFactorization(
        solver="imputed-svd", n_factors=3, solver_options={"path": "implicit"}
    ).fit(funkrs.testing.low_rank_ratings())
    info = model.solver_info_
    assert info["path"] == "implicit"
    assert info["converged"] is True
    with pytest.raises(TypeError):
        info["path"] = "dense"  # type: ignore[index]
    # funk-sgd reports the units it trained in (partial_fit reuses them).
    assert set(fitted.solver_info_) == {"center", "scale"}


def _repeat_first(ids: np.ndarray) -> np.ndarray:
    """``ids`` with the second id replaced by the first (no longer distinct)."""
    out = ids.copy()
    out[1] = out[0]
    return out
