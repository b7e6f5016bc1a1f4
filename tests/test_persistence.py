from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

import funkrs
import funkrs.model
import funkrs.persistence
from funkrs.exceptions import InvalidParameterError, ModelFileError
from funkrs.persistence import FORMAT_VERSION


def _same(a: funkrs.MatrixFactorization, b: funkrs.MatrixFactorization) -> None:
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)
    assert a.global_mean_ == b.global_mean_
    assert a.users_ == b.users_
    assert a.items_ == b.items_
    assert a.get_params() == b.get_params()
    assert a.rating_scale_ == b.rating_scale_
    assert a.history_.equals(b.history_)


def test_save_load_is_bit_exact(fitted: funkrs.MatrixFactorization, small, tmp_path: Path) -> None:
    path = tmp_path / "model.funkrs"
    fitted.save(path)
    assert path.exists()
    assert not list(tmp_path.glob("*.tmp"))
    back = funkrs.load(path)
    _same(fitted, back)
    np.testing.assert_array_equal(
        back.predict(small.raw_users(), small.raw_items()),
        fitted.predict(small.raw_users(), small.raw_items()),
    )
    assert back.recommend(n=3).equals(fitted.recommend(n=3))
    with np.load(path, allow_pickle=False) as npz:  # the documented format needs no pickle
        assert "meta" in npz.files


def test_pickle_round_trip(fitted: funkrs.MatrixFactorization) -> None:
    _same(fitted, pickle.loads(pickle.dumps(fitted)))


def test_foreign_truncated_and_corrupted_files(fitted, tmp_path: Path) -> None:
    good = tmp_path / "m.funkrs"
    fitted.save(good)
    data = good.read_bytes()
    cases = {
        "text.funkrs": b"hello, not a model",
        "truncated.funkrs": data[: len(data) // 2],
        "flipped.funkrs": data[:100] + bytes(b ^ 0xFF for b in data[100:400]) + data[400:],
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ModelFileError):
            funkrs.load(tmp_path / name)
    np.savez(tmp_path / "other.npz", x=np.arange(3))
    with pytest.raises(ModelFileError, match="not a funkrs model"):
        funkrs.load(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError):
        funkrs.load(tmp_path / "missing.funkrs")


def test_missing_array_is_reported(fitted, tmp_path: Path) -> None:
    good = tmp_path / "m.funkrs"
    fitted.save(good)
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(tmp_path / "cut.funkrs", "w") as dst:
        for info in src.infolist():
            if info.filename != "item_bias.npy":
                dst.writestr(info, src.read(info))
    with pytest.raises(ModelFileError, match="item_bias"):
        funkrs.load(tmp_path / "cut.funkrs")


def test_a_failed_save_leaves_nothing_behind(fitted, tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "m.funkrs"
    target.write_bytes(b"previous content")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", fail)
    with pytest.raises(OSError, match="disk full"):
        fitted.save(target)
    assert target.read_bytes() == b"previous content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.funkrs"]


def test_unsaveable_params_fail_before_writing(fitted, tmp_path: Path) -> None:
    fitted.solver_options = {"weird": object()}
    with pytest.raises(InvalidParameterError, match=r"parameter solver_options = .* JSON"):
        fitted.save(tmp_path / "m.funkrs")
    assert not list(tmp_path.iterdir())
    fitted.solver_options = {"init_mean": float("nan")}
    with pytest.raises(InvalidParameterError, match=r"parameter solver_options = .*nan.* JSON"):
        fitted.save(tmp_path / "m.funkrs")
    assert not list(tmp_path.iterdir())


def test_params_set_to_bad_values_after_fit_fail_before_writing(fitted, tmp_path: Path) -> None:
    for name, value in [("lr", -1.0), ("n_factors", 2.5), ("unknown", "zero"), ("clip", 1)]:
        model = funkrs._base.clone(fitted)
        model._state = fitted._state
        model.set_params(**{name: value})
        with pytest.raises(InvalidParameterError, match=rf"^{name} must be"):
            model.save(tmp_path / "m.funkrs")
    assert not list(tmp_path.iterdir())


def test_a_bare_npy_file_is_not_a_model(tmp_path: Path) -> None:
    with open(tmp_path / "x.npy", "wb") as fh:
        np.save(fh, np.arange(4))
    with pytest.raises(ModelFileError, match="bare"):
        funkrs.load(tmp_path / "x.npy")


def test_round_trip_keeps_the_whole_state(fitted, tmp_path: Path) -> None:
    path = tmp_path / "m.funkrs"
    fitted.save(path)
    for back in (
        funkrs.load(path),
        funkrs.MatrixFactorization.load(path),
        funkrs.model.load(path),
        funkrs.persistence.load(path),
    ):
        assert isinstance(back, funkrs.MatrixFactorization)
        a, b = fitted._state, back._state
        assert a is not None
        assert b is not None
        for name in ("seen_indptr", "seen_indices", "item_rank_offset", "user_factors"):
            x, y = getattr(a, name), getattr(b, name)
            assert x.dtype == y.dtype, name
            np.testing.assert_array_equal(x, y)
        assert (b.best_epoch, b.solver, b.history) == (a.best_epoch, a.solver, a.history)
        assert back.n_iter_ == fitted.n_iter_


def _npy(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def _rewrite(src: Path, dst: Path, **members: np.ndarray | bytes | None) -> Path:
    """A copy of the model file ``src`` with members replaced (None: removed)."""
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst, "w") as b:
        for info in a.infolist():
            key = info.filename.removesuffix(".npy")
            if key not in members:
                b.writestr(info, a.read(info))
            elif (value := members[key]) is not None:
                b.writestr(info.filename, _npy(value) if isinstance(value, np.ndarray) else value)
    return dst


def _meta(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as npz:
        return json.loads(npz["meta"].tobytes())


def _with_meta(src: Path, dst: Path, meta: dict) -> Path:
    text = json.dumps(meta, allow_nan=True).encode("utf-8")
    return _rewrite(src, dst, meta=np.frombuffer(text, dtype=np.uint8))


@pytest.fixture
def saved(fitted, tmp_path: Path) -> Path:
    path = tmp_path / "good.funkrs"
    fitted.save(path)
    return path


def test_load_rejects_damaged_arrays_naming_the_field(saved: Path, tmp_path: Path) -> None:
    with np.load(saved, allow_pickle=False) as npz:
        arr = {name: npz[name] for name in npz.files}
    nan_p = arr["user_factors"].copy()
    nan_p[0, 0] = np.nan
    inf_b = arr["item_bias"].copy()
    inf_b[-1] = -np.inf
    past = arr["seen_indices"].copy()
    past[0] = len(arr["item_ids"])
    falling = arr["seen_indptr"].copy()
    falling[[1, 2]] = falling[[2, 1]] if falling[2] != falling[1] else (falling[2] + 1, 0)
    cases = [
        ({"user_factors": nan_p}, "user_factors holds NaN"),
        ({"item_bias": inf_b}, "item_bias holds NaN or infinite"),
        ({"seen_indices": past}, "seen_indices holds item 30, past the 30 items"),
        ({"seen_indptr": falling}, "seen_indptr must be non-decreasing"),
        ({"user_factors": arr["user_factors"][:-1]}, r"user_factors has shape \(39, 5\)"),
        ({"item_factors": arr["item_factors"][:, :3]}, r"item_factors has shape \(30, 3\)"),
        ({"user_ids": arr["user_ids"][:-1]}, r"user_factors has shape \(40, 5\), expected \(39"),
        ({"user_bias": arr["user_bias"].astype(np.float64)}, "user_bias must have dtype float32"),
        ({"seen_indices": arr["seen_indices"].astype(np.int64)}, "seen_indices must be a 1-D"),
        (
            {"item_ids": np.repeat(arr["item_ids"][:1], len(arr["item_ids"]))},
            "items ids must be distinct",
        ),
        ({"item_ids": arr["item_ids"].astype(np.float64)}, "items ids must be int64 or unicode"),
        ({"item_rank_offset": arr["item_rank_offset"][:2]}, "item_rank_offset has shape"),
        ({"seen_indptr": None}, r"lacks the arrays \['seen_indptr'\]"),
        ({"user_factors": None, "item_ids": None}, r"\['user_factors', 'item_ids'\]"),
        ({"item_bias": _npy(np.array([{}], dtype=object), True)}, "Python objects"),
        ({"user_bias": b"not an npy member"}, "not a readable funkrs model"),
    ]
    for j, (members, match) in enumerate(cases):
        bad = _rewrite(saved, tmp_path / f"bad{j}.funkrs", **members)
        with pytest.raises(ModelFileError, match=match):
            funkrs.load(bad)


def test_an_npy_header_claiming_more_data_is_rejected_before_allocating(
    saved: Path, tmp_path: Path
) -> None:
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 5), }"
    member = b"\x93NUMPY\x01\x00" + (118).to_bytes(2, "little")
    member += (header.ljust(117) + "\n").encode("latin1")
    bad = _rewrite(saved, tmp_path / "huge.funkrs", user_factors=member)
    with pytest.raises(ModelFileError, match="more data than it holds"):
        funkrs.load(bad)


def test_load_rejects_damaged_headers_naming_the_field(saved: Path, tmp_path: Path) -> None:
    good = _meta(saved)
    cases = [
        (lambda m: m["params"].update(unknown="zero"), "unknown must be"),
        (lambda m: m["params"].update(clip="yes"), "clip must be"),
        (lambda m: m["params"].update(n_threads=0), "n_threads"),
        (lambda m: m["params"].update(lr=-1.0), "params: lr must be a finite number > 0"),
        (lambda m: m["params"].update(n_factors=2.5), "params: n_factors must be an integer"),
        (lambda m: m["params"].update(biased="yes"), "params: biased must be True or False"),
        (lambda m: m["params"].update(popularity_weight="x"), "params: popularity_weight"),
        (lambda m: m["params"].update(random_state=-3), "params: random_state must be"),
        (lambda m: m["params"].update(learning_rate=1.0), "params do not fit"),
        (lambda m: m.update(params=[1, 2]), "params must be a JSON object"),
        (lambda m: m.pop("global_mean"), r"lacks the fields \['global_mean'\]"),
        (lambda m: m.update(global_mean=float("nan")), "global_mean must be a finite"),
        (lambda m: m.update(global_mean="3.5"), "global_mean must be a finite"),
        (lambda m: m.update(global_mean=1e39), "global_mean must be a finite float32"),
        (lambda m: m.update(global_mean=10**400), "global_mean must be a finite float32"),
        (lambda m: m.update(rating_scale=[1, 1e39]), "rating_scale"),
        (lambda m: m.update(biased="yes"), "biased must be True or False"),
        (lambda m: m.update(rating_scale=[5, 1]), "rating_scale"),
        (lambda m: m.update(rating_scale=[1]), "rating_scale"),
        (lambda m: m.update(best_epoch=2**70), "best_epoch"),
        (lambda m: m.update(solver=None), "solver must be a string"),
        (lambda m: m.update(history="none"), "history must be a tuple of rows"),
        (lambda m: m.update(solver_info=[1]), "solver_info must be a mapping"),
        (lambda m: m["history"][0].update(epoch=1.5), "history row 0: epoch"),
        (lambda m: m.update(format_version=True), "format_version"),
        (lambda m: m.update(format_version=FORMAT_VERSION + 1), "upgrade funkrs"),
    ]
    for j, (change, match) in enumerate(cases):
        meta = json.loads(json.dumps(good))
        change(meta)
        bad = _with_meta(saved, tmp_path / f"meta{j}.funkrs", meta)
        with pytest.raises(ModelFileError, match=match):
            funkrs.load(bad)


def test_a_file_from_another_version_loads_with_a_warning(saved: Path, tmp_path: Path) -> None:
    meta = _meta(saved)
    meta["funkrs_version"] = "0.0.1"
    other = _with_meta(saved, tmp_path / "old.funkrs", meta)
    with pytest.warns(UserWarning, match="saved by funkrs 0.0.1") as caught:
        model = funkrs.model.load(other)
    assert caught[0].filename == __file__  # the warning points at the caller of load
    assert model.n_users_ == 40


def test_solver_info_is_saved_and_files_without_it_load_empty(small, tmp_path: Path) -> None:
    model = funkrs.MatrixFactorization(
        solver="imputed-svd", n_factors=3, solver_options={"path": "implicit"}
    ).fit(small)
    assert set(model.solver_info_) == {"path", "n_iter", "residual", "converged"}
    path = tmp_path / "svd.funkrs"
    model.save(path)
    assert _meta(path)["solver_info"] == dict(model.solver_info_)
    assert funkrs.load(path).solver_info_ == model.solver_info_
    meta = _meta(path)
    del meta["solver_info"]
    old = _with_meta(path, tmp_path / "old.funkrs", meta)
    assert dict(funkrs.load(old).solver_info_) == {}
